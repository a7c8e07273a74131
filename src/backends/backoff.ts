/** Reconnect backoff of both backends' watches (style.md: named constants, 1 s → 30 s). */
export const WATCH_BACKOFF_INITIAL_MS = 1000;
export const WATCH_BACKOFF_MAX_MS = 30_000;

/** Waits `ms`; tests inject one that records the waits and returns at once. */
export type Delay = (ms: number) => Promise<void>;

/**
 * The waits between attempts to reach a watch's source again: 1 s, doubling to 30 s, back to
 * 1 s once the watch is live. One per watch (the Kubernetes informers, the Podman event stream).
 */
export class Backoff {
  private nextMs = WATCH_BACKOFF_INITIAL_MS;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly delay?: Delay) {}

  /** The watch is live again: the next break waits the shortest time. */
  reset(): void {
    this.nextMs = WATCH_BACKOFF_INITIAL_MS;
  }

  /** Run `again` after the current wait and double the next one; returns the wait in ms. */
  schedule(again: () => void): number {
    const wait = this.nextMs;
    this.nextMs = Math.min(wait * 2, WATCH_BACKOFF_MAX_MS);
    if (this.delay) {
      void this.delay(wait).then(again);
    } else {
      this.timer = setTimeout(again, wait);
      this.timer.unref();
    }
    return wait;
  }

  /** Drop a scheduled attempt (the watch is being stopped). */
  cancel(): void {
    clearTimeout(this.timer);
  }
}
