import crypto from 'node:crypto';
import path from 'node:path';
import type { V1Affinity, V1ConfigMap, V1Job, V1OwnerReference, V1Secret, V1Service, V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import type { LaunchSpec } from '../backend.js';
import { labelValue, SESSION_LABEL, sessionLabels } from '../labels.js';
import { UID_LABEL } from './policies.js';

/**
 * The Kubernetes objects of one session, built by pure functions from the LaunchSpec (style.md:
 * KubeSpawner objects.py), so that a change of the pod security or of a label shows up as a diff
 * in test/unit/backends/kubernetes-objects.test.ts. No YAML, no string templates.
 */

/** User storage as the pods see it (spec §6.4): one volume, homes and projects are sub-paths. */
export type StorageVolume = { kind: 'hostPath'; hostPath: string } | { kind: 'pvc'; claimName: string };

export interface KubernetesObjectOptions {
  namespace: string;
  storage: StorageVolume;
  /** The launch scripts directory on skaha's machine and the ConfigMap sessions mount its files from. */
  launchScripts: { hostDir: string; configMap: string };
  imagePullPolicy: 'Always' | 'IfNotPresent' | 'Never';
  nodeSelector: Record<string, string>;
  /**
   * spec §5.7 (skaha's GPU_ENABLED): sessions with GPUs must land on nodes labelled
   * nvidia.com/gpu.count > 0, and sessions without must stay off them.
   */
  gpuNodeAffinity?: boolean;
  /** ttlSecondsAfterFinished: how long a finished Job (and its logs) stays listed. */
  ttlAfterFinishedSeconds: { headless: number; interactive: number };
}

/** What only the cluster knows, for a desktop-app: its desktop's Job (owner) and pod IP (X display). */
export interface DesktopOfApp {
  jobName: string;
  jobUid: string;
  podIp: string;
}

/** Where the session's files (passwd, group, X cookie) go: text under /etc in a ConfigMap, the rest in a Secret. */
interface MountPlan {
  volumes: V1Volume[];
  volumeMounts: V1VolumeMount[];
  /** ConfigMap `<job>-files` data: key → text (passwd, group). */
  configMapData: Record<string, string>;
  /** Secret `<job>-files` data: key → base64 (the desktop's X cookie). */
  secretData: Record<string, string>;
}

const STORAGE_VOLUME = 'user-storage';
const LAUNCH_SCRIPTS_VOLUME = 'launch-scripts';
const FILES_CONFIGMAP_VOLUME = 'session-files';
const FILES_SECRET_VOLUME = 'session-secrets';
/** r-x for everyone: the scripts are run by the session's user, never written. */
const SCRIPTS_MODE = 0o555;
/** r-- for everyone in the pod (it runs as one user); the Secret is readable only through this pod. */
const FILES_MODE = 0o444;

const filesObjectName = (spec: Pick<LaunchSpec, 'jobName'>) => `${spec.jobName}-files`;
const serviceName = (spec: Pick<LaunchSpec, 'type' | 'sessionId'>) => `skaha-${spec.type}-svc-${spec.sessionId}`;
/**
 * spec §5.1, §7: one pull secret per user, recreated on each launch with a private image. A
 * username that is no DNS label as it is gets a hash of itself added, so that two users never
 * share a name (and so credentials).
 */
export function registrySecretName(username: string): string {
  const base = dnsLabel(username, 'user').slice(0, 40);
  const exact = base === username;
  return `registry-auth-${base}${exact ? '' : `-${crypto.createHash('sha256').update(username).digest('hex').slice(0, 8)}`}`;
}

/**
 * Labels of spec §5.3, every value a valid label value: a username may end in '.' or start with
 * '_', which Kubernetes refuses in a label. The exact username and name travel in annotations
 * (`sessionAnnotations`), which is what the record reads: ownership never rests on a shortened label.
 */
function kubernetesLabels(spec: LaunchSpec): Record<string, string> {
  // The uid: what a user's NetworkPolicy selects (policies.ts), unique where a label username may not be.
  return { ...sessionLabels(spec), [SESSION_LABEL.username]: labelValue(spec.username), [UID_LABEL]: String(spec.uid) };
}

const sessionAnnotations = (spec: LaunchSpec): Record<string, string> => ({
  [SESSION_LABEL.username]: spec.username,
  [SESSION_LABEL.name]: spec.name,
});

/** A DNS label (pod hostname, volume name): lower-case alphanumerics and '-', ≤ 63, alphanumeric ends. */
function dnsLabel(value: string, fallback = 'session'): string {
  const label = value
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/-{2,}/g, '-')
    .slice(0, 63)
    .replace(/^-+|-+$/g, '');
  return label || fallback;
}

