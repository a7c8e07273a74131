import type { Session } from '../api';
import { inTransition } from './format';

interface Backoff {
  /** First delay, ms. */
  first: number;
  /** Each next delay is the previous times this. */
  factor: number;
  /** Never longer than this, ms. */
  max: number;
}

/** Watching one new session: quick at first (a container starts in seconds), then slower. */
export const SESSION_BACKOFF: Backoff = { first: 500, factor: 1.5, max: 5000 };

/** The list while nothing changes: every 15 s; while something starts or stops: as above. */
export const IDLE_LIST_DELAY = 15_000;

export function nextDelay(previous: number | undefined, b: Backoff): number {
  if (previous === undefined) return b.first;
  return Math.min(b.max, Math.round(previous * b.factor));
}

/**
 * When to fetch the list again: with backoff while any session is Pending or Terminating (or
 * one the portal just launched is not yet listed), at the idle pace otherwise; a failed fetch
 * backs off too, up to the idle pace, and a hidden tab waits the idle pace.
 */
export function nextListDelay(
  previous: number | undefined,
  sessions: Pick<Session, 'status'>[],
  opts: { waiting?: boolean; failed?: boolean; hidden?: boolean } = {},
): number {
  if (opts.hidden) return IDLE_LIST_DELAY;
  if (opts.failed) return Math.min(IDLE_LIST_DELAY, Math.max(2000, (previous ?? 1000) * 2));
  const busy = opts.waiting || sessions.some((s) => inTransition(s.status));
  if (!busy) return IDLE_LIST_DELAY;
  return nextDelay(previous !== undefined && previous < IDLE_LIST_DELAY ? previous : undefined, SESSION_BACKOFF);
}

/** The steps a launch shows: a batch job goes on to finish, an interactive session is ready when running. */
export function launchSteps(type: string): string[] {
  return type === 'headless' ? ['Requested', 'Pending', 'Running', 'Finished'] : ['Requested', 'Pending', 'Running'];
}

/**
 * How far along a new session is: `index` is the current step (the last one reached when
 * `done`), `failed` when it ended badly. Unknown (not yet listed) is the first step.
 */
export function launchStep(status: string | undefined, type: string): { index: number; failed: boolean; done: boolean } {
  const headless = type === 'headless';
  switch (status) {
    case undefined:
    case 'Requested':
      return { index: 0, failed: false, done: false };
    case 'Pending':
      return { index: 1, failed: false, done: false };
    case 'Running':
      return headless ? { index: 2, failed: false, done: false } : { index: 2, failed: false, done: true };
    case 'Succeeded':
      return { index: headless ? 3 : 2, failed: false, done: true };
    case 'Failed':
      return { index: headless ? 3 : 2, failed: true, done: true };
    case 'Terminating':
      return { index: headless ? 3 : 2, failed: true, done: true };
    default:
      return { index: 1, failed: false, done: false };
  }
}
