import type { LaunchSpec } from './backend.js';

/**
 * Label keys of spec §5.3, the same on Podman containers and on Kubernetes Jobs, Pods and
 * Services: a session is found by these, on either engine, after a restart of the server.
 */
export const SESSION_LABEL = {
  id: 'canfar.net/id',
  username: 'canfar.net/username',
  name: 'canfar.net/name',
  kind: 'canfar.net/kind',
  job: 'canfar.net/job',
  flavor: 'canfar.net/flavor',
  accelerator: 'canfar.net/accelerator',
  community: 'canfar.net/community',
  project: 'canfar.net/project',
  appId: 'canfar.net/app-id',
  managedBy: 'app.kubernetes.io/managed-by',
  partOf: 'app.kubernetes.io/part-of',
} as const;

/** Label values must match [A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])? and be ≤ 63 chars (spec §5.3). */
export function labelValue(value: string): string {
  return value
    .slice(0, 63)
    .replace(/[^-A-Za-z0-9_.]/g, '-')
    .replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '');
}

/** The labels of spec §5.3 for one session or desktop-app. */
export function sessionLabels(spec: LaunchSpec): Record<string, string> {
  const r = spec.resources;
  return {
    [SESSION_LABEL.id]: spec.sessionId,
    [SESSION_LABEL.username]: spec.username,
    [SESSION_LABEL.name]: labelValue(spec.name),
    [SESSION_LABEL.kind]: spec.type,
    // jobName() keeps Job names within 63 characters; a label value must never exceed them.
    [SESSION_LABEL.job]: labelValue(spec.jobName),
    [SESSION_LABEL.flavor]: r.ramRequestGiB === r.ramLimitGiB ? 'fixed' : 'flexible',
    [SESSION_LABEL.accelerator]: r.gpus > 0 ? 'gpu' : 'none',
    [SESSION_LABEL.community]: 'default',
    [SESSION_LABEL.project]: 'default',
    ...(spec.appId ? { [SESSION_LABEL.appId]: spec.appId } : {}),
    [SESSION_LABEL.managedBy]: 'skaha',
    [SESSION_LABEL.partOf]: 'canfar',
  };
}
