import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { migrateSqlite } from './migrations.js';
import type { ApiTokenInfo, Group, IdentityStore, TokenOptions, User } from './store.js';
import { hashPassword, hashToken, newToken, passwordMatches, TokenCache, tokenInfo, validateGroupName, validateUsername, type TokenRow } from './shared.js';

/**
 * `<dataDir>/skaha.db`, shared by the identity store and the registry credentials, in WAL mode,
 * brought to the schema's last numbered step (store/migrations.ts) whichever of them opens it first.
 * It holds password, token and sealed-secret material: readable by the server's user only,
 * whatever the umask (and for databases made before this rule); SQLite gives the WAL and its
 * index the database file's mode.
 */
export function openSkahaDb(dataDir: string): Database.Database {
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const file = path.join(dataDir, 'skaha.db');
  const db = new Database(file);
  for (const f of [file, `${file}-wal`, `${file}-shm`]) if (fs.existsSync(f)) fs.chmodSync(f, 0o600);
  db.pragma('journal_mode = WAL');
  db.pragma('busy_timeout = 5000');
  migrateSqlite(db, file);
  return db;
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
  private readonly touchToken: Database.Statement;
  private readonly tokenCache = new TokenCache();
  private readonly byName: Database.Statement;
  private readonly groupsOf: Database.Statement;

  constructor(
    dataDir: string,
    private readonly uidRange: { uidMin: number; uidMax: number },
  ) {
    this.db = openSkahaDb(dataDir);
    this.db.pragma('foreign_keys = ON');
    this.byToken = this.db.prepare(
      'SELECT u.username, u.uid, t.id, t.name, t.scopes, t.created_at, t.expires_at FROM api_tokens t JOIN users u ON u.username = t.username WHERE t.hash = ? AND t.revoked_at IS NULL',
    );
    this.touchToken = this.db.prepare('UPDATE api_tokens SET last_used_at = ? WHERE id = ?');
    this.byName = this.db.prepare('SELECT username, uid FROM users WHERE username = ?');
    this.groupsOf = this.db.prepare('SELECT g.name, g.gid FROM memberships m JOIN groups g ON g.name = m.group_name WHERE m.username = ? ORDER BY g.gid');
  }

  async findUser(username: string): Promise<User | undefined> {
    return this.findUserNow(username);
  }

  async ensureUser(username: string): Promise<User> {
    return this.ensureUserNow(username);
  }

  async ensureGroup(groupName: string): Promise<Group> {
    return this.ensureGroupNow(groupName);
  }

  async addToGroup(username: string, groupName: string): Promise<Group> {
    const add = this.db.transaction(() => {
      this.ensureUserNow(username);
      const group = this.ensureGroupNow(groupName);
      this.db.prepare('INSERT OR IGNORE INTO memberships (username, group_name) VALUES (?, ?)').run(username, groupName);
      return group;
    });
    return add.immediate();
  }

  async setPassword(username: string, password: string): Promise<void> {
    if (password.length < 8) throw new Error('a password needs at least 8 characters');
    this.ensureUserNow(username);
    const stored = await hashPassword(password);
    this.db.prepare('UPDATE users SET password_hash = ? WHERE username = ?').run(stored, username);
    // Whoever logged in with the old password is logged out.
    await this.endLogins(username);
  }

  async verifyPassword(username: string, password: string): Promise<User | undefined> {
    const row = this.db.prepare('SELECT password_hash FROM users WHERE username = ?').get(username) as { password_hash: string | null } | undefined;
    if (!(await passwordMatches(row?.password_hash, password))) return undefined;
    return this.findUserNow(username);
  }

  async createToken(username: string, name: string, options: TokenOptions = {}): Promise<{ token: string; info: ApiTokenInfo }> {
    const user = this.ensureUserNow(username);
    const { token, hash, info } = newToken(user.username, name, options);
    this.db
      .prepare('INSERT INTO api_tokens (id, hash, username, name, created_at, scopes, expires_at, kind, parent_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
      .run(info.id, hash, info.username, info.name, info.createdAt, info.scopes.join(','), info.expiresAt, options.kind ?? 'api', options.parentId ?? null);
    return { token, info };
  }

  async userForToken(token: string): Promise<{ user: User; token: ApiTokenInfo } | undefined> {
    // Groups are read each time, so membership changes apply at once; the token row is cached
    // (shared.ts: TokenCache).
    const now = Date.now();
    const hash = hashToken(token);
    const row = await this.tokenCache.lookup(hash, now, async () => this.byToken.get(hash) as (TokenRow & { uid: number }) | undefined);
    if (!row) return undefined;
    const info = tokenInfo(row);
    if (info.expiresAt && Date.parse(info.expiresAt) <= now) return undefined;
    if (this.tokenCache.touchDue(info.id, now)) this.touchToken.run(new Date(now).toISOString(), info.id);
    return { user: this.withGroups(row), token: info };
  }

  async listTokens(username: string): Promise<ApiTokenInfo[]> {
    const rows = this.db
      .prepare(
        "SELECT t.username, t.id, t.name, t.scopes, t.created_at, t.expires_at FROM api_tokens t WHERE t.username = ? AND t.revoked_at IS NULL AND t.kind = 'api' ORDER BY t.created_at",
      )
      .all(username) as TokenRow[];
    return rows.map(tokenInfo);
  }

  async revokeToken(username: string, id: string): Promise<boolean> {
    const now = new Date().toISOString();
    const revoked = this.db.transaction(() => {
      const found =
        this.db.prepare('UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND username = ? AND revoked_at IS NULL').run(now, id, username).changes > 0;
      if (found) this.db.prepare('UPDATE api_tokens SET revoked_at = ? WHERE parent_id = ? AND username = ? AND revoked_at IS NULL').run(now, id, username);
      return found;
    })();
    if (revoked) this.tokenCache.clear();
    return revoked;
  }

  async endLogins(username: string): Promise<number> {
    const ended = this.db
      .prepare("UPDATE api_tokens SET revoked_at = ? WHERE username = ? AND kind = 'login' AND revoked_at IS NULL")
      .run(new Date().toISOString(), username).changes;
    if (ended) this.tokenCache.clear();
    return ended;
  }

  async close(): Promise<void> {
    this.db.close();
  }

  // Synchronous steps, composable inside one better-sqlite3 transaction.

  private findUserNow(username: string): User | undefined {
    const row = this.byName.get(username) as { username: string; uid: number } | undefined;
    return row ? this.withGroups(row) : undefined;
  }

  private ensureUserNow(username: string): User {
    const problem = validateUsername(username);
    if (problem) throw new Error(problem);
    const create = this.db.transaction(() => {
      const existing = this.findUserNow(username);
      if (existing) return existing;
      const { max } = this.db.prepare('SELECT MAX(uid) AS max FROM users').get() as { max: number | null };
      const uid = max === null ? this.uidRange.uidMin : max + 1;
      if (uid > this.uidRange.uidMax) throw new Error('no free uid left in identity.uidMin..uidMax');
      this.db.prepare('INSERT INTO users (username, uid, created_at) VALUES (?, ?, ?)').run(username, uid, new Date().toISOString());
      return this.withGroups({ username, uid });
    });
    return create.immediate();
  }

  private ensureGroupNow(groupName: string): Group {
    const problem = validateGroupName(groupName);
    if (problem) throw new Error(problem);
    const ensure = this.db.transaction(() => {
      const existing = this.db.prepare('SELECT name, gid FROM groups WHERE name = ?').get(groupName) as Group | undefined;
      if (existing) return existing;
      // Shared groups live above the user range so a gid never equals someone's personal gid.
      const { max } = this.db.prepare('SELECT MAX(gid) AS max FROM groups').get() as { max: number | null };
      const group = { name: groupName, gid: max === null ? this.uidRange.uidMax + 1 : max + 1 };
      this.db.prepare('INSERT INTO groups (name, gid) VALUES (?, ?)').run(group.name, group.gid);
      return group;
    });
    return ensure.immediate();
  }

  private withGroups(row: { username: string; uid: number }): User {
    const groups = this.groupsOf.all(row.username) as Group[];
    return { username: row.username, uid: row.uid, gid: row.uid, groups };
  }
}
