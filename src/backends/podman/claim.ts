import crypto from 'node:crypto';
import fs from 'node:fs';
import type Docker from 'dockerode';
import type { UidRange } from '../../store/uid-range.js';
import { LABEL } from './objects.js';

/**
 * What one skaha server holds on a container engine that other servers may share (issue 16
 * point 3): its sessions' networks (`<network>` and `<network>-u<uid>`), the containers labelled
 * with its network name, and a uid range. The claim is written as labels on the server's base
 * network, where every server on the engine can read it, and checked by each server at start.
 */
export interface EngineClaim {
  /** podman.network: the name of this server's sessions on the engine. */
  network: string;
  /** The server's data directory: the same server after a restart, another one if it differs. */
  dataDir: string;
  /** The identity store its uids come from (`sqlite:<file>` or `postgres://host:port/db`). */
  store: string;
  uidMin: number;
  uidMax: number;
}

const CLAIM_LABEL = {
  network: LABEL.instance,
  dataDir: 'canfar.net/data-dir',
  store: 'canfar.net/identity-store',
  uidMin: 'canfar.net/uid-min',
  uidMax: 'canfar.net/uid-max',
} as const;

export function claimLabels(claim: EngineClaim): Record<string, string> {
  return {
    [CLAIM_LABEL.network]: claim.network,
    [CLAIM_LABEL.dataDir]: claim.dataDir,
    [CLAIM_LABEL.store]: claim.store,
    [CLAIM_LABEL.uidMin]: String(claim.uidMin),
    [CLAIM_LABEL.uidMax]: String(claim.uidMax),
  };
}

/** The claim written on a network, or undefined when the network carries none (or a broken one). */
export function claimOf(labels: Record<string, string> | undefined): EngineClaim | undefined {
  const l = labels ?? {};
  const uidMin = Number(l[CLAIM_LABEL.uidMin]);
  const uidMax = Number(l[CLAIM_LABEL.uidMax]);
  const network = l[CLAIM_LABEL.network];
  const dataDir = l[CLAIM_LABEL.dataDir];
  if (!network || !dataDir || !Number.isInteger(uidMin) || !Number.isInteger(uidMax)) return undefined;
  return { network, dataDir, store: l[CLAIM_LABEL.store] ?? '', uidMin, uidMax };
}

/** Every claim written on the engine's networks, with the networks they were read from. */
export async function engineClaims(docker: Docker): Promise<{ claims: EngineClaim[]; networks: Docker.NetworkInspectInfo[] }> {
  const networks = await docker.listNetworks();
  return { claims: networks.flatMap((n) => claimOf(n.Labels) ?? []), networks };
}

/** Whether a claim's server may still run: its data directory exists (removing it retires the claim). */
export function claimIsLive(claim: EngineClaim): boolean {
  return fs.existsSync(claim.dataDir);
}

/**
 * The uid ranges other live servers on the engine hand out from other identity stores: what a
 * starting server's automatic range must avoid (store/uid-range.ts).
 */
export function neighbourUidRanges(claims: EngineClaim[], me: { dataDir: string; store: string }): UidRange[] {
  return claims.filter((c) => c.dataDir !== me.dataDir && c.store !== me.store && claimIsLive(c)).map(({ uidMin, uidMax }) => ({ uidMin, uidMax }));
}

/** Whether a claim is this server's own: same network name and same data directory. */
export function isOwnClaim(mine: EngineClaim, other: EngineClaim): boolean {
  return other.network === mine.network && other.dataDir === mine.dataDir;
}

/** The name servers had before each labelled its containers, and the first a server takes. */
export const DEFAULT_NETWORK = 'skaha';

/**
 * The network name of a server whose podman.network is left empty: the one its data directory
 * claimed before, `skaha` when no live server holds it, else a name of its data directory's own
 * (a second `skaha serve --data-dir X` on the same engine just works, apart from the first).
 */
export function autoNetwork(dataDir: string, claims: EngineClaim[], isLive: (claim: EngineClaim) => boolean): string {
  const before = claims.find((c) => c.dataDir === dataDir);
  if (before) return before.network;
  if (!claims.some((c) => c.network === DEFAULT_NETWORK && isLive(c))) return DEFAULT_NETWORK;
  return `${DEFAULT_NETWORK}-${crypto.createHash('sha256').update(dataDir).digest('hex').slice(0, 8)}`;
}

/**
 * What the others' claims mean for this server: `refuse` when another live server holds the
 * same network name (their sessions would mix), or hands out overlapping uids from another
 * identity store (the same uid would be two people on this machine) while this server's range is
 * configured; a warning for an overlap the platform cannot undo (a range kept for a store's
 * existing users, store/uid-range.ts). A claim whose server is gone (`isLive` false: its data
 * directory was removed) is ignored.
 */
export function claimConflict(
  mine: EngineClaim,
  others: EngineClaim[],
  isLive: (claim: EngineClaim) => boolean,
  rangeConfigured = true,
): { refuse?: string; warning?: string } {
  for (const other of others) {
    if (isOwnClaim(mine, other) || !isLive(other)) continue;
    if (other.network === mine.network) {
      return {
        refuse: `the engine's network "${mine.network}" belongs to the skaha server whose data directory is ${other.dataDir}: give each server on one engine its own podman.network (or leave it empty)`,
      };
    }
    const overlap = mine.uidMin <= other.uidMax && other.uidMin <= mine.uidMax;
    if (overlap && other.store !== mine.store) {
      const problem = `identity.uidMin..uidMax (${mine.uidMin}..${mine.uidMax}) overlaps ${other.uidMin}..${other.uidMax} of the skaha server on network "${other.network}" (data directory ${other.dataDir}) on this engine: the same uid would be two people on this machine`;
      return rangeConfigured
        ? { refuse: `${problem}; give each server its own uid range, or leave both unset and the platform chooses (docs/operations.md)` }
        : { warning: `${problem}; this data directory's users already have uids there (docs/operations.md)` };
    }
  }
  return {};
}
