import crypto from 'node:crypto';
import path from 'node:path';
import Database from 'better-sqlite3';
import { loadOrCreateKey } from '../auth/keys.js';

export interface RegistryCredential {
  username: string;
  password: string;
}

export interface StoredCredentialInfo {
  host: string;
  username: string;
  updatedAt: string;
}

const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * Users' registry credentials for private images (spec §7), so a launch needs no
 * x-skaha-registry-auth header each time. Secrets are sealed with AES-256-GCM under a key kept
 * apart from the database (<dataDir>/secrets/registry-credentials.key, 0600), bound to the
 * user and host (additional authenticated data) so a row cannot be moved to another user.
 * They are read only to hand to the engine for one pull; never logged, never in containers.
 */
export class RegistryCredentialStore {
  private readonly db: Database.Database;
  private readonly key: Buffer;

  constructor(dataDir: string) {
    this.key = loadOrCreateKey(dataDir, 'registry-credentials');
    this.db = new Database(path.join(dataDir, 'skaha.db'));
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS registry_credentials (
        owner TEXT NOT NULL,
        host TEXT NOT NULL,
        username TEXT NOT NULL,
        sealed BLOB NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (owner, host)
      );
    `);
  }

  set(owner: string, host: string, credential: RegistryCredential): void {
    const iv = crypto.randomBytes(IV_BYTES);
    const cipher = crypto.createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(`${owner}\n${host}`));
    const sealed = Buffer.concat([iv, cipher.update(credential.password, 'utf8'), cipher.final(), cipher.getAuthTag()]);
    this.db
      .prepare('INSERT INTO registry_credentials (owner, host, username, sealed, updated_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (owner, host) DO UPDATE SET username = excluded.username, sealed = excluded.sealed, updated_at = excluded.updated_at')
      .run(owner, host, credential.username, sealed, new Date().toISOString());
  }

  /** The credential for pulling from `host`, or undefined (also when it cannot be unsealed). */
  get(owner: string, host: string): RegistryCredential | undefined {
    const row = this.db.prepare('SELECT username, sealed FROM registry_credentials WHERE owner = ? AND host = ?').get(owner, host) as { username: string; sealed: Buffer } | undefined;
    if (!row) return undefined;
    try {
      const iv = row.sealed.subarray(0, IV_BYTES);
      const tag = row.sealed.subarray(row.sealed.length - TAG_BYTES);
      const decipher = crypto.createDecipheriv('aes-256-gcm', this.key, iv);
      decipher.setAAD(Buffer.from(`${owner}\n${host}`));
      decipher.setAuthTag(tag);
      const password = Buffer.concat([decipher.update(row.sealed.subarray(IV_BYTES, row.sealed.length - TAG_BYTES)), decipher.final()]).toString('utf8');
      return { username: row.username, password };
    } catch {
      return undefined;
    }
  }

  list(owner: string): StoredCredentialInfo[] {
    return (this.db.prepare('SELECT host, username, updated_at AS updatedAt FROM registry_credentials WHERE owner = ? ORDER BY host').all(owner) as StoredCredentialInfo[]);
  }

  delete(owner: string, host: string): boolean {
    return this.db.prepare('DELETE FROM registry_credentials WHERE owner = ? AND host = ?').run(owner, host).changes > 0;
  }

  close(): void {
    this.db.close();
  }
}
