import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { MIGRATIONS } from '../../../src/store/migrations.js';
import { SqliteRegistryCredentials } from '../../../src/store/credentials.js';
import { SqliteIdentityStore } from '../../../src/store/sqlite.js';

/**
 * SQLite's numbered migrations (store/migrations.ts; PostgreSQL's are checked against a real
 * server in test/integration/store/postgres.test.ts): a database from before the steps were
 * numbered keeps its users and tokens and gains what came later; a newer one is refused.
 */

const dirs: string[] = [];
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});
const tempDir = () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'skaha-migrations-'));
  dirs.push(d);
  return d;
};
const RANGE = { uidMin: 300000, uidMax: 300999 };
const versionOf = (dir: string) => {
  const db = new Database(path.join(dir, 'skaha.db'), { readonly: true });
  try {
    return db.pragma('user_version', { simple: true });
  } finally {
    db.close();
  }
};

describe('SQLite numbered migrations', () => {
  it('brings a first-release database to the last step, keeping its users and tokens', async () => {
    const dir = tempDir();
    // The first release's tables, as they were: no passwords, no scopes, expiry or kinds.
    const old = new Database(path.join(dir, 'skaha.db'));
    old.exec(`
      CREATE TABLE users (username TEXT PRIMARY KEY, uid INTEGER NOT NULL UNIQUE, created_at TEXT NOT NULL);
      CREATE TABLE groups (name TEXT PRIMARY KEY, gid INTEGER NOT NULL UNIQUE);
      CREATE TABLE memberships (username TEXT NOT NULL, group_name TEXT NOT NULL, PRIMARY KEY (username, group_name));
      CREATE TABLE api_tokens (id TEXT PRIMARY KEY, hash TEXT NOT NULL UNIQUE, username TEXT NOT NULL, name TEXT NOT NULL, created_at TEXT NOT NULL);
      INSERT INTO users VALUES ('alice', 300001, '2025-01-01T00:00:00Z');
    `);
    old.close();

    const store = new SqliteIdentityStore(dir, RANGE);
    try {
      assert.equal(versionOf(dir), MIGRATIONS.length);
      assert.equal((await store.findUser('alice'))?.uid, 300001, 'the user and their uid are kept');
      const { token } = await store.createToken('alice', 'ci');
      assert.equal((await store.userForToken(token))?.user.username, 'alice', 'a token made after the upgrade works');
      await store.setPassword('alice', 'correct horse battery');
      assert.equal((await store.verifyPassword('alice', 'correct horse battery'))?.username, 'alice');
    } finally {
      await store.close();
    }
    // Opening it again changes nothing, and the credentials table came with step 1.
    const credentials = new SqliteRegistryCredentials(dir);
    assert.deepEqual(await credentials.list('alice'), []);
    await credentials.close();
    assert.equal(versionOf(dir), MIGRATIONS.length);
  });

  it('refuses a database a newer skaha migrated', () => {
    const dir = tempDir();
    const newer = new Database(path.join(dir, 'skaha.db'));
    newer.pragma(`user_version = ${MIGRATIONS.length + 1}`);
    newer.close();
    assert.throws(
      () => new SqliteIdentityStore(dir, RANGE),
      new RegExp(`schema version ${MIGRATIONS.length + 1} is newer than this skaha knows \\(${MIGRATIONS.length}\\); upgrade skaha`),
    );
  });
});
