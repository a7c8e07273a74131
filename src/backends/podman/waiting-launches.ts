import type Docker from 'dockerode';
import path from 'node:path';
import { SkahaError } from '../../common/errors.js';
import { repositoryOf } from '../../catalog/registry/access.js';
import { recordFromSpec, recordKey, type LaunchSpec, type SessionEvent } from '../backend.js';
import { AdmissionQueue, type Demand } from './admission.js';
import type { CredentialPulls } from './credential-pulls.js';
import { engineMessage } from './engine-api.js';
import { formatBytes, PullProgress, pullFailureReason, pullImage } from '../../engine/pull.js';
import { PullJournal } from './pull-journal.js';
import type { SessionIndex } from './session-index.js';

interface Pull {
  progress: PullProgress;
  startedAt: Date;
  events: SessionEvent[];
  cancel?: () => void;
  cancelled: boolean;
}

interface WaitingLaunchesOptions {
  index: SessionIndex;
  /** Directory for the journal of waiting launches (a restart resumes them). */
  stateDir: string;
  /** Images pulled with someone's credentials: running them again needs an access check. */
  credentialPulls: CredentialPulls;
  /** What headless jobs may ask in all before new ones wait (admission.ts). */
  quota: () => Demand;
  /** Create and start an admitted job's container, or pull its image first (PodmanBackend.launchNow). */
  launch: (key: string, spec: LaunchSpec, createdAt: Date) => Promise<void>;
  /** Create and start the container once its image is in the engine; nothing if `cancelled()` by then. */
  createAndStart: (key: string, spec: LaunchSpec, cancelled: () => boolean) => Promise<void>;
  onChange: () => void;
  log: { info(message: string): void; warn(message: string): void };
}

/**
 * Launches without a container yet, shown Pending: headless jobs queued for room on the machine
 * (admission.ts), and launches whose image is being pulled in the background (a multi-GB pull
 * must not hold the launch request open), with the pull's progress in view=events. Both are
 * written down (pull-journal.ts) so that a restart keeps queued jobs in their places, starts
 * interrupted pulls over and lists failed launches with their reason.
 */
export class WaitingLaunches {
  /** Launches waiting for their image, and what the pull said (kept for view=events afterwards). */
  private readonly pulls = new Map<string, Pull>();
  private readonly journal: PullJournal;
  private readonly admission: AdmissionQueue;
  /** Queued jobs' specs (with their credentials, which are never written down). */
  private readonly queued = new Map<string, LaunchSpec>();
  private admitting = false;
  private stopped = false;

  constructor(
    private readonly docker: Docker,
    private readonly opts: WaitingLaunchesOptions,
  ) {
    this.journal = new PullJournal(path.join(opts.stateDir, 'pulls'));
    this.admission = new AdmissionQueue(opts.quota);
  }

  get queueLength(): number {
    return this.admission.length;
  }

  stop(): void {
    this.stopped = true;
  }

  /** Whether a headless job may start now; throws 400 when it could never fit. */
  admitsNow(spec: LaunchSpec): boolean {
    const demand = demandOf(spec);
    this.admission.check(demand);
    return this.admission.admitsNow(demand, this.headlessUsage());
  }

  /** Show the job as Pending, waiting for room (written down: a restart keeps its place). */
  enqueue(spec: LaunchSpec, createdAt: Date): void {
    const key = recordKey(spec.sessionId, spec.appId);
    this.journal.pending(spec, createdAt, { queued: true });
    this.queued.set(key, spec);
    this.admission.enqueue(key, demandOf(spec));
    this.opts.index.set(key, { record: recordFromSpec(spec, createdAt), containerId: '', ports: new Map() });
    this.opts.log.info(`headless job ${key} queued: ${this.admission.note(key, this.headlessUsage())}`);
    this.opts.onChange();
  }

  /** Start the queued jobs that fit now, in order (after every change of the index). */
  admit(): void {
    if (this.admitting || !this.admission.length || this.stopped) return;
    this.admitting = true;
    try {
      for (const key of this.admission.takeAdmitted(this.headlessUsage())) {
        const spec = this.queued.get(key);
        this.queued.delete(key);
        const entry = this.opts.index.get(key);
        if (!spec || !entry) continue;
        this.opts.log.info(`headless job ${key} admitted`);
        void this.opts
          .launch(key, spec, entry.record.createdAt)
          .then(() => {
            if (!this.pulls.has(key)) this.journal.remove(key);
          })
          .catch((err: unknown) => {
            const message = err instanceof SkahaError ? err.message : engineMessage(err);
            this.fail(key, spec, this.newPull(key), `The job could not be started: ${message}`, message);
          });
      }
    } finally {
      this.admitting = false;
    }
  }

