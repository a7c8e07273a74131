import fs from 'node:fs';
import path from 'node:path';
import type Docker from 'dockerode';
import type { Readable } from 'node:stream';
import { backendUnavailable, SkahaError } from '../../server/errors.js';
import type { SessionRecord } from '../../sessions/model.js';
import { recordFromSpec, recordKey, type EngineImage, type LaunchSpec, type NodeCapacity, type SessionBackend, type SessionEvent } from '../backend.js';
import { LABEL, publishedPorts, recordFromInspect, toContainerCreate, type PodmanOptions } from './objects.js';
import { formatBytes, PullProgress, pullFailureReason, pullImage } from './pull.js';
import { eventsFromEngine, type EngineEvent } from './events.js';
import { CredentialPulls } from './credential-pulls.js';
import { PullJournal } from './pull-journal.js';
import { DeletionJournal } from './deletions.js';
import { writeDurably } from '../../server/durable.js';
import { SessionFirewall } from './firewall.js';
import { AdmissionQueue, type Demand } from './admission.js';
import { UsageSampler, type ContainerStats } from './usage.js';
import { autoNetwork, claimConflict, claimIsLive, claimLabels, claimOf, DEFAULT_NETWORK, engineClaims, isOwnClaim, type EngineClaim } from './claim.js';
import { inSubnet, ipv4Of } from './networks.js';
import { repositoryOf, type PullCredentials } from '../../catalog/registry/access.js';
import { tailOf } from '../log-tail.js';

interface Entry {
  record: SessionRecord;
  /** Empty while the image is being pulled (no container yet). */
  containerId: string;
  ports: Map<number, number>;
}

interface Pull {
  progress: PullProgress;
  startedAt: Date;
  events: SessionEvent[];
  cancel?: () => void;
  cancelled: boolean;
}

/** Reconnect backoff for the event stream (style.md: named constants, 1 s → 30 s). */
const WATCH_BACKOFF_INITIAL_MS = 1000;
const WATCH_BACKOFF_MAX_MS = 30_000;
const CAPACITY_TTL_MS = 5 * 60_000;
const GiB = 2 ** 30;
/** How often running sessions' CPU and memory are read from the engine (one call for all). */
const USAGE_INTERVAL_MS = 10_000;

interface PodmanBackendOptions extends Omit<PodmanOptions, 'instance'> {
  /** Directory for the backend's own durable state (renewed deadlines). */
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

/** An error from dockerode/the socket that means the engine, not the request, failed. */
function isEngineDown(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException)?.code;
  return code === 'ECONNREFUSED' || code === 'ENOENT' || code === 'EPIPE' || code === 'ECONNRESET' || code === 'ETIMEDOUT';
}

const statusCodeOf = (err: unknown) => (err as { statusCode?: number })?.statusCode;

/** Podman answers some lookups of a vanished container with 500 "no such container". */
const isGone = (err: unknown) => statusCodeOf(err) === 404 || /no such container/i.test(engineMessage(err));

function engineMessage(err: unknown): string {
  const json = (err as { json?: { message?: string; cause?: string } })?.json;
  return json?.message ?? json?.cause ?? (err as Error)?.message ?? String(err);
}

/**
 * Sessions as containers on Podman (or Docker) through the Docker-compatible API. Container
 * labels are the source of truth; an in-memory index is rebuilt from them at start and kept
 * current from the engine's event stream.
 */
