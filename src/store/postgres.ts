import { Pool, type PoolClient, type QueryResult, type QueryResultRow } from 'pg';
import { SkahaError, storeUnavailable } from '../server/errors.js';
import type { CredentialSealer } from './sealing.js';
import { checkNotNewer, MIGRATIONS } from './migrations.js';
import { hashPassword, hashToken, newToken, passwordMatches, TokenCache, tokenInfo, validateGroupName, validateUsername, type TokenRow } from './shared.js';
import type { ApiTokenInfo, Group, IdentityStore, RegistryCredential, RegistryCredentials, StoredCredentialInfo, TokenOptions, User } from './store.js';

/**
 * Advisory lock keys (pg_advisory_xact_lock(class, key)): class "skah" as an int32, then one
 * key per thing serialized across every server sharing the database.
 */
const LOCK_CLASS = 1936417128;
const LOCK_IDS = 1;
const LOCK_SCHEMA = 2;

interface PostgresOptions {
  /** postgres://USER@HOST:PORT/DATABASE[?sslmode=...] */
  url: string;
  /** The password (from identity.postgres.passwordFile); else the URL's, else PGPASSWORD. */
  password?: string | undefined;
  /** Connections kept open at most. */
  poolSize?: number;
  /** How long to wait for a connection before the request fails (503), in milliseconds. */
  connectTimeoutMs?: number;
  /** Where lost idle connections are reported. */
  log?: { warn(message: string): void };
}

/** Errors that mean "the database cannot be used right now", not "this statement is wrong". */
const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'ENOENT']);
const UNAVAILABLE_MESSAGE =
  /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Connection is closed|the database system is (starting up|shutting down|in recovery mode)|Query read timeout/i;

/** A configuration mistake (wrong password, unknown role or database), fatal at start. */
export function isMisconfiguration(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && (code.startsWith('28') || code === '3D000');
}

function isUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (UNAVAILABLE_CODES.has(code)) return true;
    // SQLSTATE classes 08 (connection exception), 53 (insufficient resources, e.g. too many
    // connections), 57P01-57P03 (shut down, crashed, cannot connect now).
    if (/^(08|53)/.test(code) || /^57P0[1-3]$/.test(code)) return true;
  }
  return isMisconfiguration(err) || UNAVAILABLE_MESSAGE.test(err.message) || /client password must be a string/.test(err.message);
}

/** The URL without its password, for logs and messages. */
function describePostgresUrl(url: string): string {
  try {
    const u = new URL(url);
    u.password = '';
    u.search = '';
    return u.toString();
  } catch {
    return '(an unparseable PostgreSQL URL)';
  }
}

type Queryable = Pick<PoolClient, 'query'>;

/**
 * One PostgreSQL database shared by every server (issue 9): a connection pool, the schema
 * created or migrated once (under an advisory lock, so servers starting together do not race),
 * and failures to reach it turned into a 503 (SkahaError SKAHA_ERR_BACKEND_UNAVAILABLE) whose
 * log message says which database and why; the password never appears in either.
 */
export class PostgresDatabase {
  /** postgres://user@host:port/database, without password or parameters. */
  readonly where: string;
  private readonly pool: Pool;
  private schema: Promise<void> | undefined;
  private closed = false;

  constructor(private readonly opts: PostgresOptions) {
    this.where = describePostgresUrl(opts.url);
    let connectionString = opts.url;
    if (opts.password !== undefined) {
      // The URL's parser wins over a separate `password` option, so the password goes in it.
      const u = new URL(opts.url);
      u.password = opts.password;
      connectionString = u.toString();
    }
    this.pool = new Pool({
      connectionString,
      max: opts.poolSize ?? 10,
      connectionTimeoutMillis: opts.connectTimeoutMs ?? 5000,
      idleTimeoutMillis: 30_000,
      keepAlive: true,
      application_name: 'skaha',
    });
    // An idle connection that dies (the database restarted) is reported here; unhandled, it
    // would end the process. The next query opens a new one.
    this.pool.on('error', (err) => this.opts.log?.warn(`PostgreSQL ${this.where}: idle connection lost: ${err.message}`));
  }

  /** Create or migrate the schema; done once, tried again on the next call after a failure. */
  ready(): Promise<void> {
    this.schema ??= this.migrate().catch((err: unknown) => {
      this.schema = undefined;
      throw err;
    });
    return this.schema;
  }

  async query<R extends QueryResultRow>(text: string, values?: unknown[]): Promise<QueryResult<R>> {
    await this.ready();
    try {
      return await this.pool.query<R>(text, values);
    } catch (err) {
      throw this.failure(err);
    }
  }

  /** Run `fn` in one transaction on one connection; rolled back when it throws. */
  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    await this.ready();
    return this.inTransaction(fn);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }

  private async inTransaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    let client: PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw this.failure(err);
    }
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch((e: Error) => {
        broken = e;
      });
      throw this.failure(err);
    } finally {
      // A connection that could not roll back is closed, not reused.
      client.release(broken);
    }
  }

  private async migrate(): Promise<void> {
    await this.inTransaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1, $2)', [LOCK_CLASS, LOCK_SCHEMA]);
      await tx.query('CREATE TABLE IF NOT EXISTS schema_version (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())');
      const { rows } = await tx.query<{ version: number | null }>('SELECT MAX(version) AS version FROM schema_version');
      const current = rows[0]?.version ?? 0;
      checkNotNewer(current, `PostgreSQL ${this.where}`);
      for (let version = current + 1; version <= MIGRATIONS.length; version++) {
        await tx.query(MIGRATIONS[version - 1]!.postgres);
        await tx.query('INSERT INTO schema_version (version) VALUES ($1)', [version]);
      }
    });
  }

  /** A database that cannot be reached becomes the 503; other errors pass unchanged. */
  private failure(err: unknown): unknown {
    if (err instanceof SkahaError) return err;
    if (!isUnavailable(err)) return err;
    const message = /client password must be a string/.test((err as Error).message)
      ? 'the server asks for a password and none is configured (identity.postgres.passwordFile)'
      : (err as Error).message;
    const code = (err as { code?: unknown }).code;
    const failure = storeUnavailable(`PostgreSQL ${this.where}: ${message}`);
    Object.defineProperty(failure, 'cause', { value: err, enumerable: false });
    if (typeof code === 'string') Object.defineProperty(failure, 'sqlState', { value: code, enumerable: false });
    return failure;
  }
}

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

const iso = (value: Date | string | null): string | null => (value === null ? null : new Date(value).toISOString());

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
