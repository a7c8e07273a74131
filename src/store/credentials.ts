import type Database from 'better-sqlite3';
import { CredentialSealer } from './sealing.js';
import { openSkahaDb } from './sqlite.js';
import type { RegistryCredential, RegistryCredentials, StoredCredentialInfo } from './store.js';

/**
 * Registry credentials in the SQLite identity store's file (<dataDir>/skaha.db), sealed by
 * CredentialSealer. They are read only to hand to the engine for one pull; never logged, never
 * in containers.
 */
export class SqliteRegistryCredentials implements RegistryCredentials {
  private readonly db: Database.Database;

  constructor(
    dataDir: string,
    private readonly sealer: CredentialSealer = CredentialSealer.forDataDir(dataDir),
  ) {
    this.db = openSkahaDb(dataDir);
  }

  async set(owner: string, host: string, credential: RegistryCredential): Promise<void> {
    const sealed = this.sealer.seal(owner, host, credential.password);
    this.db
      .prepare(
        'INSERT INTO registry_credentials (owner, host, username, sealed, updated_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (owner, host) DO UPDATE SET username = excluded.username, sealed = excluded.sealed, updated_at = excluded.updated_at',
      )
      .run(owner, host, credential.username, sealed, new Date().toISOString());
  }

  async get(owner: string, host: string): Promise<RegistryCredential | undefined> {
    const row = this.db.prepare('SELECT username, sealed FROM registry_credentials WHERE owner = ? AND host = ?').get(owner, host) as
      { username: string; sealed: Buffer } | undefined;
    if (!row) return undefined;
    const password = this.sealer.unseal(owner, host, row.sealed);
    return password === undefined ? undefined : { username: row.username, password };
  }

  async list(owner: string): Promise<StoredCredentialInfo[]> {
    return this.db
      .prepare('SELECT host, username, updated_at AS updatedAt FROM registry_credentials WHERE owner = ? ORDER BY host')
      .all(owner) as StoredCredentialInfo[];
  }

  async delete(owner: string, host: string): Promise<boolean> {
    return this.db.prepare('DELETE FROM registry_credentials WHERE owner = ? AND host = ?').run(owner, host).changes > 0;
  }

  async close(): Promise<void> {
    this.db.close();
  }
}
