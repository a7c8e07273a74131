import fs from 'node:fs';
import path from 'node:path';
import {
  BatchV1Api,
  CoreV1Api,
  NetworkingV1Api,
  VersionApi,
  type KubeConfig,
  type V1NetworkPolicy,
  type V1Job,
  type V1Node,
  type V1Pod,
  type V1Secret,
} from '@kubernetes/client-node';
import { backendUnavailable, notFound, SkahaError } from '../../common/errors.js';
import type { SessionRecord } from '../../sessions/model.js';
import { recordKey, type EngineImage, type LaunchSpec, type NodeCapacity, type SessionBackend, type SessionEvent } from '../backend.js';
import { labelValue, SESSION_LABEL } from '../labels.js';
import { LogTail } from '../log-tail.js';
import { apiFailure, isConflict, isNotFound, statusOf } from './errors.js';
import { describe, Informer } from './informer.js';
import {
  makeFilesConfigMap,
  makeFilesSecret,
  makeJob,
  makeLaunchScriptsConfigMap,
  makeRegistrySecret,
  makeService,
  planMounts,
  type DesktopOfApp,
  type KubernetesObjectOptions,
} from './objects.js';
import { makeSessionsPolicy, makeUserPolicy, type NetworkPolicyOptions } from './policies.js';
import { parseQuantity, podHold, recordFromJob, sessionEvents, START_FAILURE_ANNOTATION, startFailureOf, toDate, type StartFailure } from './records.js';
import { keyOfLabels, SessionIndex } from './session-index.js';

/**
 * Sessions as Kubernetes Jobs (issue 9). Jobs and Pods carrying skaha's labels (spec §5.3) are
 * the source of truth: two informers (list + watch, informer.ts) keep an index of them that
 * `list`/`get`/`address` read, so no API request lists anything, and a restarted server has its
 * index back after one list.
 *
 * Several servers may run against one cluster. What keeps them from racing:
 * - expiry is `activeDeadlineSeconds` on the Job and finished Jobs go by `ttlSecondsAfterFinished`:
 *   the cluster enforces both, whichever server is up, and the session service's reaper leaves
 *   them alone (`enforcesLifetimes`). Deletes are idempotent all the same (a Job already gone is
 *   a 404, taken as done): two users' clicks, or an idle cull, may meet;
 * - delete uses Foreground propagation, so every server sees `Terminating` (the Job's
 *   deletionTimestamp) until the pods and a desktop's apps are gone, and the garbage collector,
 *   not a server, removes dependents (ownerReferences);
 * - create is idempotent on the Job name (which holds the session ID): a 409 for the same
 *   session is success; renew writes an absolute deadline, so two renews agree.
 */

interface KubernetesBackendOptions extends KubernetesObjectOptions {
  /**
   * `launchScripts.configMap` is a name prefix here: the backend writes the scripts of its
   * version as `<prefix>-<hash of the scripts>` at start and mounts that one.
   */
  launchScripts: { hostDir: string; configMap: string };
  /** NetworkPolicies to write (policies.ts); undefined: none (a cluster without an enforcer). */
  networkPolicy?: Omit<NetworkPolicyOptions, 'namespace'>;
  log: { info(msg: string): void; warn(msg: string): void; error(msg: string): void };
}

