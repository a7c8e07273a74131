import { registryCredentialRoutes } from '../api/auth/registry.js';
import http from 'node:http';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import fs from 'node:fs';
import path from 'node:path';
import swagger from '@fastify/swagger';
import fastifyStatic from '@fastify/static';
import { PORTAL_DIST_DIR } from '../common/paths.js';
import { authenticate, type Authenticator } from '../auth/authenticator.js';
import { authorize, type AuthorizationPolicy } from '../auth/authorize.js';
import type { ApiDeps } from '../api/deps.js';
import { sessionRoutes } from '../api/session/routes.js';
import { catalogRoutes } from '../api/image/routes.js';
import { vospaceRoutes } from '../api/vospace/routes.js';
import type { UserFiles } from '../storage/files.js';
import { vosiRoutes } from '../api/vosi/routes.js';
import { loginRoutes } from '../api/login/routes.js';
import { LoginThrottle, type LoginThrottleOptions } from '../auth/throttle.js';
import { oidcLoginRoutes, type OidcLoginOptions } from '../api/login/oidc.js';
import { accountRoutes } from '../api/auth/routes.js';
import { oidcOfferRoutes, type OidcOffer } from '../api/auth/oidc.js';
import type { CookieIssuer } from '../auth/cookie.js';
import type { IdentityStore, RegistryCredentials } from '../store/store.js';
import { isSessionUrl, parseSessionPath } from '../proxy/path.js';
import type { SessionOrigins } from '../proxy/origins.js';
import type { SessionProxy } from '../proxy/proxy.js';
import { diskFull, isDiskFull, oneLine, SkahaError } from '../common/errors.js';
import type { Logger } from './platform.js';
import type { Metrics } from './metrics.js';

interface AppOptions {
  deps: ApiDeps;
  /** Tried in this order; the first whose credential is present decides (docs/auth.md). */
  authenticators: Authenticator[];
  policy: AuthorizationPolicy;
  cookies: CookieIssuer;
  /** Where server errors (and request lines) go; silent when absent (tests). */
  log?: Logger;
  /** One line per request to `log` (default on); errors are logged either way. */
  requestLog?: boolean;
  /** The session proxy, served ahead of Fastify's router for `/session/...`. */
  proxy?: SessionProxy;
  store: IdentityStore;
  /** Users' stored registry credentials (GET/PUT/DELETE /auth/registry). */
  registryCredentials: RegistryCredentials;
  /** Directory of the platform CA (ca.pem, ca.key), for user certificates. */
  caDir?: string;
  /** Browser login through an OIDC issuer, when configured. */
  oidcLogin?: Omit<OidcLoginOptions, 'store' | 'cookies' | 'baseUrl'>;
  /** What `GET /auth/oidc` tells command-line clients; absent: that route answers 404. */
  oidcOffer?: OidcOffer | undefined;
  /** Why the platform is not ready beyond its engine (callbacks unreachable), for /readyz. */
  readiness?: () => Promise<string | undefined>;
  /** Each session on its own origin (proxy/origins.ts). */
  origins?: SessionOrigins;
  /** Failed logins allowed before `POST /login` answers 429 (config `login`). */
  loginLimits: LoginThrottleOptions;
  /** Prometheus metrics: `/metrics` and the hooks that count launches and errors. */
  metrics?: Metrics;
  /** User storage served outside sessions (`/arc`, VOSpace). */
  files: UserFiles;
}

/**
 * Serve `/session/...` (HTTP and WebSocket upgrades) with the proxy, everything else with
 * `handler` (Fastify). Used for the HTTP server and the HTTPS listener alike.
 */
export function withSessionTraffic<S extends http.Server>(server: S, proxy: SessionProxy, handler: http.RequestListener, origins?: SessionOrigins): S {
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const route = routeOf(req, origins);
    if (route === 'proxy') return proxy.handle(req, res);
    if (route === 'platform') return handler(req, res);
    const [status, headers, body] =
      route === 'elsewhere'
        ? [404, {}, "not found: a session's origin serves that session's /session/<type>/<id>/ paths only\n"]
        : [req.method === 'GET' || req.method === 'HEAD' ? 302 : 307, { location: route.redirect }, `moved to ${route.redirect}\n`];
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', ...headers }).end(body);
  });
  server.on('upgrade', (req: http.IncomingMessage, socket: import('node:stream').Duplex, head: Buffer) => {
    const route = routeOf(req, origins);
    if (route === 'proxy') proxy.handleUpgrade(req, socket, head);
    else if (route === 'platform') socket.destroy();
    else
      socket.end(
        'HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nsessions are reached on their own origin (their connectURL)\n',
      );
  });
  return server;
}

