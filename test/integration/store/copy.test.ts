import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { SqliteRegistryCredentials } from '../../../src/store/credentials.js';
import { PostgresRegistryCredentials } from '../../../src/store/postgres/credentials.js';
import { PostgresDatabase } from '../../../src/store/postgres/database.js';
import { PostgresIdentityStore } from '../../../src/store/postgres/identity.js';
import { CredentialSealer } from '../../../src/store/sealing.js';
import { SqliteIdentityStore } from '../../../src/store/sqlite.js';
import { missingPostgres, startPostgres, type PostgresCluster } from '../../helpers/postgres.js';

/**
 * `skaha admin store copy-from-sqlite` (docs/operations.md, moving to several servers): the
 * built command, a real SQLite store and a real PostgreSQL. Everything a user had must work the
 * same afterwards: uid, groups, password, API tokens (a revoked one stays revoked), a stored
 * registry credential (sealed again under the new data directory's key).
 */
const BIN = path.resolve('bin/skaha.js');
const RANGE = { uidMin: 410000, uidMax: 419999 };
const skip = missingPostgres();

describe('copying the SQLite identity store into PostgreSQL', { skip }, () => {
  let cluster: PostgresCluster;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'skaha-copy-'));
  const oldDir = path.join(tmp, 'old');
  const newDir = path.join(tmp, 'new');
  const passwordFile = path.join(tmp, 'db-password');
  let configFile = '';
  let url = '';

  const skaha = async (...args: string[]) => {
    try {
      const { stdout } = await promisify(execFile)(process.execPath, [BIN, ...args], { timeout: 120_000 });
      return { code: 0, out: stdout };
    } catch (err) {
      const e = err as { code?: number; stdout?: string; stderr?: string };
      return { code: e.code ?? -1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
    }
  };
  const openTarget = () => {
    const db = new PostgresDatabase({ url, password: cluster.password, poolSize: 2 });
    return { db, identity: new PostgresIdentityStore(db, RANGE), credentials: new PostgresRegistryCredentials(db, CredentialSealer.forDataDir(newDir)) };
  };

  before(async () => {
    cluster = await startPostgres();
    url = await cluster.createDatabase('copy');
    fs.writeFileSync(passwordFile, cluster.password, { mode: 0o600 });
    configFile = path.join(tmp, 'config.json');
    fs.writeFileSync(configFile, JSON.stringify({ dataDir: newDir, identity: { ...RANGE, store: 'postgres', postgres: { url, passwordFile } } }));
  });
  after(async () => {
    await cluster?.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('copies users, groups, passwords, tokens and credentials, all working as before', async () => {
    const old = new SqliteIdentityStore(oldDir, RANGE);
    await old.ensureUser('first');
    await old.addToGroup('alice', 'astro');
    await old.setPassword('alice', 'correct horse');
    const alice = (await old.findUser('alice'))!;
    const kept = (await old.createToken('alice', 'laptop', { scopes: ['read', 'launch', 'admin'] })).token;
    const revoked = await old.createToken('alice', 'old');
    assert.ok(await old.revokeToken('alice', revoked.info.id));
    await old.close();
    const oldCredentials = new SqliteRegistryCredentials(oldDir);
    await oldCredentials.set('alice', 'harbor.example', { username: 'robot$alice', password: 's3cret' });
    await oldCredentials.close();

    const run = await skaha('admin', 'store', 'copy-from-sqlite', oldDir, '--config', configFile);
    assert.equal(run.code, 0, run.out);
    assert.match(run.out, /2 users, 1 groups, 1 memberships, 2 API tokens, 1 registry credentials/);
    assert.ok(!run.out.includes(cluster.password) && !run.out.includes('s3cret'), 'no secret in the output');

    const target = openTarget();
    try {
      assert.deepEqual(await target.identity.findUser('alice'), alice, 'same uid and groups');
      assert.equal((await target.identity.verifyPassword('alice', 'correct horse'))?.username, 'alice');
      assert.equal(await target.identity.verifyPassword('alice', 'wrong horse'), undefined);
      const found = await target.identity.userForToken(kept);
      assert.equal(found?.user.username, 'alice');
      assert.deepEqual([...found!.token.scopes].sort(), ['admin', 'launch', 'read']);
      assert.equal(await target.identity.userForToken(revoked.token), undefined, 'a revoked token stays revoked');
      assert.deepEqual(
        await target.credentials.get('alice', 'harbor.example'),
        { username: 'robot$alice', password: 's3cret' },
        'sealed again under the new key',
      );
      // New users continue the uid sequence after the copied ones.
      assert.equal((await target.identity.ensureUser('bob')).uid, alice.uid + 1);
    } finally {
      await target.db.close();
    }

    // A second run finds the store in use and changes nothing.
    const again = await skaha('admin', 'store', 'copy-from-sqlite', oldDir, '--config', configFile);
    assert.equal(again.code, 1);
    assert.match(again.out, /^skaha: the PostgreSQL store already has 3 users: copy only into an empty one\n$/);
  });

  it('refuses a SQLite configuration, and a directory without a store, creating nothing', async () => {
    const sqliteConfig = path.join(tmp, 'sqlite.json');
    const untouched = path.join(tmp, 'untouched');
    fs.writeFileSync(sqliteConfig, JSON.stringify({ dataDir: untouched }));
    const r = await skaha('admin', 'store', 'copy-from-sqlite', oldDir, '--config', sqliteConfig);
    assert.equal(r.code, 1);
    assert.match(r.out, /^skaha: the configured identity.store is sqlite/);
    assert.equal(fs.existsSync(untouched), false, 'no store was created');

    const empty = path.join(tmp, 'empty');
    const none = await skaha('admin', 'store', 'copy-from-sqlite', empty, '--config', configFile);
    assert.equal(none.code, 1);
    assert.match(none.out, /^skaha: no SQLite identity store at .*empty\/skaha\.db\n$/);
    assert.equal(fs.existsSync(empty), false);
  });
});
