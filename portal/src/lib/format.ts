import type { Session } from '../api';
import { isSessionType, LAUNCHABLE_TYPES, SESSION_TYPE_TABLE } from '../../../src/sessions/model';

/** The types the launch form offers, from the platform's one table of session types. */
export const SESSION_TYPES = LAUNCHABLE_TYPES;

const infoOf = (type: string) => (isSessionType(type) ? SESSION_TYPE_TABLE[type] : undefined);
export const typeLabel = (type: string) => infoOf(type)?.label ?? type;
/** The launch button's words for a type. */
export const launchLabel = (type: string) => infoOf(type)?.launchLabel ?? `Launch ${typeLabel(type)}`;
export const typeHint = (type: string) => infoOf(type)?.hint ?? '';

const NONE = '<none>';
export const isNone = (value: string | undefined | null) => !value || value === NONE;

/** "3 d 23 h", "5 min", "12 s": the two largest units, as the CLI prints (docs/cli.md). */
export function duration(ms: number): string {
  let s = Math.round(Math.abs(ms) / 1000);
  const parts: string[] = [];
  for (const [unit, size] of [
    ['d', 86400],
    ['h', 3600],
    ['min', 60],
    ['s', 1],
  ] as const) {
    if (s >= size && parts.length < 2) {
      parts.push(`${Math.floor(s / size)} ${unit}`);
      s %= size;
    } else if (parts.length > 0) break;
  }
  return parts.length ? parts.join(' ') : '0 s';
}

/** "in 3 d 23 h", "5 min ago", "just now"; empty for an unknown time. */
export function relativeTime(iso: string | null | undefined, now: number = Date.now()): string {
  if (isNone(iso)) return '';
  const t = Date.parse(iso!);
  if (Number.isNaN(t)) return '';
  const diff = t - now;
  if (Math.abs(diff) < 5000) return 'just now';
  return diff > 0 ? `in ${duration(diff)}` : `${duration(diff)} ago`;
}

/** A full local date and time, for a title or a screen reader. */
export function absoluteTime(iso: string | null | undefined): string {
  if (isNone(iso)) return '';
  const t = new Date(iso!);
  if (Number.isNaN(t.getTime())) return '';
  return t.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

/** "2 cores · 8 GiB · 1 GPU" from skaha's strings ("2", "8G", "0"). */
export function resources(s: Pick<Session, 'requestedCPUCores' | 'requestedRAM' | 'requestedGPUCores'>): string {
  const parts: string[] = [];
  const cores = Number(s.requestedCPUCores);
  if (!isNone(s.requestedCPUCores) && Number.isFinite(cores)) parts.push(`${cores} ${cores === 1 ? 'core' : 'cores'}`);
  if (!isNone(s.requestedRAM)) parts.push(s.requestedRAM.replace(/^([\d.]+)G$/, '$1 GiB'));
  const gpus = Number(s.requestedGPUCores);
  if (Number.isFinite(gpus) && gpus > 0) parts.push(`${gpus} ${gpus === 1 ? 'GPU' : 'GPUs'}`);
  return parts.join(' · ');
}

/** `images.canfar.net/skaha/webapp:1.0` → `skaha/webapp:1.0` (the registry host is implied). */
export function shortImage(image: string): string {
  const parts = image.split('/');
  return parts.length > 2 ? parts.slice(1).join('/') : image;
}

type Tone = 'ok' | 'busy' | 'done' | 'bad' | 'idle';

export function statusTone(status: string): Tone {
  switch (status) {
    case 'Running':
      return 'ok';
    case 'Pending':
    case 'Terminating':
      return 'busy';
    case 'Succeeded':
      return 'done';
    case 'Failed':
    case 'Error':
      return 'bad';
    default:
      return 'idle';
  }
}

/** A session still on its way somewhere: the list polls quickly while one is. */
export const inTransition = (status: string) => status === 'Pending' || status === 'Terminating';

export const isFinished = (status: string) => status === 'Succeeded' || status === 'Failed';

/** Can the browser open it: interactive, running, with a real URL. */
export function canConnect(s: Pick<Session, 'status' | 'connectURL' | 'type'>): boolean {
  return s.status === 'Running' && !isNone(s.connectURL) && s.connectURL !== 'not-applicable' && s.type !== 'headless';
}

/** Sessions in the order a person scans them: newest first, desktop-apps after their desktop. */
export function sortSessions<T extends Pick<Session, 'startTime' | 'id'>>(sessions: T[]): T[] {
  return [...sessions].sort((a, b) => Date.parse(b.startTime) - Date.parse(a.startTime) || a.id.localeCompare(b.id));
}

/** A fixed-resource type's resources in words: what it is guaranteed, and what it may use. */
export function fixedResourcesText(r: { coresRequest: number; coresLimit: number; ramRequestGiB: number; ramLimitGiB: number }): string {
  const cores = (n: number) => `${n} ${n === 1 ? 'core' : 'cores'}`;
  return `${cores(r.coresRequest)} guaranteed, up to ${cores(r.coresLimit)}; ${r.ramRequestGiB} GiB of memory guaranteed, up to ${r.ramLimitGiB} GiB`;
}

/** What a running session uses now (from the engine), or '' before it is measured. */
export function usage(s: Pick<Session, 'cpuCoresInUse' | 'ramInUse'>): string {
  const parts: string[] = [];
  const cores = Number(s.cpuCoresInUse);
  if (s.cpuCoresInUse && !isNone(s.cpuCoresInUse) && Number.isFinite(cores)) parts.push(`${cores.toFixed(2)} cores`);
  const gb = Number(s.ramInUse);
  if (s.ramInUse && !isNone(s.ramInUse) && Number.isFinite(gb)) parts.push(`${((gb * 1e9) / 2 ** 30).toFixed(2)} GiB`);
  return parts.length ? `using ${parts.join(' and ')}` : '';
}

/** A byte count as people read it: "512 B", "3.4 MiB", "1.2 GiB". */
export function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}