/**
 * Who serves a request: on a session's own origin, the proxy for that session's paths and nothing
 * else; on the platform's origin, the application, and the proxy only for clients that send a
 * credential in a header (API clients, scripts) — a browser's session traffic moves to the
 * session's own origin, so no session page ever runs on the portal's.
 */
function routeOf(req: http.IncomingMessage, origins: SessionOrigins | undefined): 'proxy' | 'platform' | 'elsewhere' | { redirect: string } {
  const url = req.url ?? '/';
  const own = origins?.sessionOf(req.headers.host);
  if (own !== undefined) return isSessionUrl(url) && parseSessionPath(url)?.id === own ? 'proxy' : 'elsewhere';
  if (!isSessionUrl(url)) return 'platform';
  const id = parseSessionPath(url)?.id;
  if (origins?.enabled && id && !req.headers.authorization && !presentsCertificate(req)) return { redirect: origins.baseOf(id) + url };
  return 'proxy';
}

/** A client certificate on the HTTPS listener (curl -E cadcproxy.pem): a script, not a browser page. */
function presentsCertificate(req: http.IncomingMessage): boolean {
  const socket = req.socket as import('node:tls').TLSSocket;
  return socket.encrypted === true && Object.keys(socket.getPeerCertificate?.() ?? {}).length > 0;
}

/** Routes that need a caller: the skaha API, the account routes and the storage service. */
const AUTHENTICATED = /^\/+(skaha\/+v[01]|auth|arc)(\/|$)/;
const BODY_LIMIT_BYTES = 1024 * 1024;

/**
 * The HTTP application (style.md: app.ts builds, main.ts listens). Registration is explicit:
 * OpenAPI, the unversioned VOSI routes, then the same API plugin under /skaha/v0 and /skaha/v1.
 */
