import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { authenticate, type Authenticator } from '../auth/authenticator.js';
import { isAdmin, type AuthorizationPolicy } from '../auth/authorize.js';
import type { SessionBackend } from '../backends/backend.js';
import { Params } from '../api/params.js';
import { LAUNCHABLE_TYPES, SESSION_TYPES, type SessionStatus } from '../sessions/model.js';
import { SkahaError } from '../common/errors.js';

/**
 * The numbers an operator graphs (docs/operations.md, "Metrics"), in Prometheus' text format at
 * `/metrics`, after JupyterHub's metrics.py: every label value known in advance is created at
 * start, so a graph shows 0 rather than nothing; `reason` is SkahaError.reason. One registry per
 * platform (tests run several in one process), with prom-client's default process metrics.
 */
interface MetricsSources {
  backend: Pick<SessionBackend, 'list' | 'availability'>;
  /** Headless jobs waiting for admission; the admission queue provides it (0 without one). */
  queueLength: () => number;
}

const STATES: SessionStatus[] = ['Pending', 'Running', 'Terminating', 'Succeeded', 'Failed'];
const LAUNCH_ROUTE = /^\/skaha\/v[01]\/session(\/:id\/app)?$/;
/** How long a scrape waits for the engine's ping before reporting it down. */
const ENGINE_PING_TIMEOUT_MS = 2000;
const kReason = Symbol('skaha.metrics.reason');

export class Metrics {
  readonly registry = new Registry();
  private readonly launches: Histogram<'type' | 'outcome' | 'reason'>;
  private readonly proxyRequests: Counter<'kind' | 'code'>;
  private readonly proxyBytes: Counter<'direction'>;
  private readonly engineErrors: Counter<'route'>;
  private readonly apiErrors: Counter<'reason'>;
  /** Bytes of each client connection counted so far (countBytes). */
  private readonly counted = new WeakMap<object, { read: number; written: number }>();

