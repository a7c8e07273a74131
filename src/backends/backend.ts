import type { Resources, SessionRecord, SessionType } from '../sessions/model.js';

/**
 * What a session's container gets mounted, by kind, so that each backend maps it onto a volume
 * of its own kind instead of guessing from paths. `hostPath` is where it is on the server's
 * machine (Podman binds it). Kubernetes: `storage` → the user-storage volume at `subPath`,
 * `launchScripts` → their ConfigMap, `file` → a key of the session's ConfigMap (or Secret, when
 * `secret`), `scratch` → an emptyDir that lives and dies with the pod.
 */
export type Mount =
  /** A directory of user storage (a home, the projects): `subPath` under the storage root. */
  | { kind: 'storage'; hostPath: string; subPath: string; containerPath: string; readOnly: boolean }
  /** The session's own scratch directory. */
  | { kind: 'scratch'; hostPath: string; containerPath: string }
  /** The platform's launch scripts. */
  | { kind: 'launchScripts'; hostPath: string; containerPath: string }
  /** A file the platform generated for the session (passwd, group; a desktop's X cookie is `secret`). */
  | { kind: 'file'; hostPath: string; containerPath: string; secret: boolean };

/** Whether the container may write to the mount: user storage as it says, its scratch, nothing else. */
export const writable = (m: Mount): boolean => (m.kind === 'storage' ? !m.readOnly : m.kind === 'scratch');

/**
 * Everything a backend needs to run one session, fully resolved by the session service
 * (design.md: both backends receive the same spec). Pure data: no engine types.
 */
export interface LaunchSpec {
  sessionId: string;
  /** Desktop-apps only. */
  appId?: string;
  username: string;
  /** Lower-cased session name (desktop-apps: the image-derived app name). */
  name: string;
  type: SessionType;
  image: string;
  /** Replaces the image's entrypoint when set. */
  command?: string[];
  /** Replaces the image's CMD when set. */
  args?: string[];
  /** Ordered; later entries win. */
  env: Array<[string, string]>;
  uid: number;
  gid: number;
  supplementalGroups: number[];
  mounts: Mount[];
  workingDir?: string;
  hostname: string;
  resources: Resources;
  /** Container ports reachable by the proxy; the first is the one connectURL leads to. */
  ports: number[];
  /** activeDeadlineSeconds: the session is stopped this long after it starts. */
  deadlineSeconds: number;
  /** Job name of spec §5.1 (container name on Podman). */
  jobName: string;
  /** Desktop-apps: share the network (and X display) of this desktop session. */
  joinSessionOf?: string;
  /** Registry credentials for a private image; used for the pull only, never stored in the container. */
  registryAuth?: { username: string; password: string; serveraddress: string };
}

/** One line of `view=events` (spec §3.6). */
export interface SessionEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
  firstTime: Date;
  lastTime: Date;
}

export interface EngineImage {
  /** Repository:tag references of this image. */
  tags: string[];
  digest: string;
  labels: Record<string, string>;
}

/** One machine sessions run on: a node of the cluster, or Podman's host. */
export interface NodeCapacity {
  cores: number;
  memoryBytes: number;
}

/** A session's record as its spec describes it, before any engine has it: Pending (an image being pulled, a job waiting for room). */
export function recordFromSpec(spec: LaunchSpec, createdAt: Date): SessionRecord {
  return {
    id: spec.sessionId,
    ...(spec.appId ? { appId: spec.appId } : {}),
    username: spec.username,
    name: spec.name,
    type: spec.type,
    image: spec.image,
    uid: spec.uid,
    gid: spec.gid,
    supplementalGroups: spec.supplementalGroups,
    status: 'Pending',
    createdAt,
    deadlineSeconds: spec.deadlineSeconds,
    resources: spec.resources,
  };
}

/** Keys of the backend's index: `<sessionId>` for sessions, `<sessionId>/<appId>` for desktop-apps. */
export const recordKey = (id: string, appId?: string) => (appId ? `${id}/${appId}` : id);

/**
 * The only code that knows a container engine. Only the SessionService calls it.
 *
 * `list`/`get` answer from an index kept current by the engine's event stream (never a listing
 * per request). Status of a record, by engine state:
 *
 * | engine state                         | status        |
 * |--------------------------------------|---------------|
 * | create() not returned yet            | absent        |
 * | created, not started                 | `Pending`     |
 * | running                              | `Running`     |
 * | exited with code 0                   | `Succeeded`   |
 * | exited non-zero, OOM-killed, dead    | `Failed`      |
 * | delete() called, not yet removed     | `Terminating` |
 * | removed                              | absent        |
 */
