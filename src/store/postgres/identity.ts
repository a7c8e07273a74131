import { hashPassword, hashToken, newToken, passwordMatches, TokenCache, tokenInfo, validateGroupName, validateUsername, type TokenRow } from '../shared.js';
import type { ApiTokenInfo, Group, IdentityStore, TokenOptions, User } from '../store.js';
import { iso, LOCK_CLASS, LOCK_IDS, PostgresDatabase, type PostgresOptions } from './database.js';

/** The same User query for findUser and ensureUser: the user and their groups in one round trip. */
const USER_WITH_GROUPS = `
  SELECT u.username, u.uid,
    COALESCE((SELECT json_agg(json_build_object('name', g.name, 'gid', g.gid) ORDER BY g.gid)
              FROM memberships m JOIN groups g ON g.name = m.group_name
              WHERE m.username = u.username), '[]'::json) AS groups
  FROM users u WHERE u.username = $1`;

interface UserRow {
  username: string;
  uid: number;
  groups: Group[];
}

function toUser(row: UserRow): User {
  return { username: row.username, uid: row.uid, gid: row.uid, groups: row.groups };
}

/**
 * The identity store in PostgreSQL, for several servers sharing one database (issue 9). Same
 * behaviour as SqliteIdentityStore. uids and gids are allocated in a transaction holding one
 * advisory lock (pg_advisory_xact_lock), so servers creating users at the same moment take turns
 * and never hand out the same number; the UNIQUE constraints stay as the last guard.
 */
export class PostgresIdentityStore implements IdentityStore {
  private readonly tokenCache = new TokenCache();

  constructor(
    private readonly db: PostgresDatabase,
    private readonly uidRange: { uidMin: number; uidMax: number },
    private readonly ownsDatabase = false,
  ) {}

  /** A store with its own connection pool (closed with the store). */
  static open(opts: PostgresOptions, uidRange: { uidMin: number; uidMax: number }): PostgresIdentityStore {
    return new PostgresIdentityStore(new PostgresDatabase(opts), uidRange, true);
  }

  async findUser(username: string): Promise<User | undefined> {
    const { rows } = await this.db.query<UserRow>(USER_WITH_GROUPS, [username]);
    return rows[0] ? toUser(rows[0]) : undefined;
  }

