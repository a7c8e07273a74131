import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { SignJWT, importPKCS8 } from 'jose';
import forge from 'node-forge';
import { request } from 'undici';
import { createCa, issueServerCert } from '../../src/auth/x509/pki.js';
import { httpsAgent, parseChallenge } from '../../src/catalog/registry/client.js';
import { freePort } from './ports.js';

/**
 * A real registry for tests: Debian's `docker-registry` (CNCF distribution 2.8) on loopback with
 * TLS from a CA of its own, and either htpasswd Basic auth or token auth. For token auth this
 * helper runs the token service too (a small HTTP server issuing the JWTs distribution verifies
 * against `rootcertbundle`), as a Harbor core or GitLab would.
 */
export interface TestRegistry {
  /** https://127.0.0.1:<port> */
  url: string;
  /** 127.0.0.1:<port>: the host prefix of image references. */
  host: string;
  caFile: string;
  users: Record<string, string>;
  stop(): Promise<void>;
  /** Stop the registry process only (to test a registry that is down); start() brings it back. */
  pause(): Promise<void>;
  resume(): Promise<void>;
  /**
   * DELETE through the distribution API as `user` (the registry has deletes enabled): a manifest
   * or a blob, e.g. `/v2/<repository>/blobs/<digest>`, as an operator cleaning up would.
   */
  remove(apiPath: string, user: string): Promise<void>;
}

interface RegistryOptions {
  auth: 'basic' | 'token';
  users?: Record<string, string>;
  /** Token auth: repositories (prefix) anyone may pull anonymously. */
  publicPrefixes?: string[];
}

