/**
 * Failed logins counted in a sliding window, per account and per client address, so that
 * guessing passwords is slow from one place and from many: `limit` failures for one key within
 * `windowSeconds` refuse further attempts with that key until the oldest failure leaves the window.
 * A success clears its account's count. Nothing locks an account for good, so a stranger cannot
 * keep its owner out for longer than one window (issue 15 point 6).
 */
export interface LoginThrottleOptions {
  /** Failures allowed per account within the window (from all addresses). */
  perAccount: number;
  /** Failures allowed per client address within the window (for all accounts). */
  perAddress: number;
  windowSeconds: number;
}

export class LoginThrottle {
  private readonly failures = new Map<string, number[]>();

  constructor(private readonly opts: LoginThrottleOptions) {}

  /** Seconds to wait before trying again, or 0 when an attempt is allowed now. */
  /** `account` undefined (an API token login): the address alone counts. */
  retryAfter(account: string | undefined, address: string, now = Date.now()): number {
    const wait = Math.max(
      account === undefined ? 0 : this.waitFor(`a:${account}`, this.opts.perAccount, now),
      this.waitFor(`ip:${address}`, this.opts.perAddress, now),
    );
    return wait > 0 ? Math.ceil(wait / 1000) : 0;
  }

  failed(account: string | undefined, address: string, now = Date.now()): void {
    for (const key of account === undefined ? [`ip:${address}`] : [`a:${account}`, `ip:${address}`]) this.failures.set(key, [...this.recent(key, now), now]);
    // Keys whose failures have all aged out are dropped, so the map does not grow without end.
    if (this.failures.size > 10_000) for (const key of this.failures.keys()) if (!this.recent(key, now).length) this.failures.delete(key);
  }

  succeeded(account: string): void {
    this.failures.delete(`a:${account}`);
  }

  private recent(key: string, now: number): number[] {
    const since = now - this.opts.windowSeconds * 1000;
    return (this.failures.get(key) ?? []).filter((t) => t > since);
  }

  private waitFor(key: string, limit: number, now: number): number {
    const recent = this.recent(key, now);
    if (recent.length < limit) return 0;
    return recent[recent.length - limit]! + this.opts.windowSeconds * 1000 - now;
  }
}