export interface SessionBackend {
  readonly name: string;
  /**
   * The engine itself stops a session at its deadline and removes it once its listing time after
   * finishing has passed (Kubernetes: the Job's activeDeadlineSeconds and ttlSecondsAfterFinished),
   * so the session service's reaper leaves both to it. Absent: the reaper does both (Podman).
   */
  readonly enforcesLifetimes?: boolean;
  /** Connect, rebuild the index from the engine and follow its events. Throws when unreachable. */
  start(): Promise<void>;
  /** Stop following events. Sessions keep running. */
  close(): Promise<void>;
  /**
   * Create and start the session. Idempotent on (sessionId, appId): a second call for an existing
   * record does nothing. On failure everything it made is removed before it throws.
   * Throws SkahaError 400 for an image that cannot be found or pulled, 503 when the engine fails.
   * An image the engine holds because a launch pulled it with credentials runs again by a name of
   * that repository only once its registry lets `spec.registryAuth` (or no credentials) pull it
   * (KEP-2535; 400 refused, 503 registry unreachable), where the backend itself pulls (Podman).
   */
  create(spec: LaunchSpec): Promise<void>;
  /** Every session and desktop-app in the index. */
  list(): SessionRecord[];
  /**
   * The user's sessions as the engine holds them at this moment, not as the index last heard.
   * Where several servers share one engine (Kubernetes replicas), each server's launch lock
   * cannot keep two of them from passing the session limit at once: the service counts again
   * with this after a launch. Absent where one server owns the engine (Podman).
   */
  listNow?(username: string): Promise<SessionRecord[]>;
  get(id: string, appId?: string): SessionRecord | undefined;
  /**
   * Stop and remove; for a desktop, its apps first. Resolves once the stop is under way (the
   * record shows `Terminating`); `removed` resolves with the keys of every record removed.
   * Idempotent: an unknown record resolves with nothing removed.
   */
  delete(id: string, appId?: string): Promise<{ removed: Promise<string[]> }>;
  /** Set a new deadline, in seconds after start. Durable across restarts. */
  renew(id: string, appId: string | undefined, deadlineSeconds: number): Promise<void>;
  /** All output of the session's container (stdout and stderr, in order). */
  /** The last `maxBytes` of the container's log (a first line says when more was left out). */
  logs(id: string, appId: string | undefined, maxBytes: number): Promise<string>;
  /** What the engine recorded about the session's container. */
  events(id: string, appId?: string): Promise<SessionEvent[]>;
  /** Where the proxy reaches the given container port of a session, or undefined. */
  address(id: string, port: number): { host: string; port: number } | undefined;
  /** Images present in the engine. */
  images(): Promise<EngineImage[]>;
  /** What a Pending session waits for, when the backend knows (an image pull and its progress). */
  pendingNote?(id: string, appId?: string): string | undefined;
  /** Pull images ahead of launches (catalog.prePull); engines that pull per node may not. */
  prePull?(images: string[]): Promise<void>;
  /**
   * The machines sessions without GPUs run on, one entry each: view=stats reports their sum and
   * the largest of them (spec §3.4), which a sum alone cannot give. Podman: its one host.
   */
  capacity(): Promise<NodeCapacity[]>;
  /**
   * The IP address at which session containers reach this host (the desktops' API callbacks
   * go there), or undefined when they cannot.
   */
  hostAddress(uid?: number): Promise<string | undefined>;
  /** Whether a TCP peer address is one of this server's session containers (callback listener). */
  isSessionPeer?(address: string): boolean;
  /**
   * The callback listener listens on this host port: sessions may reach it on their gateway, and
   * no other port of the host (Podman; on Kubernetes NetworkPolicies say where pods may go).
   */
  openCallbackPort?(port: number): Promise<void>;
  /** Headless jobs waiting for room (Podman's admission queue); absent: the cluster queues. */
  queueLength?(): number;
  /** Whether the engine answers, with a note for /availability. */
  availability(): Promise<{ available: boolean; note: string }>;
  /** Called after each change of the index (and of the engine's images: `kind` = 'image'). */
  onChange(listener: (kind: 'session' | 'image') => void): void;
}
