import type { NodeCapacity, SessionEvent } from '../../backends/backend.js';
import { effectiveStart, expiryOf, type SessionJson, type SessionRecord, type SessionStatus } from '../../sessions/model.js';
import type { ApiVersion } from '../../sessions/service.js';
import { connectUrl, type StorageLayout } from '../../sessions/recipes.js';
import { JavaDouble } from '../gson.js';

const NONE = '<none>';

/** ISO-8601 UTC with second precision: `2025-03-05T21:48:29Z` (spec §3.2). */
function isoSeconds(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** A number as skaha prints a quantity: `2`, `0.25`, no trailing zeros. */
function quantity(n: number): string {
  return String(Number(n.toFixed(3)));
}

interface ViewContext {
  /** The base URL of a session's own origin (proxy/origins.ts), under which its connectURL lies. */
  sessionBase: (sessionId: string) => string;
  layout: StorageLayout;
  version: ApiVersion;
}

/**
 * The status word of an API version (spec §5.4): a session that finished well is `Succeeded` on
 * v0 (the pod phase the skaha 1.7 client expects) and `Completed` on v1 (the Job condition
 * skaha's v1 reports and canfar's client filters by).
 */
function statusWord(status: SessionStatus, version: ApiVersion): string {
  return status === 'Succeeded' && version === 'v1' ? 'Completed' : status;
}

/**
 * The v0 session object (spec §3.2): all 20 fields, in order, `"<none>"` for unknowns; start
 * and expiry are real timestamps even while pending (spec §11.4), GPUs `"0"` (§11.5).
 */
export function sessionView(s: SessionRecord, ctx: ViewContext): SessionJson {
  return {
    id: s.id,
    userid: s.username,
    runAsUID: String(s.uid),
    runAsGID: String(s.gid),
    supplementalGroups: s.supplementalGroups,
    appid: s.appId ?? NONE,
    image: s.image,
    type: s.type,
    status: statusWord(s.status, ctx.version),
    name: s.name || NONE,
    startTime: isoSeconds(effectiveStart(s)),
    expiryTime: isoSeconds(expiryOf(s)),
    connectURL: connectUrl(ctx.sessionBase(s.id), s.type, s.id, s.username, ctx.layout),
    requestedRAM: `${quantity(s.resources.ramRequestGiB)}G`,
    requestedCPUCores: quantity(s.resources.coresRequest),
    requestedGPUCores: String(s.resources.gpus),
    // Decimal GB and cores, unit-less (the Python client parses them with float()), as skaha's
    // v1 prints metrics-API usage; `<none>` until the engine has measured the session.
    ramInUse: s.status === 'Running' && s.usage ? (s.usage.ramBytes / 1e9).toFixed(2) : NONE,
    gpuRAMInUse: NONE,
    cpuCoresInUse: s.status === 'Running' && s.usage?.cores !== undefined ? s.usage.cores.toFixed(3) : NONE,
    gpuUtilization: NONE,
  };
}

/** view=all: exactly userid, type, status, startTime (spec §3.3). */
export function publicSessionView(s: SessionRecord, version: ApiVersion) {
  return { userid: s.username, type: s.type, status: statusWord(s.status, version), startTime: isoSeconds(effectiveStart(s)) };
}

/** `#.###G` of a byte count in GiB (spec §3.4). */
function gibString(bytes: number): string {
  return `${Number((bytes / 2 ** 30).toFixed(3))}G`;
}

/** The first of `nodes` by `key` (compared element by element), or an empty machine. */
function largest(nodes: NodeCapacity[], key: (n: NodeCapacity) => [number, number]): NodeCapacity {
  let best: NodeCapacity = { cores: 0, memoryBytes: 0 };
  for (const n of nodes) {
    const [a, b] = key(n);
    const [bestA, bestB] = key(best);
    if (a > bestA || (a === bestA && b > bestB)) best = n;
  }
  return best;
}

/**
 * view=stats, v0 shape with `instances` (spec §3.4), from running sessions and the machines
 * sessions without GPUs run on: the available figures are their sum, `maxCPUCores` the node
 * with the most cores (with its RAM) and `maxRAM` the node with the most RAM (with its cores),
 * which is what a session can at most be given.
 */
export function statsView(sessions: SessionRecord[], nodes: NodeCapacity[]) {
  const running = sessions.filter((s) => s.status === 'Running');
  const desktopApp = running.filter((s) => s.type === 'desktop-app').length;
  const headless = running.filter((s) => s.type === 'headless').length;
  const requestedCores = running.reduce((sum, s) => sum + s.resources.coresRequest, 0);
  const requestedRam = running.reduce((sum, s) => sum + s.resources.ramRequestGiB * 2 ** 30, 0);
  const totalCores = nodes.reduce((sum, n) => sum + n.cores, 0);
  const totalMemory = nodes.reduce((sum, n) => sum + n.memoryBytes, 0);
  const mostCores = largest(nodes, (n) => [n.cores, n.memoryBytes]);
  const mostMemory = largest(nodes, (n) => [n.memoryBytes, n.cores]);
  return {
    instances: { session: running.length - desktopApp - headless, desktopApp, headless, total: running.length },
    cores: {
      requestedCPUCores: new JavaDouble(Number(requestedCores.toFixed(3))),
      cpuCoresAvailable: new JavaDouble(Number(totalCores.toFixed(3))),
      maxCPUCores: { cpuCores: new JavaDouble(mostCores.cores), withRam: gibString(mostCores.memoryBytes) },
    },
    ram: {
      requestedRAM: gibString(requestedRam),
      ramAvailable: gibString(totalMemory),
      maxRAM: { ram: gibString(mostMemory.memoryBytes), withCPUCores: new JavaDouble(mostMemory.cores) },
    },
  };
}

/**
 * view=events as `kubectl get event -o custom-columns` prints it (spec §3.6): a header, columns
 * padded to their widest cell (at least 10) plus 3 spaces, `<none>` when there are no events.
 */
export function eventsTable(events: SessionEvent[]): string {
  if (events.length === 0) return '<none>\n';
  const rows = [
    ['TYPE', 'REASON', 'MESSAGE', 'FIRST-TIME', 'LAST-TIME'],
    ...events.map((e) => [e.type, e.reason, e.message || NONE, isoSeconds(e.firstTime), isoSeconds(e.lastTime)]),
  ];
  const widths = rows[0]!.map((_, col) => Math.max(10, ...rows.map((r) => r[col]!.length)));
  return rows.map((r) => r.map((cell, col) => (col === r.length - 1 ? cell : cell.padEnd(widths[col]! + 3))).join('')).join('\n') + '\n';
}