export class PodmanBackend implements SessionBackend {
  readonly name = 'podman';
  private readonly index = new Map<string, Entry>();
  private readonly terminating = new Set<string>();
  private readonly deadlines = new Map<string, number>();
  private readonly listeners: Array<(kind: 'session' | 'image') => void> = [];
  private eventStream: Readable | undefined;
  private closed = false;
  /** Networks made (or found) so far, by name. */
  private readonly networksReady = new Map<string, Promise<void>>();
  /** The networks sessions are attached to: their containers (not the gateway) may call the API back. */
  private readonly sessionNetworks = new Map<string, { subnet: string; gateway: string }>();
  private watching = false;
  private capacityCache: { at: number; host: NodeCapacity } | undefined;
  /** Launches waiting for their image, and what the pull said (kept for view=events afterwards). */
  private readonly pulls = new Map<string, Pull>();
  /** Images pulled with someone's credentials: running them again needs an access check. */
  private readonly credentialPulls: CredentialPulls;
  /** Launches waiting for their image, written down so a restart resumes them. */
  private readonly journal: PullJournal;
  /** Deletions acknowledged and not finished yet, written down so a restart finishes them. */
  private readonly deletions: DeletionJournal;
  /** Drops forwarding between users' session networks, and sessions' traffic to host ports. */
  private readonly firewall: SessionFirewall;
  /** Headless jobs waiting for room on the machine, in order, and their specs (with credentials). */
  private readonly admission: AdmissionQueue;
  private readonly queued = new Map<string, LaunchSpec>();
  private machine: NodeCapacity = { cores: 0, memoryBytes: 0 };
  /** This server's name on the engine: podman.network, or the one claimEngine() chose for an empty one. */
  private network: string;
  private admitting = false;
  /** Live CPU and memory of running containers, sampled every USAGE_INTERVAL_MS. */
  private readonly usage = new UsageSampler();
  private usageTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly docker: Docker,
    private readonly opts: PodmanBackendOptions,
  ) {
    this.credentialPulls = new CredentialPulls(path.join(opts.stateDir, 'credential-pulls.json'));
    this.journal = new PullJournal(path.join(opts.stateDir, 'pulls'));
    this.deletions = new DeletionJournal(path.join(opts.stateDir, 'deletions'));
    this.firewall = new SessionFirewall(opts.log);
    this.network = opts.network || DEFAULT_NETWORK;
    this.admission = new AdmissionQueue(() => ({
      cores: opts.headlessQuota.cores || this.machine.cores,
      ramGiB: opts.headlessQuota.ramGiB || this.machine.memoryBytes / GiB,
    }));
  }

  async start(): Promise<void> {
    await this.claimEngine();
    fs.mkdirSync(this.deadlinesDir(), { recursive: true });
    for (const file of fs.readdirSync(this.deadlinesDir())) {
      const value = Number(fs.readFileSync(path.join(this.deadlinesDir(), file), 'utf8'));
      if (value > 0) this.deadlines.set(file.replace('-', '/'), value);
    }
    await this.relist();
    this.resumeDeletions();
    // The sessions' networks: their peers may call back from the start.
    await this.hostAddress();
    await this.knownNetworks();
    this.credentialPulls.retain((await this.docker.listImages()).map((image) => image.Id));
    [this.machine] = (await this.capacity()) as [NodeCapacity];
    this.resumePulls();
    this.watch();
    this.admitWaiting();
    this.usageTimer = setInterval(() => void this.sampleUsage(), USAGE_INTERVAL_MS);
    this.usageTimer.unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.usageTimer);
    this.eventStream?.destroy();
  }

  onChange(listener: (kind: 'session' | 'image') => void): void {
    this.listeners.push(listener);
  }

  list(): SessionRecord[] {
    return [...this.index.values()].map((e) => e.record);
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
    if (spec.type === 'headless' && !spec.appId) {
      const demand = demandOf(spec);
      this.admission.check(demand);
      if (!this.admission.admitsNow(demand, this.headlessUsage())) {
        this.enqueue(spec, new Date());
        return;
      }
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
        this.startPull(spec, createdAt);
        return;
      }
      throw this.createError(key, spec, err);
    }
    await this.verifyCachedImage(key, spec, container);
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
      await this.ensureNetwork(this.networkOf(spec.uid));
    }
    return toContainerCreate(spec, { ...this.opts, network: this.networkOf(spec.uid), instance: this.network }, networkOf);
  }

  private async startContainer(key: string, spec: LaunchSpec, container: Docker.Container): Promise<void> {
    try {
      await container.start();
      await this.refresh(container.id);
    } catch (err) {
      await container.remove({ force: true, v: true }).catch(() => undefined);
      this.index.delete(key);
      throw this.createError(key, spec, err);
    }
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
    // Launches still pulling have no container: cancel and forget them.
    const pending = [...this.index.entries()].filter(([k, e]) => !e.containerId && (k === key || (!appId && e.record.id === id && e.record.appId)));
    for (const [k] of pending) this.dropPull(k);
    if (!entry.containerId) {
      this.emit('session');
      return { removed: Promise.resolve(pending.map(([k]) => k)) };
    }
    // A desktop's apps share its network namespace: they must go first.
    const dependents = appId ? [] : [...this.index.values()].filter((e) => e.record.id === id && e.record.appId && e.containerId);
    // Written down (durably) before anything is acknowledged: a server killed from here on
    // finishes the deletion when it starts again, and never shows the session again.
    try {
      this.deletions.record(key);
    } catch (err) {
      throw backendUnavailable(`delete ${key}: cannot write the deletion down: ${(err as Error).message}`);
    }
    for (const e of [...dependents, entry]) this.markTerminating(recordKey(e.record.id, e.record.appId));
    this.emit('session');
    try {
      await Promise.all(
        [...dependents, entry].map((e) =>
          this.docker
            .getContainer(e.containerId)
            .kill({ signal: 'SIGTERM' })
            .catch((err) => {
              if (isEngineDown(err)) throw err;
            }),
        ),
      );
    } catch (err) {
      for (const e of [...dependents, entry]) this.unmarkTerminating(recordKey(e.record.id, e.record.appId));
      this.deletions.remove(key); // not acknowledged: the engine could not be asked
      this.emit('session');
      throw backendUnavailable(`delete ${key}: ${engineMessage(err)}`);
    }
    const keys = [...dependents, entry].map((e) => recordKey(e.record.id, e.record.appId));
    const removed = this.removeAfterGrace(
      dependents.map((e) => e.containerId),
      entry.containerId,
      key,
    ).then(() => keys);
    return { removed };
  }

  async renew(id: string, appId: string | undefined, deadlineSeconds: number): Promise<void> {
    const key = recordKey(id, appId);
    // Durably before the renew is acknowledged: a restart keeps the new expiry.
    writeDurably(path.join(this.deadlinesDir(), key.replace('/', '-')), String(deadlineSeconds), 0o644);
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
      return this.pullEvents(key)
        .map((e) => `${e.reason}: ${e.message}\n`)
        .join('');
    try {
      // As a stream, not dockerode's logs() (which collects the whole log into one Buffer).
      const containerId = entry.containerId;
      const stream = await new Promise<Readable>((resolve, reject) => {
        this.docker.modem.dial(
          {
            path: `/containers/${encodeURIComponent(containerId)}/logs?`,
            method: 'GET',
            options: { stdout: true, stderr: true, follow: false },
            isStream: true,
            statusCodes: { 200: true, 404: 'no such container', 500: 'server error' },
          },
          (err, data) => (err ? reject(err) : resolve(data as Readable)),
        );
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
    if (!entry.containerId) return this.pullEvents(key);
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
      return [...(this.pulls.get(key)?.events ?? []), ...eventsFromEngine(raw, entry.record)];
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

  /**
   * Each user's sessions have a network of their own, `<podman.network>-u<uid>`, created with
   * netavark's `isolate` option: a session reaches its own desktop-apps (which share its network
   * namespace), the user's other sessions, the callback listener on its gateway and the outside
   * world, never another user's session (issue 15 point 4).
   */
  private networkOf(uid: number): string {
    return `${this.network}-u${uid}`;
  }

  /** The gateway of the user's network (made now if missing): where their sessions call back. */
  async hostAddress(uid?: number): Promise<string | undefined> {
    const name = uid === undefined ? this.network : this.networkOf(uid);
    try {
      await this.ensureNetwork(name);
      const ipv4 = ipv4Of((await this.docker.getNetwork(name).inspect()) as Parameters<typeof ipv4Of>[0]);
      if (ipv4) this.sessionNetworks.set(ipv4.subnet, ipv4);
      return ipv4?.gateway;
    } catch (err) {
      this.opts.log.warn(`no host address for sessions: ${engineMessage(err)}`);
      return undefined;
    }
  }

  isSessionPeer(address: string): boolean {
    // The gateway is this host itself: a host process is not a session container.
    return [...this.sessionNetworks.values()].some((n) => address !== n.gateway && inSubnet(address, n.subnet));
  }

  queueLength(): number {
    return this.admission.length;
  }

  openCallbackPort(port: number): Promise<void> {
    return this.firewall.openCallbackPort(port);
  }

  async availability(): Promise<{ available: boolean; note: string }> {
    try {
      await this.docker.ping();
      return this.watching
        ? { available: true, note: 'skaha service is available.' }
        : { available: false, note: 'container engine answers but its event stream is reconnecting' };
    } catch (err) {
      return { available: false, note: `container engine not reachable: ${engineMessage(err)}` };
    }
  }

  // --- internals -------------------------------------------------------------------------

  private deadlinesDir() {
    return path.join(this.opts.stateDir, 'deadlines');
  }

  private emit(kind: 'session' | 'image') {
    for (const listener of this.listeners) listener(kind);
    // A session that ended may have made room for a queued job.
    if (kind === 'session' && this.admission.length) queueMicrotask(() => this.admitWaiting());
  }

  private markTerminating(key: string) {
    this.terminating.add(key);
    const entry = this.index.get(key);
    if (entry) entry.record = { ...entry.record, status: 'Terminating' };
  }

  private unmarkTerminating(key: string) {
    this.terminating.delete(key);
  }

  private async removeAfterGrace(dependentIds: string[], containerId: string, key: string) {
    const wait = (id: string) =>
      Promise.race([
        this.docker
          .getContainer(id)
          .wait()
          .catch(() => undefined),
        new Promise((r) => setTimeout(r, this.opts.stopTimeoutSeconds * 1000)),
      ]);
    for (const id of [...dependentIds, containerId]) {
      await wait(id);
      // After the grace, SIGKILL: a forced remove of a running container would make Podman wait
      // the container's stop timeout a second time (measured: 30 removals 32 s → 2 s).
      await this.docker
        .getContainer(id)
        .kill({ signal: 'SIGKILL' })
        .catch(() => undefined);
      await this.docker
        .getContainer(id)
        .remove({ force: true, v: true })
        .catch((err) => {
          if (!isGone(err)) this.opts.log.warn(`remove ${id}: ${engineMessage(err)}`);
        });
    }
    // The remove events update the index; this covers an engine that sends none.
    for (const [k, e] of this.index) {
      if (e.containerId === containerId || dependentIds.includes(e.containerId)) this.forget(k);
    }
    this.terminating.delete(key);
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
      const entries = [...this.index.entries()]
        .filter(([k, e]) => e.containerId && this.deletions.covering(k) === deletion)
        // A desktop's apps share its network namespace: they go first.
        .sort(([a], [b]) => Number(!a.includes('/')) - Number(!b.includes('/')));
      if (!entries.length) {
        this.deletions.remove(deletion.key);
        continue;
      }
      this.opts.log.info(`finishing the deletion of ${deletion.key}, acknowledged at ${deletion.at} before a restart`);
      for (const [k] of entries) this.markTerminating(k);
      const ids = entries.map(([, e]) => e.containerId);
      void Promise.all(
        ids.map((id) =>
          this.docker
            .getContainer(id)
            .kill({ signal: 'SIGTERM' })
            .catch(() => undefined),
        ),
      )
        .then(() => this.removeAfterGrace(ids.slice(0, -1), ids.at(-1)!, deletion.key))
        .catch((err: unknown) => this.opts.log.warn(`delete ${deletion.key}: ${engineMessage(err)}; tried again at the next start`));
    }
  }

  private forget(key: string) {
    this.index.delete(key);
    this.pulls.delete(key);
    this.terminating.delete(key);
    if (this.deadlines.delete(key)) fs.rmSync(path.join(this.deadlinesDir(), key.replace('/', '-')), { force: true });
  }

  /** The requests of the headless jobs admitted so far (running, or pulling their image). */
  private headlessUsage(): Demand {
    const used = { cores: 0, ramGiB: 0 };
    for (const [key, e] of this.index) {
      const r = e.record;
      if (r.type !== 'headless' || r.appId || this.admission.has(key) || (r.status !== 'Pending' && r.status !== 'Running')) continue;
      used.cores += r.resources.coresRequest;
      used.ramGiB += r.resources.ramRequestGiB;
    }
    return used;
  }

  /** Show the job as Pending, waiting for room (written down: a restart keeps its place). */
  private enqueue(spec: LaunchSpec, createdAt: Date): void {
    const key = recordKey(spec.sessionId, spec.appId);
    this.journal.pending(spec, createdAt, { queued: true });
    this.queued.set(key, spec);
    this.admission.enqueue(key, demandOf(spec));
    this.index.set(key, { record: recordFromSpec(spec, createdAt), containerId: '', ports: new Map() });
    this.opts.log.info(`headless job ${key} queued: ${this.admission.note(key, this.headlessUsage())}`);
    this.emit('session');
  }

  /** Read the CPU and memory of every running session in one engine call, into their records. */
  private async sampleUsage(): Promise<void> {
    const running = [...this.index.values()].filter((e) => e.containerId && e.record.status === 'Running');
    if (!running.length) return;
    try {
      const stats = await new Promise<ContainerStats[]>((resolve, reject) => {
        this.docker.modem.dial(
          {
            path: '/v4.0.0/libpod/containers/stats?',
            method: 'GET',
            options: { stream: false, containers: running.map((e) => e.containerId) },
            statusCodes: { 200: true, 404: 'no such container', 500: 'server error' },
          },
          (err, data) => (err ? reject(err) : resolve((data as { Stats?: ContainerStats[] } | undefined)?.Stats ?? [])),
        );
      });
      this.usage.record(stats);
    } catch {
      return; // a container that just ended, or the engine away: the next sample will do
    }
    for (const e of running) {
      const usage = this.usage.of(e.containerId);
      if (usage && e.record.status === 'Running') e.record = { ...e.record, usage };
    }
  }

  /** Start the queued jobs that fit now, in order (after every change of the index). */
  private admitWaiting(): void {
    if (this.admitting || !this.admission.length || this.closed) return;
    this.admitting = true;
    try {
      for (const key of this.admission.takeAdmitted(this.headlessUsage())) {
        const spec = this.queued.get(key);
        this.queued.delete(key);
        const entry = this.index.get(key);
        if (!spec || !entry) continue;
        this.opts.log.info(`headless job ${key} admitted`);
        void this.launchNow(key, spec, entry.record.createdAt)
          .then(() => {
            if (!this.pulls.has(key)) this.journal.remove(key);
          })
          .catch((err: unknown) => {
            const pull: Pull = { progress: new PullProgress(), startedAt: new Date(), events: [], cancelled: false };
            this.pulls.set(key, pull);
            const message = err instanceof SkahaError ? err.message : engineMessage(err);
            this.failLaunch(key, spec, pull, `The job could not be started: ${message}`, message);
          });
      }
    } finally {
      this.admitting = false;
    }
  }

  /** Show the launch as Pending now; pull, then create and start the container. */
  private startPull(spec: LaunchSpec, createdAt: Date): void {
    const key = recordKey(spec.sessionId, spec.appId);
    this.journal.pending(spec, createdAt);
    const pull: Pull = { progress: new PullProgress(), startedAt: new Date(), events: [], cancelled: false };
    pull.events.push({ type: 'Normal', reason: 'Pulling', message: `Pulling image "${spec.image}"`, firstTime: pull.startedAt, lastTime: pull.startedAt });
    this.pulls.set(key, pull);
    this.index.set(key, { record: recordFromSpec(spec, createdAt), containerId: '', ports: new Map() });
    this.emit('session');
    void this.runPull(key, spec, pull);
  }

  private async runPull(key: string, spec: LaunchSpec, pull: Pull): Promise<void> {
    try {
      await this.pull(spec, pull);
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
      return this.failLaunch(key, spec, pull, `Failed to pull image "${spec.image}": ${reason}: ${engineMessage(err)}`, `cannot pull ${spec.image}: ${reason}`);
    }
    // The image is in the engine now: what fails from here is the container, not the pull.
    try {
      const container = await this.docker.createContainer(await this.createBody(spec));
      if (pull.cancelled) {
        await container.remove({ force: true, v: true }).catch(() => undefined);
        return;
      }
      // The Pending entry stays until the container's own replaces it (refresh): dropping it
      // first made the session 404 for the moment the start took.
      await this.startContainer(key, spec, container);
      this.journal.remove(key);
      if (!this.index.has(key)) this.pulls.delete(key);
    } catch (err) {
      if (pull.cancelled) return;
      const message = err instanceof SkahaError ? err.message : engineMessage(err);
      this.failLaunch(
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
  private async pull(spec: LaunchSpec, pull: Pull): Promise<void> {
    const repository = repositoryOf(spec.image);
    const pulling = spec.registryAuth ? this.credentialPulls.begin(repository) : undefined;
    try {
      const running = await pullImage(this.docker, spec.image, spec.registryAuth);
      pull.progress = running.progress;
      pull.cancel = running.cancel;
      await running.done;
      if (pulling) this.credentialPulls.add((await this.docker.getImage(spec.image).inspect()).Id, repository);
    } finally {
      pulling?.();
    }
  }

  /** The launch ends Failed, with `message` as its Warning event (kept across restarts). */
  private failLaunch(key: string, spec: LaunchSpec, pull: Pull, message: string, logLine: string): void {
    const now = new Date();
    pull.events.push({ type: 'Warning', reason: 'Failed', message, firstTime: now, lastTime: now });
    this.opts.log.warn(`launch ${key} failed: ${logLine}`);
    const entry = this.index.get(key) ?? { record: recordFromSpec(spec, now), containerId: '', ports: new Map() };
    entry.record = { ...entry.record, status: 'Failed', finishedAt: now };
    this.index.set(key, entry);
    this.journal.failed(spec, entry.record.createdAt, now, message);
    this.emit('session');
  }

  private dropPull(key: string): void {
    this.admission.remove(key);
    this.queued.delete(key);
    const pull = this.pulls.get(key);
    if (pull) {
      pull.cancelled = true;
      pull.cancel?.();
    }
    this.index.delete(key);
    this.pulls.delete(key);
    this.journal.remove(key);
  }

  /** After a restart: failed launches are listed again, interrupted pulls start over. */
  private resumePulls(): void {
    // In launch order, so that queued jobs keep their places.
    const launches = this.journal.all().sort((a, b) => a.file.createdAt.localeCompare(b.file.createdAt));
    for (const { key, file } of launches) {
      if (this.index.has(key)) {
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
        this.index.set(key, {
          record: { ...recordFromSpec(spec, new Date(file.createdAt)), status: 'Failed', finishedAt: at },
          containerId: '',
          ports: new Map(),
        });
      } else if (file.queued) {
        this.enqueue(spec, new Date(file.createdAt));
      } else {
        // Credentials are never written down: a private image's pull fails as unauthorized.
        this.startPull(spec, new Date(file.createdAt));
      }
    }
  }

  pendingNote(id: string, appId?: string): string | undefined {
    const key = recordKey(id, appId);
    const entry = this.index.get(key);
    const pull = this.pulls.get(key);
    if (!entry || entry.containerId || entry.record.status !== 'Pending') return undefined;
    const queued = this.admission.note(key, this.headlessUsage());
    if (queued) return `${queued}.`;
    if (!pull) return undefined;
    return `Pulling image ${entry.record.image}: ${pull.progress.summary()}.`;
  }

  /** view=events of a launch without a container: the pull so far. */
  private pullEvents(key: string): SessionEvent[] {
    const queued = this.admission.note(key, this.headlessUsage());
    if (queued) {
      const since = this.index.get(key)!.record.createdAt;
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
        message: `Pulling image "${this.index.get(key)?.record.image}": ${pull.progress.summary()}`,
        firstTime: pull.startedAt,
        lastTime: new Date(),
      },
    ];
  }

  private ensureNetwork(name: string): Promise<void> {
    let ready = this.networksReady.get(name);
    if (!ready) {
      ready = (async () => {
        const existing = await this.docker.listNetworks({ filters: { name: [name] } });
        if (!existing.some((n) => n.Name === name)) {
          // isolate: netavark drops traffic between this network and every other isolated one.
          await this.docker.createNetwork({ Name: name, Driver: 'bridge', Options: { isolate: 'true' } }).catch((err) => {
            if (statusCodeOf(err) !== 409) throw err;
          });
        }
        // And so do this backend's own rules, whatever netavark does (firewall.ts).
        if (name !== this.network) await this.firewall.isolate([await this.bridgeOf(name)]);
      })().catch((err) => {
        this.networksReady.delete(name);
        throw err;
      });
      this.networksReady.set(name, ready);
    }
    return ready;
  }

  /** The networks of earlier runs: isolated again, and their sessions may call back at once. */
  private async knownNetworks(): Promise<void> {
    const prefix = `${this.network}-u`;
    const bridges: string[] = [];
    for (const n of await this.docker.listNetworks({ filters: { name: [prefix] } })) {
      if (!n.Name?.startsWith(prefix)) continue;
      const ipv4 = ipv4Of((await this.docker.getNetwork(n.Name).inspect()) as Parameters<typeof ipv4Of>[0]);
      if (ipv4) this.sessionNetworks.set(ipv4.subnet, ipv4);
      bridges.push(await this.bridgeOf(n.Name));
    }
    await this.firewall.isolate(bridges);
  }

  /** The host's name of a network's bridge (Podman's own API says it; the compatible one does not). */
  private bridgeOf(network: string): Promise<string> {
    return new Promise((resolve, reject) => {
      this.docker.modem.dial(
        {
          path: `/v4.0.0/libpod/networks/${encodeURIComponent(network)}/json`,
          method: 'GET',
          statusCodes: { 200: true, 404: 'no such network', 500: 'server error' },
        },
        (err, data) => {
          const bridge = (data as { network_interface?: string } | undefined)?.network_interface;
          if (err || !bridge) reject(err ?? new Error(`network ${network} names no bridge`));
          else resolve(bridge);
        },
      );
    });
  }

  /**
   * Record this server's claim on the engine (its network name and uid range), after checking
   * that no other live server holds either (claim.ts). A claim is written as labels of the base
   * network, which the engine cannot relabel: an unlabelled one (made before claims existed) or
   * a gone server's is replaced.
   */
  private async claimEngine(): Promise<void> {
    const { claims, networks } = await engineClaims(this.docker);
    if (!this.opts.network) this.network = autoNetwork(this.opts.identity.dataDir, claims, claimIsLive);
    const mine: EngineClaim = { network: this.network, ...this.opts.identity };
    const { refuse, warning } = claimConflict(mine, claims, claimIsLive, this.opts.uidRangeConfigured);
    if (refuse) throw new Error(`cannot start beside another skaha server on this engine: ${refuse}`);
    if (warning) this.opts.log.warn(warning);
    if (this.network !== DEFAULT_NETWORK) this.opts.log.info(`sessions run on the engine's networks ${this.network}-u<uid> (podman.network)`);
    const base = networks.find((n) => n.Name === mine.network);
    const current = claimOf(base?.Labels);
    if (current && isOwnClaim(mine, current) && current.uidMin === mine.uidMin && current.uidMax === mine.uidMax && current.store === mine.store) return;
    if (base) {
      try {
        await this.docker.getNetwork(base.Name).remove();
      } catch (err) {
        this.opts.log.warn(
          `network ${base.Name} is in use and keeps an old claim (${engineMessage(err)}); other servers on this engine may not see this one's uid range`,
        );
        return;
      }
    }
    await this.docker.createNetwork({ Name: mine.network, Driver: 'bridge', Labels: claimLabels(mine), Options: { isolate: 'true' } });
  }

  /**
   * Whether a container's labels make it this server's. Containers made before servers labelled
   * theirs belong to the server on the default network name, the only one there was.
   */
  private isOurs(labels: Record<string, string>): boolean {
    const owner = labels[LABEL.instance];
    return owner === undefined ? this.network === DEFAULT_NETWORK : owner === this.network;
  }

  /** Rebuild the whole index from the engine (at start and after every reconnect). */
  private async relist(): Promise<void> {
    const containers = await this.docker.listContainers({ all: true, filters: { label: [LABEL.id] } });
    const seen = new Set<string>();
    for (const c of containers) {
      const key = await this.refresh(c.Id, false);
      if (key) seen.add(key);
    }
    for (const [key, e] of [...this.index.entries()]) if (!seen.has(key) && e.containerId) this.forget(key);
    this.emit('session');
  }

  /** Inspect one container and put it in (or take it out of) the index; returns its key. */
  private async refresh(containerId: string, notify = true): Promise<string | undefined> {
    let info: Docker.ContainerInspectInfo;
    try {
      info = await this.docker.getContainer(containerId).inspect();
    } catch (err) {
      if (isGone(err)) {
        for (const [k, e] of this.index) if (e.containerId === containerId) this.forget(k);
        if (notify) this.emit('session');
        return undefined;
      }
      throw err;
    }
    const labels = info.Config?.Labels ?? {};
    const id = labels[LABEL.id];
    if (!id || !this.isOurs(labels)) return undefined;
    const key = recordKey(id, labels[LABEL.appId]);
    const deadlineOverride = this.deadlines.get(key);
    const record = recordFromInspect(info, { terminating: this.terminating.has(key), ...(deadlineOverride ? { deadlineOverride } : {}) });
    if (!record) return undefined;
    const usage = record.status === 'Running' ? this.usage.of(info.Id) : undefined;
    if (usage) record.usage = usage;
    this.index.set(key, { record, containerId: info.Id, ports: publishedPorts(info) });
    if (notify) this.emit('session');
    return key;
  }

  /** Follow the engine's events; on a break, back off, reconnect and re-list. */
  private watch(backoffMs = WATCH_BACKOFF_INITIAL_MS): void {
    if (this.closed) return;
    // Filtering by label key delivers nothing on Podman 4 (design.md): take all container and
    // image events and pick ours by the labels in Actor.Attributes.
    this.docker.getEvents({ filters: { type: ['container', 'image'] } }, (err, stream) => {
      if (err || !stream) {
        this.watching = false;
        this.opts.log.warn(`engine event stream unavailable (${engineMessage(err)}); retrying in ${backoffMs} ms`);
        setTimeout(() => this.reconnect(backoffMs), backoffMs).unref();
        return;
      }
      this.eventStream = stream as Readable;
      this.watching = true;
      let pending = '';
      stream.on('data', (chunk: Buffer) => {
        pending += chunk.toString('utf8');
        let newline: number;
        while ((newline = pending.indexOf('\n')) >= 0) {
          const line = pending.slice(0, newline).trim();
          pending = pending.slice(newline + 1);
          if (line) this.onEngineEvent(line);
        }
      });
      const restart = () => {
        if (this.eventStream !== stream) return;
        this.eventStream = undefined;
        this.watching = false;
        if (this.closed) return;
        this.opts.log.warn('engine event stream ended; reconnecting');
        setTimeout(() => this.reconnect(WATCH_BACKOFF_INITIAL_MS), WATCH_BACKOFF_INITIAL_MS).unref();
      };
      stream.on('end', restart);
      stream.on('error', restart);
    });
  }

  private reconnect(backoffMs: number) {
    if (this.closed) return;
    this.relist()
      .then(() => this.watch())
      .catch((err) => {
        const next = Math.min(backoffMs * 2, WATCH_BACKOFF_MAX_MS);
        this.opts.log.warn(`engine not reachable (${engineMessage(err)}); retrying in ${next} ms`);
        setTimeout(() => this.reconnect(next), next).unref();
      });
  }

  private onEngineEvent(line: string) {
    let event: EngineEvent;
    try {
      event = JSON.parse(line) as EngineEvent;
    } catch {
      return;
    }
    if (event.Type === 'image') {
      this.emit('image');
      return;
    }
    const attributes = event.Actor?.Attributes ?? {};
    const containerId = event.Actor?.ID ?? event.id;
    if (!containerId || !attributes[LABEL.id] || !this.isOurs(attributes)) return;
    if (event.Action === 'remove' || event.status === 'remove') {
      for (const [k, e] of this.index) if (e.containerId === containerId) this.forget(k);
      this.emit('session');
      return;
    }
    this.refresh(containerId).catch((err) => this.opts.log.warn(`inspect ${containerId}: ${engineMessage(err)}`));
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

/** What a headless job asks of the machine: its requests. */
function demandOf(spec: LaunchSpec): Demand {
  return { cores: spec.resources.coresRequest, ramGiB: spec.resources.ramRequestGiB };
}
