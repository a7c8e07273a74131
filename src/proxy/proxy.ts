import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { Agent, type Dispatcher } from 'undici';
import { authenticate, type Authenticator } from '../auth/authenticator.js';
import { fromThisSite } from '../auth/authorize.js';
import { CookieIssuer, LOGIN_COOKIE, parseCookies, type SessionAccess } from '../auth/cookie.js';
import type { SessionService } from '../sessions/service.js';
import type { SessionRecord } from '../sessions/model.js';
import { SkahaError } from '../common/errors.js';
import type { ActivityTracker } from './activity.js';
import { errorPage, waitingPage } from './pages.js';
import { TICKET_PARAM, type SessionOrigins } from './origins.js';
import { parseSessionPath, upstreamPort, unsafePath, upstreamTarget, withoutSecret, type SessionPath } from './path.js';

interface ProxyLog {
  info(message: string): void;
  warn(message: string): void;
}

interface SessionProxyOptions {
  sessions: Pick<SessionService, 'record' | 'address' | 'pendingNote'>;
  /** Bearer token, then login cookie: the first credential present decides. */
  authenticators: Authenticator[];
  cookies: CookieIssuer;
  activity: ActivityTracker;
  /** Where unauthenticated browsers are sent, with `?next=`. */
  loginPath: string;
  /** Each session on its own origin; absent: sessions on the platform's origin (tests of the proxy alone). */
  origins?: SessionOrigins;
  /** Time allowed for the container's response headers, in milliseconds. */
  upstreamTimeoutMs: number;
  /** After a session starts, connection errors show the waiting page this long, in milliseconds. */
  startupGraceMs: number;
  log: ProxyLog;
  /** Counts requests and bytes (server/metrics.ts). */
  metrics?: { proxyRequest(req: IncomingMessage, res: ServerResponse): void; proxyUpgrade(socket: Duplex, code: number): void };
}

/** How long a request to a starting session is held while its application begins to listen, and how often it is tried. */
const STARTUP_HOLD_MS = 2000;
const STARTUP_RETRY_MS = 50;

/** One proxied request across its tries: when it was first tried, and the upstream request of this try. */
interface Attempt {
  since: number;
  bodiless: boolean;
  controller?: Dispatcher.DispatchController;
}

