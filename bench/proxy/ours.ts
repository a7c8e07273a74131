/**
 * skaha's session proxy for bench/proxy.ts, in its own process, wired as `skaha serve` wires it
 * (src/server/platform.ts and src/server/app.ts): a SQLite identity store in `<dataDir>`, the
 * cookie key from `<dataDir>/secrets`, the bearer-token then login-cookie authenticators, the
 * cookie issuer, the activity tracker, the default timeouts, and `withSessionTraffic` on a plain
 * `http.createServer()` (what Fastify's serverFactory gets). Only the backend differs: a static
 * route table (the backend's event-fed index is a Map lookup too), as test/helpers/proxy.ts does.
 * Non-session requests get a 404 instead of Fastify's routes (the benchmark sends none).
 *
 * The modules come from BENCH_PROXY_ROOT (an absolute directory): bench/proxy.ts compiles this
 * file to plain JavaScript and runs it with `node`, on the built dist/ as bin/skaha.js does (no
 * loader thread, no transpiling at run time). By hand, on the sources:
 *
 *   node --import tsx bench/proxy/ours.ts <dataDir> <username> <sessionId>=<upstreamPort> ...
 *
 * Every session is a `contributed` session (container port 5000, prefix stripped) of
 * <username>, Running. Prints one JSON line, `{"port": N, "token": "skt_..."}`, once listening
 * (the token is a fresh API token of <username>). Stops on SIGTERM or SIGINT, or when its
 * parent's stdin closes.
 *
 * With BENCH_CPU_PROFILE=<file>, SIGUSR2 starts V8's CPU profiler (the one `node --cpu-prof`
 * uses, 1 ms sampling) and a second SIGUSR2 stops it, writes <file> and prints
 * `{"profile": "<file>"}`: the profile covers the measured load only, not start-up.
 */
import fs from 'node:fs';
import http from 'node:http';
import inspector from 'node:inspector';
import type { AddressInfo } from 'node:net';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { SessionRecord } from '../../src/sessions/model.js';

const root = pathToFileURL(process.env.BENCH_PROXY_ROOT || fileURLToPath(new URL('../../src', import.meta.url))).href;
const { CookieIssuer, LoginCookieAuthenticator } = (await import(`${root}/auth/cookie.js`)) as typeof import('../../src/auth/cookie.js');
const { loadOrCreateKey, Signer } = (await import(`${root}/auth/keys.js`)) as typeof import('../../src/auth/keys.js');
const { BearerTokenAuthenticator } = (await import(`${root}/auth/token.js`)) as typeof import('../../src/auth/token.js');
const { ActivityTracker } = (await import(`${root}/proxy/activity.js`)) as typeof import('../../src/proxy/activity.js');
const { SessionProxy } = (await import(`${root}/proxy/proxy.js`)) as typeof import('../../src/proxy/proxy.js');
const { withSessionTraffic } = (await import(`${root}/server/app.js`)) as typeof import('../../src/server/app.js');
const { SqliteIdentityStore } = (await import(`${root}/store/sqlite.js`)) as typeof import('../../src/store/sqlite.js');

const [dataDir, username, ...routes] = process.argv.slice(2);
if (!dataDir || !username || routes.length === 0) {
  console.error('usage: ours.ts <dataDir> <username> <sessionId>=<port> ...');
  process.exit(2);
}

// The defaults of src/server/config.ts.
const UPSTREAM_TIMEOUT_MS = 120_000;
const STARTUP_GRACE_MS = 120_000;
const LOGIN_COOKIE_HOURS = 12;

const store = new SqliteIdentityStore(dataDir, { uidMin: 200000, uidMax: 299999 });
const { token } = await store.createToken(username, 'bench');
const cookies = new CookieIssuer(new Signer(loadOrCreateKey(dataDir, 'cookie')), { secure: false, maxAgeSeconds: LOGIN_COOKIE_HOURS * 3600 }, store);
const bearer = new BearerTokenAuthenticator(store);
const loginCookie = new LoginCookieAuthenticator(cookies, store);
const activity = new ActivityTracker();

const started = new Date(Date.now() - 3600_000);
const sessions = new Map<string, { record: SessionRecord; port: number }>();
for (const route of routes) {
  const [id, port] = route.split('=');
  if (!id || !port) throw new Error(`bad route ${route}: want <sessionId>=<port>`);
  sessions.set(id, {
    port: Number(port),
    record: {
      id,
      username,
      name: `bench-${id}`,
      type: 'contributed',
      image: 'bench',
      uid: 200000,
      gid: 200000,
      supplementalGroups: [],
      status: 'Running',
      createdAt: started,
      startedAt: started,
      deadlineSeconds: 86400,
      resources: { coresRequest: 1, coresLimit: 1, ramRequestGiB: 1, ramLimitGiB: 1, gpus: 0 },
    },
  });
}

const log = {
  info: (m: string) => console.error(`${new Date().toISOString()} INFO ${m}`),
  warn: (m: string) => console.error(`${new Date().toISOString()} WARN ${m}`),
};
const proxy = new SessionProxy({
  sessions: {
    record: (id, appId) => (appId ? undefined : sessions.get(id)?.record),
    address: (id) => {
      const s = sessions.get(id);
      return s ? { host: '127.0.0.1', port: s.port } : undefined;
    },
    pendingNote: () => undefined,
  },
  authenticators: [bearer, loginCookie],
  cookies,
  activity,
  loginPath: '/login',
  upstreamTimeoutMs: UPSTREAM_TIMEOUT_MS,
  startupGraceMs: STARTUP_GRACE_MS,
  log,
});

const notFound: http.RequestListener = (_req, res) => {
  res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found\n');
};
const server = withSessionTraffic(http.createServer(), proxy, notFound);
server.listen(0, '127.0.0.1', () => {
  console.log(JSON.stringify({ port: (server.address() as AddressInfo).port, token }));
});

const profileFile = process.env.BENCH_CPU_PROFILE;
if (profileFile) {
  const session = new inspector.Session();
  session.connect();
  const post = (method: string, params?: object) =>
    new Promise<unknown>((resolve, reject) => session.post(method, params ?? {}, (err, result) => (err ? reject(err) : resolve(result))));
  let profiling = false;
  process.on('SIGUSR2', () => {
    void (async () => {
      if (!profiling) {
        profiling = true;
        await post('Profiler.enable');
        await post('Profiler.setSamplingInterval', { interval: 1000 });
        await post('Profiler.start');
      } else {
        profiling = false;
        const { profile } = (await post('Profiler.stop')) as { profile: unknown };
        fs.writeFileSync(profileFile, JSON.stringify(profile));
        console.log(JSON.stringify({ profile: profileFile }));
      }
    })().catch((err: Error) => log.warn(`profiler: ${err.message}`));
  });
}

const stop = () => {
  proxy.close();
  void Promise.resolve(store.close()).finally(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdin.on('end', stop);
process.stdin.resume();
