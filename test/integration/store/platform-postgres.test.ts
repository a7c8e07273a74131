import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { cleanupList, startPlatform, type TestPlatform } from '../../helpers/platform.js';
import { missingPostgres, startPostgres, type PostgresCluster } from '../../helpers/postgres.js';

const BIN = path.resolve('bin/skaha.js');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Two servers with identity.store = postgres on one database (issue 9), each with its own data
 * directory, and `skaha admin` (the built CLI) with a third: users, groups, passwords and tokens
 * live in the database alone, so whatever one of them makes the others accept. Nothing is
 * launched: this is about who is let in.
 */
describe('servers and skaha admin on one PostgreSQL identity store', { skip: missingPostgres() }, () => {
  const cleanups = cleanupList();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'skaha-pgplat-'));
  const cliDataDir = path.join(dir, 'cli-data');
  const configFile = path.join(dir, 'skaha.json');
  let cluster: PostgresCluster;
  let a: TestPlatform;
  let b: TestPlatform;

  before(async () => {
    cluster = await startPostgres();
    const url = await cluster.createDatabase('skaha');
    const passwordFile = path.join(dir, 'db-password');
    fs.writeFileSync(passwordFile, `${cluster.password}\n`, { mode: 0o600 });
    const identity = { store: 'postgres', postgres: { url, passwordFile } };
    fs.writeFileSync(configFile, JSON.stringify({ identity }));
    a = await startPlatform(cleanups.add, { identity });
    b = await startPlatform(cleanups.add, { identity });
  });
  after(async () => {
    await cleanups.run();
    await cluster?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function admin(args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
    const env = { ...process.env };
    delete env.PGPASSWORD;
    const run = promisify(execFile)(process.execPath, [BIN, 'admin', ...args, '--config', configFile, '--data-dir', cliDataDir], { env, timeout: 60_000 });
    if (input !== undefined) {
      run.child.stdin!.end(input);
    }
    try {
      const { stdout, stderr } = await run;
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  }

  const whoami = async (tp: TestPlatform, token: string) => {
    const r = await tp.request('GET', '/auth/session', { token });
    return r.status === 200 ? (JSON.parse(r.body) as { username: string; uid: number; groups: string[] }) : r.status;
  };

  it('skaha admin works against the database, and both servers accept what it made', async () => {
    const made = await admin(['token', 'create', 'pgadmin']);
    assert.equal(made.code, 0, made.stderr);
    assert.match(made.stdout, /^token for pgadmin \(uid 200000\); keep it secret:$/m, 'the first user of a new database');
    const token = made.stdout.trim().split('\n').pop()!;
    assert.deepEqual(await whoami(a, token), { username: 'pgadmin', uid: 200000, groups: [], method: 'token', scopes: ['read', 'launch'], admin: false });
    assert.equal((await b.request('GET', '/skaha/v0/session', { token })).status, 200);

    const grouped = await admin(['group', 'add', 'astro', 'pgadmin']);
    assert.equal(grouped.code, 0, grouped.stderr);
    assert.match(grouped.stdout, /^pgadmin is in group astro \(gid 300000\)/);
    assert.deepEqual(((await whoami(b, token)) as { groups: string[] }).groups, ['astro'], 'groups are read per request: no restart, no cache');

    const passwd = await admin(['user', 'passwd', 'pgadmin'], 'pg admin password\n');
    assert.equal(passwd.code, 0, passwd.stderr);
    const login = await fetch(`${b.base}/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ username: 'pgadmin', password: 'pg admin password' }),
      redirect: 'manual',
    });
    assert.equal(login.status, 303, 'a password set by skaha admin logs in on a server');

    assert.equal(fs.existsSync(path.join(cliDataDir, 'skaha.db')), false, 'no SQLite file: the database holds it all');
    assert.equal(fs.existsSync(path.join(a.dataDir, 'skaha.db')), false);
  });

  it('a token made through one server works on the other, and a revocation reaches both', async () => {
    const { token: bootstrap } = await a.newUser('rep');
    const created = await a.request('POST', '/auth/tokens', { token: bootstrap, query: { name: 'roaming', scopes: 'read' } });
    assert.equal(created.status, 200, created.body);
    const { token, id } = JSON.parse(created.body) as { token: string; id: string };
    assert.equal((await b.request('GET', '/skaha/v0/session', { token })).status, 200);
    assert.equal((await a.request('GET', '/skaha/v0/session', { token })).status, 200, "now in server a's token cache");
    const listed = JSON.parse((await b.request('GET', '/auth/tokens', { token: bootstrap })).body) as Array<{ id: string }>;
    assert.ok(
      listed.some((t) => t.id === id),
      'listed by the other server',
    );

    assert.equal((await b.request('DELETE', `/auth/tokens/${id}`, { token: bootstrap })).status, 200);
    assert.equal((await b.request('GET', '/skaha/v0/session', { token })).status, 401, 'refused at once by the server that revoked it');
    let status = 0;
    for (let i = 0; i < 40 && status !== 401; i++) {
      status = (await a.request('GET', '/skaha/v0/session', { token })).status;
      if (status !== 401) await sleep(250);
    }
    assert.equal(status, 401, 'refused by the other server once its 5 s token cache lapses');
  });

  it('while the database is down: 503 with Retry-After from the API and the proxy, one line from skaha admin; then back', async () => {
    const { token } = await a.newUser('down');
    assert.equal((await a.request('GET', '/skaha/v0/session', { token })).status, 200);
    cluster.pause();
    try {
      await sleep(5500); // past the token cache
      for (const tp of [a, b]) {
        const r = await tp.request('GET', '/skaha/v0/session', { token });
        assert.equal(r.status, 503);
        assert.equal(r.headers.get('retry-after'), '30');
        assert.equal(r.body, 'temporarily unavailable: the identity database is not reachable, try again shortly\n', 'one line, never a stack');
        const proxied = await tp.request('GET', '/session/notebook/abcd1234/lab', { token });
        assert.equal(proxied.status, 503);
        assert.match(proxied.body, /the identity database is not reachable/);
      }
      assert.equal((await a.request('GET', '/skaha/v0/session')).status, 401, 'no credential: no database needed to say so');
      const cli = await admin(['token', 'create', 'later']);
      assert.equal(cli.code, 1);
      assert.match(cli.stderr, /^skaha: identity store unavailable: PostgreSQL postgres:\/\/skaha@127\.0\.0\.1:\d+\/skaha: connect ECONNREFUSED/);
      assert.equal(cli.stderr.includes(cluster.password), false, 'never the password');
    } finally {
      cluster.resume();
    }
    let status = 0;
    for (let i = 0; i < 40 && status !== 200; i++) {
      status = (await b.request('GET', '/skaha/v0/session', { token })).status;
      if (status !== 200) await sleep(250);
    }
    assert.equal(status, 200, 'back without a restart');
  });
});