/**
 * Headers that describe one hop and are never forwarded (RFC 9110 §7.6.1). `expect` too: Node's
 * server has already answered `100 Continue` to the client.
 */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'expect',
]);
/** Client-supplied forwarding headers are replaced by what we saw (no spoofing). */
const FORWARDED = new Set(['forwarded', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port', 'x-forwarded-prefix', 'x-real-ip']);
/**
 * Platform credentials that travel in request headers of their own: a registry secret for a
 * launch and a desktop's callback token. A container never sees them (issue 15 point 3).
 */
const PLATFORM_HEADERS = new Set(['x-skaha-registry-auth', 'x-auth-token-skaha']);
/**
 * Response headers a container may not send to the browser: a service worker's scope widened past
 * its session's path would control the portal's pages.
 */
const REFUSED_RESPONSE_HEADERS = new Set(['service-worker-allowed']);
/** Methods a read-only credential may use through the proxy. */
const READ_METHODS = new Set(['GET', 'HEAD']);

/**
 * `METHOD target HTTP/1.1` and the headers, for the WebSocket handshake we write ourselves. Node
 * has already refused CR/LF in what the client sent; a value of ours with one is left out.
 * Latin-1, as Node decoded the client's bytes.
 */
function requestHead(method: string, target: string, headers: IncomingHttpHeaders): string {
  let head = `${method} ${target} HTTP/1.1\r\n`;
  for (const name in headers) {
    const value = headers[name];
    for (const v of Array.isArray(value) ? value : value === undefined ? [] : [value]) {
      if (!/[\r\n]/.test(v)) head += `${name}: ${v}\r\n`;
    }
  }
  return head + '\r\n';
}

type Decision =
  | { kind: 'forward'; path: SessionPath; session: SessionRecord; target: { host: string; port: number }; username: string }
  | { kind: 'respond'; status: number; title: string; detail: string; headers?: Record<string, string>; waiting?: boolean; session?: SessionRecord };

const wantsHtml = (req: IncomingMessage) => (req.method === 'GET' || req.method === 'HEAD') && /text\/html/.test(req.headers.accept ?? '');

/**
 * The authenticated session proxy: `/session/<type>/<id>/...` over HTTP and WebSocket to the
 * session's container, for its owner only. Routing is decided from the raw request target and
 * the backend's event-fed index; bodies stream both ways.
 */
export class SessionProxy {
  /**
   * Keep-alive connections to the containers, a pool per container. undici rather than
   * http.request: the same streaming with far less work per request (docs/benchmarks.md: about
   * twice the requests per CPU-second). undici's headersTimeout (the container's time to
   * send its response headers) does not fire while the request body is still being sent, so a
   * long upload is never cut short; a response body may take as long as it likes (server-sent events).
   */
  private readonly upstreams: Agent;

  constructor(private readonly opts: SessionProxyOptions) {
    this.upstreams = new Agent({ connections: 256, keepAliveTimeout: 4_000, headersTimeout: opts.upstreamTimeoutMs, bodyTimeout: 0 });
  }

  close(): void {
    void this.upstreams.destroy().catch(() => {});
  }

  /** HTTP requests whose target starts with `/session/`. */
  handle(req: IncomingMessage, res: ServerResponse): void {
    this.opts.metrics?.proxyRequest(req, res);
    this.decide(req).then(
      (d) => (d.kind === 'forward' ? this.forward(req, res, d) : this.respond(req, res, d)),
      (err) => {
        if (err instanceof SkahaError && err.statusCode === 503) {
          // The identity database is down: the credential cannot be checked now; try again.
          this.opts.log.warn(`proxy: ${err.logMessage ?? err.message}`);
          this.respond(req, res, { kind: 'respond', status: 503, title: 'Temporarily unavailable', detail: err.message, headers: { 'retry-after': '30' } });
          return;
        }
        this.opts.log.warn(`proxy: ${(err as Error).message}`);
        this.respond(req, res, { kind: 'respond', status: 500, title: 'Proxy error', detail: 'The proxy failed; the server log has the details.' });
      },
    );
  }

  /** WebSocket (and other) upgrades whose target starts with `/session/`. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    this.decide(req).then(
      (d) => {
        this.opts.metrics?.proxyUpgrade(socket, d.kind === 'forward' ? 101 : d.status);
        if (d.kind !== 'forward') {
          socket.end(`HTTP/1.1 ${d.status} ${http.STATUS_CODES[d.status] ?? ''}\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n${d.detail}\n`);
          return;
        }
        this.tunnel(req, socket, head, d);
      },
      () => socket.destroy(),
    );
  }

  // --- decisions ------------------------------------------------------------------------

  private async decide(req: IncomingMessage): Promise<Decision> {
    const url = req.url ?? '/';
    const path = parseSessionPath(url);
    if (!path) return { kind: 'respond', status: 404, title: 'No such session', detail: 'There is no session at this address.' };
    if (unsafePath(path.rest)) {
      return {
        kind: 'respond',
        status: 400,
        title: 'Bad request',
        detail: 'Encoded slashes, dot segments and empty segments are not allowed in session URLs.',
      };
    }

    // On its own origin a session is opened with a ticket from the portal (`/session-login`),
    // traded here for a cookie of that origin: the portal's login cookie never comes here.
    const ownOrigin = this.opts.origins?.sessionOf(req.headers.host) === path.id;
    const ticket = ownOrigin && (req.method === 'GET' || req.method === 'HEAD') ? takeParam(url, TICKET_PARAM) : undefined;
    if (ticket) {
      const granted = await this.opts.cookies.redeemTicket(ticket.value, path.id);
      const owned = this.opts.sessions.record(path.id);
      if (!granted || owned?.username !== granted.username) {
        return {
          kind: 'respond',
          status: 403,
          title: 'Link expired',
          detail: 'This link has expired or was used already: open the session again from the portal.',
        };
      }
      const cookie = this.opts.cookies.sessionCookie(path.id, path.prefix, granted, overTls(req));
      return { kind: 'respond', status: 302, title: 'Opening', detail: 'Opening your session.', headers: { location: ticket.rest, 'set-cookie': cookie } };
    }

    const { principal, refused } = await authenticate(this.opts.authenticators, req);
    if (!principal && (/^bearer\s/i.test(req.headers.authorization ?? '') || refused)) {
      return { kind: 'respond', status: 401, title: 'Not authenticated', detail: refused ?? 'The credential sent is not valid.' };
    }
    // A desktop's callback token is for the API, never for the proxy.
    const cookies = parseCookies(req.headers);
    const login = cookies.get(LOGIN_COOKIE);
    const access: SessionAccess | undefined = principal
      ? principal.method === 'callback'
        ? undefined
        : { username: principal.user.username, scopes: principal.scopes, ...(principal.method === 'cookie' && login ? { login } : {}) }
      : await this.opts.cookies.sessionAccess(cookies, path.id);
    const username = access?.username;
    if (!access || !username) {
      if (wantsHtml(req)) {
        const next = withoutSecret(url, path.id) ?? url;
        const origins = this.opts.origins;
        const location =
          ownOrigin && origins
            ? origins.platformUrl(`/session-login?to=${encodeURIComponent(origins.baseOf(path.id) + next)}`)
            : `${this.opts.loginPath}?next=${encodeURIComponent(next)}`;
        return { kind: 'respond', status: 302, title: 'Log in', detail: 'Log in to open this session.', headers: { location } };
      }
      return { kind: 'respond', status: 401, title: 'Not authenticated', detail: 'Log in, or send an API token, to reach this session.' };
    }

    const session = this.opts.sessions.record(path.id);
    // Another user's session, an unknown ID and a type that does not match all look the same.
    if (!session || session.appId || session.username !== username || session.type !== path.type) {
      return { kind: 'respond', status: 404, title: 'No such session', detail: `You have no ${path.type} session ${path.id}.` };
    }
    // `read` means read-only here too: no method that changes anything, no interactive socket.
    const upgrading = req.headers.upgrade !== undefined;
    if (!access.scopes.has('launch') && (upgrading || !READ_METHODS.has(req.method ?? 'GET'))) {
      return {
        kind: 'respond',
        status: 403,
        title: 'Read-only credential',
        detail: `This credential is read-only: it allows GET and HEAD only, not ${upgrading ? 'a WebSocket' : req.method}.`,
      };
    }
    // A page of another origin must not open a socket with the owner's cookie (cross-site
    // WebSocket hijacking: browsers send cookies with the handshake and no CORS applies).
    if (upgrading && !fromThisSite(req.headers)) {
      return { kind: 'respond', status: 403, title: 'Forbidden', detail: "WebSocket connections are accepted from this site's own pages only." };
    }

    // skaha's connect URLs carry the session ID as ?token= or ?password=. For its owner, trade
    // it for a cookie scoped to this session and drop it from the address bar and history.
    if (req.method === 'GET' || req.method === 'HEAD') {
      const clean = withoutSecret(url, path.id);
      if (clean !== undefined) {
        return {
          kind: 'respond',
          status: 302,
          title: 'Opening',
          detail: 'Opening your session.',
          headers: { location: clean, 'set-cookie': this.opts.cookies.sessionCookie(path.id, path.prefix, access, overTls(req)) },
        };
      }
    }

    if (session.status === 'Pending') return this.waiting(session, this.opts.sessions.pendingNote(session.id) ?? 'The container is being created.');
    if (session.status !== 'Running') {
      return { kind: 'respond', status: 404, title: 'Session ended', detail: `Session ${session.name} is ${session.status.toLowerCase()}.` };
    }
    const port = upstreamPort(session.type);
    const target = port ? this.opts.sessions.address(session.id, port) : undefined;
    if (!target) return this.waiting(session, 'The session has no address yet.');
    return { kind: 'forward', path, session, target, username };
  }

  private waiting(session: SessionRecord, detail: string): Decision {
    // x-skaha-detail lets the waiting page show progress (an image pull) without reloading.
    return {
      kind: 'respond',
      status: 503,
      title: 'Starting',
      detail,
      waiting: true,
      session,
      headers: { 'retry-after': '1', 'x-skaha-waiting': '1', 'x-skaha-detail': encodeURIComponent(detail) },
    };
  }

  private respond(req: IncomingMessage, res: ServerResponse, d: Extract<Decision, { kind: 'respond' }>): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const html = wantsHtml(req) || d.status === 302;
    const body =
      d.waiting && d.session && html
        ? waitingPage(d.session.name, d.session.status, d.detail)
        : html
          ? errorPage(d.status, d.title, d.detail)
          : `${d.detail}\n`;
    res.writeHead(d.status, {
      'content-type': html ? 'text/html; charset=utf-8' : 'text/plain; charset=utf-8',
      'cache-control': 'no-store',
      ...d.headers,
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  // --- forwarding -----------------------------------------------------------------------

  private upstreamHeaders(req: IncomingMessage, d: Extract<Decision, { kind: 'forward' }>, keepUpgrade: boolean): IncomingHttpHeaders {
    const headers: IncomingHttpHeaders = {};
    const incoming = req.headers;
    for (const name in incoming) {
      const value = incoming[name];
      if (value === undefined || FORWARDED.has(name) || PLATFORM_HEADERS.has(name)) continue;
      if (HOP_BY_HOP.has(name) && !(keepUpgrade && (name === 'upgrade' || name === 'connection'))) continue;
      // Our credentials never reach the container: no bearer credential (API tokens and OIDC
      // access tokens alike), whatever authenticated this request; not our cookies. Other
      // schemes (JupyterLab's `token ...`) are the session's own business.
      if (name === 'authorization' && /^\s*bearer(\s|$)/i.test(String(value))) continue;
      if (name === 'cookie') {
        const kept = String(value)
          .split(';')
          .map((c) => c.trim())
          .filter((c) => c && !CookieIssuer.isOurs(c.slice(0, c.indexOf('='))));
        if (kept.length) headers.cookie = kept.join('; ');
        continue;
      }
      headers[name] = value;
    }
    headers.host = incoming.host ?? `${d.target.host}:${d.target.port}`;
    // The notebook's own token is the session ID (spec §4.2); the proxy has already checked the
    // owner, so it presents the token for them instead of the URL.
    if (d.session.type === 'notebook') headers.authorization = `token ${d.session.id}`;
    headers['x-forwarded-for'] = req.socket.remoteAddress ?? '';
    headers['x-forwarded-proto'] = overTls(req) ? 'https' : 'http';
    if (req.headers.host) headers['x-forwarded-host'] = req.headers.host;
    headers['x-forwarded-prefix'] = d.path.prefix;
    return headers;
  }

  /** `attempt`: this request's first try, when it is being tried again (see upstreamFailed). */
  private forward(req: IncomingMessage, res: ServerResponse, d: Extract<Decision, { kind: 'forward' }>, attempt?: Attempt): void {
    this.opts.activity.touch(d.session.id);
    const hasBody = req.headers['content-length'] !== undefined ? req.headers['content-length'] !== '0' : req.headers['transfer-encoding'] !== undefined;
    const state: Attempt = attempt ?? { since: Date.now(), bodiless: !hasBody };
    // A client that goes away takes its upstream request with it.
    if (!attempt) {
      res.on('close', () => {
        if (!res.writableFinished) state.controller?.abort(new Error('client went away'));
      });
    }
    this.upstreams.dispatch(
      {
        origin: `http://${d.target.host.includes(':') ? `[${d.target.host}]` : d.target.host}:${d.target.port}`,
        method: req.method as Dispatcher.HttpMethod,
        path: upstreamTarget(d.path),
        headers: this.upstreamHeaders(req, d, false) as Record<string, string | string[]>,
        body: hasBody ? req : null,
      },
      {
        onRequestStart: (c) => {
          state.controller = c;
          if (res.destroyed) c.abort(new Error('client went away'));
        },
        onResponseStart: (_c, status, upHeaders, statusMessage) => {
          if (status < 200) return; // 1xx: informational, the final answer follows
          const headers: Record<string, string | string[]> = {};
          for (const name in upHeaders) {
            const value = upHeaders[name];
            if (value === undefined || HOP_BY_HOP.has(name) || REFUSED_RESPONSE_HEADERS.has(name)) continue;
            if (name === 'set-cookie') {
              const kept = (Array.isArray(value) ? value : [value]).flatMap((c) => confineCookie(c, d.path.prefix) ?? []);
              if (kept.length) headers[name] = kept;
              continue;
            }
            headers[name] = value;
          }
          res.writeHead(status, statusMessage, headers);
        },
        onResponseData: (c, chunk) => {
          if (!res.write(chunk)) {
            c.pause();
            res.once('drain', () => c.resume());
          }
        },
        onResponseEnd: () => {
          res.end();
        },
        onResponseError: (_c, err) => this.upstreamFailed(req, res, d, err as NodeJS.ErrnoException, state),
      },
    );
  }

  private upstreamFailed(
    req: IncomingMessage,
    res: ServerResponse,
    d: Extract<Decision, { kind: 'forward' }>,
    err: NodeJS.ErrnoException,
    attempt: Attempt,
  ): void {
    if (res.headersSent || res.destroyed) {
      res.destroy();
      return;
    }
    if (err.code === 'UND_ERR_HEADERS_TIMEOUT') {
      this.respond(req, res, { kind: 'respond', status: 504, title: 'Session did not answer', detail: `Session ${d.session.name} did not answer in time.` });
      return;
    }
    const code = err.code === 'UND_ERR_SOCKET' ? 'ECONNRESET' : err.code;
    const starting = Date.now() - (d.session.startedAt ?? d.session.createdAt).getTime() < this.opts.startupGraceMs;
    // A page opened the moment its session runs usually finds the application a moment from
    // listening (JupyterLab: about half a second): hold a request without a body and try again
    // for a little while, instead of the waiting page, its poll and a reload.
    if (starting && code === 'ECONNREFUSED' && attempt.bodiless && Date.now() - attempt.since < STARTUP_HOLD_MS) {
      setTimeout(() => {
        if (!res.destroyed) this.forward(req, res, d, attempt);
      }, STARTUP_RETRY_MS);
      return;
    }
    if (starting && (code === 'ECONNREFUSED' || code === 'ECONNRESET')) {
      this.respond(req, res, this.waiting(d.session, 'The session is starting its application.') as Extract<Decision, { kind: 'respond' }>);
      return;
    }
    this.opts.log.warn(`proxy ${d.session.id}: ${code ?? err.message}`);
    this.respond(req, res, {
      kind: 'respond',
      status: 502,
      title: 'Session not reachable',
      detail: `Session ${d.session.name} is not answering (${code ?? 'error'}).`,
    });
  }

  private tunnel(req: IncomingMessage, socket: Duplex, head: Buffer, d: Extract<Decision, { kind: 'forward' }>): void {
    const upstream = net.connect(d.target.port, d.target.host);
    const sessionId = d.session.id;
    const touch = () => this.opts.activity.touch(sessionId);
    touch();
    upstream.setNoDelay(true);
    (socket as net.Socket).setNoDelay?.(true);
    upstream.on('connect', () => {
      upstream.write(requestHead(req.method ?? 'GET', upstreamTarget(d.path), this.upstreamHeaders(req, d, true)), 'latin1');
      if (head.length) upstream.write(head);
      socket.pipe(upstream);
      upstream.pipe(socket);
    });
    socket.on('data', touch);
    upstream.on('data', touch);
    const closeBoth = () => {
      socket.destroy();
      upstream.destroy();
    };
    upstream.on('error', (err: NodeJS.ErrnoException) => {
      if (!socket.destroyed && (socket as net.Socket).bytesWritten === 0) {
        socket.end(
          `HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nSession ${d.session.name} is not answering (${err.code ?? 'error'}).\n`,
        );
      } else {
        closeBoth();
      }
    });
    upstream.on('close', () => socket.destroy());
    socket.on('close', () => upstream.destroy());
  }
}

/** Whether the client's connection is TLS (the HTTPS listener): cookies set then are Secure. */
const overTls = (req: IncomingMessage) => (req.socket as { encrypted?: boolean }).encrypted === true;

/** A query parameter's value and the URL without it; undefined when it is absent. */
function takeParam(url: string, name: string): { value: string; rest: string } | undefined {
  const q = url.indexOf('?');
  if (q < 0) return undefined;
  const params = new URLSearchParams(url.slice(q + 1));
  const value = params.get(name);
  if (value === null) return undefined;
  params.delete(name);
  const query = params.toString();
  return { value, rest: url.slice(0, q) + (query ? `?${query}` : '') };
}

/**
 * A container's `Set-Cookie`, kept to its own session's path: no `Domain` (host-only), a `Path`
 * under the session prefix (as nginx's proxy_cookie_path does for an app that believes it lives
 * at `/`), and never one of the platform's own cookie names. Undefined when it is dropped.
 */
function confineCookie(header: string, prefix: string): string | undefined {
  const [pair = '', ...attributes] = header.split(';');
  const name = pair.slice(0, pair.indexOf('=')).trim();
  if (pair.indexOf('=') <= 0 || CookieIssuer.isOurs(name) || /^__host-/i.test(name)) return undefined;
  const kept = attributes.map((a) => a.trim()).filter((a) => a && !/^(domain|path)\s*(=|$)/i.test(a));
  const path = /;\s*path\s*=\s*([^;]*)/i.exec(header)?.[1]?.trim() ?? '/';
  const confined = path === prefix || path.startsWith(`${prefix}/`) ? path : `${prefix}${path.startsWith('/') ? path : `/${path}`}`;
  return [pair.trim(), `Path=${confined}`, ...kept].join('; ');
}
