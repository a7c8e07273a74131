import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { cleanupList, HEADLESS_IMAGE, startPlatform, WEB_IMAGE, type TestPlatform } from '../../helpers/platform.js';

const BIN = path.resolve('bin/skaha.js');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

describe('the skaha command line against a real server', () => {
  let tp: TestPlatform;
  let token: string;
  const configHome = fs.mkdtempSync(path.join(os.tmpdir(), 'skaha-cli-config-'));
  const cleanups = cleanupList();
  before(async () => {
    tp = await startPlatform(cleanups.add);
    token = (await tp.newUser('cli')).token;
  });
  after(async () => {
    await cleanups.run();
    fs.rmSync(configHome, { recursive: true, force: true });
  });

  /** Run `skaha ...` with SKAHA_URL/SKAHA_TOKEN (unless `env` says otherwise) and no terminal. */
  async function skaha(args: string[], env: Record<string, string | undefined> = {}): Promise<Run> {
    const fullEnv: NodeJS.ProcessEnv = { ...process.env, XDG_CONFIG_HOME: configHome, SKAHA_URL: `${tp.base}/skaha/v0`, SKAHA_TOKEN: token, NO_COLOR: '1', ...env };
    for (const [k, v] of Object.entries(env)) if (v === undefined) delete fullEnv[k];
    try {
      const { stdout, stderr } = await promisify(execFile)(process.execPath, [BIN, ...args], { env: fullEnv, timeout: 120_000 });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  }

  it('runs the whole lifecycle: create --wait, ps, info, logs, events, renew, delete', async () => {
    const created = await skaha(['create', 'contributed', WEB_IMAGE, '--name', 'cliweb', '--wait', '--json']);
    assert.equal(created.code, 0, created.stderr);
    const [id] = JSON.parse(created.stdout) as [string];
    assert.match(id, /^[a-z][a-z0-9]{7}$/);

    const ps = await skaha(['ps', '--json']);
    const listed = (JSON.parse(ps.stdout) as Array<{ id: string; status: string }>).find((s) => s.id === id);
    assert.equal(listed?.status, 'Running');
    const table = await skaha(['ps']);
    assert.match(table.stdout, /^ID +NAME +TYPE +STATUS +IMAGE +STARTED +EXPIRES$/m);
    assert.match(table.stdout, new RegExp(`^${id} +cliweb +contributed +Running +${WEB_IMAGE.replace(/\./g, '\\.')} `, 'm'));

    const info = JSON.parse((await skaha(['info', id, '--json'])).stdout);
    const api = JSON.parse((await tp.request('GET', `/skaha/v0/session/${id}`, { token })).body);
    assert.deepEqual(info, api, '--json is the server\'s object');
    assert.match((await skaha(['info', id])).stdout, /^expires +in 3 d 23 h/m);

    assert.equal((await skaha(['logs', id])).code, 0);
    assert.match((await skaha(['events', id])).stdout, /^TYPE +REASON/);
    const renew = await skaha(['renew', id]);
    // A renewal is 4 days from the server's now: shown as 4 d or, a second later, 3 d 23 h.
    assert.match(renew.stdout, new RegExp(`^${id} renewed, expires in (3 d 23 h|4 d)`));

    const refused = await skaha(['delete', id]);
    assert.equal(refused.code, 2, 'no terminal to confirm on and no --yes');
    assert.match(refused.stderr, /add --yes/);
    const deleted = await skaha(['delete', id, '--yes']);
    assert.equal(deleted.stdout, `${id} deleted\n`);
  });

  it('launches headless replicas, waits for them, shows their logs, prunes them', async () => {
    const created = await skaha(['create', 'headless', HEADLESS_IMAGE, '--name', 'Batch', '-r', '2', '-e', 'X=1', '--wait', '--json', '--', 'sh', '-c', 'env']);
    assert.equal(created.code, 0, created.stderr);
    const ids = JSON.parse(created.stdout) as string[];
    assert.equal(ids.length, 2);
    const logs = (await skaha(['logs', ids[1]!])).stdout;
    assert.match(logs, /^REPLICA_ID=2$/m);
    assert.match(logs, /^REPLICA_COUNT=2$/m);
    assert.match(logs, /^X=1$/m);
    const pruned = await skaha(['prune', 'BATCH', '--yes', '--json']);
    assert.deepEqual((JSON.parse(pruned.stdout) as string[]).sort(), [...ids].sort());
  });

  it('lists images and context, and prints stats', async () => {
    const images = JSON.parse((await skaha(['images', '--type', 'headless', '--json'])).stdout) as Array<{ id: string }>;
    assert.ok(images.some((i) => i.id === HEADLESS_IMAGE));
    assert.match((await skaha(['context'])).stdout, /^cores +\d+ +1/m);
    assert.ok('instances' in JSON.parse((await skaha(['stats', '--json'])).stdout));
  });

  it('remembers a server with login, in a 0600 file, and uses it without environment variables', async () => {
    const login = await skaha(['login', tp.base, '--token', token, '--name', 'local'], { SKAHA_URL: undefined, SKAHA_TOKEN: undefined });
    assert.equal(login.code, 0, login.stderr);
    const file = path.join(configHome, 'skaha', 'config.json');
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.equal(fs.statSync(path.dirname(file)).mode & 0o777, 0o700);
    const shown = await skaha(['config', 'show'], { SKAHA_URL: undefined });
    assert.match(shown.stdout, /^\* local +http:\/\/127\.0\.0\.1:\d+ +v0 +token skt_/m);
    assert.ok(!shown.stdout.includes(token), 'the token is masked');
    assert.equal((await skaha(['ps', '--json'], { SKAHA_URL: undefined, SKAHA_TOKEN: undefined })).code, 0);
    const wrong = await skaha(['login', tp.base, '--token', 'skt_wrong'], { SKAHA_URL: undefined });
    assert.deepEqual([wrong.code, wrong.stderr], [1, 'skaha: Unauthorized\n']);
    const missing = await skaha(['ps', '--context', 'nope'], { SKAHA_URL: undefined });
    assert.deepEqual([missing.code, missing.stderr], [1, "skaha: no context named 'nope' (see: skaha config show)\n"]);
  });

  it('says what went wrong in one line with the documented exit code', async () => {
    const bad = await skaha(['create', 'headless', HEADLESS_IMAGE, '--name', 'bad_name']);
    assert.deepEqual([bad.code, bad.stderr], [1, "skaha: name can only contain alpha-numeric chars and '-'\n"]);
    const notFound = await skaha(['info', 'abcdefgh']);
    assert.deepEqual([notFound.code, notFound.stderr], [1, 'skaha: session abcdefgh not found\n']);
    const down = await skaha(['ps'], { SKAHA_URL: 'http://127.0.0.1:9/skaha' });
    assert.deepEqual([down.code, down.stderr], [1, 'skaha: cannot reach http://127.0.0.1:9: ECONNREFUSED\n']);
    const usage = await skaha(['create', 'spaceship']);
    assert.equal(usage.code, 2);
    const replicas = await skaha(['create', 'desktop', 'x', '-r', '2']);
    assert.deepEqual([replicas.code, replicas.stderr], [2, 'skaha: desktop sessions cannot have replicas\n']);
  });

  it('prints shell completion for bash and zsh', async () => {
    const bash = (await skaha(['completion', 'bash'])).stdout;
    assert.match(bash, /complete -o default -F _skaha skaha/);
    assert.ok(bash.includes('"") opts="login config ps ls create launch'), bash.slice(0, 300));
    assert.match(bash, /"create"\) opts="[^"]*--replicas/);
    assert.match((await skaha(['completion', 'zsh'])).stdout, /^autoload -U \+X bashcompinit/);
  });
});
