import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Docker from 'dockerode';
import { resolveConfig } from '../../src/server/config.js';
import { createPlatform, type Logger, type Platform } from '../../src/server/platform.js';
import type { SessionBackend } from '../../src/backends/backend.js';

export const HEADLESS_IMAGE = 'images.canfar.net/skaha/headless:1.0';
export const WEB_IMAGE = 'images.canfar.net/skaha/webapp:1.0';

const quietLog: Logger = { info() {}, warn() {}, error: (m) => console.error(m) };

export interface Reply {
  status: number;
  headers: Headers;
  body: string;
}

export interface TestPlatform {
  platform: Platform;
  base: string;
  dataDir: string;
  /** A fresh user (random name, so test files sharing the engine never collide) and their token. */
  newUser(prefix?: string): Promise<{ username: string; token: string }>;
  request(
    method: string,
    urlPath: string,
    opts?: { token?: string; query?: Record<string, string | string[]>; form?: Record<string, string | string[]>; headers?: Record<string, string> },
  ): Promise<Reply>;
  /** Poll a session until its status is one of `want`; returns the last status seen. */
  waitStatus(token: string, id: string, want: string[], timeoutMs?: number): Promise<string | undefined>;
}

export function randomName(prefix = 't'): string {
  return `${prefix}${crypto.randomBytes(4).toString('hex')}`;
}

function encode(params: Record<string, string | string[]>): string {
  const search = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) for (const value of Array.isArray(v) ? v : [v]) search.append(k, value);
  return search.toString();
}

/**
 * A test server's own place on the shared engine (src/backends/podman/claim.ts): a network name
 * and a uid range of its own, apart from the default server's (`skaha`, 200000..299999) that
 * ./scripts/setup.sh runs, derived from its data directory so that a restart on the same
 * directory is the same server. Servers of one identity store (`storeKey`) share a uid range.
 */
export function testInstance(dataDir: string, storeKey = dataDir): { podman: { network: string }; identity: { uidMin: number; uidMax: number } } {
  const hash = (text: string) => crypto.createHash('sha256').update(text).digest();
  const uidMin = 1_000_000 + (hash(storeKey).readUInt32BE(0) % 20_000) * 1000;
  return { podman: { network: `skt${hash(dataDir).toString('hex').slice(0, 8)}` }, identity: { uidMin, uidMax: uidMin + 999 } };
}

/** Remove a server's session networks (`<network>` and `<network>-u<uid>`), once its sessions are gone. */
export async function removeNetworks(network: string): Promise<void> {
  const networks = await engine()
    .listNetworks({ filters: { name: [network] } })
    .catch(() => []);
  for (const n of networks) {
    if (n.Name === network || n.Name.startsWith(`${network}-u`))
      await engine()
        .getNetwork(n.Name)
        .remove()
        .catch(() => undefined);
  }
}

/**
 * A real platform (real Podman, real SQLite) on a free port with its own data directory. Every
 * session its users made is deleted and the directory removed when the test ends.
 */
