import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { PostgresDatabase } from './postgres/database.js';
import { CredentialSealer } from './sealing.js';
import { SqliteIdentityStore } from './sqlite.js';

/**
 * Moving a platform from one server to several (docs/operations.md): everything the SQLite
 * identity store holds, copied into an empty PostgreSQL one, row for row. Users keep their uids
 * (the owners of their files), groups their gids, API tokens keep working (only their hashes are
 * stored, and copied), passwords too, revoked tokens stay revoked. Stored registry credentials
 * are opened with the old data directory's key and sealed again with the new one's (the two may
 * differ; the database never holds them in the clear).
 */
interface CopyCounts {
  users: number;
  groups: number;
  memberships: number;
  tokens: number;
  credentials: number;
  /** Credentials the old key could not open (altered, or sealed under another key): left out. */
  unreadableCredentials: number;
}

interface Rows {
  users: Array<{ username: string; uid: number; password_hash: string | null; created_at: string }>;
  groups: Array<{ name: string; gid: number }>;
  memberships: Array<{ username: string; group_name: string }>;
  tokens: Array<{
    id: string;
    hash: string;
    username: string;
    name: string;
    scopes: string;
    created_at: string;
    expires_at: string | null;
    revoked_at: string | null;
    last_used_at: string | null;
    kind: string;
    parent_id: string | null;
  }>;
  credentials: Array<{ owner: string; host: string; username: string; sealed: Buffer; updated_at: string }>;
}

async function readSqlite(dataDir: string): Promise<Rows> {
  const file = path.join(dataDir, 'skaha.db');
  if (!fs.existsSync(file)) throw new Error(`no SQLite identity store at ${file}`);
  // Opening it as the server does brings an older file's columns up to date first.
  const store = new SqliteIdentityStore(dataDir, { uidMin: 0, uidMax: 0 });
  await store.close();
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const hasCredentials = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'registry_credentials'").get() !== undefined;
    return {
      users: db.prepare('SELECT username, uid, password_hash, created_at FROM users ORDER BY uid').all() as Rows['users'],
      groups: db.prepare('SELECT name, gid FROM groups ORDER BY gid').all() as Rows['groups'],
      memberships: db.prepare('SELECT username, group_name FROM memberships').all() as Rows['memberships'],
      tokens: db
        .prepare('SELECT id, hash, username, name, scopes, created_at, expires_at, revoked_at, last_used_at, kind, parent_id FROM api_tokens')
        .all() as Rows['tokens'],
      credentials: hasCredentials
        ? (db.prepare('SELECT owner, host, username, sealed, updated_at FROM registry_credentials').all() as Rows['credentials'])
        : [],
    };
  } finally {
    db.close();
  }
}

/**
 * Copy the SQLite store of `dataDir` into `target`, in one transaction: all of it or nothing.
 * Refuses a target that already has users (a second run, or a store in use): nothing is merged.
 * `sealer`: the target servers' credential sealer (CredentialSealer.forDataDir of their data
 * directory).
 */
export async function copySqliteToPostgres(dataDir: string, target: PostgresDatabase, sealer: CredentialSealer): Promise<CopyCounts> {
  const rows = await readSqlite(dataDir);
  const opener = CredentialSealer.forDataDir(dataDir);
  let unreadableCredentials = 0;
  await target.transaction(async (tx) => {
    const { rows: present } = await tx.query<{ n: string }>('SELECT count(*) AS n FROM users');
    const n = Number(present[0]?.n ?? 0);
    if (n > 0) throw new Error(`the PostgreSQL store already has ${n} user${n === 1 ? '' : 's'}: copy only into an empty one`);
    for (const g of rows.groups) await tx.query('INSERT INTO groups (name, gid) VALUES ($1, $2)', [g.name, g.gid]);
    for (const u of rows.users) {
      await tx.query('INSERT INTO users (username, uid, password_hash, created_at) VALUES ($1, $2, $3, $4)', [
        u.username,
        u.uid,
        u.password_hash,
        u.created_at,
      ]);
    }
    for (const m of rows.memberships) await tx.query('INSERT INTO memberships (username, group_name) VALUES ($1, $2)', [m.username, m.group_name]);
    for (const t of rows.tokens) {
      await tx.query(
        'INSERT INTO api_tokens (id, hash, username, name, scopes, created_at, expires_at, revoked_at, last_used_at, kind, parent_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)',
        [t.id, t.hash, t.username, t.name, t.scopes, t.created_at, t.expires_at, t.revoked_at, t.last_used_at, t.kind, t.parent_id],
      );
    }
    for (const c of rows.credentials) {
      const secret = opener.unseal(c.owner, c.host, c.sealed);
      if (secret === undefined) {
        unreadableCredentials++;
        continue;
      }
      const sealed = sealer.seal(c.owner, c.host, secret);
      await tx.query('INSERT INTO registry_credentials (owner, host, username, sealed, updated_at) VALUES ($1, $2, $3, $4, $5)', [
        c.owner,
        c.host,
        c.username,
        sealed,
        c.updated_at,
      ]);
    }
  });
  const counts = { users: rows.users.length, groups: rows.groups.length, memberships: rows.memberships.length, tokens: rows.tokens.length };
  return { ...counts, credentials: rows.credentials.length - unreadableCredentials, unreadableCredentials };
}
