/** Session types a user can launch with POST /session (spec §4.1). */
export const LAUNCHABLE_TYPES = ['notebook', 'desktop', 'carta', 'contributed', 'firefly', 'headless'] as const;
/** Every type a session object can carry; desktop-app only through /session/{id}/app. */
export const SESSION_TYPES = [...LAUNCHABLE_TYPES, 'desktop-app'] as const;

export type LaunchableType = (typeof LAUNCHABLE_TYPES)[number];
export type SessionType = (typeof SESSION_TYPES)[number];

/** v0 status words (spec §5.4, §11.2): `Succeeded`, never `Completed`; never `Unknown`. */
export type SessionStatus = 'Pending' | 'Running' | 'Terminating' | 'Succeeded' | 'Failed';

export function isSessionType(value: string): value is SessionType {
  return (SESSION_TYPES as readonly string[]).includes(value);
}

export function isLaunchableType(value: string): value is LaunchableType {
  return (LAUNCHABLE_TYPES as readonly string[]).includes(value);
}

/** CPU and memory a session asked for; GiB and cores as in /context. */
export interface Resources {
  coresRequest: number;
  coresLimit: number;
  ramRequestGiB: number;
  ramLimitGiB: number;
  gpus: number;
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

/** CPU in cores (averaged over the last sampling interval) and memory in bytes. */
export interface Usage {
  cores?: number;
  ramBytes: number;
}

export const isInteractive = (type: SessionType) => type !== 'headless' && type !== 'desktop-app';

/** When the session started, or, before it has, when it was created (spec §11.4 deviation). */
export function effectiveStart(session: SessionRecord): Date {
  return session.startedAt ?? session.createdAt;
}

export function expiryOf(session: SessionRecord): Date {
  return new Date(effectiveStart(session).getTime() + session.deadlineSeconds * 1000);
}

/** Desktop and firefly run with fixed resources whatever was asked (spec §4.2, §5.6). */
export const FIXED_RESOURCES: Partial<Record<SessionType, Resources>> = {
  desktop: { coresRequest: 0.25, coresLimit: 1, ramRequestGiB: 1, ramLimitGiB: 4, gpus: 0 },
  firefly: { coresRequest: 0.1, coresLimit: 1, ramRequestGiB: 4, ramLimitGiB: 4, gpus: 0 },
};
