import { SkahaError } from '../../common/errors.js';

/** What a headless job asks of the machine: its requests, as the scheduler of a cluster counts them. */
export interface Demand {
  cores: number;
  ramGiB: number;
}

const add = (a: Demand, b: Demand): Demand => ({ cores: a.cores + b.cores, ramGiB: a.ramGiB + b.ramGiB });
/** Rounding noise of fractional cores (0.1 + 0.2) must not keep a job out. */
const EPSILON = 1e-9;
const fits = (used: Demand, demand: Demand, quota: Demand) =>
  used.cores + demand.cores <= quota.cores + EPSILON && used.ramGiB + demand.ramGiB <= quota.ramGiB + EPSILON;
const ordinal = (n: number) =>
  `${n}${n % 10 === 1 && n % 100 !== 11 ? 'st' : n % 10 === 2 && n % 100 !== 12 ? 'nd' : n % 10 === 3 && n % 100 !== 13 ? 'rd' : 'th'}`;
const number = (n: number) => String(Math.round(n * 100) / 100);

/**
 * Admission of headless jobs against the machine (issue 16), as Kueue's ClusterQueue does for
 * CANFAR's batch work on a cluster: jobs run while the sum of their requests fits in the quota;
 * the others wait, first come first served, and start in that order when room frees. A job that
 * does not fit waits even if a smaller one behind it would: no job waits forever behind a stream
 * of small ones. Interactive sessions are not queued (a person is waiting for them); they are
 * bounded per user instead.
 */
export class AdmissionQueue {
  private readonly waiting: Array<{ key: string; demand: Demand }> = [];

  /** `quota`: what headless jobs may ask in all (podman.headlessQuota, or the whole machine). */
  constructor(private readonly quota: () => Demand) {}

  /** A job larger than the whole quota could never start: refuse it at launch instead. */
  check(demand: Demand): void {
    const quota = this.quota();
    if (fits({ cores: 0, ramGiB: 0 }, demand, quota)) return;
    throw new SkahaError(
      'SKAHA_ERR_BAD_REQUEST',
      `a headless job asking ${number(demand.cores)} cores and ${number(demand.ramGiB)} GiB can never start here: headless jobs may ask ${number(quota.cores)} cores and ${number(quota.ramGiB)} GiB in all`,
    );
  }

  /** Whether a new job starts now: nothing waits before it, and it fits beside `used`. */
  admitsNow(demand: Demand, used: Demand): boolean {
    return this.waiting.length === 0 && fits(used, demand, this.quota());
  }

  enqueue(key: string, demand: Demand): void {
    if (!this.has(key)) this.waiting.push({ key, demand });
  }

  has(key: string): boolean {
    return this.waiting.some((w) => w.key === key);
  }

  remove(key: string): void {
    const i = this.waiting.findIndex((w) => w.key === key);
    if (i >= 0) this.waiting.splice(i, 1);
  }

  get length(): number {
    return this.waiting.length;
  }

  /** Take the jobs that may start now beside `used`, in order: the head, while it fits. */
  takeAdmitted(used: Demand): string[] {
    const taken: string[] = [];
    let total = used;
    while (this.waiting.length && fits(total, this.waiting[0]!.demand, this.quota())) {
      const head = this.waiting.shift()!;
      total = add(total, head.demand);
      taken.push(head.key);
    }
    return taken;
  }

  /** Why a queued job waits, for its status and events; undefined when it is not queued. */
  note(key: string, used: Demand): string | undefined {
    const i = this.waiting.findIndex((w) => w.key === key);
    if (i < 0) return undefined;
    const quota = this.quota();
    const free = { cores: Math.max(0, quota.cores - used.cores), ramGiB: Math.max(0, quota.ramGiB - used.ramGiB) };
    const { demand } = this.waiting[i]!;
    return (
      `Queued (${ordinal(i + 1)} of ${this.waiting.length}): asks ${number(demand.cores)} cores and ${number(demand.ramGiB)} GiB; ` +
      `${number(free.cores)} cores and ${number(free.ramGiB)} GiB of the ${number(quota.cores)} cores and ${number(quota.ramGiB)} GiB for headless jobs are free`
    );
  }
}
