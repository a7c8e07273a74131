import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { ApiTokenInfo, Group, IdentityStore, User } from './store.js';

const USERNAME = /^[a-z_][a-z0-9_.-]{0,31}$/;

/** Token secrets carry a recognisable prefix (so leaked ones can be found by scanners). */
const TOKEN_PREFIX = 'skt_';

export function hashToken(token: string): string {
  return crypto.createHash('sha256').update(token).digest('hex');
}

export function validateUsername(username: string): string | undefined {
  return USERNAME.test(username)
    ? undefined
    : `invalid username '${username}': use 1-32 lower-case letters, digits, '_', '.', '-', starting with a letter or '_'`;
}

/**
 * SQLite identity store (better-sqlite3, WAL): the server and `skaha admin` may use it at the
 * same time; uid allocation happens in one IMMEDIATE transaction so two processes never hand out
 * the same uid.
 */
export class SqliteIdentityStore implements IdentityStore {
  private readonly db: Database.Database;
  // Statements on the request path (every authenticated request), prepared once.
  private readonly byToken: Database.Statement;
  private readonly byName: Database.Statement;
  private readonly groupsOf: Database.Statement;

  constructor(dataDir: string, private readonly uidRange: { uidMin: number; uidMax: number }) {
    fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    this.db = new Database(path.join(dataDir, 'skaha.db'));
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.pragma('foreign_keys = ON');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS users (
        username TEXT PRIMARY KEY,
        uid INTEGER NOT NULL UNIQUE,
        created_at TEXT NOT NULL
      );
      CREATE TABLE IF NOT EXISTS groups (
        name TEXT PRIMARY KEY,
        gid INTEGER NOT NULL UNIQUE
      );
      CREATE TABLE IF NOT EXISTS memberships (
        username TEXT NOT NULL REFERENCES users(username) ON DELETE CASCADE,
        group_name TEXT NOT NULL REFERENCES groups(name) ON DELETE CASCADE,
        PRIMARY KEY (username, group_name)
      );
      CREATE TABLE IF NOT EXISTS api_tokens (
        id TEXT PRIMARY KEY,
        hash TEXT NOT NULL UNIQUE,
        username TEXT NOT NULL REFERENCES users(username) ON DELETE CASCADE,
        name TEXT NOT NULL,
        created_at TEXT NOT NULL
      );
    `);
    this.byToken = this.db.prepare('SELECT u.username, u.uid FROM api_tokens t JOIN users u ON u.username = t.username WHERE t.hash = ?');
    this.byName = this.db.prepare('SELECT username, uid FROM users WHERE username = ?');
    this.groupsOf = this.db.prepare('SELECT g.name, g.gid FROM memberships m JOIN groups g ON g.name = m.group_name WHERE m.username = ? ORDER BY g.gid');
  }

  findUser(username: string): User | undefined {
    const row = this.byName.get(username) as
      | { username: string; uid: number }
      | undefined;
    return row ? this.withGroups(row) : undefined;
  }

  ensureUser(username: string): User {
    const problem = validateUsername(username);
    if (problem) throw new Error(problem);
    const create = this.db.transaction(() => {
      const existing = this.findUser(username);
      if (existing) return existing;
      const { max } = this.db.prepare('SELECT MAX(uid) AS max FROM users').get() as { max: number | null };
      const uid = max === null ? this.uidRange.uidMin : max + 1;
      if (uid > this.uidRange.uidMax) throw new Error('no free uid left in identity.uidMin..uidMax');
      this.db.prepare('INSERT INTO users (username, uid, created_at) VALUES (?, ?, ?)').run(username, uid, new Date().toISOString());
      return this.withGroups({ username, uid });
    });
    return create.immediate();
  }

  addToGroup(username: string, groupName: string): Group {
    const problem = validateUsername(groupName);
    if (problem) throw new Error(problem.replace('username', 'group name'));
    const add = this.db.transaction(() => {
      this.ensureUser(username);
      let group = this.db.prepare('SELECT name, gid FROM groups WHERE name = ?').get(groupName) as Group | undefined;
      if (!group) {
        // Shared groups live above the user range so a gid never equals someone's personal gid.
        const { max } = this.db.prepare('SELECT MAX(gid) AS max FROM groups').get() as { max: number | null };
        group = { name: groupName, gid: max === null ? this.uidRange.uidMax + 1 : max + 1 };
        this.db.prepare('INSERT INTO groups (name, gid) VALUES (?, ?)').run(group.name, group.gid);
      }
      this.db.prepare('INSERT OR IGNORE INTO memberships (username, group_name) VALUES (?, ?)').run(username, groupName);
      return group;
    });
    return add.immediate();
  }

  createToken(username: string, name: string): { token: string; info: ApiTokenInfo } {
    const user = this.ensureUser(username);
    const token = TOKEN_PREFIX + crypto.randomBytes(32).toString('base64url');
    const info: ApiTokenInfo = { id: crypto.randomUUID(), username: user.username, name, createdAt: new Date().toISOString() };
    this.db
      .prepare('INSERT INTO api_tokens (id, hash, username, name, created_at) VALUES (?, ?, ?, ?, ?)')
      .run(info.id, hashToken(token), info.username, info.name, info.createdAt);
    return { token, info };
  }

  userForToken(token: string): User | undefined {
    const row = this.byToken.get(hashToken(token)) as { username: string; uid: number } | undefined;
    return row ? this.withGroups(row) : undefined;
  }

  close(): void {
    this.db.close();
  }

  private withGroups(row: { username: string; uid: number }): User {
    const groups = this.groupsOf.all(row.username) as Group[];
    return { username: row.username, uid: row.uid, gid: row.uid, groups };
  }
}
