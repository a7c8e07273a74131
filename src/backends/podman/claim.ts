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

/** Whether a claim is this server's own: same network name and same data directory. */
export function isOwnClaim(mine: EngineClaim, other: EngineClaim): boolean {
  return other.network === mine.network && other.dataDir === mine.dataDir;
}

/**
 * Why this server must not start beside the others' claims, or undefined when it may. A claim
 * whose server is gone (`isLive` false: its data directory was removed) is ignored. Two servers
 * may overlap in uids only when they share one identity store (replicas): a uid then means the
 * same person on both.
 */
export function claimConflict(mine: EngineClaim, others: EngineClaim[], isLive: (claim: EngineClaim) => boolean): string | undefined {
  for (const other of others) {
    if (isOwnClaim(mine, other) || !isLive(other)) continue;
    if (other.network === mine.network) {
      return `the engine's network "${mine.network}" belongs to the skaha server whose data directory is ${other.dataDir}: give each server on one engine its own podman.network`;
    }
    const overlap = mine.uidMin <= other.uidMax && other.uidMin <= mine.uidMax;
    if (overlap && other.store !== mine.store) {
      return `identity.uidMin..uidMax (${mine.uidMin}..${mine.uidMax}) overlaps ${other.uidMin}..${other.uidMax} of the skaha server on network "${other.network}" (data directory ${other.dataDir}) on this engine: the same uid would be two people; give each server its own uid range`;
    }
  }
  return undefined;
}
