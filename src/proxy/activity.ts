/**
 * Last activity per session (a proxied request or WebSocket frame), in memory: one number write
 * per event, never a store write per chunk (style.md: configurable-http-proxy's fault). After a
 * restart every session counts as active from the start, so nothing is culled for the downtime.
 */
export class ActivityTracker {
  private readonly last = new Map<string, number>();
  private readonly since = Date.now();

  touch(sessionId: string, now = Date.now()): void {
    this.last.set(sessionId, now);
  }

  lastActivity(sessionId: string): number {
    return this.last.get(sessionId) ?? this.since;
  }

  forget(sessionId: string): void {
    this.last.delete(sessionId);
  }
}
