import http from 'node:http';
import type net from 'node:net';
import type { Logger } from './platform.js';

/** How long a listener that could not bind waits before it tries again (style.md: named constants). */
const CALLBACK_RETRY_MS = 5000;

interface CallbackListenerOptions {
  /** TCP port; 0: any free port. */
  port: number;
  /** Address to bind: 0.0.0.0, so it exists before any session bridge does. */
  host: string;
  /** Whether a TCP peer is a session container of this server; others are dropped unanswered. */
  isSessionPeer(address: string): boolean;
  /** The API (Fastify's routing); only `/skaha/...` requests reach it. */
  handler: http.RequestListener;
  /** Called once bound, with the port (the firewall lets sessions reach it); start() waits for it. */
  onListening?(port: number): Promise<void> | void;
  log: Logger;
}

/** `::ffff:10.89.1.2` (an IPv4 peer of a dual-stack socket) → `10.89.1.2`. */
function peerAddress(socket: net.Socket): string {
  return (socket.remoteAddress ?? '').replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/, '');
}

/** Only the skaha API: not the proxy, the portal, login or the account routes. */
export function isCallbackPath(url: string): boolean {
  if (!url.startsWith('/skaha/')) return false;
  try {
    return new URL(url, 'http://callback').pathname.startsWith('/skaha/');
  } catch {
    return false;
  }
}

/**
 * The listener session containers call the API back on (desktop menus, desktop-app launches).
 *
 * It is bound at start on every address (issue 16: binding the bridge gateway failed on a fresh
 * engine, whose bridge appears with the first container, and was never retried), so it answers on
 * each session network's gateway as soon as that bridge comes up. Every TCP peer that is not a
 * session container (another machine, a process of the host) is dropped before a byte is read,
 * and only `/skaha/...` is served. A bind that fails is retried until it succeeds; `problem()`
 * says why it is not listening, for /readyz.
 */
export class CallbackListener {
  private server: http.Server | undefined;
  private retry: NodeJS.Timeout | undefined;
  private closed = false;
  private lastError: string | undefined = 'not started';
  private boundPort: number | undefined;

  constructor(private readonly opts: CallbackListenerOptions) {}

  /** Bind now; on failure log, keep retrying in the background, and resolve anyway. */
  async start(): Promise<void> {
    await this.tryListen();
  }

  /** The bound port, once listening (the configured one, or the one the system gave). */
  port(): number | undefined {
    return this.boundPort;
  }

  /** The port sessions are told: the bound one, or the configured one while still trying. */
  advertisedPort(): number | undefined {
    return this.boundPort ?? (this.opts.port || undefined);
  }

  /** Why sessions cannot call back right now; undefined while listening. */
  problem(): string | undefined {
    return this.server && this.boundPort !== undefined ? undefined : `desktop callbacks unavailable: ${this.lastError ?? 'not listening'}`;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retry);
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }

  private async tryListen(): Promise<void> {
    if (this.closed) return;
    const server = http.createServer((req, res) => {
      if (!isCallbackPath(req.url ?? '')) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: the callback listener serves /skaha/ only\n');
        return;
      }
      this.opts.handler(req, res);
    });
    server.on('connection', (socket: net.Socket) => {
      if (!this.opts.isSessionPeer(peerAddress(socket))) socket.destroy();
    });
    // No upgrades (WebSocket) here: the proxy is not served on this listener.
    server.on('upgrade', (_req, socket: net.Socket) => socket.destroy());
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(this.opts.port, this.opts.host, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      this.lastError = `cannot listen on ${this.opts.host}:${this.opts.port}: ${(err as Error).message}`;
      this.opts.log.warn(`${this.lastError}; retrying in ${CALLBACK_RETRY_MS / 1000} s`);
      this.retry = setTimeout(() => void this.tryListen(), CALLBACK_RETRY_MS);
      this.retry.unref();
      return;
    }
    if (this.closed) {
      server.close();
      return;
    }
    server.on('error', (err) => this.opts.log.warn(`callback listener: ${err.message}`));
    const address = server.address();
    this.boundPort = address && typeof address === 'object' ? address.port : this.opts.port;
    this.server = server;
    this.lastError = undefined;
    await this.opts.onListening?.(this.boundPort);
  }
}