  /** Show the launch as Pending now; pull, then create and start the container. */
  pull(spec: LaunchSpec, createdAt: Date): void {
    const key = recordKey(spec.sessionId, spec.appId);
    this.journal.pending(spec, createdAt);
    const pull = this.newPull(key);
    pull.events.push({ type: 'Normal', reason: 'Pulling', message: `Pulling image "${spec.image}"`, firstTime: pull.startedAt, lastTime: pull.startedAt });
    this.opts.index.set(key, { record: recordFromSpec(spec, createdAt), containerId: '', ports: new Map() });
    this.opts.onChange();
    void this.runPull(key, spec, pull);
  }

  /** Cancel a waiting launch (deleted) and forget it. */
  drop(key: string): void {
    this.admission.remove(key);
    this.queued.delete(key);
    const pull = this.pulls.get(key);
    if (pull) {
      pull.cancelled = true;
      pull.cancel?.();
    }
    this.opts.index.delete(key);
    this.pulls.delete(key);
    this.journal.remove(key);
  }

  /** The record left the index: what the pull said goes with it. */
  forget(key: string): void {
    this.pulls.delete(key);
  }

  /** After a restart: failed launches are listed again, interrupted pulls start over. */
  resume(): void {
    // In launch order, so that queued jobs keep their places.
    const launches = this.journal.all().sort((a, b) => a.file.createdAt.localeCompare(b.file.createdAt));
    for (const { key, file } of launches) {
      if (this.opts.index.has(key)) {
        // The container was made just before the restart.
        this.journal.remove(key);
        continue;
      }
      const spec = file.spec as LaunchSpec;
      if (file.failed) {
        const at = new Date(file.failed.at);
        const message = file.failed.event ?? `Failed to pull image "${spec.image}": ${file.failed.message}`;
        this.pulls.set(key, {
          progress: new PullProgress(),
          startedAt: at,
          cancelled: false,
          events: [{ type: 'Warning', reason: 'Failed', message, firstTime: at, lastTime: at }],
        });
        this.opts.index.set(key, {
          record: { ...recordFromSpec(spec, new Date(file.createdAt)), status: 'Failed', finishedAt: at },
          containerId: '',
          ports: new Map(),
        });
      } else if (file.queued) {
        this.enqueue(spec, new Date(file.createdAt));
      } else {
        // Credentials are never written down: a private image's pull fails as unauthorized.
        this.pull(spec, new Date(file.createdAt));
      }
    }
  }

  /** What a Pending launch without a container waits for, in one sentence. */
  note(key: string): string | undefined {
    const entry = this.opts.index.get(key);
    if (!entry || entry.containerId || entry.record.status !== 'Pending') return undefined;
    const queued = this.admission.note(key, this.headlessUsage());
    if (queued) return `${queued}.`;
    const pull = this.pulls.get(key);
    return pull ? `Pulling image ${entry.record.image}: ${pull.progress.summary()}.` : undefined;
  }

  /** view=events of a launch without a container: its place in the queue, or the pull so far. */
  events(key: string): SessionEvent[] {
    const queued = this.admission.note(key, this.headlessUsage());
    if (queued) {
      const since = this.opts.index.get(key)!.record.createdAt;
      return [{ type: 'Normal', reason: 'Queued', message: queued, firstTime: since, lastTime: new Date() }];
    }
    const pull = this.pulls.get(key);
    if (!pull) return [];
    const last = pull.events.at(-1);
    if (last?.reason !== 'Pulling') return pull.events;
    return [
      ...pull.events,
      {
        type: 'Normal',
        reason: 'Pulling',
        message: `Pulling image "${this.opts.index.get(key)?.record.image}": ${pull.progress.summary()}`,
        firstTime: pull.startedAt,
        lastTime: new Date(),
      },
    ];
  }

  /** The pull that came before a container (its events come first in view=events). */
  pullHistory(key: string): SessionEvent[] {
    return this.pulls.get(key)?.events ?? [];
  }

