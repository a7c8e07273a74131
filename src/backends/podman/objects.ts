import type Docker from 'dockerode';
import { writable, type LaunchSpec } from '../backend.js';
import { labelValue, SESSION_LABEL, sessionLabels } from '../labels.js';
import { isSessionType, type Resources, type SessionRecord, type SessionStatus } from '../../sessions/model.js';

/** Label keys (spec §5.3, shared with Kubernetes), plus the few the Podman backend needs to rebuild a record. */
export const LABEL = {
  ...SESSION_LABEL,
  // Podman-only: what Kubernetes keeps in the Job spec.
  image: 'canfar.net/image',
  coresRequest: 'canfar.net/cores-request',
  coresLimit: 'canfar.net/cores-limit',
  ramRequest: 'canfar.net/ram-request-gib',
  ramLimit: 'canfar.net/ram-limit-gib',
  gpus: 'canfar.net/gpus',
  deadline: 'canfar.net/deadline-seconds',
  /** Which server on the engine made it (its podman.network): servers sharing an engine ignore each other's. */
  instance: 'canfar.net/instance',
} as const;

const GiB = 2 ** 30;

export { labelValue };

function labelsFor(spec: LaunchSpec): Record<string, string> {
  const r = spec.resources;
  return {
    ...sessionLabels(spec),
    [LABEL.image]: spec.image,
    [LABEL.coresRequest]: String(r.coresRequest),
    [LABEL.coresLimit]: String(r.coresLimit),
    [LABEL.ramRequest]: String(r.ramRequestGiB),
    [LABEL.ramLimit]: String(r.ramLimitGiB),
    [LABEL.gpus]: String(r.gpus),
    [LABEL.deadline]: String(spec.deadlineSeconds),
  };
}

export interface PodmanOptions {
  network: string;
  /** The server's name on the engine (LABEL.instance). */
  instance: string;
  stopTimeoutSeconds: number;
  pidsLimit: number;
}

/**
 * The container of one session, as a Docker Engine API create body. Pure, so a regression in the
 * security settings shows as a diff in its test (style.md, KubeSpawner make_pod).
 * `networkOf`: for desktop-apps, the container ID of the desktop whose network they join.
 */
export function toContainerCreate(spec: LaunchSpec, opts: PodmanOptions, networkOf?: string): Docker.ContainerCreateOptions {
  const r = spec.resources;
  const exposed: Record<string, object> = {};
  const bindings: Record<string, Array<{ HostIp: string; HostPort: string }>> = {};
  for (const port of spec.ports) {
    exposed[`${port}/tcp`] = {};
    // Loopback only, ephemeral host port: only this host (the proxy) reaches a session.
    bindings[`${port}/tcp`] = [{ HostIp: '127.0.0.1', HostPort: '' }];
  }
  return {
    name: spec.jobName,
    Image: spec.image,
    ...(spec.command ? { Entrypoint: spec.command } : {}),
    ...(spec.args ? { Cmd: spec.args } : {}),
    Env: spec.env.map(([k, v]) => `${k}=${v}`),
    User: `${spec.uid}:${spec.gid}`,
    ...(spec.workingDir ? { WorkingDir: spec.workingDir } : {}),
    ...(networkOf ? {} : { Hostname: spec.hostname }),
    Labels: { ...labelsFor(spec), [LABEL.instance]: opts.instance },
    ExposedPorts: exposed,
    StopTimeout: opts.stopTimeoutSeconds,
    HostConfig: {
      Binds: spec.mounts.map((m) => `${m.hostPath}:${m.containerPath}:${writable(m) ? 'rw' : 'ro'}`),
      PortBindings: bindings,
      NetworkMode: networkOf ? `container:${networkOf}` : opts.network,
      GroupAdd: spec.supplementalGroups.map(String),
      CapDrop: ['ALL'],
      SecurityOpt: ['no-new-privileges'],
      Privileged: false,
      NanoCpus: Math.round(r.coresLimit * 1e9),
      CpuShares: Math.max(2, Math.round(r.coresRequest * 1024)),
      Memory: Math.round(r.ramLimitGiB * GiB),
      MemoryReservation: Math.round(r.ramRequestGiB * GiB),
      ...(opts.pidsLimit > 0 ? { PidsLimit: opts.pidsLimit } : {}),
      RestartPolicy: { Name: 'no' },
    },
  };
}

/** A container's ports published on the host: container port → host port. */
export function publishedPorts(info: Docker.ContainerInspectInfo): Map<number, number> {
  const ports = new Map<number, number>();
  for (const [key, bindings] of Object.entries(info.NetworkSettings?.Ports ?? {})) {
    const hostPort = Number(bindings?.[0]?.HostPort);
    if (hostPort) ports.set(Number(key.split('/')[0]), hostPort);
  }
  return ports;
}

const ZERO_TIME = /^0001-01-01/;

function parseTime(value: string | undefined): Date | undefined {
  if (!value || ZERO_TIME.test(value)) return undefined;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

/** v0 status word from the container state (table in backend.ts). */
export function statusOf(state: Docker.ContainerInspectInfo['State'], terminating: boolean): SessionStatus {
  if (terminating || state.Status === 'removing' || state.Status === 'stopping') return 'Terminating';
  switch (state.Status) {
    case 'running':
    case 'paused':
      return 'Running';
    case 'created':
    case 'configured':
    case 'initialized':
      return 'Pending';
    case 'exited':
    case 'stopped':
      return state.ExitCode === 0 && !state.OOMKilled ? 'Succeeded' : 'Failed';
    default:
      return 'Failed';
  }
}

/** Rebuild a session record from the engine alone; undefined for containers that are not ours. */
export function recordFromInspect(info: Docker.ContainerInspectInfo, opts: { terminating: boolean; deadlineOverride?: number }): SessionRecord | undefined {
  const labels = info.Config?.Labels ?? {};
  const id = labels[LABEL.id];
  const type = labels[LABEL.kind];
  const username = labels[LABEL.username];
  if (!id || !username || !type || !isSessionType(type)) return undefined;
  const [uid, gid] = (info.Config.User ?? '').split(':').map(Number);
  const num = (key: string) => Number(labels[key] ?? 0) || 0;
  const resources: Resources = {
    coresRequest: num(LABEL.coresRequest),
    coresLimit: num(LABEL.coresLimit),
    ramRequestGiB: num(LABEL.ramRequest),
    ramLimitGiB: num(LABEL.ramLimit),
    gpus: num(LABEL.gpus),
  };
  const startedAt = parseTime(info.State.StartedAt);
  const finishedAt = parseTime(info.State.FinishedAt);
  const status = statusOf(info.State, opts.terminating);
  const finished = status === 'Succeeded' || status === 'Failed';
  const appId = labels[LABEL.appId];
  return {
    id,
    ...(appId ? { appId } : {}),
    username,
    name: labels[LABEL.name] ?? '',
    type,
    image: labels[LABEL.image] ?? info.Config.Image,
    uid: uid ?? -1,
    gid: gid ?? uid ?? -1,
    supplementalGroups: (info.HostConfig.GroupAdd ?? []).map(Number).filter((g) => Number.isInteger(g)),
    status,
    createdAt: parseTime(info.Created) ?? new Date(0),
    ...(startedAt ? { startedAt } : {}),
    ...(finished && finishedAt ? { finishedAt } : {}),
    ...(finished ? { exitCode: info.State.ExitCode } : {}),
    deadlineSeconds: opts.deadlineOverride ?? num(LABEL.deadline),
    resources,
  };
}
