import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { promisify } from 'node:util';
import { SCOPES, type ApiTokenInfo, type Group, type IdentityStore, type Scope, type TokenOptions, type User } from './store.js';

const scrypt = promisify(crypto.scrypt) as (password: string, salt: Buffer, keylen: number, options: crypto.ScryptOptions) => Promise<Buffer>;
/** scrypt, memory-hard: N=2^15, r=8 (32 MiB per hash), p=1. */
const SCRYPT = { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 2 ** 20 };
const KEY_LENGTH = 32;
/** How long a token lookup is remembered, and how many are, at most. */
const TOKEN_CACHE_MS = 5000;
const TOKEN_CACHE_MAX = 10_000;

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
  private readonly touchToken: Database.Statement;
  private readonly lastTouch = new Map<string, number>();
  private readonly tokenCache = new Map<string, { at: number; row: (TokenRow & { uid: number }) | undefined }>();
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
    this.migrate();
    this.byToken = this.db.prepare(
      'SELECT u.username, u.uid, t.id, t.name, t.scopes, t.created_at, t.expires_at FROM api_tokens t JOIN users u ON u.username = t.username WHERE t.hash = ? AND t.revoked_at IS NULL',
    );
    this.touchToken = this.db.prepare('UPDATE api_tokens SET last_used_at = ? WHERE id = ?');
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

  ensureGroup(groupName: string): Group {
    const problem = validateUsername(groupName);
    if (problem) throw new Error(problem.replace('username', 'group name'));
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

  addToGroup(username: string, groupName: string): Group {
    const add = this.db.transaction(() => {
      this.ensureUser(username);
      const group = this.ensureGroup(groupName);
      this.db.prepare('INSERT OR IGNORE INTO memberships (username, group_name) VALUES (?, ?)').run(username, groupName);
      return group;
    });
    return add.immediate();
  }

  async setPassword(username: string, password: string): Promise<void> {
    if (password.length < 8) throw new Error('a password needs at least 8 characters');
    this.ensureUser(username);
    const salt = crypto.randomBytes(16);
    const key = await scrypt(password, salt, KEY_LENGTH, SCRYPT);
    const stored = `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64')}$${key.toString('base64')}`;
    this.db.prepare('UPDATE users SET password_hash = ? WHERE username = ?').run(stored, username);
  }

  async verifyPassword(username: string, password: string): Promise<User | undefined> {
    const row = this.db.prepare('SELECT password_hash FROM users WHERE username = ?').get(username) as { password_hash: string | null } | undefined;
    // Unknown users cost the same as known ones, so timing does not tell which names exist.
    const [scheme, n, r, p, salt, key] = (row?.password_hash ?? `scrypt$${SCRYPT.N}$8$1$${Buffer.alloc(16).toString('base64')}$`).split('$');
    if (scheme !== 'scrypt' || !salt || key === undefined) return undefined;
    const expected = Buffer.from(key, 'base64');
    const actual = await scrypt(password, Buffer.from(salt, 'base64'), KEY_LENGTH, { N: Number(n), r: Number(r), p: Number(p), maxmem: SCRYPT.maxmem });
    if (!row?.password_hash || expected.length !== actual.length || !crypto.timingSafeEqual(expected, actual)) return undefined;
    return this.findUser(username);
  }

  createToken(username: string, name: string, options: TokenOptions = {}): { token: string; info: ApiTokenInfo } {
    const user = this.ensureUser(username);
    const scopes = options.scopes ?? ['read', 'launch'];
    if (scopes.length === 0 || scopes.some((s) => !SCOPES.includes(s))) throw new Error(`scopes are some of ${SCOPES.join(', ')}`);
    const token = TOKEN_PREFIX + crypto.randomBytes(32).toString('base64url');
    const info: ApiTokenInfo = {
      id: crypto.randomUUID(),
      username: user.username,
      name,
      scopes: [...new Set(scopes)],
      createdAt: new Date().toISOString(),
      expiresAt: options.expiresAt ? options.expiresAt.toISOString() : null,
    };
    this.db
      .prepare('INSERT INTO api_tokens (id, hash, username, name, created_at, scopes, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(info.id, hashToken(token), info.username, info.name, info.createdAt, info.scopes.join(','), info.expiresAt);
    return { token, info };
  }

  userForToken(token: string): { user: User; token: ApiTokenInfo } | undefined {
    const hash = hashToken(token);
    // Every proxied request authenticates: the token row is remembered for a few seconds (the
    // proxy benchmark's profile put this lookup at 15% of its CPU). Groups are read each time,
    // so membership changes apply at once; a revocation through this process too, one made by
    // another process (skaha admin) within TOKEN_CACHE_MS.
    const now = Date.now();
    let cached = this.tokenCache.get(hash);
    if (!cached || now - cached.at >= TOKEN_CACHE_MS) {
      const row = this.byToken.get(hash) as (TokenRow & { uid: number }) | undefined;
      if (this.tokenCache.size >= TOKEN_CACHE_MAX) this.tokenCache.clear();
      cached = { at: now, row };
      this.tokenCache.set(hash, cached);
    }
    const row = cached.row;
    if (!row) return undefined;
    const info = tokenInfo(row);
    if (info.expiresAt && Date.parse(info.expiresAt) <= now) return undefined;
    // Last use is recorded at most once a minute per token: never a write per request.
    if ((this.lastTouch.get(info.id) ?? 0) < now - 60_000) {
      this.lastTouch.set(info.id, now);
      this.touchToken.run(new Date(now).toISOString(), info.id);
    }
    return { user: this.withGroups(row), token: info };
  }

  listTokens(username: string): ApiTokenInfo[] {
    const rows = this.db
      .prepare('SELECT t.username, t.id, t.name, t.scopes, t.created_at, t.expires_at FROM api_tokens t WHERE t.username = ? AND t.revoked_at IS NULL ORDER BY t.created_at')
      .all(username) as TokenRow[];
    return rows.map(tokenInfo);
  }

  revokeToken(username: string, id: string): boolean {
    const revoked = this.db.prepare('UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND username = ? AND revoked_at IS NULL').run(new Date().toISOString(), id, username).changes > 0;
    if (revoked) this.tokenCache.clear();
    return revoked;
  }

  /** Columns added after the first release, added in place to existing databases. */
  private migrate(): void {
    const columns = (table: string) => new Set((this.db.prepare(`PRAGMA table_info(${table})`).all() as Array<{ name: string }>).map((c) => c.name));
    const users = columns('users');
    if (!users.has('password_hash')) this.db.exec('ALTER TABLE users ADD COLUMN password_hash TEXT');
    const tokens = columns('api_tokens');
    if (!tokens.has('scopes')) this.db.exec("ALTER TABLE api_tokens ADD COLUMN scopes TEXT NOT NULL DEFAULT 'read,launch'");
    if (!tokens.has('expires_at')) this.db.exec('ALTER TABLE api_tokens ADD COLUMN expires_at TEXT');
    if (!tokens.has('revoked_at')) this.db.exec('ALTER TABLE api_tokens ADD COLUMN revoked_at TEXT');
    if (!tokens.has('last_used_at')) this.db.exec('ALTER TABLE api_tokens ADD COLUMN last_used_at TEXT');
  }

  close(): void {
    this.db.close();
  }

  private withGroups(row: { username: string; uid: number }): User {
    const groups = this.groupsOf.all(row.username) as Group[];
    return { username: row.username, uid: row.uid, gid: row.uid, groups };
  }
}

interface TokenRow {
  username: string;
  uid?: number;
  id: string;
  name: string;
  scopes: string;
  created_at: string;
  expires_at: string | null;
}

function tokenInfo(row: TokenRow): ApiTokenInfo {
  return {
    id: row.id,
    username: row.username,
    name: row.name,
    scopes: row.scopes.split(',').filter((s): s is Scope => (SCOPES as readonly string[]).includes(s)),
    createdAt: row.created_at,
    expiresAt: row.expires_at,
  };
}