export async function startRegistry(opts: RegistryOptions): Promise<TestRegistry> {
  const users = opts.users ?? { alice: 'secret-alice' };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'skaha-registry-'));
  const ca = createCa('skaha test registry CA', 2);
  const server = issueServerCert(ca, { dns: ['localhost'], ips: ['127.0.0.1'] }, 2);
  const caFile = path.join(dir, 'ca.pem');
  fs.writeFileSync(caFile, ca.certPem);
  fs.writeFileSync(path.join(dir, 'server.pem'), server.certPem);
  fs.writeFileSync(path.join(dir, 'server.key'), server.keyPem);
  const port = await freePort();
  const host = `127.0.0.1:${port}`;

  let tokenServer: http.Server | undefined;
  let authSection: string;
  if (opts.auth === 'basic') {
    const lines = Object.entries(users).map(([u, p]) => execFileSync('htpasswd', ['-Bbn', u, p], { encoding: 'utf8' }).trim());
    fs.writeFileSync(path.join(dir, 'htpasswd'), lines.join('\n') + '\n');
    authSection = `auth:\n  htpasswd:\n    realm: skaha-test\n    path: ${path.join(dir, 'htpasswd')}\n`;
  } else {
    const signer = createCa('skaha test token signer', 2);
    fs.writeFileSync(path.join(dir, 'token-signer.pem'), signer.certPem);
    tokenServer = await startTokenService(signer, users, opts.publicPrefixes ?? []);
    const realm = `http://127.0.0.1:${(tokenServer.address() as net.AddressInfo).port}/token`;
    authSection = `auth:\n  token:\n    realm: ${realm}\n    service: skaha-test-registry\n    issuer: skaha-test-token-service\n    rootcertbundle: ${path.join(dir, 'token-signer.pem')}\n`;
  }
  const config = [
    'version: 0.1',
    'log:\n  level: warn',
    `storage:\n  filesystem:\n    rootdirectory: ${path.join(dir, 'data')}\n  delete:\n    enabled: true`,
    `http:\n  addr: ${host}\n  secret: ${crypto.randomBytes(16).toString('hex')}\n  tls:\n    certificate: ${path.join(dir, 'server.pem')}\n    key: ${path.join(dir, 'server.key')}`,
    authSection,
  ].join('\n');
  fs.writeFileSync(path.join(dir, 'config.yml'), config);

  let child: ChildProcess | undefined;
  const start = async () => {
    const log = fs.openSync(path.join(dir, 'registry.log'), 'a');
    child = spawn('docker-registry', ['serve', path.join(dir, 'config.yml')], { stdio: ['ignore', log, log] });
    fs.closeSync(log);
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      const up = await new Promise<boolean>((resolve) => {
        const s = net.connect(port, '127.0.0.1', () => {
          s.destroy();
          resolve(true);
        });
        s.on('error', () => resolve(false));
      });
      if (up) return;
      if (child.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`docker-registry did not start; see ${path.join(dir, 'registry.log')}`);
  };
  const halt = async () => {
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child!.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  };
  await start();
  return {
    url: `https://${host}`,
    host,
    caFile,
    users,
    pause: halt,
    resume: start,
    remove: (apiPath, user) => removeAs(`https://${host}`, caFile, apiPath, user, users[user] ?? ''),
    async stop() {
      await halt();
      if (tokenServer) await new Promise((r) => tokenServer!.close(r));
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** One DELETE, answering the registry's challenge (Basic, or a token from its realm) as `user`. */
async function removeAs(base: string, caFile: string, apiPath: string, user: string, password: string): Promise<void> {
  const dispatcher = httpsAgent(caFile);
  const basic = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  try {
    const first = await request(base + apiPath, { method: 'DELETE', dispatcher });
    await first.body.dump();
    let authorization = basic;
    const challenge = String(first.headers['www-authenticate'] ?? '');
    if (challenge.toLowerCase().startsWith('bearer')) {
      const params = parseChallenge(challenge);
      const tokenUrl = new URL(params.realm!);
      tokenUrl.searchParams.set('service', params.service ?? '');
      tokenUrl.searchParams.set('scope', params.scope ?? '');
      const token = await request(tokenUrl, { headers: { authorization: basic }, dispatcher });
      authorization = `Bearer ${((await token.body.json()) as { token: string }).token}`;
    }
    const res = await request(base + apiPath, { method: 'DELETE', headers: { authorization }, dispatcher });
    const text = await res.body.text();
    if (res.statusCode !== 202) throw new Error(`DELETE ${apiPath}: ${res.statusCode} ${text}`);
  } finally {
    await dispatcher.close();
  }
}

/**
 * The token service of the distribution token-auth spec: Basic credentials (or none) in, a JWT
 * granting the requested scope's actions out (push for authenticated users, pull for everyone on
 * public prefixes and for authenticated users).
 */
async function startTokenService(signer: { certPem: string; keyPem: string }, users: Record<string, string>, publicPrefixes: string[]): Promise<http.Server> {
  const pkcs8 = crypto.createPrivateKey(signer.keyPem).export({ type: 'pkcs8', format: 'pem' }).toString();
  const key = await importPKCS8(pkcs8, 'RS256');
  const x5c = [forge.util.encode64(forge.asn1.toDer(forge.pki.certificateToAsn1(forge.pki.certificateFromPem(signer.certPem))).getBytes())];
  const server = http.createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://x');
      let subject = '';
      const auth = req.headers.authorization;
      if (auth?.startsWith('Basic ')) {
        const [u, ...p] = Buffer.from(auth.slice(6), 'base64').toString().split(':');
        if (!u || users[u] !== p.join(':')) {
          res.writeHead(401, { 'content-type': 'application/json' }).end('{"details":"bad credentials"}');
          return;
        }
        subject = u;
      }
      const access = url.searchParams.getAll('scope').flatMap((scope) => {
        const [type, name = '', actions = ''] = scope.split(':');
        if (type === 'registry') return subject ? [{ type, name, actions: ['*'] }] : [];
        const granted = actions.split(',').filter((a) => (subject ? true : a === 'pull' && publicPrefixes.some((p) => name.startsWith(p))));
        return [{ type: type ?? 'repository', name, actions: granted }];
      });
      const token = await new SignJWT({ access })
        .setProtectedHeader({ alg: 'RS256', x5c })
        .setIssuer('skaha-test-token-service')
        .setAudience('skaha-test-registry')
        .setSubject(subject)
        .setIssuedAt()
        .setNotBefore(Math.floor(Date.now() / 1000) - 60)
        .setExpirationTime('5m')
        .setJti(crypto.randomUUID())
        .sign(key);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token, access_token: token, expires_in: 300 }));
    })();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return server;
}

/**
 * A slow network path to the registry: a TCP relay on its own port (so a second registry host,
 * `127.0.0.1:<port>`) that passes the registry's answers at `bytesPerSecond`, so a pull takes
 * long enough for the engine to report its progress, as a big image over a real network does.
 */
export async function slowPathTo(reg: TestRegistry, bytesPerSecond: number): Promise<{ host: string; url: string; close(): Promise<void> }> {
  const target = Number(new URL(reg.url).port);
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(target, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => (s === client ? upstream : client).destroy());
    }
    client.pipe(upstream);
    upstream.on('data', (chunk: Buffer) => {
      client.write(chunk);
      upstream.pause();
      setTimeout(() => upstream.resume(), (chunk.length / bytesPerSecond) * 1000);
    });
    upstream.on('end', () => client.end());
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    host: `127.0.0.1:${port}`,
    url: `https://127.0.0.1:${port}`,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