  constructor(sources: MetricsSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.launches = new Histogram({
      name: 'skaha_session_launch_duration_seconds',
      help: 'Launch requests (POST /session and /session/<id>/app) by session type and outcome, with the time to answer them; reason is the error reason or ok.',
      labelNames: ['type', 'outcome', 'reason'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    for (const type of SESSION_TYPES) this.launches.zero({ type, outcome: 'success', reason: 'ok' });
    new Gauge({
      name: 'skaha_sessions',
      help: 'Sessions (desktop-apps included) in the session index, by type and state.',
      labelNames: ['type', 'state'],
      registers,
      collect() {
        this.reset();
        for (const type of SESSION_TYPES) for (const state of STATES) this.set({ type, state }, 0);
        for (const s of sources.backend.list()) this.inc({ type: s.type, state: s.status });
      },
    });
    new Gauge({
      name: 'skaha_headless_queue_length',
      help: 'Headless jobs waiting for admission against capacity (Pending with a reason).',
      registers,
      collect() {
        this.set(sources.queueLength());
      },
    });
    new Gauge({
      name: 'skaha_engine_up',
      help: 'Whether the container engine (or cluster) answered and the session index follows it, at the time of the scrape.',
      registers,
      async collect() {
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<{ available: boolean }>((resolve) => (timer = setTimeout(() => resolve({ available: false }), ENGINE_PING_TIMEOUT_MS)));
        const { available } = await Promise.race([sources.backend.availability().catch(() => ({ available: false })), timeout]);
        clearTimeout(timer);
        this.set(available ? 1 : 0);
      },
    });
    this.engineErrors = new Counter({
      name: 'skaha_engine_errors_total',
      help: 'API requests answered 503 because the container engine (or cluster, or identity database) could not be reached, by route.',
      labelNames: ['route'],
      registers,
    });
    this.apiErrors = new Counter({
      name: 'skaha_api_errors_total',
      help: 'API requests answered with a SkahaError, by reason.',
      labelNames: ['reason'],
      registers,
    });
    this.proxyRequests = new Counter({
      name: 'skaha_proxy_requests_total',
      help: 'Requests to the session proxy: HTTP by status code, and WebSocket upgrades (code 101 when tunnelled).',
      labelNames: ['kind', 'code'],
      registers,
    });
    this.proxyBytes = new Counter({
      name: 'skaha_proxy_bytes_total',
      help: 'Bytes on the client connections of the session proxy (headers included): received from clients, sent to clients.',
      labelNames: ['direction'],
      registers,
    });
    for (const direction of ['received', 'sent']) this.proxyBytes.inc({ direction }, 0);
  }

  /** A proxied HTTP request: counted with its status and bytes once its response is done. */
  proxyRequest(req: IncomingMessage, res: ServerResponse): void {
    // Taken now: Node detaches the socket from a request whose response is done.
    const socket = req.socket;
    res.once('close', () => {
      this.proxyRequests.inc({ kind: 'http', code: String(res.statusCode) });
      this.countBytes(socket);
    });
  }

  /** A WebSocket (or other) upgrade the proxy decided on (`code` 101: tunnelled), counted with its bytes when it closes. */
  proxyUpgrade(socket: Duplex, code: number): void {
    this.proxyRequests.inc({ kind: 'websocket', code: String(code) });
    socket.once('close', () => this.countBytes(socket));
  }

  /**
   * The bytes a client connection carried since it was last counted: a keep-alive connection's
   * requests each count their own headers and bodies, and no byte twice.
   */
  private countBytes(socket: object): void {
    const now = { read: (socket as { bytesRead?: number }).bytesRead ?? 0, written: (socket as { bytesWritten?: number }).bytesWritten ?? 0 };
    const before = this.counted.get(socket) ?? { read: 0, written: 0 };
    this.proxyBytes.inc({ direction: 'received' }, Math.max(0, now.read - before.read));
    this.proxyBytes.inc({ direction: 'sent' }, Math.max(0, now.written - before.written));
    this.counted.set(socket, now);
  }

  /**
   * The Fastify side: launch timing and error counts from hooks (no route changes), and the
   * `/metrics` route. Not encapsulated, so its hooks see every route.
   */
  plugin(opts: { authenticators: Authenticator[]; policy: AuthorizationPolicy }): FastifyPluginAsync {
    const plugin: FastifyPluginAsync = async (app) => {
      app.addHook('onError', async (req, _reply, err) => {
        if (!(err instanceof SkahaError)) return;
        (req as { [kReason]?: string })[kReason] = err.reason;
        this.apiErrors.inc({ reason: err.reason });
        if (err.reason === 'backend_unavailable') this.engineErrors.inc({ route: `${req.method} ${req.routeOptions.url ?? 'unknown'}` });
      });
      app.addHook('onResponse', async (req, reply) => {
        const route = req.routeOptions.url ?? '';
        if (req.method !== 'POST' || !LAUNCH_ROUTE.test(route)) return;
        const ok = reply.statusCode === 200;
        const reason = ok ? 'ok' : ((req as { [kReason]?: string })[kReason] ?? `http_${reply.statusCode}`);
        this.launches.observe({ type: launchType(req, route), outcome: ok ? 'success' : 'failure', reason }, reply.elapsedTime / 1000);
      });
      app.get('/metrics', { schema: { hide: true } }, async (req, reply) => {
        await this.admit(req, opts);
        return reply
          .type(this.registry.contentType)
          .header('cache-control', 'no-store')
          .send(await this.registry.metrics());
      });
    };
    (plugin as unknown as Record<symbol, boolean>)[Symbol.for('skip-override')] = true;
    return plugin;
  }

  /**
   * Who may scrape: a peer on loopback that came directly (a Prometheus or agent on this machine;
   * a request relayed by a local reverse proxy carries X-Forwarded-For and is not admitted on
   * that ground), else an administrator's credential (docs/operations.md).
   */
  private async admit(req: FastifyRequest, opts: { authenticators: Authenticator[]; policy: AuthorizationPolicy }): Promise<void> {
    const peer = req.socket.remoteAddress ?? '';
    const loopback = /^(127\.|::1$|::ffff:127\.)/.test(peer);
    if (loopback && req.headers['x-forwarded-for'] === undefined && req.headers.forwarded === undefined) return;
    const { principal } = await authenticate(opts.authenticators, req);
    if (!principal) throw new SkahaError('SKAHA_ERR_UNAUTHENTICATED', "metrics: scrape from this machine, or send an administrator's token");
    if (!isAdmin(principal, opts.policy)) throw new SkahaError('SKAHA_ERR_FORBIDDEN', 'metrics: administrators only');
  }
}

function launchType(req: FastifyRequest, route: string): string {
  if (route.endsWith('/app')) return 'desktop-app';
  const word = (Params.from(req).first('type') ?? '').trim().toLowerCase() || 'headless';
  return (LAUNCHABLE_TYPES as readonly string[]).includes(word) ? word : 'invalid';
}
