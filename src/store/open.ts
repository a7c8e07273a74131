import fs from 'node:fs';
import type { Config } from '../server/config.js';
import { SkahaError } from '../common/errors.js';
import { SqliteRegistryCredentials } from './credentials.js';
import { PostgresRegistryCredentials } from './postgres/credentials.js';
import { isMisconfiguration, PostgresDatabase } from './postgres/database.js';
import { PostgresIdentityStore } from './postgres/identity.js';
import { CredentialSealer } from './sealing.js';
import { SqliteIdentityStore } from './sqlite.js';
import type { IdentityStore, RegistryCredentials } from './store.js';
import { uidRangeOf, type UidRange } from './uid-range.js';

export interface Stores {
  identity: IdentityStore;
  registryCredentials: RegistryCredentials;
  /** Where they are, for messages: a file path or a PostgreSQL URL without its password. */
  where: string;
  /** The PostgreSQL database behind them (identity.store postgres), for `skaha admin store`. */
  database?: PostgresDatabase;
  close(): Promise<void>;
}

interface OpenOptions {
  log?: { info(message: string): void; warn(message: string): void };
  /**
   * When the PostgreSQL database cannot be reached now: false (the default, for `skaha admin`)
   * fails; true (the server) warns and goes on, requests needing it answer 503 until it is back.
   * A wrong password or an unknown database fails either way.
   */
  tolerateUnavailable?: boolean;
  /** The uids to hand out; default: the configured, or remembered, range (uid-range.ts). */
  uidRange?: UidRange;
}

/** The configured identity store and registry credentials (identity.store), schema ready. */
export async function openStores(config: Pick<Config, 'dataDir' | 'identity'>, opts: OpenOptions = {}): Promise<Stores> {
  const uidRange = opts.uidRange ?? uidRangeOf(config);
  if (config.identity.store === 'postgres') {
    const pg = config.identity.postgres;
    let password: string | undefined;
    if (pg.passwordFile) {
      try {
        password = fs.readFileSync(pg.passwordFile, 'utf8').split('\n')[0]?.replace(/\r$/, '') ?? '';
      } catch (err) {
        throw new Error(`cannot read identity.postgres.passwordFile ${pg.passwordFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
    }
    const db = new PostgresDatabase({
      url: pg.url,
      password,
      poolSize: pg.poolSize,
      connectTimeoutMs: pg.connectTimeoutMs,
      ...(opts.log ? { log: opts.log } : {}),
    });
    try {
      await db.ready();
    } catch (err) {
      const cause = (err as { cause?: unknown }).cause ?? err;
      const detail = err instanceof SkahaError ? (err.logMessage ?? err.message) : `PostgreSQL ${db.where}: ${(err as Error).message}`;
      if (!opts.tolerateUnavailable || !(err instanceof SkahaError) || isMisconfiguration(cause)) {
        await db.close().catch(() => undefined);
        throw new Error(`identity store unavailable: ${detail}`);
      }
      opts.log?.warn(`identity store not reachable yet (${detail}); requests that need it answer 503 until it is`);
    }
    const identity = new PostgresIdentityStore(db, uidRange);
    const registryCredentials = new PostgresRegistryCredentials(db, CredentialSealer.forDataDir(config.dataDir));
    return { identity, registryCredentials, where: db.where, database: db, close: () => db.close() };
  }
  const identity = new SqliteIdentityStore(config.dataDir, uidRange);
  const registryCredentials = new SqliteRegistryCredentials(config.dataDir);
  return {
    identity,
    registryCredentials,
    where: `${config.dataDir}/skaha.db`,
    async close() {
      await identity.close();
      await registryCredentials.close();
    },
  };
}
