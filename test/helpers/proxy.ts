import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { BearerTokenAuthenticator } from '../../src/auth/token.js';
import type { Authenticator } from '../../src/auth/authenticator.js';
import { OidcBearerAuthenticator } from '../../src/auth/oidc/authenticator.js';
import { CookieIssuer, LoginCookieAuthenticator } from '../../src/auth/cookie.js';
import { Signer } from '../../src/auth/keys.js';
import { SqliteIdentityStore } from '../../src/store/sqlite.js';
import type { SessionRecord, SessionType } from '../../src/sessions/model.js';
import { ActivityTracker } from '../../src/proxy/activity.js';
import { SessionProxy } from '../../src/proxy/proxy.js';
import { isSessionUrl } from '../../src/proxy/path.js';

export interface ProxyRig {
  base: string;
  store: SqliteIdentityStore;
  cookies: CookieIssuer;
  activity: ActivityTracker;
  /** Route a session (owned by `username`) to an upstream port. */
  addSession(s: {
    id: string;
    username: string;
    type: SessionType;
    port: number;
    status?: SessionRecord['status'];
    startedAt?: Date;
    pendingNote?: string;
  }): void;
  close(): Promise<void>;
}

/**
 * The real SessionProxy in a real HTTP server, with a routing table filled by the test instead of
 * a container engine, so edge cases can use in-process upstreams (style.md: CHP's addTarget).
 */
export async function startProxyRig(
  opts: { upstreamTimeoutMs?: number; startupGraceMs?: number; oidc?: { issuer: string; audience: string } } = {},
): Promise<ProxyRig> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'skaha-proxy-'));
  const store = new SqliteIdentityStore(dir, { uidMin: 200000, uidMax: 299999 });
  const cookies = new CookieIssuer(new Signer(Buffer.alloc(32, 7)), { secure: false, maxAgeSeconds: 3600 }, store);
  const activity = new ActivityTracker();
  // As in skaha serve: an OIDC bearer JWT is tried before API tokens when an issuer is configured.
  const oidc: Authenticator[] = opts.oidc
    ? [new OidcBearerAuthenticator({ ...opts.oidc, usernameClaim: 'preferred_username', groupsClaim: 'groups', clockToleranceSeconds: 0 }, store)]
    : [];
  const sessions = new Map<string, { record: SessionRecord; port: number; pendingNote?: string }>();
  const proxy = new SessionProxy({
    sessions: {
      record: (id, appId) => (appId ? undefined : sessions.get(id)?.record),
      address: (id) => (sessions.has(id) ? { host: '127.0.0.1', port: sessions.get(id)!.port } : undefined),
      pendingNote: (id) => sessions.get(id)?.pendingNote,
    },
    authenticators: [...oidc, new BearerTokenAuthenticator(store), new LoginCookieAuthenticator(cookies, store)],
    cookies,
    activity,
    loginPath: '/login',
    upstreamTimeoutMs: opts.upstreamTimeoutMs ?? 5000,
    startupGraceMs: opts.startupGraceMs ?? 0,
    log: { info() {}, warn() {} },
  });
  const server = http.createServer((req, res) => {
    if (isSessionUrl(req.url ?? '')) proxy.handle(req, res);
    else res.writeHead(404).end();
  });
  server.on('upgrade', (req, socket, head) => proxy.handleUpgrade(req, socket, head));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    store,
    cookies,
    activity,
    addSession(s) {
      sessions.set(s.id, {
        port: s.port,
        ...(s.pendingNote ? { pendingNote: s.pendingNote } : {}),
        record: {
          id: s.id,
          username: s.username,
          name: s.id,
          type: s.type,
          image: 'x',
          uid: 1,
          gid: 1,
          supplementalGroups: [],
          status: s.status ?? 'Running',
          createdAt: s.startedAt ?? new Date(0),
          startedAt: s.startedAt ?? new Date(0),
          deadlineSeconds: 3600,
          resources: { coresRequest: 1, coresLimit: 1, ramRequestGiB: 1, ramLimitGiB: 1, gpus: 0 },
        },
      });
    },
    async close() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      proxy.close();
      await store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** An upstream that records what it received and answers per path. */
export async function startUpstream(handler: http.RequestListener): Promise<{ port: number; server: http.Server; close(): Promise<void> }> {
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    server,
    async close() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}
