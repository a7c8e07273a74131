import { Backoff, type Delay } from '../backoff.js';
import { ListWatch, Watch, type KubeConfig, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';

/**
 * A list-then-watch cache of one kind of object (style.md: KubeSpawner reflector, client-node
 * ListWatch). It is client-node's ListWatch, which does the Kubernetes part right: list, then
 * watch from the list's resourceVersion, resume from the last resourceVersion seen when a watch
 * ends, and list again on 410 Gone (a resourceVersion the API server no longer has). What it
 * leaves to its user, and this class adds:
 * - retries after an error (the API server restarting, refusing connections) with a backoff of
 *   1 s doubling to 30 s, reset once a watch is established again;
 * - knowing whether the watch is live (for /availability) and whether the first list worked
 *   (start() throws when the cluster cannot be reached, as the SessionBackend contract says).
 */

type ObjectEvent = 'add' | 'update' | 'delete';

interface InformerOptions<T extends KubernetesObject> {
  kubeConfig: KubeConfig;
  /** API path of the collection, e.g. /apis/batch/v1/namespaces/ns/jobs. */
  path: string;
  labelSelector: string;
  /** The list call for the same collection and selector. */
  list: () => Promise<KubernetesListObject<T>>;
  /** Called for every change of the cache, including those a re-list finds. */
  onEvent: (event: ObjectEvent, object: T) => void;
  /** Called when the watch connects (true) or breaks (false). */
  onConnection?: (connected: boolean) => void;
  log: { warn(message: string): void };
  /** Injectable for tests. */
  delay?: Delay;
}

/** Tells its owner when a watch request got its 200 (the stream is live) rather than an error. */
class ObservedWatch extends Watch {
  constructor(
    kubeConfig: KubeConfig,
    private readonly connected: () => void,
  ) {
    super(kubeConfig);
  }

  override async watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, apiObj: unknown, watchObj?: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    let failed = false;
    const controller = await super.watch(path, queryParams, callback, (err) => {
      if (err) failed = true;
      done(err);
    });
    if (!failed) this.connected();
    return controller;
  }
}

export class Informer<T extends KubernetesObject> {
  private readonly listWatch: ListWatch<T>;
  private readonly backoff: Backoff;
  private stopped = false;
  private live = false;
  private lastListError: unknown;

  constructor(private readonly opts: InformerOptions<T>) {
    this.backoff = new Backoff(opts.delay);
    const list = async () => {
      try {
        const result = await opts.list();
        this.lastListError = undefined;
        return result;
      } catch (err) {
        this.lastListError = err;
        throw err;
      }
    };
    const watch = new ObservedWatch(opts.kubeConfig, () => this.setLive(true));
    this.listWatch = new ListWatch<T>(opts.path, watch, list, false, opts.labelSelector);
    this.listWatch.on('add', (o) => opts.onEvent('add', o));
    this.listWatch.on('update', (o) => opts.onEvent('update', o));
    this.listWatch.on('delete', (o) => opts.onEvent('delete', o));
    this.listWatch.on('error', (err) => this.retry(err));
  }

  /** List and start watching. Throws when the first list fails; later failures are retried. */
  async start(): Promise<void> {
    this.stopped = false;
    this.lastListError = undefined;
    await this.listWatch.start();
    if (this.lastListError) {
      const err = this.lastListError;
      await this.stop();
      throw err;
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.backoff.cancel();
    await this.listWatch.stop();
    this.setLive(false);
  }

  /** Every object in the cache. */
  list(): readonly T[] {
    return this.listWatch.list();
  }

  /** Whether the watch is established (the cache is current). */
  get connected(): boolean {
    return this.live;
  }

  private setLive(live: boolean) {
    if (live) this.backoff.reset();
    if (this.live === live) return;
    this.live = live;
    this.opts.onConnection?.(live);
  }

  private retry(err: unknown) {
    this.setLive(false);
    if (this.stopped) return;
    const wait = this.backoff.schedule(() => {
      if (this.stopped) return;
      // ListWatch resumes from its last resourceVersion, or lists again after a 410.
      this.listWatch.start().catch((e: unknown) => this.retry(e));
    });
    this.opts.log.warn(`watch of ${this.opts.path} broke (${describe(err)}); retrying in ${wait} ms`);
  }
}

/** A one-line description of a client-node or network error. */
export function describe(err: unknown): string {
  const e = err as { code?: number | string; statusCode?: number; message?: string; body?: unknown };
  const status = typeof e?.code === 'number' ? e.code : e?.statusCode;
  let bodyMessage: string | undefined;
  if (typeof e?.body === 'string') {
    try {
      bodyMessage = (JSON.parse(e.body) as { message?: string }).message;
    } catch {
      bodyMessage = e.body.slice(0, 200);
    }
  } else if (e?.body && typeof e.body === 'object') {
    bodyMessage = (e.body as { message?: string }).message;
  }
  const text = bodyMessage ?? e?.message ?? String(err);
  return (status ? `${status} ${text}` : text).replace(/\s+/g, ' ').trim();
}