/** CPU quantity: whole cores as "2", fractions in millicores ("250m"). */
export function cpuQuantity(cores: number): string {
  return Number.isInteger(cores) ? String(cores) : `${Math.round(cores * 1000)}m`;
}

/** Memory quantity in binary units, as the chart writes it: "8Gi", fractions as "1536Mi". */
export function memoryQuantity(gib: number): string {
  return Number.isInteger(gib) ? `${gib}Gi` : `${Math.round(gib * 1024)}Mi`;
}

/**
 * Map the spec's mounts onto pod volumes, by kind (backends/backend.ts `Mount`): user storage →
 * the user-storage volume at its sub-path; the launch scripts → their ConfigMap; a file skaha
 * wrote for this session (`files`: host path → content) → a key of the session's ConfigMap, or
 * of its Secret when the file is secret (the X cookie); scratch → an emptyDir, which lives and
 * dies with the pod.
 */
export function planMounts(spec: LaunchSpec, opts: KubernetesObjectOptions, files: ReadonlyMap<string, Buffer>): MountPlan {
  const volumes: V1Volume[] = [];
  const volumeMounts: V1VolumeMount[] = [];
  const configMapData: Record<string, string> = {};
  const secretData: Record<string, string> = {};
  const addVolume = (volume: V1Volume) => {
    if (!volumes.some((v) => v.name === volume.name)) volumes.push(volume);
  };
  const keyFor = (hostPath: string, taken: Record<string, string>) => {
    const base = path.basename(hostPath).replace(/[^-._a-zA-Z0-9]/g, '-') || 'file';
    let key = base;
    for (let i = 2; key in taken; i++) key = `${base}-${i}`;
    return key;
  };
  for (const m of spec.mounts) {
    switch (m.kind) {
      case 'file': {
        const content = files.get(m.hostPath);
        if (content === undefined) throw new Error(`the session file ${m.hostPath} was not read`);
        const data = m.secret ? secretData : configMapData;
        const key = keyFor(m.hostPath, data);
        data[key] = m.secret ? content.toString('base64') : content.toString('utf8');
        volumeMounts.push({ name: m.secret ? FILES_SECRET_VOLUME : FILES_CONFIGMAP_VOLUME, mountPath: m.containerPath, subPath: key, readOnly: true });
        break;
      }
      case 'storage':
        addVolume(
          opts.storage.kind === 'pvc'
            ? { name: STORAGE_VOLUME, persistentVolumeClaim: { claimName: opts.storage.claimName } }
            : { name: STORAGE_VOLUME, hostPath: { path: opts.storage.hostPath, type: 'Directory' } },
        );
        volumeMounts.push({ name: STORAGE_VOLUME, mountPath: m.containerPath, ...(m.subPath ? { subPath: m.subPath } : {}), readOnly: m.readOnly });
        break;
      case 'launchScripts':
        addVolume({ name: LAUNCH_SCRIPTS_VOLUME, configMap: { name: opts.launchScripts.configMap, defaultMode: SCRIPTS_MODE } });
        volumeMounts.push({ name: LAUNCH_SCRIPTS_VOLUME, mountPath: m.containerPath, readOnly: true });
        break;
      case 'scratch': {
        const name = dnsLabel(`scratch-${m.containerPath}`);
        addVolume({ name, emptyDir: {} });
        volumeMounts.push({ name, mountPath: m.containerPath, readOnly: false });
        break;
      }
    }
  }
  const name = filesObjectName(spec);
  if (Object.keys(configMapData).length > 0) volumes.push({ name: FILES_CONFIGMAP_VOLUME, configMap: { name, defaultMode: FILES_MODE } });
  if (Object.keys(secretData).length > 0) volumes.push({ name: FILES_SECRET_VOLUME, secret: { secretName: name, defaultMode: FILES_MODE } });
  return { volumes, volumeMounts, configMapData, secretData };
}

