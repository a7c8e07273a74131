import assert from 'node:assert/strict';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import forge from 'node-forge';
import { after, before, describe, it } from 'node:test';
import { createCa, issueProxyCert, issueUserCert, proxyPem, type Issued } from '../../../src/auth/x509/pki.js';
import { writePlatformTls } from '../../helpers/tls.js';
import { cleanupList, startPlatform, type TestPlatform } from '../../helpers/platform.js';
import { freePort } from '../../helpers/ports.js';

/** One real TLS request to the HTTPS listener presenting `pem` (certificate chain + key). */
function get(base: string, ca: string, urlPath: string, pem?: { cert: string; key: string }): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(`${base}${urlPath}`, { ca, ...(pem ?? {}), agent: false }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Split a cadcproxy.pem into what a TLS client sends: the certificates (leaf first) and the key. */
function fromPem(pem: string): { cert: string; key: string } {
  const certs = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)!;
  const key = pem.match(/-----BEGIN RSA PRIVATE KEY-----[\s\S]+?-----END RSA PRIVATE KEY-----/)![0];
  return { cert: certs.join('\n'), key };
}

/** A proxy whose subject does not extend its issuer's: it must be refused (naming rule). */
function impostorProxy(user: Issued): Issued {
  const issuerCert = forge.pki.certificateFromPem(user.certPem);
  const keys = forge.pki.rsa.generateKeyPair(1024);
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = '0a';
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + 86_400_000);
  cert.setSubject([
    { name: 'organizationName', value: 'skaha' },
    { name: 'commonName', value: 'someone-else' },
    { name: 'commonName', value: 'proxy' },
  ]);
  cert.setIssuer(issuerCert.subject.attributes);
  cert.sign(forge.pki.privateKeyFromPem(user.keyPem) as forge.pki.rsa.PrivateKey, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: forge.pki.privateKeyToPem(keys.privateKey) };
}

