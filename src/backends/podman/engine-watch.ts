import type Docker from 'dockerode';
import type { Readable } from 'node:stream';
import { Backoff, type Delay } from '../backoff.js';
import type { EngineEvent } from './events.js';
import { engineMessage } from './engine-api.js';

interface EngineWatchOptions {
  /** Read the whole state again: at every (re)connection, since events were missed meanwhile. */
  relist: () => Promise<void>;
  onEvent: (event: EngineEvent) => void;
  log: { warn(message: string): void };
  /** Injectable for tests. */
  delay?: Delay;
}

/**
 * The engine's event stream, followed for as long as the server runs: the Podman counterpart of
 * the Kubernetes informer. On a break it backs off (1 s doubling to 30 s), re-lists and watches
 * again; `connected` says whether the stream is live (for /availability and /readyz).
 */
export class EngineWatch {
  private stream: Readable | undefined;
  private closed = false;
  private live = false;
  private readonly backoff: Backoff;

  constructor(
    private readonly docker: Docker,
    private readonly opts: EngineWatchOptions,
  ) {
    this.backoff = new Backoff(opts.delay);
  }

  get connected(): boolean {
    return this.live;
  }

  /** Start following events (the caller has listed already). */
  start(): void {
    this.closed = false;
    this.follow();
  }

  stop(): void {
    this.closed = true;
    this.backoff.cancel();
    this.stream?.destroy();
    this.live = false;
  }

  private follow(): void {
    if (this.closed) return;
    // Filtering by label key delivers nothing on Podman 4 (design.md): take all container and
    // image events; the index picks its own by the labels in Actor.Attributes.
    this.docker.getEvents({ filters: { type: ['container', 'image'] } }, (err, stream) => {
      if (err || !stream) {
        this.live = false;
        this.retry(`engine event stream unavailable (${engineMessage(err)})`);
        return;
      }
      this.stream = stream as Readable;
      this.live = true;
      this.backoff.reset();
      let pending = '';
      stream.on('data', (chunk: Buffer) => {
        pending += chunk.toString('utf8');
        let newline: number;
        while ((newline = pending.indexOf('\n')) >= 0) {
          const line = pending.slice(0, newline).trim();
          pending = pending.slice(newline + 1);
          if (line) this.parse(line);
        }
      });
      const ended = () => {
        if (this.stream !== stream) return;
        this.stream = undefined;
        this.live = false;
        if (!this.closed) this.retry('engine event stream ended');
      };
      stream.on('end', ended);
      stream.on('error', ended);
    });
  }

  private retry(why: string): void {
    if (this.closed) return;
    const wait = this.backoff.schedule(() => {
      if (this.closed) return;
      this.opts
        .relist()
        .then(() => this.follow())
        .catch((err: unknown) => this.retry(`engine not reachable (${engineMessage(err)})`));
    });
    this.opts.log.warn(`${why}; retrying in ${wait} ms`);
  }

  private parse(line: string): void {
    let event: EngineEvent;
    try {
      event = JSON.parse(line) as EngineEvent;
    } catch {
      return;
    }
    this.opts.onEvent(event);
  }
}