/** Desktop-apps draw on their desktop's X server by pod IP, as skaha does (`<podIP>:1`, spec §8). */
function envFor(spec: LaunchSpec, desktop: DesktopOfApp | undefined): Array<{ name: string; value: string }> {
  return spec.env.map(([name, value]) => ({
    name,
    value: desktop && name === 'DISPLAY' ? `${desktop.podIp}:${value.split(':').pop() ?? '1'}` : value,
  }));
}

/**
 * The Job of one session (spec §4.2): one pod, run as the user, nothing it could escalate with.
 * - restartPolicy Never and backoffLimit 0 for every type: a session whose container exits
 *   non-zero shows `Failed` (the table in backend.ts, as on Podman) and its pod keeps the logs,
 *   where skaha restarts interactive containers in place (OnFailure).
 * - activeDeadlineSeconds is the expiry (spec §5.5), enforced by the cluster; renew patches it.
 * - A desktop-app is owned by its desktop's Job, so deleting the desktop removes its apps.
 */
export function makeJob(spec: LaunchSpec, opts: KubernetesObjectOptions, plan: MountPlan, desktop?: DesktopOfApp): V1Job {
  const labels = kubernetesLabels(spec);
  const r = spec.resources;
  const gpu: Record<string, string> = r.gpus > 0 ? { 'nvidia.com/gpu': String(r.gpus) } : {};
  const owner: V1OwnerReference[] = desktop
    ? [{ apiVersion: 'batch/v1', kind: 'Job', name: desktop.jobName, uid: desktop.jobUid, controller: false, blockOwnerDeletion: true }]
    : [];
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name: spec.jobName,
      namespace: opts.namespace,
      labels,
      annotations: sessionAnnotations(spec),
      ...(owner.length ? { ownerReferences: owner } : {}),
    },
    spec: {
      activeDeadlineSeconds: spec.deadlineSeconds,
      ttlSecondsAfterFinished: spec.type === 'headless' ? opts.ttlAfterFinishedSeconds.headless : opts.ttlAfterFinishedSeconds.interactive,
      backoffLimit: 0,
      parallelism: 1,
      completions: 1,
      template: {
        metadata: { labels },
        spec: {
          restartPolicy: 'Never',
          hostname: dnsLabel(spec.hostname),
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          securityContext: {
            runAsUser: spec.uid,
            runAsGroup: spec.gid,
            runAsNonRoot: true,
            supplementalGroups: spec.supplementalGroups,
            seccompProfile: { type: 'RuntimeDefault' },
          },
          ...(spec.registryAuth ? { imagePullSecrets: [{ name: registrySecretName(spec.username) }] } : {}),
          ...(Object.keys(opts.nodeSelector).length ? { nodeSelector: opts.nodeSelector } : {}),
          ...(opts.gpuNodeAffinity ? { affinity: gpuAffinity(r.gpus) } : {}),
          containers: [
            {
              name: dnsLabel(spec.type === 'desktop-app' ? spec.name : spec.type),
              image: spec.image,
              imagePullPolicy: opts.imagePullPolicy,
              ...(spec.command ? { command: spec.command } : {}),
              ...(spec.args ? { args: spec.args } : {}),
              env: envFor(spec, desktop),
              ...(spec.workingDir ? { workingDir: spec.workingDir } : {}),
              ports: spec.ports.map((port) => ({ containerPort: port, protocol: 'TCP' })),
              resources: {
                requests: { cpu: cpuQuantity(r.coresRequest), memory: memoryQuantity(r.ramRequestGiB), ...gpu },
                limits: { cpu: cpuQuantity(r.coresLimit), memory: memoryQuantity(r.ramLimitGiB), ...gpu },
              },
              securityContext: {
                allowPrivilegeEscalation: false,
                privileged: false,
                runAsNonRoot: true,
                capabilities: { drop: ['ALL'] },
              },
              volumeMounts: plan.volumeMounts,
            },
          ],
          volumes: plan.volumes,
        },
      },
    },
  };
}

/** Required node affinity on the GPU count label (spec §5.7). */
function gpuAffinity(gpus: number): V1Affinity {
  const expression = gpus > 0 ? { key: 'nvidia.com/gpu.count', operator: 'Gt', values: ['0'] } : { key: 'nvidia.com/gpu.count', operator: 'DoesNotExist' };
  return { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [expression] }] } } };
}