const SELECTOR = `${SESSION_LABEL.managedBy}=skaha,${SESSION_LABEL.id}`;
/** A desktop-app needs its desktop's pod IP (its X display): wait this long for the pod. */
const DESKTOP_IP_WAIT_MS = 30_000;
/** After this, `removed` resolves even if the cluster still holds something (the files are copies). */
const REMOVAL_WAIT_MS = 10 * 60_000;
/** A launch that failed half-way waits this long for its Job to leave the index. */
const HALF_MADE_WAIT_MS = 10_000;
const CAPACITY_TTL_MS = 5 * 60_000;
/** A Docker image reference: [registry[:port]/]path[:tag][@digest]. */
const IMAGE_REFERENCE =
  /^(?:[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)*(?::\d+)?\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::\w[\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/;

/** A GPU node: it offers nvidia.com/gpu, or has the label skaha's GPU node affinity selects on (spec §5.7). */
function hasGpus(node: V1Node): boolean {
  return parseQuantity(node.status?.capacity?.['nvidia.com/gpu']) > 0 || Number(node.metadata?.labels?.['nvidia.com/gpu.count'] ?? 0) > 0;
}

export class KubernetesBackend implements SessionBackend {
  readonly name = 'kubernetes';
  /** Expiry is the Job's activeDeadlineSeconds and cleanup its ttlSecondsAfterFinished. */
  readonly enforcesLifetimes = true;
  private readonly batch: BatchV1Api;
  private readonly core: CoreV1Api;
  private readonly version: VersionApi;
  private readonly networking: NetworkingV1Api;
  /** Users whose NetworkPolicy this server has written (or found) since it started. */
  private readonly userPolicies = new Set<number>();
  private readonly jobInformer: Informer<V1Job>;
  private readonly podInformer: Informer<V1Pod>;
  private readonly index = new SessionIndex(() => this.emit('session'));
  private readonly listeners: Array<(kind: 'session' | 'image') => void> = [];
  private capacityCache: { at: number; nodes: NodeCapacity[] } | undefined;
  /** The object options with the launch-scripts ConfigMap this server wrote (set by start()). */
  private objectOptions: KubernetesObjectOptions;
  /** Sessions this server is ending because their image cannot be pulled (one patch each). */
  private readonly ending = new Set<string>();

  constructor(
    kubeConfig: KubeConfig,
    private readonly opts: KubernetesBackendOptions,
  ) {
    this.batch = kubeConfig.makeApiClient(BatchV1Api);
    this.core = kubeConfig.makeApiClient(CoreV1Api);
    this.version = kubeConfig.makeApiClient(VersionApi);
    this.networking = kubeConfig.makeApiClient(NetworkingV1Api);
    this.objectOptions = opts;
    const ns = opts.namespace;
    const common = { kubeConfig, labelSelector: SELECTOR, log: opts.log };
    this.jobInformer = new Informer<V1Job>({
      ...common,
      path: `/apis/batch/v1/namespaces/${ns}/jobs`,
      list: () => this.batch.listNamespacedJob({ namespace: ns, labelSelector: SELECTOR }),
      onEvent: (event, job) => {
        this.index.onJob(event, job);
        // A pod listed before its Job (at start) is looked at again once the Job is known.
        const key = keyOfLabels(job.metadata?.labels);
        const pod = key && event !== 'delete' ? this.index.podOf(key) : undefined;
        if (pod) this.endIfUnpullable(pod);
      },
    });
    this.podInformer = new Informer<V1Pod>({
      ...common,
      path: `/api/v1/namespaces/${ns}/pods`,
      list: () => this.core.listNamespacedPod({ namespace: ns, labelSelector: SELECTOR }),
      onEvent: (event, pod) => {
        this.index.onPod(event, pod);
        if (event !== 'delete') this.endIfUnpullable(pod);
      },
    });
  }

  async start(): Promise<void> {
    await this.syncLaunchScripts();
    // Written again at each start: a changed configuration (server labels, blocked ranges) applies.
    if (this.opts.networkPolicy) await this.upsertPolicy(makeSessionsPolicy({ namespace: this.opts.namespace, ...this.opts.networkPolicy }));
    await Promise.all([this.podInformer.start(), this.jobInformer.start()]);
    this.emit('session');
  }

  async close(): Promise<void> {
    await Promise.all([this.jobInformer.stop(), this.podInformer.stop()]);
    this.index.wake();
  }

  onChange(listener: (kind: 'session' | 'image') => void): void {
    this.listeners.push(listener);
  }

  list(): SessionRecord[] {
    return this.index.list();
  }

  get(id: string, appId?: string): SessionRecord | undefined {
    return this.index.get(recordKey(id, appId));
  }

  /** A quorum read of the user's Jobs (labels hold a shortened username; the record the exact one). */
  async listNow(username: string): Promise<SessionRecord[]> {
    let jobs: V1Job[];
    try {
      jobs = (
        await this.batch.listNamespacedJob({ namespace: this.opts.namespace, labelSelector: `${SELECTOR},${SESSION_LABEL.username}=${labelValue(username)}` })
      ).items;
    } catch (err) {
      throw apiFailure(`list the sessions of ${username}`, err);
    }
    return jobs.flatMap((job) => recordFromJob(job, undefined, { terminating: false }) ?? []).filter((r) => r.username === username);
  }

  /** The session's pod IP: the proxy reaches the container port there, as skaha's Service would. */
  address(id: string, port: number): { host: string; port: number } | undefined {
    const ip = this.index.podOf(id)?.status?.podIP;
    return ip ? { host: ip, port } : undefined;
  }

  async create(spec: LaunchSpec): Promise<void> {
    const key = recordKey(spec.sessionId, spec.appId);
    if (this.index.get(key)) return;
    if (!IMAGE_REFERENCE.test(spec.image)) throw new SkahaError('SKAHA_ERR_IMAGE_REJECTED', `invalid image reference: ${spec.image}`);
    const desktop = spec.joinSessionOf ? await this.desktopOf(spec.joinSessionOf) : undefined;
    const plan = planMounts(spec, this.objectOptions, this.readSessionFiles(spec));
    const ns = this.opts.namespace;
    let job: V1Job;
    try {
      await this.ensureUserPolicy(spec.uid);
      const pullSecret = makeRegistrySecret(spec, this.opts);
      if (pullSecret) await this.upsertSecret(pullSecret);
      job = await this.batch.createNamespacedJob({ namespace: ns, body: makeJob(spec, this.opts, plan, desktop) });
    } catch (err) {
      if (isConflict(err) && (await this.isSameSession(spec, key))) return;
      if (isConflict(err)) throw new SkahaError('SKAHA_ERR_CONFLICT', `session ${spec.sessionId} already exists`);
      // A create whose answer was lost (timeout, connection reset) may still have made the Job:
      // the name holds the new session ID, so a Job by that name is this one. Remove it.
      if (statusOf(err) === undefined || (statusOf(err) ?? 0) >= 500) {
        await this.batch.deleteNamespacedJob({ name: spec.jobName, namespace: ns, propagationPolicy: 'Background' }).catch(() => undefined);
      }
      throw apiFailure(`create ${key}`, err);
    }
    this.index.remember(key, job);
    // The Service, passwd/group and secret files belong to the Job: the garbage collector
    // removes them with it, and a failure here removes the Job (nothing half-made).
    const uid = job.metadata?.uid ?? '';
    try {
      const service = makeService(spec, this.opts, uid);
      const configMap = makeFilesConfigMap(spec, this.opts, plan, uid);
      const secret = makeFilesSecret(spec, this.opts, plan, uid);
      await Promise.all([
        service && this.core.createNamespacedService({ namespace: ns, body: service }),
        configMap && this.core.createNamespacedConfigMap({ namespace: ns, body: configMap }),
        secret && this.core.createNamespacedSecret({ namespace: ns, body: secret }),
      ]);
    } catch (err) {
      const deleted = await this.batch.deleteNamespacedJob({ name: spec.jobName, namespace: ns, propagationPolicy: 'Background' }).then(() => true, isNotFound);
      this.index.forgetFresh(key);
      // The watch may have delivered the Job already: it leaves the index before the error goes out.
      if (deleted) await this.whenGone([key], HALF_MADE_WAIT_MS);
      throw apiFailure(`create ${key}`, err);
    }
  }

  async delete(id: string, appId?: string): Promise<{ removed: Promise<string[]> }> {
    const key = recordKey(id, appId);
    const job = this.index.jobOf(key);
    if (!job?.metadata?.name) return { removed: Promise.resolve([]) };
    // A desktop's apps are owned by its Job: the garbage collector deletes them with it.
    const keys = [
      key,
      ...(appId
        ? []
        : this.index
            .list()
            .filter((r) => r.id === id && r.appId)
            .map((r) => recordKey(r.id, r.appId))),
    ];
    this.index.setTerminating(keys, true);
    try {
      await this.batch.deleteNamespacedJob({ name: job.metadata.name, namespace: this.opts.namespace, propagationPolicy: 'Foreground' });
    } catch (err) {
      if (!isNotFound(err)) {
        this.index.setTerminating(keys, false);
        throw apiFailure(`delete ${key}`, err);
      }
      // Already gone: another server, the TTL controller, or an earlier call removed it.
      this.index.forgetFresh(key);
    }
    return { removed: this.whenGone(keys) };
  }

  async renew(id: string, appId: string | undefined, deadlineSeconds: number): Promise<void> {
    const key = recordKey(id, appId);
    const name = this.index.jobOf(key)?.metadata?.name;
    if (!name) return;
    try {
      // spec §3.7: the deadline lives on the Job, so it is durable and every server sees it.
      const patched = await this.batch.patchNamespacedJob({
        name,
        namespace: this.opts.namespace,
        body: [{ op: 'replace', path: '/spec/activeDeadlineSeconds', value: deadlineSeconds }],
      });
      this.index.remember(key, patched);
    } catch (err) {
      if (isNotFound(err)) return;
      throw apiFailure(`renew ${key}`, err);
    }
  }

  async logs(id: string, appId: string | undefined, maxBytes: number): Promise<string> {
    const name = this.index.podOf(recordKey(id, appId))?.metadata?.name;
    if (!name) return '';
    try {
      // The API has no "last N bytes": the kubelet rotates container logs (10 MiB by default),
      // which bounds what one read brings; the tail is cut here.
      const text = await this.core.readNamespacedPodLog({ name, namespace: this.opts.namespace });
      const tail = new LogTail(maxBytes);
      tail.write(Buffer.from(text));
      return tail.text();
    } catch (err) {
      const status = statusOf(err);
      // 404: the pod went; 400: its container has not started yet (nothing logged so far).
      if (status === 404 || status === 400) return '';
      if (status === undefined || status === 503) throw apiFailure(`logs ${id}`, err);
      // The API server answers but cannot reach the node's kubelet (e.g. a node gone, or a
      // simulated one): say so in the text rather than failing the request; details go to the log.
      this.opts.log.warn(`logs ${id}: ${describe(err)}`);
      return `logs of this session are not available: the node running it did not answer (${status})\n`;
    }
  }

  async events(id: string, appId?: string): Promise<SessionEvent[]> {
    const key = recordKey(id, appId);
    const job = this.index.jobOf(key);
    if (!job?.metadata?.name) return [];
    // The Job's events (pods made, deadline exceeded) and its pods' (scheduled, pulled, killed),
    // also those of a pod that could not start and is gone now.
    const failure = startFailureOf(job);
    const names = [...new Set([job.metadata.name, ...this.index.podNames(key), ...(failure?.pod ? [failure.pod] : [])])];
    try {
      const lists = await Promise.all(
        names.map((name) => this.core.listNamespacedEvent({ namespace: this.opts.namespace, fieldSelector: `involvedObject.name=${name}` })),
      );
      const events = sessionEvents(lists.flatMap((l) => l.items));
      const at = toDate(failure?.at);
      if (!failure || !at) return events;
      const ended: SessionEvent = {
        type: 'Warning',
        reason: failure.reason,
        message: `session ended by skaha: the image cannot be pulled${failure.message ? `: ${failure.message}` : ''}`,
        firstTime: at,
        lastTime: at,
      };
      return [...events, ended].sort((a, b) => a.firstTime.getTime() - b.firstTime.getTime());
    } catch (err) {
      throw apiFailure(`events ${key}`, err);
    }
  }

  /** Why a Pending session is not running yet: the scheduler's or the kubelet's word for it. */
  pendingNote(id: string, appId?: string): string | undefined {
    const key = recordKey(id, appId);
    const record = this.index.get(key);
    if (record?.status !== 'Pending') return undefined;
    return podHold(this.index.podOf(key), record.image)?.note;
  }

  /** Kubernetes cannot list images across nodes: the registry and Harbor catalogs do that. */
  async images(): Promise<EngineImage[]> {
    return [];
  }

  /**
   * The schedulable nodes without GPUs, each by its capacity, as skaha counts them for
   * view=stats (spec §3.4). Cached for a few minutes: nodes seldom change, and a stats request
   * should not list them.
   */
  async capacity(): Promise<NodeCapacity[]> {
    if (this.capacityCache && Date.now() - this.capacityCache.at < CAPACITY_TTL_MS) return this.capacityCache.nodes;
    try {
      const nodes = (await this.core.listNode()).items
        .filter((n) => !n.spec?.unschedulable && !hasGpus(n))
        .map((n) => ({ cores: parseQuantity(n.status?.capacity?.cpu), memoryBytes: parseQuantity(n.status?.capacity?.memory) }));
      this.capacityCache = { at: Date.now(), nodes };
      return nodes;
    } catch (err) {
      throw apiFailure('list nodes', err);
    }
  }

  /** The largest schedulable node: /context offers no size that could never be scheduled. */
  async largestNode(): Promise<{ cores: number; memoryGiB: number; gpus: number }> {
    try {
      const nodes = (await this.core.listNode()).items.filter((n) => !n.spec?.unschedulable);
      const sizes = nodes.map((n) => ({
        cores: parseQuantity(n.status?.allocatable?.cpu),
        memoryGiB: parseQuantity(n.status?.allocatable?.memory) / 2 ** 30,
        gpus: parseQuantity(n.status?.allocatable?.['nvidia.com/gpu']),
      }));
      return sizes.sort((a, b) => b.cores - a.cores || b.memoryGiB - a.memoryGiB)[0] ?? { cores: 1, memoryGiB: 1, gpus: 0 };
    } catch (err) {
      throw apiFailure('list nodes', err);
    }
  }

  /** Pods reach the API through the public URL (or the in-cluster Service the chart sets it to). */
  async hostAddress(): Promise<string | undefined> {
    return undefined;
  }

  async availability(): Promise<{ available: boolean; note: string }> {
    try {
      await this.version.getCode();
    } catch (err) {
      return { available: false, note: `Kubernetes API server not reachable: ${describe(err)}` };
    }
    return this.jobInformer.connected && this.podInformer.connected
      ? { available: true, note: 'skaha service is available.' }
      : { available: false, note: 'Kubernetes API server answers but the session watch is reconnecting' };
  }

  // --- internals -------------------------------------------------------------------------

  /**
   * A pod whose image can never be pulled would stay Pending, silently, until its deadline days
   * later. Its session ends instead, in one patch of the Job: why (an annotation that every
   * server reads: status Failed, a line in view=events) and a deadline already reached, so that
   * the Job controller fails the Job and removes the pod as at expiry. The Job, and what it
   * says, stay listed until its ttlSecondsAfterFinished. Several servers may each send the same
   * patch; the second changes nothing that matters.
   */
  private endIfUnpullable(pod: V1Pod): void {
    const key = keyOfLabels(pod.metadata?.labels);
    if (!key || this.ending.has(key)) return;
    const job = this.index.jobOf(key);
    const record = this.index.get(key);
    const name = job?.metadata?.name;
    if (!job || !name || record?.status !== 'Pending' || this.index.podOf(key)?.metadata?.uid !== pod.metadata?.uid) return;
    const unpullable = podHold(pod, record.image)?.unpullable;
    if (!unpullable) return;
    const failure: StartFailure = { ...unpullable, at: new Date().toISOString(), pod: pod.metadata?.name ?? '' };
    const started = toDate(job.status?.startTime) ?? toDate(job.metadata?.creationTimestamp) ?? new Date();
    const elapsedSeconds = Math.max(1, Math.floor((Date.now() - started.getTime()) / 1000));
    this.opts.log.info(`session ${key}: image ${record.image} cannot be pulled (${failure.reason}); ending it`);
    this.ending.add(key);
    this.batch
      .patchNamespacedJob({
        name,
        namespace: this.opts.namespace,
        body: [
          { op: 'add', path: `/metadata/annotations/${START_FAILURE_ANNOTATION.replace(/\//g, '~1')}`, value: JSON.stringify(failure) },
          { op: 'replace', path: '/spec/activeDeadlineSeconds', value: elapsedSeconds },
        ],
      })
      .then(
        (patched) => this.index.remember(key, patched),
        (err: unknown) => {
          if (!isNotFound(err)) this.opts.log.warn(`session ${key}: could not end it after its failed pull: ${describe(err)}`);
        },
      )
      .finally(() => this.ending.delete(key));
  }

  private emit(kind: 'session' | 'image') {
    for (const listener of this.listeners) listener(kind);
  }

  private async whenGone(keys: string[], waitMs = REMOVAL_WAIT_MS): Promise<string[]> {
    const deadline = Date.now() + waitMs;
    while (keys.some((k) => this.index.jobOf(k)) && Date.now() < deadline) await this.index.nextChange(Math.min(5000, waitMs));
    return keys;
  }

  /** The desktop a desktop-app joins: its Job (the app's owner) and pod IP (the app's DISPLAY). */
  private async desktopOf(desktopId: string): Promise<DesktopOfApp> {
    const deadline = Date.now() + DESKTOP_IP_WAIT_MS;
    for (;;) {
      const job = this.index.jobOf(desktopId);
      if (!job?.metadata?.name || !job.metadata.uid) throw notFound(`session ${desktopId} not found`);
      const podIp = this.index.podOf(desktopId)?.status?.podIP;
      if (podIp) return { jobName: job.metadata.name, jobUid: job.metadata.uid, podIp };
      if (Date.now() > deadline) throw backendUnavailable(`desktop ${desktopId} has no pod IP after ${DESKTOP_IP_WAIT_MS} ms`);
      await this.index.nextChange(1000);
    }
  }

  /** A 409 on create: the same session (created before, maybe by another server) is success. */
  private async isSameSession(spec: LaunchSpec, key: string): Promise<boolean> {
    try {
      const existing = await this.batch.readNamespacedJob({ name: spec.jobName, namespace: this.opts.namespace });
      const labels = existing.metadata?.labels ?? {};
      const same =
        keyOfLabels(labels) === key && existing.metadata?.annotations?.[SESSION_LABEL.username] === spec.username && !existing.metadata?.deletionTimestamp;
      if (same) this.index.remember(key, existing);
      return same;
    } catch {
      return false;
    }
  }

  /**
   * Contents of the per-session files the service wrote on this machine (passwd, group, a
   * desktop's X cookie): they travel to the pod in a ConfigMap or Secret. User storage and the
   * launch scripts are volumes of their own, never read here.
   */
  private readSessionFiles(spec: LaunchSpec): Map<string, Buffer> {
    const files = new Map<string, Buffer>();
    for (const m of spec.mounts) {
      if (m.kind !== 'file') continue;
      try {
        files.set(m.hostPath, fs.readFileSync(m.hostPath));
      } catch (err) {
        throw new SkahaError('SKAHA_ERR_INTERNAL', 'session files could not be prepared', `${m.hostPath}: ${(err as Error).message}`);
      }
    }
    return files;
  }

  /** The user's own NetworkPolicy: their pods reach each other (made once; it never changes). */
  private async ensureUserPolicy(uid: number): Promise<void> {
    if (!this.opts.networkPolicy || this.userPolicies.has(uid)) return;
    try {
      await this.networking.createNamespacedNetworkPolicy({ namespace: this.opts.namespace, body: makeUserPolicy(uid, this.opts) });
    } catch (err) {
      if (!isConflict(err)) throw err;
    }
    this.userPolicies.add(uid);
  }

  private async upsertPolicy(policy: V1NetworkPolicy): Promise<void> {
    const ns = this.opts.namespace;
    try {
      await this.networking.createNamespacedNetworkPolicy({ namespace: ns, body: policy });
    } catch (err) {
      if (!isConflict(err)) throw new Error(`Kubernetes namespace ${ns}: cannot write NetworkPolicy ${policy.metadata!.name}: ${describe(err)}`);
      await this.networking.replaceNamespacedNetworkPolicy({ name: policy.metadata!.name!, namespace: ns, body: policy });
    }
  }

  private async upsertSecret(secret: V1Secret): Promise<void> {
    const ns = this.opts.namespace;
    try {
      await this.core.createNamespacedSecret({ namespace: ns, body: secret });
    } catch (err) {
      if (!isConflict(err)) throw err;
      await this.core.replaceNamespacedSecret({ name: secret.metadata!.name!, namespace: ns, body: secret });
    }
  }

  /**
   * The launch scripts of this version of skaha, as the ConfigMap sessions mount at
   * /skaha-system. Its name holds a hash of the scripts, so it is made once and never changed:
   * an existing one (409) has the same scripts, written by a server of the same version.
   * Those of other versions stay for their sessions.
   */
  private async syncLaunchScripts(): Promise<void> {
    const dir = this.opts.launchScripts.hostDir;
    const scripts: Record<string, string> = {};
    for (const name of fs.readdirSync(dir)) {
      const file = path.join(dir, name);
      if (fs.statSync(file).isFile()) scripts[name] = fs.readFileSync(file, 'utf8');
    }
    const configMap = makeLaunchScriptsConfigMap(this.opts.namespace, this.opts.launchScripts.configMap, scripts);
    const name = configMap.metadata!.name!;
    try {
      await this.core.createNamespacedConfigMap({ namespace: this.opts.namespace, body: configMap });
    } catch (err) {
      if (!isConflict(err)) throw new Error(`Kubernetes namespace ${this.opts.namespace}: cannot write ConfigMap ${name}: ${describe(err)}`);
    }
    this.objectOptions = { ...this.opts, launchScripts: { hostDir: dir, configMap: name } };
  }
}
