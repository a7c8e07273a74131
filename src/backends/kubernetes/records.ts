import type { CoreV1Event, V1Job, V1Pod } from '@kubernetes/client-node';
import type { SessionEvent } from '../backend.js';
import { SESSION_LABEL } from '../labels.js';
import { isSessionType, type Resources, type SessionRecord, type SessionStatus } from '../../sessions/model.js';

/**
 * Session records read back from the cluster: a Job (and the newest pod it made) is one record
 * with the same shape Podman produces, rebuilt from labels and specs alone after a restart.
 */

/**
 * A timestamp as the cluster gave it. Objects from a list call are deserialized by client-node
 * (Date); objects from a watch event are plain JSON (string). Both end up here.
 */
export function toDate(value: Date | string | undefined | null): Date | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  const date = value instanceof Date ? value : new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

const SUFFIX: Record<string, number> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/** A Kubernetes quantity ("250m", "8Gi", "1e3") as a plain number (cores, bytes); 0 when unreadable. */
export function parseQuantity(value: string | number | undefined): number {
  if (value === undefined) return 0;
  if (typeof value === 'number') return value;
  const match = /^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)([a-zA-Z]*)$/.exec(value.trim());
  if (!match) return 0;
  const factor = SUFFIX[match[2] ?? ''];
  return factor === undefined ? 0 : Number(match[1]) * factor;
}

const GiB = 2 ** 30;
const round3 = (n: number) => Math.round(n * 1000) / 1000;

function conditionTrue(job: V1Job, ...types: string[]): boolean {
  return (job.status?.conditions ?? []).some((c) => types.includes(c.type) && c.status === 'True');
}

/**
 * Why skaha ended a session whose container could never start (an image that cannot be pulled),
 * kept as a JSON annotation on its Job: every server reads it (status Failed, a line in
 * view=events), also after a restart, and `pod` keeps the pod's own events listed once the
 * Job controller has removed it.
 */
export const START_FAILURE_ANNOTATION = 'canfar.net/start-failure';

export interface StartFailure {
  /** The kubelet's waiting reason, e.g. ImagePullBackOff. */
  reason: string;
  message: string;
  /** ISO time skaha ended the session. */
  at: string;
  /** The pod that could not start. */
  pod: string;
}

export function startFailureOf(job: V1Job): StartFailure | undefined {
  const text = job.metadata?.annotations?.[START_FAILURE_ANNOTATION];
  if (!text) return undefined;
  try {
    const value = JSON.parse(text) as Partial<StartFailure>;
    return { reason: String(value.reason ?? 'Failed'), message: String(value.message ?? ''), at: String(value.at ?? ''), pod: String(value.pod ?? '') };
  } catch {
    return { reason: 'Failed', message: text, at: '', pod: '' };
  }
}

/**
 * Container waiting reasons after which the kubelet will not start the container by retrying:
 * a name that is no image reference, a pull forbidden by imagePullPolicy Never, and a back-off
 * after a failed pull (the kubelet reports ErrImagePull for each failed try and
 * ImagePullBackOff between tries, so a back-off means a pull has failed and another is due).
 */
const UNPULLABLE = new Set(['InvalidImageName', 'ErrImageNeverPull', 'ImagePullBackOff']);

/** What keeps a Pending pod from running, in words for the user; `unpullable` when it never will. */
interface PodHold {
  note: string;
  unpullable?: { reason: string; message: string };
}

/**
 * Why a pod is still Pending, from what the scheduler (the PodScheduled condition) and the
 * node's kubelet (the container's waiting state) report, or undefined when nothing is known.
 */
export function podHold(pod: V1Pod | undefined, image: string): PodHold | undefined {
  if (!pod || (pod.status?.phase ?? 'Pending') !== 'Pending') return undefined;
  const scheduled = pod.status?.conditions?.find((c) => c.type === 'PodScheduled');
  if (scheduled?.status === 'False') {
    return {
      note: `No node can take this session yet (${scheduled.reason ?? 'Unschedulable'}): ${(scheduled.message ?? '').trim() || 'the scheduler gave no reason'}`,
    };
  }
  const waiting = pod.status?.containerStatuses?.[0]?.state?.waiting;
  const reason = waiting?.reason;
  if (!reason) return undefined;
  const message = (waiting.message ?? '').trim();
  const detail = message ? `: ${message}` : '';
  if (UNPULLABLE.has(reason)) return { note: `Image ${image} cannot be pulled (${reason})${detail}`, unpullable: { reason, message } };
  if (reason === 'ErrImagePull') return { note: `Pulling image ${image} failed (ErrImagePull)${detail}; the node tries again.` };
  if (reason === 'ContainerCreating' || reason === 'PodInitializing') return { note: `The node is pulling image ${image} or creating the container.` };
  return { note: `The container cannot start yet (${reason})${detail}` };
}

/**
 * v0 status word (spec §5.4) from the Job and its pod (the table in backend.ts):
 * being deleted → Terminating; Job complete → Succeeded; Job failed (exit non-zero, deadline
 * passed) or ended by skaha because its image cannot be pulled → Failed; else the pod phase:
 * Running, or Pending while unscheduled or pulling. Never `Completed` or `Unknown` (spec §11.2).
 */
