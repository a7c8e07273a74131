import path from 'node:path';
import type Docker from 'dockerode';
import type { Readable } from 'node:stream';
import { backendUnavailable, SkahaError } from '../../common/errors.js';
import type { SessionRecord } from '../../sessions/model.js';
import { recordKey, type EngineImage, type LaunchSpec, type NodeCapacity, type SessionBackend, type SessionEvent } from '../backend.js';
import { toContainerCreate, type PodmanOptions } from './objects.js';
import { pullFailureReason, pullImage } from '../../engine/pull.js';
import { eventsFromEngine, type EngineEvent } from './events.js';
import { CredentialPulls } from './credential-pulls.js';
import { DeletionJournal } from './deletions.js';
import { UsageSampler, type ContainerStats } from './usage.js';
import type { EngineClaim } from './claim.js';
import { repositoryOf, type PullCredentials } from '../../catalog/registry/access.js';
import { tailOf } from '../log-tail.js';
import { dial, engineMessage, isEngineDown, isGone, isQuickExitRace, startedDespite, statusCodeOf } from './engine-api.js';
import { DeadlineStore } from './deadlines.js';
import { EngineWatch } from './engine-watch.js';
import { SessionIndex, type Entry } from './session-index.js';
import { SessionNetworks } from './session-networks.js';
import { WaitingLaunches } from './waiting-launches.js';

const CAPACITY_TTL_MS = 5 * 60_000;
const GiB = 2 ** 30;
/** How often running sessions' CPU and memory are read from the engine (one call for all). */
const USAGE_INTERVAL_MS = 10_000;

interface PodmanBackendOptions extends Omit<PodmanOptions, 'instance'> {
  /** Directory for the backend's own durable state (renewed deadlines, waiting launches, deletions). */
  stateDir: string;
  /** Who this server is on an engine other servers may share (claim.ts); `network` is opts.network. */
  identity: Omit<EngineClaim, 'network'>;
  /** Whether identity's uid range was configured (an overlap refuses to start) or kept by the platform (a warning). */
  uidRangeConfigured: boolean;
  /** What headless jobs may ask in all before new ones wait (admission.ts); 0: the whole machine. */
  headlessQuota: { cores: number; ramGiB: number };
  log: { info(msg: string): void; warn(msg: string): void; error(msg: string): void };
  /**
   * Asks the image's registry whether a launch's credentials (or none) may pull an image, without
   * pulling (catalog/registry/access.ts). Throws SkahaError 400 when refused, 503 when unreachable.
   */
  imageAccess: { verify(image: string, credentials?: PullCredentials): Promise<void> };
}

/**
 * Sessions as containers on Podman (or Docker) through the Docker-compatible API. Container
 * labels are the source of truth: the index (session-index.ts) is rebuilt from them at start and
 * kept current from the engine's event stream (engine-watch.ts). Launches without a container yet
 * — queued for room or pulling their image — are waiting-launches.ts's; networks, the engine
 * claim and the firewall are session-networks.ts's. This class creates, deletes and reads.
 */