  private newPull(key: string): Pull {
    const pull: Pull = { progress: new PullProgress(), startedAt: new Date(), events: [], cancelled: false };
    this.pulls.set(key, pull);
    return pull;
  }

  private async runPull(key: string, spec: LaunchSpec, pull: Pull): Promise<void> {
    try {
      await this.pullImage(spec, pull);
      if (pull.cancelled) return;
      const seconds = ((Date.now() - pull.startedAt.getTime()) / 1000).toFixed(1);
      const { total } = pull.progress.bytes();
      const now = new Date();
      pull.events.push({
        type: 'Normal',
        reason: 'Pulled',
        message: `Successfully pulled image "${spec.image}" in ${seconds}s${total ? ` (${formatBytes(total)})` : ''}`,
        firstTime: now,
        lastTime: now,
      });
      this.opts.log.info(`pulled ${spec.image} for ${key} in ${seconds} s`);
    } catch (err) {
      if (pull.cancelled) return;
      const reason = pullFailureReason(engineMessage(err));
      return this.fail(key, spec, pull, `Failed to pull image "${spec.image}": ${reason}: ${engineMessage(err)}`, `cannot pull ${spec.image}: ${reason}`);
    }
    // The image is in the engine now: what fails from here is the container, not the pull.
    try {
      // The Pending entry stays until the container's own replaces it (SessionIndex.refresh):
      // dropping it first made the session 404 for the moment the start took.
      await this.opts.createAndStart(key, spec, () => pull.cancelled);
      if (pull.cancelled) return;
      this.journal.remove(key);
      if (!this.opts.index.has(key)) this.pulls.delete(key);
    } catch (err) {
      if (pull.cancelled) return;
      const message = err instanceof SkahaError ? err.message : engineMessage(err);
      this.fail(
        key,
        spec,
        pull,
        `Pulled image "${spec.image}", but its container could not be started: ${message}`,
        `cannot start ${spec.image}: ${(err as SkahaError).logMessage ?? message}`,
      );
    }
  }

  /**
   * Pull the launch's image, with its credentials if any (spec §7: they go to the engine for this
   * pull only). An image pulled with credentials is recorded by ID (KEP-2535); while it is being
   * pulled, its repository is marked so no launch runs it unchecked before the ID is known.
   */
  private async pullImage(spec: LaunchSpec, pull: Pull): Promise<void> {
    const repository = repositoryOf(spec.image);
    const pulling = spec.registryAuth ? this.opts.credentialPulls.begin(repository) : undefined;
    try {
      const running = await pullImage(this.docker, spec.image, spec.registryAuth);
      pull.progress = running.progress;
      pull.cancel = running.cancel;
      await running.done;
      if (pulling) this.opts.credentialPulls.add((await this.docker.getImage(spec.image).inspect()).Id, repository);
    } finally {
      pulling?.();
    }
  }

  /** The launch ends Failed, with `message` as its Warning event (kept across restarts). */
  private fail(key: string, spec: LaunchSpec, pull: Pull, message: string, logLine: string): void {
    const now = new Date();
    pull.events.push({ type: 'Warning', reason: 'Failed', message, firstTime: now, lastTime: now });
    this.opts.log.warn(`launch ${key} failed: ${logLine}`);
    const entry = this.opts.index.get(key) ?? { record: recordFromSpec(spec, now), containerId: '', ports: new Map() };
    entry.record = { ...entry.record, status: 'Failed', finishedAt: now };
    this.opts.index.set(key, entry);
    this.journal.failed(spec, entry.record.createdAt, now, message);
    this.opts.onChange();
  }

  /** The requests of the headless jobs admitted so far (running, or pulling their image). */
  private headlessUsage(): Demand {
    const used = { cores: 0, ramGiB: 0 };
    for (const [key, e] of this.opts.index.all()) {
      const r = e.record;
      if (r.type !== 'headless' || r.appId || this.admission.has(key) || (r.status !== 'Pending' && r.status !== 'Running')) continue;
      used.cores += r.resources.coresRequest;
      used.ramGiB += r.resources.ramRequestGiB;
    }
    return used;
  }
}

/** What a headless job asks of the machine: its requests. */
function demandOf(spec: LaunchSpec): Demand {
  return { cores: spec.resources.coresRequest, ramGiB: spec.resources.ramRequestGiB };
}