export function statusOf(job: V1Job, pod: V1Pod | undefined, terminating: boolean): SessionStatus {
  if (terminating || job.metadata?.deletionTimestamp) return 'Terminating';
  // Kubernetes ≥ 1.31 says SuccessCriteriaMet / FailureTarget before Complete / Failed.
  if (conditionTrue(job, 'Complete', 'SuccessCriteriaMet') || (job.status?.succeeded ?? 0) > 0) return 'Succeeded';
  if (conditionTrue(job, 'Failed', 'FailureTarget') || (job.status?.failed ?? 0) > 0 || startFailureOf(job)) return 'Failed';
  if (!pod) return 'Pending';
  if (pod.metadata?.deletionTimestamp) return 'Terminating';
  switch (pod.status?.phase) {
    case 'Running':
      return 'Running';
    case 'Succeeded':
      return 'Succeeded';
    case 'Failed':
      return 'Failed';
    default:
      return 'Pending';
  }
}

/** The pod a record reads its state from: the newest one not being deleted, else the newest. */
export function currentPod(pods: V1Pod[]): V1Pod | undefined {
  const newest = [...pods].sort((a, b) => (toDate(b.metadata?.creationTimestamp)?.getTime() ?? 0) - (toDate(a.metadata?.creationTimestamp)?.getTime() ?? 0));
  return newest.find((p) => !p.metadata?.deletionTimestamp) ?? newest[0];
}

/** The record of one Job, or undefined for a Job that does not carry skaha's labels. */
export function recordFromJob(job: V1Job, pod: V1Pod | undefined, opts: { terminating: boolean }): SessionRecord | undefined {
  const labels = job.metadata?.labels ?? {};
  const annotations = job.metadata?.annotations ?? {};
  const id = labels[SESSION_LABEL.id];
  // The exact username and name are annotations; labels may be shortened to be valid (objects.ts).
  const username = annotations[SESSION_LABEL.username] ?? labels[SESSION_LABEL.username];
  const type = labels[SESSION_LABEL.kind];
  if (!id || !username || !type || !isSessionType(type)) return undefined;
  const podSpec = job.spec?.template.spec;
  const container = podSpec?.containers[0];
  const security = podSpec?.securityContext;
  const requests = container?.resources?.requests ?? {};
  const limits = container?.resources?.limits ?? {};
  const resources: Resources = {
    coresRequest: round3(parseQuantity(requests.cpu)),
    coresLimit: round3(parseQuantity(limits.cpu)),
    ramRequestGiB: round3(parseQuantity(requests.memory) / GiB),
    ramLimitGiB: round3(parseQuantity(limits.memory) / GiB),
    gpus: parseQuantity(limits['nvidia.com/gpu']),
  };
  const status = statusOf(job, pod, opts.terminating);
  const finished = status === 'Succeeded' || status === 'Failed';
  const failedAt = (job.status?.conditions ?? []).find((c) => (c.type === 'Failed' || c.type === 'FailureTarget') && c.status === 'True')?.lastTransitionTime;
  const finishedAt = toDate(job.status?.completionTime) ?? toDate(failedAt) ?? toDate(startFailureOf(job)?.at);
  const terminated = pod?.status?.containerStatuses?.[0]?.state?.terminated;
  // The deadline runs from the Job's start (activeDeadlineSeconds), so that is the start the
  // expiry and renew arithmetic of the service must use.
  const startedAt = toDate(job.status?.startTime);
  const appId = labels[SESSION_LABEL.appId];
  return {
    id,
    ...(appId ? { appId } : {}),
    username,
    name: annotations[SESSION_LABEL.name] ?? labels[SESSION_LABEL.name] ?? '',
    type,
    image: container?.image ?? '',
    uid: security?.runAsUser ?? -1,
    gid: security?.runAsGroup ?? security?.runAsUser ?? -1,
    supplementalGroups: security?.supplementalGroups ?? [],
    status,
    createdAt: toDate(job.metadata?.creationTimestamp) ?? new Date(0),
    ...(startedAt ? { startedAt } : {}),
    ...(finished && finishedAt ? { finishedAt } : {}),
    ...(finished && terminated ? { exitCode: terminated.exitCode } : {}),
    deadlineSeconds: job.spec?.activeDeadlineSeconds ?? 0,
    resources,
  };
}

/**
 * Kubernetes Events in the shape of `view=events` (spec §3.6). Old-style events carry
 * first/lastTimestamp; events.k8s.io-style ones eventTime and series.lastObservedTime.
 */
export function sessionEvents(events: CoreV1Event[]): SessionEvent[] {
  const out: SessionEvent[] = [];
  for (const e of events) {
    const first = toDate(e.firstTimestamp) ?? toDate(e.eventTime as Date | string | undefined) ?? toDate(e.metadata?.creationTimestamp);
    if (!first) continue;
    const last = toDate(e.lastTimestamp) ?? toDate(e.series?.lastObservedTime as Date | string | undefined) ?? first;
    out.push({
      type: e.type === 'Warning' ? 'Warning' : 'Normal',
      reason: e.reason ?? '',
      message: (e.message ?? '').trim(),
      firstTime: first,
      lastTime: last,
    });
  }
  return out.sort((a, b) => a.firstTime.getTime() - b.firstTime.getTime());
}