describe('X.509 client certificates and proxy certificates over real TLS', () => {
  let tp: TestPlatform;
  let tlsBase: string;
  let ca: Issued;
  const cleanups = cleanupList();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'skaha-x509-'));

  before(async () => {
    ca = writePlatformTls(dataDir);
    const map = path.join(dataDir, 'dn-map.json');
    fs.writeFileSync(map, JSON.stringify({ 'O=skaha,CN=Mapped Person': 'mapped' }));
    // tls.port 0 means "no HTTPS": a free port below the ephemeral range (helpers/ports.ts).
    const port = await freePort();
    tp = await startPlatform(cleanups.add, { tls: { port, dnMapFile: map } }, { dataDir });
    tlsBase = tp.platform.tlsUrl()!;
  });
  after(() => cleanups.run());

  const whoami = async (pem?: { cert: string; key: string }) => get(tlsBase, ca.certPem, '/auth/session', pem);

  it('accepts an RFC 3820 proxy (curl -E cadcproxy.pem), a legacy proxy and a plain user certificate', async () => {
    const user = issueUserCert(ca, 'certuser');
    for (const [label, proxy] of [
      ['rfc3820', issueProxyCert(user)],
      ['legacy', issueProxyCert(user, { legacy: true })],
    ] as const) {
      const r = await whoami(fromPem(proxyPem(proxy, [user.certPem])));
      assert.equal(r.status, 200, `${label}: ${r.body}`);
      assert.equal(JSON.parse(r.body).username, 'certuser');
      assert.equal(JSON.parse(r.body).method, 'x509');
    }
    const plain = await whoami({ cert: user.certPem, key: user.keyPem });
    assert.equal(JSON.parse(plain.body).username, 'certuser');
    const list = await get(tlsBase, ca.certPem, '/skaha/v0/session', fromPem(proxyPem(issueProxyCert(user), [user.certPem])));
    assert.deepEqual([list.status, list.body], [200, '[]']);
  });

  it("hands a user a working proxy certificate from the account API (the portal's download)", async () => {
    const { username, token } = await tp.newUser('dl');
    const r = await tp.request('POST', '/auth/certificate', { token, form: { days: '5' } });
    assert.equal(r.status, 200, r.body);
    assert.match(r.headers.get('content-type') ?? '', /application\/x-pem-file/);
    const me = await whoami(fromPem(r.body));
    assert.equal(JSON.parse(me.body).username, username);
    assert.equal((await tp.request('POST', '/auth/certificate', { token, form: { days: '99' } })).status, 400);
  });

  it('maps a DN to a username when the operator says so', async () => {
    const user = issueUserCert(ca, 'Mapped Person');
    const r = await whoami({ cert: user.certPem, key: user.keyPem });
    assert.equal(JSON.parse(r.body).username, 'mapped');
  });

  it('refuses, with the reason, expired, wrong-CA, impostor and too-deep proxy chains', async () => {
    const user = issueUserCert(ca, 'certuser');
    const expired = issueUserCert(ca, 'old', 1, new Date(Date.now() - 10 * 86_400_000));
    const cases: Array<[string, { cert: string; key: string }, RegExp]> = [
      ['expired user certificate', { cert: expired.certPem, key: expired.keyPem }, /outside its validity period/],
      [
        'certificate from another CA',
        (() => {
          const other = issueUserCert(createCa('rogue CA'), 'certuser');
          return { cert: other.certPem, key: other.keyPem };
        })(),
        /not issued by a trusted authority/,
      ],
      ['proxy not extending its issuer', fromPem(proxyPem(impostorProxy(user), [user.certPem])), /not accepted/],
      [
        'proxy of a proxy beyond pathLen 0',
        (() => {
          const first = issueProxyCert(user, { pathLen: 0 });
          const second = issueProxyCert(first);
          return fromPem(proxyPem(second, [first.certPem, user.certPem]));
        })(),
        /path length exceeded/,
      ],
      [
        'proxy without the certificate that signed it',
        (() => {
          const p = issueProxyCert(user);
          return { cert: p.certPem, key: p.keyPem };
        })(),
        /not accepted/,
      ],
    ];
    for (const [label, pem, reason] of cases) {
      const r = await whoami(pem);
      assert.equal(r.status, 401, `${label}: ${r.body}`);
      assert.match(r.body, reason, label);
    }
    assert.equal((await whoami()).status, 401, 'no certificate and nothing else: 401');
  });

  it("lets a certificate reach none of another user's sessions", async () => {
    const owner = await tp.newUser('own');
    const id = (
      await tp.request('POST', '/skaha/v0/session', {
        token: owner.token,
        form: { name: 'mine', image: 'images.canfar.net/skaha/webapp:1.0', type: 'contributed' },
      })
    ).body.trim();
    const user = issueUserCert(ca, 'certuser');
    const pem = fromPem(proxyPem(issueProxyCert(user), [user.certPem]));
    for (const [method, url] of [
      ['GET', `/skaha/v0/session/${id}`],
      ['DELETE', `/skaha/v0/session/${id}`],
      ['POST', `/skaha/v0/session/${id}?action=renew`],
      ['GET', `/session/contrib/${id}/`],
    ] as const) {
      const r = await new Promise<number>((resolve, reject) => {
        const req = https.request(`${tlsBase}${url}`, { method, ca: ca.certPem, ...pem, agent: false }, (res) => {
          res.resume();
          resolve(res.statusCode!);
        });
        req.on('error', reject);
        req.end();
      });
      assert.ok([400, 404].includes(r), `${method} ${url} → ${r}`);
    }
    assert.equal(JSON.parse((await tp.request('GET', `/skaha/v0/session/${id}`, { token: owner.token })).body).id, id, 'untouched');
  });

  it('also serves the plain HTTP listener and the proxy path over TLS', async () => {
    const user = issueUserCert(ca, 'certuser');
    const r = await get(tlsBase, ca.certPem, '/session/contrib/abcdefgh/', fromPem(proxyPem(issueProxyCert(user), [user.certPem])));
    assert.equal(r.status, 404, 'authenticated by certificate, and there is no such session');
    assert.equal((await fetch(`${tp.base}/healthz`)).status, 200);
  });
});