  async ensureUser(username: string): Promise<User> {
    const problem = validateUsername(username);
    if (problem) throw new Error(problem);
    const existing = await this.findUser(username);
    if (existing) return existing;
    return this.db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1, $2)', [LOCK_CLASS, LOCK_IDS]);
      // Made by another server while we waited for the lock?
      const again = await tx.query<UserRow>(USER_WITH_GROUPS, [username]);
      if (again.rows[0]) return toUser(again.rows[0]);
      const { rows } = await tx.query<{ max: number | null }>('SELECT MAX(uid) AS max FROM users');
      const max = rows[0]?.max ?? null;
      const uid = max === null ? this.uidRange.uidMin : max + 1;
      if (uid > this.uidRange.uidMax) throw new Error('no free uid left in identity.uidMin..uidMax');
      await tx.query('INSERT INTO users (username, uid, created_at) VALUES ($1, $2, $3)', [username, uid, new Date().toISOString()]);
      return { username, uid, gid: uid, groups: [] };
    });
  }

  async ensureGroup(groupName: string): Promise<Group> {
    const problem = validateGroupName(groupName);
    if (problem) throw new Error(problem);
    const select = 'SELECT name, gid FROM groups WHERE name = $1';
    const existing = (await this.db.query<Group>(select, [groupName])).rows[0];
    if (existing) return existing;
    return this.db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1, $2)', [LOCK_CLASS, LOCK_IDS]);
      const again = (await tx.query<Group>(select, [groupName])).rows[0];
      if (again) return again;
      // Shared groups live above the user range so a gid never equals someone's personal gid.
      const { rows } = await tx.query<{ max: number | null }>('SELECT MAX(gid) AS max FROM groups');
      const max = rows[0]?.max ?? null;
      const group = { name: groupName, gid: max === null ? this.uidRange.uidMax + 1 : max + 1 };
      await tx.query('INSERT INTO groups (name, gid) VALUES ($1, $2)', [group.name, group.gid]);
      return group;
    });
  }

  async addToGroup(username: string, groupName: string): Promise<Group> {
    await this.ensureUser(username);
    const group = await this.ensureGroup(groupName);
    await this.db.query('INSERT INTO memberships (username, group_name) VALUES ($1, $2) ON CONFLICT DO NOTHING', [username, groupName]);
    return group;
  }

  async setPassword(username: string, password: string): Promise<void> {
    if (password.length < 8) throw new Error('a password needs at least 8 characters');
    await this.ensureUser(username);
    const stored = await hashPassword(password);
    await this.db.query('UPDATE users SET password_hash = $1 WHERE username = $2', [stored, username]);
    // Whoever logged in with the old password is logged out.
    await this.endLogins(username);
  }

  async verifyPassword(username: string, password: string): Promise<User | undefined> {
    const { rows } = await this.db.query<{ password_hash: string | null }>('SELECT password_hash FROM users WHERE username = $1', [username]);
    if (!(await passwordMatches(rows[0]?.password_hash, password))) return undefined;
    return this.findUser(username);
  }

  async createToken(username: string, name: string, options: TokenOptions = {}): Promise<{ token: string; info: ApiTokenInfo }> {
    const user = await this.ensureUser(username);
    const { token, hash, info } = newToken(user.username, name, options);
    await this.db.query(
      'INSERT INTO api_tokens (id, hash, username, name, created_at, scopes, expires_at, kind, parent_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)',
      [info.id, hash, info.username, info.name, info.createdAt, info.scopes.join(','), info.expiresAt, options.kind ?? 'api', options.parentId ?? null],
    );
    return { token, info };
  }

  async userForToken(token: string): Promise<{ user: User; token: ApiTokenInfo } | undefined> {
    const now = Date.now();
    const hash = hashToken(token);
    const row = await this.tokenCache.lookup(hash, now, async () => {
      const { rows } = await this.db.query<DbTokenRow & { uid: number }>(
        'SELECT u.username, u.uid, t.id, t.name, t.scopes, t.created_at, t.expires_at FROM api_tokens t JOIN users u ON u.username = t.username WHERE t.hash = $1 AND t.revoked_at IS NULL',
        [hash],
      );
      return rows[0] ? { ...tokenRow(rows[0]), uid: rows[0].uid } : undefined;
    });
    if (!row) return undefined;
    const info = tokenInfo(row);
    if (info.expiresAt && Date.parse(info.expiresAt) <= now) return undefined;
    if (this.tokenCache.touchDue(info.id, now)) {
      // Bookkeeping only: never delays or fails the request.
      void this.db.query('UPDATE api_tokens SET last_used_at = $1 WHERE id = $2', [new Date(now).toISOString(), info.id]).catch(() => undefined);
    }
    // Groups are read each time, so membership changes apply at once.
    const { rows: groups } = await this.db.query<Group>(
      'SELECT g.name, g.gid FROM memberships m JOIN groups g ON g.name = m.group_name WHERE m.username = $1 ORDER BY g.gid',
      [row.username],
    );
    return { user: { username: row.username, uid: row.uid, gid: row.uid, groups }, token: info };
  }

  async listTokens(username: string): Promise<ApiTokenInfo[]> {
    const { rows } = await this.db.query<DbTokenRow>(
      "SELECT t.username, t.id, t.name, t.scopes, t.created_at, t.expires_at FROM api_tokens t WHERE t.username = $1 AND t.revoked_at IS NULL AND t.kind = 'api' ORDER BY t.created_at",
      [username],
    );
    return rows.map((r) => tokenInfo(tokenRow(r)));
  }

  async revokeToken(username: string, id: string): Promise<boolean> {
    const result = await this.db.query<{ id: string }>(
      'UPDATE api_tokens SET revoked_at = $1 WHERE (id = $2 OR parent_id = $2) AND username = $3 AND revoked_at IS NULL RETURNING id',
      [new Date().toISOString(), id, username],
    );
    const revoked = result.rows.some((r) => r.id === id);
    if ((result.rowCount ?? 0) > 0) this.tokenCache.clear();
    return revoked;
  }

  async endLogins(username: string): Promise<number> {
    const result = await this.db.query("UPDATE api_tokens SET revoked_at = $1 WHERE username = $2 AND kind = 'login' AND revoked_at IS NULL", [
      new Date().toISOString(),
      username,
    ]);
    if ((result.rowCount ?? 0) > 0) this.tokenCache.clear();
    return result.rowCount ?? 0;
  }

  async close(): Promise<void> {
    if (this.ownsDatabase) await this.db.close();
  }
}

interface DbTokenRow {
  username: string;
  id: string;
  name: string;
  scopes: string;
  created_at: Date;
  expires_at: Date | null;
}

function tokenRow(r: DbTokenRow): TokenRow {
  return { username: r.username, id: r.id, name: r.name, scopes: r.scopes, created_at: iso(r.created_at)!, expires_at: iso(r.expires_at) };
}