export async function buildApp(opts: AppOptions): Promise<FastifyInstance> {
  const log = opts.log;
  // Fastify's own logger stays off: we log one line per request, without the query string
  // (which may carry session tokens), and errors with their log-only detail.
  const proxy = opts.proxy;
  const app = Fastify({
    logger: false,
    // Session traffic goes straight to the proxy, ahead of Fastify's routing, hooks and body
    // parsing: it is the hot path, and bodies must stream, not be parsed.
    ...(proxy
      ? {
          serverFactory: (handler: http.RequestListener) => withSessionTraffic(http.createServer(), proxy, handler, opts.origins),
        }
      : {}),
    bodyLimit: BODY_LIMIT_BYTES,
    routerOptions: {
      // The Python client can send `//v0/session` (spec §1.1).
      ignoreDuplicateSlashes: true,
    },
  });

  // Parameter names are case-insensitive and validated by the session service in skaha's order
  // and words (spec §1.2, §3.5); the route schemas document them for OpenAPI, they do not gate.
  app.setValidatorCompiler(() => () => true);

  // skaha reads urlencoded bodies; a compatible server merges them whatever the Content-Type
  // (spec §1.2), so every body is taken as text and parsed as a query string by Params.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body));

  await app.register(swagger, {
    openapi: {
      info: { title: 'skaha', version: '0.1.0', description: 'The skaha session API (CANFAR Science Platform), served under /skaha/v0 and /skaha/v1.' },
      components: {
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer' }, desktopCallback: { type: 'apiKey', in: 'header', name: 'x-auth-token-skaha' } },
      },
      security: [{ bearer: [] }],
    },
  });

  const origin = () => new URL(opts.deps.baseUrl()).origin;
  app.addHook('onRequest', async (req) => {
    // `anonymous` is read from the matched route, not the raw URL, so `/auth//oidc` and the like
    // still resolve to the right decision (ignoreDuplicateSlashes).
    if (!AUTHENTICATED.test(req.url) || req.routeOptions.config.anonymous === true) return;
    const { principal, refused } = await authenticate(opts.authenticators, req);
    if (!principal) throw new SkahaError('SKAHA_ERR_UNAUTHENTICATED', refused ?? 'Unauthorized');
    authorize(principal, req, opts.policy, opts.cookies, origin);
    req.principal = principal;
  });

  // The portal, the login page and the API are never framed by another page (clickjacking of the
  // launch, token and logout buttons), nor content-sniffed. Session traffic does not pass here.
  app.addHook('onSend', async (_req, reply) => {
    void reply.header('x-frame-options', 'DENY');
    void reply.header('content-security-policy', "frame-ancestors 'none'");
    void reply.header('x-content-type-options', 'nosniff');
    void reply.header('referrer-policy', 'same-origin');
  });

  if (log && opts.requestLog !== false) {
    app.addHook('onResponse', async (req, reply) => {
      const path = req.url.split('?')[0];
      const who = req.principal ? ` user=${req.principal.user.username}` : '';
      log.info(`${req.method} ${path} ${reply.statusCode} ${reply.elapsedTime.toFixed(1)}ms${who}`);
    });
  }

  app.setErrorHandler((raw: FastifyError | SkahaError, req, reply) => {
    // A full disk is the operator's to fix, whatever layer hit it: 503 and one clear line.
    const err = isDiskFull(raw) ? diskFull(raw instanceof SkahaError ? (raw.logMessage ?? raw.message) : String((raw as Error).message)) : raw;
    let status: number;
    let message: string;
    if (err instanceof SkahaError) {
      status = err.statusCode;
      message = err.message;
      if (status >= 500) log?.error(`${req.method} ${req.url.split('?')[0]}: ${err.reason}: ${err.logMessage ?? err.message}`);
      if (status === 503) void reply.header('Retry-After', '30');
    } else if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
      status = err.statusCode;
      message = err.code === 'FST_ERR_CTP_BODY_TOO_LARGE' ? `request body larger than ${BODY_LIMIT_BYTES} bytes` : err.message;
    } else {
      // Never echo an unexpected error: it may carry paths or engine internals.
      status = 500;
      message = 'internal error; the server log has the details';
      log?.error(`${req.method} ${req.url.split('?')[0]}: ${(err as Error).stack ?? String(err)}`);
    }
    return reply
      .code(status)
      .type('text/plain; charset=utf-8')
      .send(`${oneLine(message)}\n`);
  });

  // The portal: static assets at /, and its index.html for the portal's own client-side routes.
  const portalIndex = path.join(PORTAL_DIST_DIR, 'index.html');
  const portalBuilt = fs.existsSync(portalIndex);
  // index: false: `/` goes through the handler below and index.html is never cached, so a
  // rebuilt portal (with new asset names) is picked up at once.
  if (portalBuilt) await app.register(fastifyStatic, { root: PORTAL_DIST_DIR, prefix: '/', wildcard: false, index: false, cacheControl: true, maxAge: '1h' });
  app.setNotFoundHandler((req, reply) => {
    const pathOnly = req.url.split('?')[0] ?? '/';
    const portalRoute =
      req.method === 'GET' && !/^\/(skaha|auth|session|login|logout|arc|reg)(\/|$)/.test(pathOnly) && /text\/html/.test(req.headers.accept ?? '');
    if (portalRoute && portalBuilt) return reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').send(fs.createReadStream(portalIndex));
    if (portalRoute || (pathOnly === '/' && req.method === 'GET')) {
      return reply
        .type('text/html; charset=utf-8')
        .send(
          '<!DOCTYPE html><title>skaha</title><h1>skaha</h1><p>The portal is not built (<code>npm run build</code>). The API is at <a href="/skaha/openapi.json">/skaha/openapi.json</a>; log in at <a href="/login">/login</a>.</p>',
        );
    }
    return reply.code(404).type('text/plain; charset=utf-8').send(`not found: ${pathOnly}\n`);
  });

  if (opts.metrics) await app.register(opts.metrics.plugin({ authenticators: opts.authenticators, policy: opts.policy }));
  await app.register(vosiRoutes, { service: opts.deps.service, catalog: opts.deps.catalog, ...(opts.readiness ? { readiness: opts.readiness } : {}) });
  await app.register(loginRoutes, {
    store: opts.store,
    cookies: opts.cookies,
    throttle: new LoginThrottle(opts.loginLimits),
    publicOrigin: origin,
    sessionOwner: (id) => opts.deps.service.record(id)?.username,
    ...(opts.origins ? { origins: opts.origins } : {}),
    ...(opts.oidcLogin ? { oidcIssuer: opts.oidcLogin.issuer } : {}),
  });
  if (opts.oidcLogin) await app.register(oidcLoginRoutes, { ...opts.oidcLogin, store: opts.store, cookies: opts.cookies, baseUrl: opts.deps.baseUrl });
  await app.register(accountRoutes, { store: opts.store, cookies: opts.cookies, policy: opts.policy, ...(opts.caDir ? { caDir: opts.caDir } : {}) });
  await app.register(oidcOfferRoutes, { offer: opts.oidcOffer });
  await app.register(registryCredentialRoutes, { credentials: opts.registryCredentials, registryHosts: opts.deps.registryHosts });
  for (const version of ['v0', 'v1'] as const) {
    await app.register(
      async (api) => {
        await api.register(sessionRoutes, { version, deps: opts.deps });
        await api.register(catalogRoutes, { version, deps: opts.deps });
      },
      { prefix: `/skaha/${version}` },
    );
  }
  await app.register(vospaceRoutes, { files: opts.files });
  app.get('/skaha/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  return app;
}
