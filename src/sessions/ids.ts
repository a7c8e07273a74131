import crypto from 'node:crypto';

const LETTERS = 'abcdefghijklmnopqrstuvwxyz';
const ALPHANUMERIC = LETTERS + '0123456789';

/** `length` characters of [a-z0-9], the first a letter (spec §5.1 RandomStringGenerator). */
function randomId(length: number): string {
  let id = LETTERS[crypto.randomInt(LETTERS.length)]!;
  while (id.length < length) id += ALPHANUMERIC[crypto.randomInt(ALPHANUMERIC.length)]!;
  return id;
}

/** 8 characters; doubles as VNC password and Jupyter token (spec §5.1). */
export const newSessionId = () => randomId(8);
/** 3 characters (spec §5.1). */
export const newAppId = () => randomId(3);

export const SESSION_ID = /^[a-z][a-z0-9]{7}$/;
export const APP_ID = /^[a-z][a-z0-9]{2}$/;

const NAME = /^[A-Za-z0-9-]+$/;
const MAX_NAME_LENGTH = 63;

/** The reason a session name is refused (spec §3.5), or undefined when it is fine. */
export function nameProblem(name: string): string | undefined {
  if (!NAME.test(name)) return "name can only contain alpha-numeric chars and '-'";
  if (name.length > MAX_NAME_LENGTH) return `name must be at most ${MAX_NAME_LENGTH} characters`;
  return undefined;
}

/**
 * Kubernetes refuses a Job whose name is longer than this: the name is also the value of the
 * `job-name` label its pods get, and a label value has at most 63 characters.
 */
const MAX_JOB_NAME_LENGTH = 63;

/**
 * `skaha-<type>-<user>-<id>` with every character outside [0-9a-zA-Z-] of the user made '-'
 * (spec §5.1). A user part too long for 63 characters is cut: the session ID at the end keeps
 * the name unique, and the exact username travels in the session's annotations.
 */
export function jobName(type: string, username: string, sessionId: string): string {
  const user = username.replace(/[^0-9a-zA-Z-]/g, '-').toLowerCase();
  const room = MAX_JOB_NAME_LENGTH - `skaha-${type}--${sessionId}`.length;
  return `skaha-${type}-${user.slice(0, Math.max(1, room))}-${sessionId}`;
}

/** Last path segment of the image with ':', '.', '_' made '-', lower-cased (spec §5.1). */
export function appNameFromImage(image: string): string {
  const last = image.split('/').pop() ?? image;
  return last.replace(/[:._]/g, '-').toLowerCase();
}

/** `<sessionID>-<appID>-<user>-<app-name>` cut to 57 characters, trimmed to alphanumeric ends. */
export function appJobName(sessionId: string, appId: string, username: string, appName: string): string {
  let name = `${sessionId}-${appId}-${username.replace(/[^0-9a-zA-Z-]/g, '-')}-${appName}`.toLowerCase().slice(0, 57);
  name = name.replace(/^[^a-z0-9]+/, '').replace(/[^a-z0-9]+$/, '');
  return name;
}
