import fs from 'node:fs';
import path from 'node:path';
import { writeDurably } from '../common/durable.js';

/** The uids (and personal gids) an identity store hands out; shared groups' gids come after uidMax. */
export interface UidRange {
  uidMin: number;
  uidMax: number;
}

/** The range of a server whose identity.uidMin/uidMax are not set and that is alone on its engine. */
export const DEFAULT_UID_RANGE: UidRange = { uidMin: 200_000, uidMax: 299_999 };

/** Automatic ranges after the default start every this many uids (less GROUP_ROOM for the groups). */
const BLOCK = 100_000;
/** Shared groups take the gids just above a store's uidMax: kept free of the next range's uids. */
const GROUP_ROOM = 10_000;
/** Automatic blocks stay well below the kernel's 32-bit uid limit. */
const LAST_AUTOMATIC_UID_MIN = 2_000_000_000;

/** Where a data directory remembers its range: a store's uids must not move between starts. */
const REMEMBERED = 'uid-range.json';

interface IdentitySettings {
  dataDir: string;
  identity: { uidMin?: number; uidMax?: number };
}

/** The range set in the configuration, or undefined when it is left to the platform. */
function configuredUidRange(config: IdentitySettings): UidRange | undefined {
  const { uidMin, uidMax } = config.identity;
  return uidMin === undefined || uidMax === undefined ? undefined : { uidMin, uidMax };
}

/** The range this data directory's server used before, if any. */
function rememberedUidRange(dataDir: string): UidRange | undefined {
  let text: string;
  try {
    text = fs.readFileSync(path.join(dataDir, REMEMBERED), 'utf8');
  } catch {
    return undefined;
  }
  const { uidMin, uidMax } = JSON.parse(text) as Partial<UidRange>;
  if (!Number.isInteger(uidMin) || !Number.isInteger(uidMax))
    throw new Error(`${path.join(dataDir, REMEMBERED)} names no uid range; remove it to choose again`);
  return { uidMin: uidMin!, uidMax: uidMax! };
}

/**
 * The range `skaha admin` and a server on a backend without neighbours (Kubernetes) use: the
 * configured one, else the one the data directory remembers, else the default.
 */
export function uidRangeOf(config: IdentitySettings): UidRange {
  return configuredUidRange(config) ?? rememberedUidRange(config.dataDir) ?? DEFAULT_UID_RANGE;
}

/** Whether two stores' ids could meet: uids, or one's shared gids (just above its uidMax) and the other's uids. */
function overlaps(a: UidRange, b: UidRange): boolean {
  return a.uidMin <= b.uidMax + GROUP_ROOM && b.uidMin <= a.uidMax + GROUP_ROOM;
}

/**
 * The range of a server starting beside others on one engine (issue 16 point 3), decided before
 * its identity store hands out a uid and remembered in its data directory, so it never moves:
 * the configured range; else the remembered one; else the default when no other live server's
 * range (`taken`, of other identity stores) overlaps it, else the first free block after it.
 * A data directory whose store predates remembering keeps the default: its users have uids there.
 * Whether the result still collides with a neighbour is the caller's check (claim.ts refuses).
 */
export function settleUidRange(config: IdentitySettings, taken: UidRange[]): SettledUidRange {
  const configured = configuredUidRange(config);
  const range = configured ?? rememberedUidRange(config.dataDir) ?? freshRange(config.dataDir, taken);
  const before = rememberedUidRange(config.dataDir);
  if (before?.uidMin !== range.uidMin || before.uidMax !== range.uidMax) {
    fs.mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
    writeDurably(path.join(config.dataDir, REMEMBERED), `${JSON.stringify(range)}\n`, 0o644);
  }
  return { ...range, configured: configured !== undefined };
}

/**
 * A settled range, and whether the configuration chose it: a configured range that collides is
 * the operator's to change (the server refuses to start); one the platform kept (a store's from
 * before ranges were remembered) cannot move without moving its users' files (a warning).
 */
export interface SettledUidRange extends UidRange {
  configured: boolean;
}

function freshRange(dataDir: string, taken: UidRange[]): UidRange {
  if (fs.existsSync(path.join(dataDir, 'skaha.db'))) return DEFAULT_UID_RANGE;
  if (!taken.some((t) => overlaps(DEFAULT_UID_RANGE, t))) return DEFAULT_UID_RANGE;
  for (let uidMin = DEFAULT_UID_RANGE.uidMax + 1; uidMin <= LAST_AUTOMATIC_UID_MIN; uidMin += BLOCK) {
    const candidate = { uidMin, uidMax: uidMin + BLOCK - GROUP_ROOM - 1 };
    if (!taken.some((t) => overlaps(candidate, t))) return candidate;
  }
  throw new Error('no free uid range left on this engine: set identity.uidMin and identity.uidMax');
}