export async function startPlatform(
  onCleanup: (fn: () => Promise<void>) => void,
  overrides: Record<string, unknown> = {},
  opts: { dataDir?: string; keepData?: boolean; log?: Logger; backend?: SessionBackend } = {},
): Promise<TestPlatform> {
  const dataDir = opts.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'skaha-test-'));
  const identity = (overrides.identity ?? {}) as { postgres?: { url?: string } };
  const instance = testInstance(dataDir, identity.postgres?.url);
  const config = resolveConfig({
    port: 0,
    dataDir,
    ...overrides,
    podman: { ...instance.podman, ...(overrides.podman as object) },
    identity: { ...instance.identity, ...identity },
  });
  // `log`: everything the server logs, request lines included, to check what it says (and not).
  const platform = await createPlatform(config, {
    log: opts.log ?? quietLog,
    requestLog: Boolean(opts.log),
    ...(opts.backend ? { backend: opts.backend } : {}),
  });
  const base = await platform.listen();
  const users: string[] = [];

  onCleanup(async () => {
    if (!opts.keepData) {
      const mine = platform.backend.list().filter((s) => users.includes(s.username) && !s.appId);
      await Promise.all(mine.map((s) => platform.backend.delete(s.id).catch(() => undefined)));
      const deadline = Date.now() + 30_000;
      while (Date.now() < deadline && platform.backend.list().some((s) => users.includes(s.username))) {
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    await platform.close();
    if (!opts.keepData) {
      fs.rmSync(dataDir, { recursive: true, force: true });
      await removeNetworks(config.podman.network);
    }
  });

  const tp: TestPlatform = {
    platform,
    base,
    dataDir,
    async newUser(prefix = 'u') {
      const username = randomName(prefix);
      users.push(username);
      return { username, token: (await platform.store.createToken(username, 'test')).token };
    },
    async request(method, urlPath, o = {}) {
      const query = o.query ? `${urlPath.includes('?') ? '&' : '?'}${encode(o.query)}` : '';
      const headers: Record<string, string> = { ...(o.headers ?? {}) };
      if (o.token) headers.authorization = `Bearer ${o.token}`;
      let body: string | undefined;
      if (o.form) {
        headers['content-type'] ??= 'application/x-www-form-urlencoded';
        body = encode(o.form);
      }
      const res = await fetch(`${base}${urlPath}${query}`, { method, headers, ...(body !== undefined ? { body } : {}) });
      return { status: res.status, headers: res.headers, body: await res.text() };
    },
    async waitStatus(token, id, want, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      let status: string | undefined;
      while (Date.now() < deadline) {
        const r = await tp.request('GET', `/skaha/v0/session/${id}`, { token });
        if (r.status === 200) {
          status = (JSON.parse(r.body) as { status: string }).status;
          if (want.includes(status)) return status;
        }
        await new Promise((r) => setTimeout(r, 200));
      }
      return status;
    },
  };
  return tp;
}

/** Launch a session through the API and return its ID (asserting the 200 text/plain reply). */
export async function launch(tp: TestPlatform, token: string, form: Record<string, string | string[]>, version = 'v0'): Promise<string> {
  const r = await tp.request('POST', `/skaha/${version}/session`, { token, form });
  if (r.status !== 200) throw new Error(`launch failed: ${r.status} ${r.body}`);
  return r.body.trim();
}

/**
 * Put a shell script where sessions see it (/arc/projects, shared and read-only to users here)
 * and return its path inside containers: skaha splits `args` on single spaces, so a script with
 * spaces cannot travel in `args` itself.
 */
export function projectScript(tp: TestPlatform, body: string): string {
  const dir = path.join(tp.dataDir, 'arc', 'projects');
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  const name = `${randomName('script')}.sh`;
  fs.writeFileSync(path.join(dir, name), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  return `/arc/projects/${name}`;
}

/** Run a shell script as a headless job to completion and return its status and logs. */
export async function runJob(
  tp: TestPlatform,
  token: string,
  script: string,
  extra: Record<string, string | string[]> = {},
): Promise<{ id: string; status: string | undefined; logs: string }> {
  const id = await launch(tp, token, { name: 'job', image: HEADLESS_IMAGE, type: 'headless', cmd: '/bin/sh', args: projectScript(tp, script), ...extra });
  const status = await tp.waitStatus(token, id, ['Succeeded', 'Failed']);
  const logs = (await tp.request('GET', `/skaha/v0/session/${id}`, { token, query: { view: 'logs' } })).body;
  return { id, status, logs };
}

/** The engine itself, to check what the platform did from outside it. */
export function engine(): Docker {
  return new Docker({ socketPath: '/run/skaha/podman.sock' });
}

/** Cleanups registered by startPlatform, run by the suite's `after`. */
export function cleanupList(): { add: (fn: () => Promise<void>) => void; run: () => Promise<void> } {
  const fns: Array<() => Promise<void>> = [];
  return {
    add: (fn) => void fns.push(fn),
    run: async () => {
      for (const fn of fns.reverse()) await fn();
    },
  };
}
