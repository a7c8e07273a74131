/**
 * Every type a session object can carry (spec §4.1); desktop-app only through
 * /session/{id}/app. What each type is — its proxy route, ports, resources, words — is in
 * SESSION_TYPE_TABLE below: the one place every consumer (recipes, proxy, API schemas, CLI,
 * portal) reads it from. Adding a type: a name here, a row there, a recipe in recipes.ts.
 */
export const SESSION_TYPES = ['notebook', 'desktop', 'carta', 'contributed', 'firefly', 'headless', 'desktop-app'] as const;
export type SessionType = (typeof SESSION_TYPES)[number];
export type LaunchableType = Exclude<SessionType, 'desktop-app'>;

/** CPU and memory a session asked for; GiB and cores as in /context. */
export interface Resources {
  coresRequest: number;
  coresLimit: number;
  ramRequestGiB: number;
  ramLimitGiB: number;
  gpus: number;
}

interface SessionTypeInfo {
  /** A user launches it with POST /session (desktop-apps are launched from a desktop). */
  launchable: boolean;
  /** Counted against the interactive session limit, expires after the interactive lifetime. */
  interactive: boolean;
  /** Ports the container listens on; the first is where the proxy sends its traffic. */
  ports: number[];
  /**
   * How the proxy reaches it (spec §4.3): the URL segment (`/session/<segment>/<id>/...`) and
   * whether that prefix is stripped before the container sees the path. Absent: not proxied.
   */
  proxy?: { segment: string; stripsPrefix: boolean };
  /** Runs with these resources whatever was asked (spec §4.2, §5.6). */
  fixedResources?: Resources;
  /** May be launched as several replicas at once. */
  replicas: boolean;
  /** What people call it, and a line on what it is (the portal and the CLI). */
  label: string;
  hint: string;
  /** The portal's launch button. */
  launchLabel: string;
}

export const SESSION_TYPE_TABLE: Record<SessionType, SessionTypeInfo> = {
  notebook: {
    launchable: true,
    interactive: true,
    ports: [8888],
    proxy: { segment: 'notebook', stripsPrefix: false },
    replicas: true,
    label: 'Notebook',
    hint: 'JupyterLab in your browser',
    launchLabel: 'Launch notebook',
  },
  desktop: {
    launchable: true,
    interactive: true,
    ports: [6901, 5901],
    proxy: { segment: 'desktop', stripsPrefix: true },
    fixedResources: { coresRequest: 0.25, coresLimit: 1, ramRequestGiB: 1, ramLimitGiB: 4, gpus: 0 },
    replicas: false,
    label: 'Desktop',
    hint: 'A Linux desktop (noVNC) that runs desktop apps',
    launchLabel: 'Launch desktop',
  },
  carta: {
    launchable: true,
    interactive: true,
    ports: [6901, 5901],
    proxy: { segment: 'carta', stripsPrefix: false },
    replicas: true,
    label: 'CARTA',
    hint: 'The CARTA image viewer',
    launchLabel: 'Launch CARTA',
  },
  contributed: {
    launchable: true,
    interactive: true,
    ports: [5000],
    proxy: { segment: 'contrib', stripsPrefix: true },
    replicas: true,
    label: 'Contributed',
    hint: 'A web application from the community',
    launchLabel: 'Launch web app',
  },
  firefly: {
    launchable: true,
    interactive: true,
    ports: [8080],
    proxy: { segment: 'firefly', stripsPrefix: false },
    fixedResources: { coresRequest: 0.1, coresLimit: 1, ramRequestGiB: 4, ramLimitGiB: 4, gpus: 0 },
    replicas: false,
    label: 'Firefly',
    hint: 'The Firefly image and catalogue viewer',
    launchLabel: 'Launch Firefly',
  },
  headless: {
    launchable: true,
    interactive: false,
    ports: [],
    replicas: true,
    label: 'Headless job',
    hint: 'A batch job: a command that runs to completion',
    launchLabel: 'Run headless job',
  },
  'desktop-app': {
    launchable: false,
    interactive: false,
    ports: [],
    replicas: false,
    label: 'Desktop app',
    hint: 'An application whose window appears on a desktop',
    launchLabel: 'Launch desktop app',
  },
};

/** Session types a user can launch with POST /session (spec §4.1). */
export const LAUNCHABLE_TYPES = SESSION_TYPES.filter((t): t is LaunchableType => SESSION_TYPE_TABLE[t].launchable);

/** v0 status words (spec §5.4, §11.2): `Succeeded`, never `Completed`; never `Unknown`. */
export type SessionStatus = 'Pending' | 'Running' | 'Terminating' | 'Succeeded' | 'Failed';

export function isSessionType(value: string): value is SessionType {
  return (SESSION_TYPES as readonly string[]).includes(value);
}

export function isLaunchableType(value: string): value is LaunchableType {
  return (LAUNCHABLE_TYPES as readonly string[]).includes(value);
}

/**
 * What the platform knows about one session (or desktop-app), as read back from the backend.
 * Every field comes from the engine (labels, state), so it survives a restart of the server.
 */
export interface SessionRecord {
  id: string;
  /** Set for desktop-apps: the 3-character app ID (the desktop's ID is `id`). */
  appId?: string;
  username: string;
  name: string;
  type: SessionType;
  image: string;
  uid: number;
  gid: number;
  supplementalGroups: number[];
  status: SessionStatus;
  createdAt: Date;
  startedAt?: Date;
  finishedAt?: Date;
  exitCode?: number;
  /** Seconds after start at which the session is stopped (activeDeadlineSeconds). */
  deadlineSeconds: number;
  resources: Resources;
  /** What a running session uses now, as the engine last measured it (absent: not measured). */
  usage?: Usage;
}

/**
 * A session as the API sends it (spec §3.2): the 20 fields of skaha's v0 session object, all
 * strings but the groups, `"<none>"` for unknowns. The route schema (api/session/schemas.ts) is
 * checked against it by the compiler; the CLI and the portal read sessions as this type.
 */
export interface SessionJson {
  id: string;
  userid: string;
  runAsUID: string;
  runAsGID: string;
  supplementalGroups: number[];
  appid: string;
  image: string;
  type: string;
  status: string;
  name: string;
  startTime: string;
  expiryTime: string;
  connectURL: string;
  requestedRAM: string;
  requestedCPUCores: string;
  requestedGPUCores: string;
  ramInUse: string;
  gpuRAMInUse: string;
  cpuCoresInUse: string;
  gpuUtilization: string;
}

/** CPU in cores (averaged over the last sampling interval) and memory in bytes. */
export interface Usage {
  cores?: number;
  ramBytes: number;
}

export const isInteractive = (type: SessionType) => SESSION_TYPE_TABLE[type].interactive;

/** When the session started, or, before it has, when it was created (spec §11.4 deviation). */
export function effectiveStart(session: SessionRecord): Date {
  return session.startedAt ?? session.createdAt;
}

export function expiryOf(session: SessionRecord): Date {
  return new Date(effectiveStart(session).getTime() + session.deadlineSeconds * 1000);
}

/** The resources a type runs with whatever was asked (desktop, firefly), or undefined. */
export const fixedResourcesOf = (type: string): Resources | undefined => (isSessionType(type) ? SESSION_TYPE_TABLE[type].fixedResources : undefined);