export class PodmanBackend implements SessionBackend {
  readonly name = 'podman';
  private readonly index: SessionIndex;
  private readonly watch: EngineWatch;
  private readonly networks: SessionNetworks;
  private readonly waiting: WaitingLaunches;
  private readonly deadlines: DeadlineStore;
  private readonly listeners: Array<(kind: 'session' | 'image') => void> = [];
  private capacityCache: { at: number; host: NodeCapacity } | undefined;
  /** Images pulled with someone's credentials: running them again needs an access check. */
  private readonly credentialPulls: CredentialPulls;
  /** Deletions acknowledged and not finished yet, written down so a restart finishes them. */
  private readonly deletions: DeletionJournal;
  private machine: NodeCapacity = { cores: 0, memoryBytes: 0 };
  /** Live CPU and memory of running containers, sampled every USAGE_INTERVAL_MS. */
  private readonly usage = new UsageSampler();
  private usageTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly docker: Docker,
    private readonly opts: PodmanBackendOptions,
  ) {
    this.credentialPulls = new CredentialPulls(path.join(opts.stateDir, 'credential-pulls.json'));
    this.deletions = new DeletionJournal(path.join(opts.stateDir, 'deletions'));
    this.deadlines = new DeadlineStore(path.join(opts.stateDir, 'deadlines'));
    this.networks = new SessionNetworks(docker, { network: opts.network, identity: opts.identity, uidRangeConfigured: opts.uidRangeConfigured, log: opts.log });
    this.index = new SessionIndex(docker, {
      isOurs: (labels) => this.networks.isOurs(labels),
      deadlines: this.deadlines,
      usage: this.usage,
      onForget: (key) => this.waiting.forget(key),
      onChange: () => this.emit('session'),
      log: opts.log,
    });
    this.waiting = new WaitingLaunches(docker, {
      index: this.index,
      stateDir: opts.stateDir,
      credentialPulls: this.credentialPulls,
      quota: () => ({
        cores: opts.headlessQuota.cores || this.machine.cores,
        ramGiB: opts.headlessQuota.ramGiB || this.machine.memoryBytes / GiB,
      }),
      launch: (key, spec, createdAt) => this.launchNow(key, spec, createdAt),
      createAndStart: (key, spec, cancelled) => this.createAndStart(key, spec, cancelled),
      onChange: () => this.emit('session'),
      log: opts.log,
    });
    this.watch = new EngineWatch(docker, {
      relist: () => this.index.relist(),
      onEvent: (event) => this.onEngineEvent(event),
      log: opts.log,
    });
  }

  async start(): Promise<void> {
    await this.networks.claim();
    this.deadlines.load();
    await this.index.relist();
    this.resumeDeletions();
    // The sessions' networks: their peers may call back from the start.
    await this.networks.hostAddress();
    await this.networks.adoptExisting();
    this.credentialPulls.retain((await this.docker.listImages()).map((image) => image.Id));
    [this.machine] = (await this.capacity()) as [NodeCapacity];
    this.waiting.resume();
    this.watch.start();
    this.waiting.admit();
    this.usageTimer = setInterval(() => void this.sampleUsage(), USAGE_INTERVAL_MS);
    this.usageTimer.unref();
  }

  async close(): Promise<void> {
    this.waiting.stop();
    clearInterval(this.usageTimer);
    this.watch.stop();
  }

  onChange(listener: (kind: 'session' | 'image') => void): void {
    this.listeners.push(listener);
  }

  list(): SessionRecord[] {
    return this.index.records();
  }

  get(id: string, appId?: string): SessionRecord | undefined {
    return this.index.get(recordKey(id, appId))?.record;
  }

  address(id: string, port: number): { host: string; port: number } | undefined {
    const hostPort = this.index.get(id)?.ports.get(port);
    return hostPort ? { host: '127.0.0.1', port: hostPort } : undefined;
  }

  async create(spec: LaunchSpec): Promise<void> {
    const key = recordKey(spec.sessionId, spec.appId);
    if (this.index.has(key)) return;
    if (spec.type === 'headless' && !spec.appId && !this.waiting.admitsNow(spec)) {
      this.waiting.enqueue(spec, new Date());
      return;
    }
    await this.launchNow(key, spec, new Date());
  }

  /** Create and start the container, or show the launch Pending and pull its image first. */
  private async launchNow(key: string, spec: LaunchSpec, createdAt: Date): Promise<void> {
    const body = await this.createBody(spec);
    let container: Docker.Container | undefined;
    try {
      container = await this.docker.createContainer(body);
    } catch (err) {
      if (statusCodeOf(err) === 404 && !(err instanceof SkahaError)) {
        // The image is not in the engine: answer now, pull in the background with progress in
        // view=events (a multi-GB pull must not hold the launch request open).
        this.waiting.pull(spec, createdAt);
        return;
      }
      throw this.createError(key, spec, err);
    }
    await this.verifyCachedImage(key, spec, container);
    await this.startContainer(key, spec, container);
  }

  /** The image has just been pulled for this launch: make its container, unless cancelled meanwhile. */
  private async createAndStart(key: string, spec: LaunchSpec, cancelled: () => boolean): Promise<void> {
    const container = await this.docker.createContainer(await this.createBody(spec));
    if (cancelled()) {
      await container.remove({ force: true, v: true }).catch(() => undefined);
      return;
    }
    await this.startContainer(key, spec, container);
  }

  /**
   * KEP-2535 ("ensure secret pulled images"): an image in the engine because a launch pulled it
   * with credentials runs again by a name of that repository only after its registry confirms
   * that this launch's credentials (or none) may pull it; having the bytes on the machine is no
   * access to them. The check reads the image the container was really made from, so another tag
   * or a digest reference is checked too, and it runs once a private pull of the repository has
   * begun, before its image ID is known. A refusal removes the container: nothing is left.
   */
  private async verifyCachedImage(key: string, spec: LaunchSpec, container: Docker.Container): Promise<void> {
    if (this.credentialPulls.isEmpty()) return;
    try {
      const { Image: imageId } = await container.inspect();
      if (!this.credentialPulls.needsCheck(imageId, repositoryOf(spec.image))) return;
      await this.opts.imageAccess.verify(spec.image, spec.registryAuth);
    } catch (err) {
      await container.remove({ force: true, v: true }).catch(() => undefined);
      this.index.delete(key);
      throw this.createError(key, spec, err);
    }
  }

  private async createBody(spec: LaunchSpec): Promise<Docker.ContainerCreateOptions> {
    let networkOf: string | undefined;
    if (spec.joinSessionOf) {
      const desktop = this.index.get(spec.joinSessionOf);
      if (!desktop) throw new SkahaError('SKAHA_ERR_NOT_FOUND', `session ${spec.joinSessionOf} not found`);
      if (!desktop.containerId) throw new SkahaError('SKAHA_ERR_BAD_REQUEST', `session ${spec.joinSessionOf} is still starting`);
      networkOf = desktop.containerId;
    } else {
      await this.networks.ensure(this.networks.of(spec.uid));
    }
    return toContainerCreate(spec, { ...this.opts, network: this.networks.of(spec.uid), instance: this.networks.name }, networkOf);
  }

  private async startContainer(key: string, spec: LaunchSpec, container: Docker.Container): Promise<void> {
    try {
      await container.start().catch((err: unknown) => this.startedAnyway(container, err));
      await this.index.refresh(container.id);
    } catch (err) {
      await container.remove({ force: true, v: true }).catch(() => undefined);
      this.index.delete(key);
      throw this.createError(key, spec, err);
    }
  }

  /** A start that failed but happened all the same (engine-api.ts, `startedDespite`): carry on. */
  private async startedAnyway(container: Docker.Container, err: unknown): Promise<void> {
    if (!isQuickExitRace(err)) throw err;
    const state = await container.inspect().then(
      (info) => info.State,
      () => undefined,
    );
    if (!startedDespite(err, state)) throw err;
    this.opts.log.info(`container ${container.id.slice(0, 12)} ended as it started (${engineMessage(err)}): started`);
  }

  private createError(key: string, spec: LaunchSpec, err: unknown): Error {
    if (err instanceof SkahaError) return err;
    if (isEngineDown(err)) return backendUnavailable(`create ${key}: ${engineMessage(err)}`);
    const status = statusCodeOf(err);
    if (status === 409) return new SkahaError('SKAHA_ERR_CONFLICT', `session ${spec.sessionId} already exists`);
    // An image that runs but whose command cannot start (no such file, not executable) is
    // the caller's to fix: say what the engine said, on one line.
    if (status === 500 && /executable file|no such file|permission denied|not found/i.test(engineMessage(err))) {
      return new SkahaError('SKAHA_ERR_BAD_REQUEST', `session failed to start: ${engineMessage(err)}`);
    }
    return backendUnavailable(`create ${key}: ${engineMessage(err)}`);
  }

  async delete(id: string, appId?: string): Promise<{ removed: Promise<string[]> }> {
    const key = recordKey(id, appId);
    const entry = this.index.get(key);
    if (!entry) return { removed: Promise.resolve([]) };
    // Launches still waiting have no container: cancel and forget them.
    const waiting = [...this.index.all()].filter(([k, e]) => !e.containerId && (k === key || (!appId && e.record.id === id && e.record.appId))).map(([k]) => k);
    for (const k of waiting) this.waiting.drop(k);
    if (!entry.containerId) {
      this.emit('session');
      return { removed: Promise.resolve(waiting) };
    }
    // A desktop's apps share its network namespace: they must go first.
    const dependents = appId ? [] : [...this.index.all()].map(([, e]) => e).filter((e) => e.record.id === id && e.record.appId && e.containerId);
    const doomed = [...dependents, entry];
    const keys = doomed.map((e) => recordKey(e.record.id, e.record.appId));
    // Written down (durably) before anything is acknowledged: a server killed from here on
    // finishes the deletion when it starts again, and never shows the session again.
    try {
      this.deletions.record(key);
    } catch (err) {
      throw backendUnavailable(`delete ${key}: cannot write the deletion down: ${(err as Error).message}`);
    }
    for (const k of keys) this.index.markTerminating(k);
    this.emit('session');
    try {
      await Promise.all(doomed.map((e) => this.signal(e.containerId, 'SIGTERM', { engineDownThrows: true })));
    } catch (err) {
      for (const k of keys) this.index.unmarkTerminating(k);
      this.deletions.remove(key); // not acknowledged: the engine could not be asked
      this.emit('session');
      throw backendUnavailable(`delete ${key}: ${engineMessage(err)}`);
    }
    const removed = this.removeAfterGrace(
      doomed.map((e) => e.containerId),
      key,
    ).then(() => keys);
    return { removed };
  }

  async renew(id: string, appId: string | undefined, deadlineSeconds: number): Promise<void> {
    const key = recordKey(id, appId);
    // Durably before the renew is acknowledged: a restart keeps the new expiry.
    this.deadlines.set(key, deadlineSeconds);
    const entry = this.index.get(key);
    if (entry) entry.record = { ...entry.record, deadlineSeconds };
    this.emit('session');
  }

  async logs(id: string, appId: string | undefined, maxBytes: number): Promise<string> {
    const key = recordKey(id, appId);
    const entry = this.index.get(key);
    if (!entry) return '';
    if (!entry.containerId)
      return this.waiting
        .events(key)
        .map((e) => `${e.reason}: ${e.message}\n`)
        .join('');
    try {
      // As a stream, not dockerode's logs() (which collects the whole log into one Buffer).
      const stream = await dial(this.docker, `/containers/${encodeURIComponent(entry.containerId)}/logs`, {
        query: { stdout: true, stderr: true, follow: false },
        stream: true,
      });
      return await tailOf(stream, maxBytes);
    } catch (err) {
      if (isGone(err)) return '';
      throw backendUnavailable(`logs ${id}: ${engineMessage(err)}`);
    }
  }

  async events(id: string, appId?: string): Promise<SessionEvent[]> {
    const key = recordKey(id, appId);
    const entry = this.index.get(key);
    if (!entry) return [];
    if (!entry.containerId) return this.waiting.events(key);
    try {
      const since = Math.floor(entry.record.createdAt.getTime() / 1000) - 1;
      // `stream: false` (Podman) returns what happened so far at once; `until` would make the
      // engine wait for that second to pass.
      const query = { since, filters: { container: [entry.containerId] }, stream: false } as Docker.GetEventsOptions;
      const stream = (await this.docker.getEvents(query)) as unknown;
      const text = Buffer.isBuffer(stream) ? stream.toString('utf8') : await readAll(stream as Readable, EVENTS_READ_LIMIT_MS);
      const raw = text.split('\n').flatMap((line) => {
        try {
          return [JSON.parse(line) as EngineEvent];
        } catch {
          return []; // blank, or cut short by the read limit
        }
      });
      return [...this.waiting.pullHistory(key), ...eventsFromEngine(raw, entry.record)];
    } catch (err) {
      throw backendUnavailable(`events ${id}: ${engineMessage(err)}`);
    }
  }

  async images(): Promise<EngineImage[]> {
    try {
      const images = await this.docker.listImages();
      return images.map((img) => ({
        tags: (img.RepoTags ?? []).filter((t) => t && !t.startsWith('<none>')),
        digest: img.RepoDigests?.[0]?.split('@')[1] ?? img.Id,
        labels: img.Labels ?? {},
      }));
    } catch (err) {
      throw backendUnavailable(`images: ${engineMessage(err)}`);
    }
  }

  /**
   * Pull images ahead of launches (config catalog.prePull), one at a time, skipping those present;
   * progress goes to the log every 10 s. Failures are logged, not thrown.
   */
  async prePull(images: string[]): Promise<void> {
    for (const image of images) {
      try {
        await this.docker.getImage(image).inspect();
        continue;
      } catch {
        // not present: pull it
      }
      const started = Date.now();
      try {
        const running = await pullImage(this.docker, image);
        const ticker = setInterval(() => this.opts.log.info(`pre-pulling ${image}: ${running.progress.summary()}`), 10_000);
        await running.done.finally(() => clearInterval(ticker));
        this.opts.log.info(`pre-pulled ${image} in ${((Date.now() - started) / 1000).toFixed(1)} s (${running.progress.summary()})`);
      } catch (err) {
        this.opts.log.warn(`pre-pull of ${image} failed: ${pullFailureReason(engineMessage(err))}: ${engineMessage(err)}`);
      }
    }
  }

  /** This host: the one machine every session runs on. */
  async capacity(): Promise<NodeCapacity[]> {
    // The engine's `info` costs ~200 ms on Podman and the machine does not change size: ask
    // once every few minutes, not per view=stats request.
    if (this.capacityCache && Date.now() - this.capacityCache.at < CAPACITY_TTL_MS) return [this.capacityCache.host];
    try {
      const info = (await this.docker.info()) as { NCPU?: number; MemTotal?: number };
      const host = { cores: info.NCPU ?? 0, memoryBytes: info.MemTotal ?? 0 };
      this.capacityCache = { at: Date.now(), host };
      return [host];
    } catch (err) {
      throw backendUnavailable(`info: ${engineMessage(err)}`);
    }
  }

  /** The gateway of the user's network (made now if missing): where their sessions call back. */
  hostAddress(uid?: number): Promise<string | undefined> {
    return this.networks.hostAddress(uid);
  }

  isSessionPeer(address: string): boolean {
    return this.networks.isSessionPeer(address);
  }

  queueLength(): number {
    return this.waiting.queueLength;
  }

  openCallbackPort(port: number): Promise<void> {
    return this.networks.openCallbackPort(port);
  }

  pendingNote(id: string, appId?: string): string | undefined {
    return this.waiting.note(recordKey(id, appId));
  }

  async availability(): Promise<{ available: boolean; note: string }> {
    try {
      await this.docker.ping();
      return this.watch.connected
        ? { available: true, note: 'skaha service is available.' }
        : { available: false, note: 'container engine answers but its event stream is reconnecting' };
    } catch (err) {
      return { available: false, note: `container engine not reachable: ${engineMessage(err)}` };
    }
  }

  // --- internals -------------------------------------------------------------------------

  private emit(kind: 'session' | 'image') {
    for (const listener of this.listeners) listener(kind);
    // A session that ended may have made room for a queued job.
    if (kind === 'session' && this.waiting.queueLength) queueMicrotask(() => this.waiting.admit());
  }

  private onEngineEvent(event: EngineEvent): void {
    if (event.Type === 'image') this.emit('image');
    else this.index.apply(event);
  }

  private signal(containerId: string, signal: 'SIGTERM' | 'SIGKILL', opts: { engineDownThrows?: boolean } = {}): Promise<void> {
    return this.docker
      .getContainer(containerId)
      .kill({ signal })
      .catch((err: unknown) => {
        if (opts.engineDownThrows && isEngineDown(err)) throw err;
      });
  }

  /**
   * Wait for each container (a desktop's apps first) to end after its SIGTERM, up to the grace,
   * then SIGKILL and remove it, and strike the deletion from the journal.
   */
  private async removeAfterGrace(containerIds: string[], key: string) {
    const ended = (id: string) =>
      Promise.race([
        this.docker
          .getContainer(id)
          .wait()
          .catch(() => undefined),
        new Promise((r) => setTimeout(r, this.opts.stopTimeoutSeconds * 1000)),
      ]);
    for (const id of containerIds) {
      await ended(id);
      // After the grace, SIGKILL: a forced remove of a running container would make Podman wait
      // the container's stop timeout a second time (measured: 30 removals 32 s → 2 s).
      await this.signal(id, 'SIGKILL');
      await this.docker
        .getContainer(id)
        .remove({ force: true, v: true })
        .catch((err) => {
          if (!isGone(err)) this.opts.log.warn(`remove ${id}: ${engineMessage(err)}`);
        });
    }
    // The remove events update the index; this covers an engine that sends none.
    this.index.forgetContainers(containerIds);
    this.index.unmarkTerminating(key);
    try {
      this.deletions.remove(key);
    } catch (err) {
      this.opts.log.warn(`delete ${key}: finished, but its journal entry stays: ${(err as Error).message}`);
    }
    this.emit('session');
  }

  /**
   * Deletions a previous run acknowledged and did not finish (it was killed): their containers
   * are shown Terminating from the first listing, signalled again and removed after the grace.
   */
  private resumeDeletions(): void {
    for (const deletion of this.deletions.all()) {
      const entries: Array<[string, Entry]> = [...this.index.all()]
        .filter(([k, e]) => e.containerId && this.deletions.covering(k) === deletion)
        // A desktop's apps share its network namespace: they go first.
        .sort(([a], [b]) => Number(!a.includes('/')) - Number(!b.includes('/')));
      if (!entries.length) {
        this.deletions.remove(deletion.key);
        continue;
      }
      this.opts.log.info(`finishing the deletion of ${deletion.key}, acknowledged at ${deletion.at} before a restart`);
      for (const [k] of entries) this.index.markTerminating(k);
      const ids = entries.map(([, e]) => e.containerId);
      void Promise.all(ids.map((id) => this.signal(id, 'SIGTERM')))
        .then(() => this.removeAfterGrace(ids, deletion.key))
        .catch((err: unknown) => this.opts.log.warn(`delete ${deletion.key}: ${engineMessage(err)}; tried again at the next start`));
    }
  }

  /** Read the CPU and memory of every running session in one engine call, into their records. */
  private async sampleUsage(): Promise<void> {
    const running = [...this.index.all()].map(([, e]) => e).filter((e) => e.containerId && e.record.status === 'Running');
    if (!running.length) return;
    try {
      const reply = await dial<{ Stats?: ContainerStats[] } | undefined>(this.docker, '/v4.0.0/libpod/containers/stats', {
        query: { stream: false, containers: running.map((e) => e.containerId) },
      });
      this.usage.record(reply?.Stats ?? []);
    } catch {
      return; // a container that just ended, or the engine away: the next sample will do
    }
    this.index.applyUsage();
  }
}

/** An engine that ignores `stream: false` (Docker) keeps the stream open: take what came by then. */
const EVENTS_READ_LIMIT_MS = 2000;

function readAll(stream: Readable, limitMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const done = () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('utf8'));
    };
    const timer = setTimeout(() => {
      stream.destroy();
      done();
    }, limitMs);
    stream.on('data', (chunk: Buffer | string) => chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk)));
    stream.on('end', done);
    stream.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}
