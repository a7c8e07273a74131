import { Pool, type PoolClient, type QueryResult, type QueryResultRow } from 'pg';
import { SkahaError, storeUnavailable } from '../../common/errors.js';
import { checkNotNewer, MIGRATIONS } from '../migrations.js';

/**
 * Advisory lock keys (pg_advisory_xact_lock(class, key)): class "skah" as an int32, then one
 * key per thing serialized across every server sharing the database.
 */
export const LOCK_CLASS = 1936417128;
export const LOCK_IDS = 1;
const LOCK_SCHEMA = 2;

export interface PostgresOptions {
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

/** A timestamp column as an ISO string, as the SQLite store keeps them. */
export const iso = (value: Date | string | null): string | null => (value === null ? null : new Date(value).toISOString());
