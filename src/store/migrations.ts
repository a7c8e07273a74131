import type Database from 'better-sqlite3';

/**
 * The identity store's schema as numbered steps, one list for both databases: step N brings a
 * database at version N-1 to N. SQLite keeps its version in `PRAGMA user_version`, PostgreSQL in
 * the `schema_version` table. Steps are only ever appended, never edited once released. A
 * database newer than this skaha is refused rather than used.
 */
interface Migration {
  why: string;
  sqlite(db: Database.Database): void;
  postgres: string;
}

/** Columns of `table`, to bring databases made before the steps were numbered up to step 1. */
const columnsOf = (db: Database.Database, table: string) =>
  new Set((db.prepare(`PRAGMA table_info(${table})`).all() as Array<{ name: string }>).map((c) => c.name));

/** Add `column` to `table` unless it is there (SQLite has no ADD COLUMN IF NOT EXISTS). */
function addColumn(db: Database.Database, table: string, column: string, definition: string): void {
  if (!columnsOf(db, table).has(column)) db.exec(`ALTER TABLE ${table} ADD COLUMN ${column} ${definition}`);
}

export const MIGRATIONS: Migration[] = [
  {
    why: 'users, groups, memberships, API tokens with scopes and expiry, sealed registry credentials',
    sqlite(db) {
      db.exec(`
        CREATE TABLE IF NOT EXISTS users (
          username TEXT PRIMARY KEY,
          uid INTEGER NOT NULL UNIQUE,
          password_hash TEXT,
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
          scopes TEXT NOT NULL DEFAULT 'read,launch',
          created_at TEXT NOT NULL,
          expires_at TEXT,
          revoked_at TEXT,
          last_used_at TEXT
        );
        CREATE TABLE IF NOT EXISTS registry_credentials (
          owner TEXT NOT NULL,
          host TEXT NOT NULL,
          username TEXT NOT NULL,
          sealed BLOB NOT NULL,
          updated_at TEXT NOT NULL,
          PRIMARY KEY (owner, host)
        );
      `);
      // Databases made before the steps were numbered grew these columns one at a time.
      addColumn(db, 'users', 'password_hash', 'TEXT');
      addColumn(db, 'api_tokens', 'scopes', "TEXT NOT NULL DEFAULT 'read,launch'");
      addColumn(db, 'api_tokens', 'expires_at', 'TEXT');
      addColumn(db, 'api_tokens', 'revoked_at', 'TEXT');
      addColumn(db, 'api_tokens', 'last_used_at', 'TEXT');
    },
    postgres: `
      CREATE TABLE IF NOT EXISTS users (
        username text PRIMARY KEY,
        uid integer NOT NULL UNIQUE,
        password_hash text,
        created_at timestamptz NOT NULL
      );
      CREATE TABLE IF NOT EXISTS groups (
        name text PRIMARY KEY,
        gid integer NOT NULL UNIQUE
      );
      CREATE TABLE IF NOT EXISTS memberships (
        username text NOT NULL REFERENCES users(username) ON DELETE CASCADE,
        group_name text NOT NULL REFERENCES groups(name) ON DELETE CASCADE,
        PRIMARY KEY (username, group_name)
      );
      CREATE TABLE IF NOT EXISTS api_tokens (
        id text PRIMARY KEY,
        hash text NOT NULL UNIQUE,
        username text NOT NULL REFERENCES users(username) ON DELETE CASCADE,
        name text NOT NULL,
        scopes text NOT NULL DEFAULT 'read,launch',
        created_at timestamptz NOT NULL,
        expires_at timestamptz,
        revoked_at timestamptz,
        last_used_at timestamptz
      );
      CREATE INDEX IF NOT EXISTS api_tokens_username ON api_tokens (username);
      CREATE TABLE IF NOT EXISTS registry_credentials (
        owner text NOT NULL,
        host text NOT NULL,
        username text NOT NULL,
        sealed bytea NOT NULL,
        updated_at timestamptz NOT NULL,
        PRIMARY KEY (owner, host)
      );
    `,
  },
  {
    why: 'browser logins are token rows of their own kind; a login made with an API token ends with it',
    sqlite(db) {
      addColumn(db, 'api_tokens', 'kind', "TEXT NOT NULL DEFAULT 'api'");
      addColumn(db, 'api_tokens', 'parent_id', 'TEXT');
      db.exec('CREATE INDEX IF NOT EXISTS api_tokens_parent ON api_tokens (parent_id)');
    },
    postgres: `
      ALTER TABLE api_tokens ADD COLUMN IF NOT EXISTS kind text NOT NULL DEFAULT 'api';
      ALTER TABLE api_tokens ADD COLUMN IF NOT EXISTS parent_id text;
      CREATE INDEX IF NOT EXISTS api_tokens_parent ON api_tokens (parent_id);
    `,
  },
];

/** Refuse a database a newer skaha has migrated: this one would misread it. */
export function checkNotNewer(version: number, where: string): void {
  if (version > MIGRATIONS.length) {
    throw new Error(`${where}: schema version ${version} is newer than this skaha knows (${MIGRATIONS.length}); upgrade skaha`);
  }
}

/** Bring a SQLite database to the last step, in one IMMEDIATE transaction (another process may be opening it too). */
export function migrateSqlite(db: Database.Database, where: string): void {
  const migrate = db.transaction(() => {
    const current = db.pragma('user_version', { simple: true }) as number;
    checkNotNewer(current, where);
    for (let version = current + 1; version <= MIGRATIONS.length; version++) {
      MIGRATIONS[version - 1]!.sqlite(db);
      db.pragma(`user_version = ${version}`);
    }
  });
  migrate.immediate();
}