/** The objects that live and die with the session's Job: garbage-collected through this reference. */
function ownedByJob(jobName: string, jobUid: string): V1OwnerReference[] {
  return [{ apiVersion: 'batch/v1', kind: 'Job', name: jobName, uid: jobUid, controller: true }];
}

/** Service of an interactive session (spec §5.1 name, §5.3 selector on ID + kind); none for headless or desktop-apps. */
export function makeService(spec: LaunchSpec, opts: KubernetesObjectOptions, jobUid: string): V1Service | undefined {
  if (spec.ports.length === 0 || spec.appId) return undefined;
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: serviceName(spec), namespace: opts.namespace, labels: kubernetesLabels(spec), ownerReferences: ownedByJob(spec.jobName, jobUid) },
    spec: {
      type: 'ClusterIP',
      selector: { [SESSION_LABEL.id]: spec.sessionId, [SESSION_LABEL.kind]: spec.type },
      ports: spec.ports.map((port) => ({ name: `tcp-${port}`, port, targetPort: port, protocol: 'TCP' })),
    },
  };
}

/** passwd and group of the session (spec §6.3), mounted over /etc/passwd and /etc/group. */
export function makeFilesConfigMap(spec: LaunchSpec, opts: KubernetesObjectOptions, plan: MountPlan, jobUid: string): V1ConfigMap | undefined {
  if (Object.keys(plan.configMapData).length === 0) return undefined;
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: filesObjectName(spec), namespace: opts.namespace, labels: kubernetesLabels(spec), ownerReferences: ownedByJob(spec.jobName, jobUid) },
    data: plan.configMapData,
  };
}

/** The session's secret files (a desktop's X cookie, given to it and its apps only). */
export function makeFilesSecret(spec: LaunchSpec, opts: KubernetesObjectOptions, plan: MountPlan, jobUid: string): V1Secret | undefined {
  if (Object.keys(plan.secretData).length === 0) return undefined;
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'Opaque',
    metadata: { name: filesObjectName(spec), namespace: opts.namespace, labels: kubernetesLabels(spec), ownerReferences: ownedByJob(spec.jobName, jobUid) },
    data: plan.secretData,
  };
}

/**
 * The user's pull secret for a private image (spec §7): a kubernetes.io/dockerconfigjson for the
 * image's registry. Not owned by one Job: every session of the user with that image uses it.
 */
export function makeRegistrySecret(spec: LaunchSpec, opts: KubernetesObjectOptions): V1Secret | undefined {
  const auth = spec.registryAuth;
  if (!auth) return undefined;
  const dockerConfig = {
    auths: {
      [auth.serveraddress]: {
        username: auth.username,
        password: auth.password,
        auth: Buffer.from(`${auth.username}:${auth.password}`).toString('base64'),
      },
    },
  };
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'kubernetes.io/dockerconfigjson',
    metadata: {
      name: registrySecretName(spec.username),
      namespace: opts.namespace,
      labels: { [SESSION_LABEL.username]: labelValue(spec.username), [SESSION_LABEL.managedBy]: 'skaha', [SESSION_LABEL.partOf]: 'canfar' },
    },
    data: { '.dockerconfigjson': Buffer.from(JSON.stringify(dockerConfig)).toString('base64') },
  };
}

/**
 * `<prefix>-<8 hex digits of a hash of the scripts>`: the name of the launch-scripts ConfigMap of
 * one version of the scripts. Servers of two versions (a rolling upgrade) write two ConfigMaps
 * and each one's sessions mount its own, where one shared name was rewritten by whichever server
 * started last; servers of the same version agree on the name and write it once.
 */
export function launchScriptsConfigMapName(prefix: string, scripts: Record<string, string>): string {
  const hash = crypto.createHash('sha256');
  for (const name of Object.keys(scripts).sort()) hash.update(`${name}\0${scripts[name]}\0`);
  return `${prefix}-${hash.digest('hex').slice(0, 8)}`;
}

/** The launch scripts as a ConfigMap (file name → text), mounted at /skaha-system; never changed once made. */
export function makeLaunchScriptsConfigMap(namespace: string, prefix: string, scripts: Record<string, string>): V1ConfigMap {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: launchScriptsConfigMapName(prefix, scripts),
      namespace,
      labels: { [SESSION_LABEL.managedBy]: 'skaha', [SESSION_LABEL.partOf]: 'canfar' },
    },
    data: scripts,
    immutable: true,
  };
}
