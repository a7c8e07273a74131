import type { V1Job, V1Pod } from '@kubernetes/client-node';
import type { SessionRecord } from '../../sessions/model.js';
import { recordKey } from '../backend.js';
import { SESSION_LABEL } from '../labels.js';
import { currentPod, recordFromJob } from './records.js';

/** A just-created Job counts as listed for this long, or until the watch delivers it. */
const FRESH_MS = 30_000;

export const keyOfLabels = (labels: Record<string, string> | undefined) => {
  const id = labels?.[SESSION_LABEL.id];
  return id ? recordKey(id, labels?.[SESSION_LABEL.appId]) : undefined;
};

/**
 * The session index of the Kubernetes backend: the Jobs and Pods the informers deliver, and one
 * SessionRecord per Job (key `<id>` or `<id>/<appId>`), recomputed whenever its Job or one of
 * its pods changes. Two additions to what the cluster says:
 * - `fresh`: a Job this server just created, shown until the watch delivers it, so a session is
 *   listed as soon as its create returns;
 * - `terminating`: keys this server asked to delete, shown `Terminating` at once (the Job's own
 *   deletionTimestamp says the same to every server a moment later).
 */
export class SessionIndex {
  private readonly jobs = new Map<string, V1Job>();
  private readonly pods = new Map<string, Map<string, V1Pod>>();
  private readonly fresh = new Map<string, { job: V1Job; until: number }>();
  private readonly records = new Map<string, SessionRecord>();
  private readonly terminating = new Set<string>();
  private readonly waiters = new Set<() => void>();

  constructor(private readonly changed: () => void) {}

  list(): SessionRecord[] {
    return [...this.records.values()];
  }

  get(key: string): SessionRecord | undefined {
    return this.records.get(key);
  }

  onJob(event: 'add' | 'update' | 'delete', job: V1Job): void {
    const key = keyOfLabels(job.metadata?.labels);
    if (!key) return;
    if (event === 'delete') {
      if (this.jobs.get(key)?.metadata?.uid === job.metadata?.uid) this.jobs.delete(key);
      this.terminating.delete(key);
    } else {
      this.jobs.set(key, job);
    }
    this.fresh.delete(key);
    this.rebuild(key);
  }

  onPod(event: 'add' | 'update' | 'delete', pod: V1Pod): void {
    const key = keyOfLabels(pod.metadata?.labels);
    const name = pod.metadata?.name;
    if (!key || !name) return;
    const pods = this.pods.get(key) ?? new Map<string, V1Pod>();
    if (event === 'delete') pods.delete(name);
    else pods.set(name, pod);
    if (pods.size) this.pods.set(key, pods);
    else this.pods.delete(key);
    this.rebuild(key);
  }

  /** A Job this server created or changed, ahead of the watch. */
  remember(key: string, job: V1Job): void {
    if (this.jobs.has(key)) this.jobs.set(key, job);
    else this.fresh.set(key, { job, until: Date.now() + FRESH_MS });
    this.rebuild(key);
  }

  forgetFresh(key: string): void {
    this.fresh.delete(key);
    this.rebuild(key);
  }

  setTerminating(keys: string[], terminating: boolean): void {
    for (const key of keys) {
      if (terminating) this.terminating.add(key);
      else this.terminating.delete(key);
      this.rebuild(key, false);
    }
    this.changed();
    this.wake();
  }

  jobOf(key: string): V1Job | undefined {
    const fresh = this.fresh.get(key);
    if (fresh && fresh.until < Date.now()) this.fresh.delete(key);
    return this.jobs.get(key) ?? this.fresh.get(key)?.job;
  }

  podOf(key: string): V1Pod | undefined {
    return currentPod([...(this.pods.get(key)?.values() ?? [])]);
  }

  podNames(key: string): string[] {
    return [...(this.pods.get(key)?.keys() ?? [])];
  }

  /** Resolves at the next change of the index, or after `ms`. */
  nextChange(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.waiters.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      timer.unref();
      this.waiters.add(wake);
    });
  }

  /** Wake every waiter (the backend is closing). */
  wake(): void {
    for (const wake of [...this.waiters]) wake();
  }

  private rebuild(key: string, notify = true): void {
    const job = this.jobOf(key);
    const record = job ? recordFromJob(job, this.podOf(key), { terminating: this.terminating.has(key) }) : undefined;
    if (record) this.records.set(key, record);
    else this.records.delete(key);
    if (notify) {
      this.changed();
      this.wake();
    }
  }
}
