import type { CredentialSealer } from '../sealing.js';
import type { RegistryCredential, RegistryCredentials, StoredCredentialInfo } from '../store.js';
import { iso, type PostgresDatabase } from './database.js';

/** Registry credentials in the same PostgreSQL database, sealed by CredentialSealer. */
export class PostgresRegistryCredentials implements RegistryCredentials {
  constructor(
    private readonly db: PostgresDatabase,
    private readonly sealer: CredentialSealer,
    private readonly ownsDatabase = false,
  ) {}

  async set(owner: string, host: string, credential: RegistryCredential): Promise<void> {
    const sealed = this.sealer.seal(owner, host, credential.password);
    await this.db.query(
      'INSERT INTO registry_credentials (owner, host, username, sealed, updated_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (owner, host) DO UPDATE SET username = excluded.username, sealed = excluded.sealed, updated_at = excluded.updated_at',
      [owner, host, credential.username, sealed, new Date().toISOString()],
    );
  }

  async get(owner: string, host: string): Promise<RegistryCredential | undefined> {
    const { rows } = await this.db.query<{ username: string; sealed: Buffer }>(
      'SELECT username, sealed FROM registry_credentials WHERE owner = $1 AND host = $2',
      [owner, host],
    );
    const row = rows[0];
    if (!row) return undefined;
    const password = this.sealer.unseal(owner, host, row.sealed);
    return password === undefined ? undefined : { username: row.username, password };
  }

  async list(owner: string): Promise<StoredCredentialInfo[]> {
    // COLLATE "C": byte order, as SQLite sorts.
    const { rows } = await this.db.query<{ host: string; username: string; updated_at: Date }>(
      'SELECT host, username, updated_at FROM registry_credentials WHERE owner = $1 ORDER BY host COLLATE "C"',
      [owner],
    );
    return rows.map((r) => ({ host: r.host, username: r.username, updatedAt: iso(r.updated_at)! }));
  }

  async delete(owner: string, host: string): Promise<boolean> {
    const result = await this.db.query('DELETE FROM registry_credentials WHERE owner = $1 AND host = $2', [owner, host]);
    return (result.rowCount ?? 0) > 0;
  }

  async close(): Promise<void> {
    if (this.ownsDatabase) await this.db.close();
  }
}
