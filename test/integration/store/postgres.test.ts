import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SkahaError } from '../../../src/common/errors.js';
import { resolveConfig } from '../../../src/server/config.js';
import { openStores } from '../../../src/store/open.js';
import { PostgresRegistryCredentials } from '../../../src/store/postgres/credentials.js';
import { PostgresDatabase } from '../../../src/store/postgres/database.js';
import { PostgresIdentityStore } from '../../../src/store/postgres/identity.js';
import { CredentialSealer } from '../../../src/store/sealing.js';
import { missingPostgres, startPostgres, type PostgresCluster } from '../../helpers/postgres.js';
import { describeStoreContract, type Opened } from './contract.js';

/**
 * The identity store on a real PostgreSQL (issue 9): the shared contract, then what only a
 * shared database has to get right: two servers ("replicas") allocating at the same moment,
 * the schema's version, and a database that is down or refuses us.
 */
const skip = missingPostgres();
let cluster: PostgresCluster | undefined;
let databases = 0;
const keyDir = fs.mkdtempSync(path.join(os.tmpdir(), 'skaha-pgkeys-'));

async function newDatabase(): Promise<string> {
  cluster ??= await startPostgres();
  return cluster.createDatabase(`store${++databases}`);
}

function openAt(url: string, range: { uidMin: number; uidMax: number }, sealer = CredentialSealer.forDataDir(keyDir)): Opened {
  const db = new PostgresDatabase({ url, password: cluster!.password, poolSize: 5 });
  return {
    identity: new PostgresIdentityStore(db, range),
    credentials: new PostgresRegistryCredentials(db, sealer),
    close: () => db.close(),
  };
}

describeStoreContract(
  'postgres',
  {
    async setUp() {
      cluster ??= await startPostgres();
    },
    async tearDown() {},
    async fresh(range) {
      const url = await newDatabase();
      return { ...openAt(url, range), reopen: async (sealer) => openAt(url, range, sealer) };
    },
  },
  { skip },
);

describe('PostgreSQL identity store: several servers, one database', { skip }, () => {
  const closers: Array<() => Promise<void>> = [];
  before(async () => {
    cluster ??= await startPostgres();
  });
  after(async () => {
    for (const close of closers.reverse()) await close().catch(() => undefined);
    await cluster?.stop();
    fs.rmSync(keyDir, { recursive: true, force: true });
  });
  const replica = (url: string, range = { uidMin: 300000, uidMax: 399999 }) => {
    const store = PostgresIdentityStore.open({ url, password: cluster!.password, poolSize: 10 }, range);
    closers.push(() => store.close());
    return store;
  };

  it('two replicas creating 50 users at once hand out 50 distinct uids, the same one for the same user', async () => {
    const url = await newDatabase();
    const [a, b] = [replica(url), replica(url)];
    const names = Array.from({ length: 50 }, (_, i) => `user${i}`);
    // Every user from both replicas at the same moment, in opposite orders.
    const [fromA, fromB] = await Promise.all([
      Promise.all(names.map((n) => a.ensureUser(n))),
      Promise.all([...names].reverse().map((n) => b.ensureUser(n))).then((users) => users.reverse()),
    ]);
    const uids = fromA.map((u) => u.uid);
    assert.equal(new Set(uids).size, 50, 'no uid handed out twice');
    assert.deepEqual(
      [...uids].sort((x, y) => x - y),
      Array.from({ length: 50 }, (_, i) => 300000 + i),
      'the first 50 of the range, no gaps',
    );
    for (let i = 0; i < 50; i++) assert.equal(fromB[i]!.uid, fromA[i]!.uid, `${names[i]} got one uid from both replicas`);
    for (const n of names.slice(0, 5)) assert.deepEqual(await b.findUser(n), await a.findUser(n));
  });

  it('two replicas adding users to new groups at once agree on every gid', async () => {
    const url = await newDatabase();
    const [a, b] = [replica(url), replica(url)];
    const groups = Array.from({ length: 20 }, (_, i) => `team${i}`);
    const [ga, gb] = await Promise.all([
      Promise.all(groups.map((g, i) => a.addToGroup(`a${i}`, g))),
      Promise.all(groups.map((g, i) => b.addToGroup(`b${i}`, g))),
    ]);
    assert.deepEqual(ga, gb);
    assert.equal(new Set(ga.map((g) => g.gid)).size, 20);
    assert.ok(
      ga.every((g) => g.gid > 399999),
      'above the uid range',
    );
    // Tokens made through one replica authenticate through the other.
    const { token } = await a.createToken('a3', 'x');
    assert.deepEqual((await b.userForToken(token))?.user.groups, [ga[3]]);
  });

  it('creates the schema once, at its latest version, with servers starting together', async () => {
    const url = await newDatabase();
    const dbs = Array.from({ length: 4 }, () => new PostgresDatabase({ url, password: cluster!.password }));
    closers.push(...dbs.map((d) => () => d.close()));
    await Promise.all(dbs.map((d) => d.ready()));
    const { rows } = await dbs[0]!.query<{ version: number }>('SELECT version FROM schema_version ORDER BY version');
    assert.deepEqual(
      rows.map((r) => r.version),
      [1, 2],
      'each step once, in order',
    );
    // A database from a newer skaha is refused, not damaged.
    await dbs[0]!.query('INSERT INTO schema_version (version) VALUES (99)');
    const newer = new PostgresDatabase({ url, password: cluster!.password });
    closers.push(() => newer.close());
    await assert.rejects(newer.ready(), /schema version 99 is newer than this skaha knows \(2\); upgrade skaha/);
  });

  it('answers 503 while the database is down, names it without the password, and recovers', async () => {
    const url = await newDatabase();
    const store = replica(url);
    const { token } = await store.createToken('rosa', 't');
    cluster!.pause();
    try {
      await new Promise((r) => setTimeout(r, 5500)); // past the token cache
      for (const call of [() => store.findUser('rosa'), () => store.userForToken(token), () => store.ensureUser('sam')]) {
        const err = await call().then(
          () => undefined,
          (e: unknown) => e,
        );
        assert.ok(err instanceof SkahaError, `a SkahaError, not ${String(err)}`);
        assert.equal(err.statusCode, 503);
        assert.equal(err.message, 'temporarily unavailable: the identity database is not reachable, try again shortly');
        assert.match(err.logMessage ?? '', new RegExp(`^PostgreSQL postgres://skaha@127\\.0\\.0\\.1:${cluster!.port}/store\\d+: `));
        assert.equal((err.logMessage ?? '').includes(cluster!.password), false);
      }
    } finally {
      cluster!.resume();
    }
    assert.equal((await store.userForToken(token))?.user.username, 'rosa', 'the pool reconnects by itself');
  });

  it('openStores: a wrong password fails at once; a database not up yet is waited for (server) or refused (admin)', async () => {
    const url = await newDatabase();
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'skaha-pgopen-'));
    closers.push(async () => fs.rmSync(dataDir, { recursive: true, force: true }));
    const pwFile = path.join(dataDir, 'pw');
    fs.writeFileSync(pwFile, 'not-the-password\n');
    const config = (file: string) => resolveConfig({ dataDir, identity: { store: 'postgres', postgres: { url, passwordFile: file } } });
    const wrong = await openStores(config(pwFile), { tolerateUnavailable: true }).then(
      () => undefined,
      (e: Error) => e,
    );
    assert.match(
      String(wrong?.message),
      /^identity store unavailable: PostgreSQL postgres:\/\/skaha@127\.0\.0\.1:\d+\/store\d+: password authentication failed for user "skaha"$/,
    );
    assert.equal(String(wrong?.message).includes('not-the-password'), false);
    await assert.rejects(openStores(config(path.join(dataDir, 'missing'))), /cannot read identity.postgres.passwordFile .*missing: ENOENT/);

    fs.writeFileSync(pwFile, `${cluster!.password}\n`);
    cluster!.pause();
    const warnings: string[] = [];
    let stores: Awaited<ReturnType<typeof openStores>> | undefined;
    try {
      await assert.rejects(openStores(config(pwFile)), /^Error: identity store unavailable: PostgreSQL postgres:\/\/skaha@.*ECONNREFUSED/);
      stores = await openStores(config(pwFile), { tolerateUnavailable: true, log: { info() {}, warn: (m) => void warnings.push(m) } });
      closers.push(() => stores!.close());
      assert.match(warnings.join('\n'), /identity store not reachable yet .*; requests that need it answer 503 until it is/);
      await assert.rejects(stores.identity.findUser('x'), (e: unknown) => e instanceof SkahaError && e.statusCode === 503);
    } finally {
      cluster!.resume();
    }
    // The schema is made on first use once the database is back.
    assert.equal((await stores.identity.ensureUser('tess')).uid, 200000);
    await stores.registryCredentials.set('tess', 'h.example.org', { username: 't', password: 'p' });
    assert.deepEqual(await stores.registryCredentials.get('tess', 'h.example.org'), { username: 't', password: 'p' });
  });
});
