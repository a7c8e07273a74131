import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { createCa, issueServerCert } from '../../../src/auth/x509/pki.js';
import { cleanupList, HEADLESS_IMAGE, projectScript, startPlatform, WEB_IMAGE, type TestPlatform } from '../../helpers/platform.js';
import { freePort } from '../../helpers/ports.js';
import { DESKTOP_IMAGE, TERMINAL_IMAGE } from '../../helpers/sessions.js';

const BIN = path.resolve('bin/skaha.js');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

describe('the skaha command line against a real server', () => {
  let tp: TestPlatform;
  let token: string;
  let username: string;
  const configHome = fs.mkdtempSync(path.join(os.tmpdir(), 'skaha-cli-config-'));
  // The platform's data directory with an HTTPS listener for client certificates, as setup makes it.
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'skaha-cli-data-'));
  const caFile = path.join(dataDir, 'tls', 'ca.pem');
  const cleanups = cleanupList();
  before(async () => {
    const ca = createCa('CLI test platform CA');
    const server = issueServerCert(ca, { dns: ['localhost'], ips: ['127.0.0.1'] });
    fs.mkdirSync(path.join(dataDir, 'tls'), { recursive: true });
    fs.writeFileSync(caFile, ca.certPem);
    fs.writeFileSync(path.join(dataDir, 'tls', 'ca.key'), ca.keyPem, { mode: 0o600 });
    fs.writeFileSync(path.join(dataDir, 'tls', 'server.pem'), server.certPem);
    fs.writeFileSync(path.join(dataDir, 'tls', 'server.key'), server.keyPem, { mode: 0o600 });
    tp = await startPlatform(cleanups.add, { tls: { port: await freePort() } }, { dataDir });
    ({ token, username } = await tp.newUser('cli'));
  });
  after(async () => {
    await cleanups.run();
    fs.rmSync(configHome, { recursive: true, force: true });
  });

  /** Run `skaha ...` with SKAHA_URL/SKAHA_TOKEN (unless `env` says otherwise) and no terminal. */
  async function skaha(args: string[], env: Record<string, string | undefined> = {}): Promise<Run> {
    const fullEnv: NodeJS.ProcessEnv = {
      ...process.env,
      XDG_CONFIG_HOME: configHome,
      SKAHA_URL: `${tp.base}/skaha/v0`,
      SKAHA_TOKEN: token,
      NO_COLOR: '1',
      ...env,
    };
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
    assert.deepEqual(info, api, "--json is the server's object");
    assert.match((await skaha(['info', id])).stdout, /^expires +in 3 d 23 h/m);
    const open = await skaha(['open', id, '--json']);
    assert.deepEqual(JSON.parse(open.stdout), { id, connectURL: api.connectURL });
    const opened = await skaha(['open', id], { PATH: '/nonexistent' });
    assert.deepEqual([opened.code, opened.stdout, opened.stderr], [0, `${api.connectURL}\n`, `no browser opener (xdg-open) here: open ${api.connectURL}\n`]);

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
    const named = await skaha(['ps', '--context', 'local', '--json'], { SKAHA_URL: 'http://127.0.0.1:9' });
    assert.equal(named.code, 0, `--context names a context on purpose, so it wins over SKAHA_URL: ${named.stderr}`);
    const stray = await skaha(['ps'], { SKAHA_URL: undefined });
    assert.deepEqual(
      [stray.code, stray.stderr],
      [1, 'skaha: SKAHA_TOKEN is set but SKAHA_URL is not: set SKAHA_URL to the server it is for, or unset it to use the config file\n'],
    );
  });

  it('reaches the server with a proxy certificate (cadcproxy.pem) from the environment or a context', async () => {
    const pem = path.join(configHome, 'cadcproxy.pem');
    const issued = await skaha(['admin', 'cert', 'proxy', username, '--out', pem, '--data-dir', dataDir]);
    assert.equal(issued.code, 0, issued.stderr);
    assert.equal(fs.statSync(pem).mode & 0o777, 0o600);
    const tlsBase = tp.platform.tlsUrl()!;
    const viaEnv = await skaha(['ps', '--all', '--json'], {
      SKAHA_URL: `${tlsBase}/skaha/v0`,
      SKAHA_TOKEN: undefined,
      SKAHA_CERTIFICATE: pem,
      SKAHA_CA: caFile,
    });
    assert.equal(viaEnv.code, 0, viaEnv.stderr);
    const api = JSON.parse((await tp.request('GET', '/skaha/v0/session', { token })).body) as unknown[];
    assert.equal((JSON.parse(viaEnv.stdout) as unknown[]).length, api.length, "the same user's sessions as with the token");
    const login = await skaha(['login', tlsBase, '--cert', pem, '--ca', caFile, '--name', 'tls'], { SKAHA_URL: undefined, SKAHA_TOKEN: undefined });
    assert.equal(login.code, 0, login.stderr);
    assert.equal((await skaha(['stats', '--json', '--context', 'tls'])).code, 0);
    const untrusted = await skaha(['ps'], { SKAHA_URL: tlsBase, SKAHA_TOKEN: undefined, SKAHA_CERTIFICATE: pem });
    assert.equal(untrusted.code, 1, 'the platform CA is not trusted without SKAHA_CA');
    assert.match(untrusted.stderr, /^skaha: cannot reach https:\/\/127\.0\.0\.1:\d+: [A-Z_]+\n$/);
  });

  it('speaks v1 as well: the same sessions, without desktop-apps', async () => {
    const v1 = await skaha(['ps', '--all', '--json'], { SKAHA_URL: `${tp.base}/skaha/v1` });
    assert.equal(v1.code, 0, v1.stderr);
    const api = JSON.parse((await tp.request('GET', '/skaha/v1/session', { token })).body) as unknown[];
    assert.deepEqual(
      JSON.parse(v1.stdout),
      api.sort((a, b) => String((a as { startTime: string }).startTime).localeCompare(String((b as { startTime: string }).startTime))),
    );
    assert.equal((await skaha(['context', '--json'], { SKAHA_URL: tp.base, SKAHA_API_VERSION: 'v1' })).code, 0);
  });

  it('launches software on a desktop: app launch --wait, app ps, app delete', async () => {
    const desk = await skaha(['create', 'desktop', DESKTOP_IMAGE, '--name', 'clidesk', '--wait', '--json']);
    assert.equal(desk.code, 0, desk.stderr);
    const [desktop] = JSON.parse(desk.stdout) as [string];
    const launched = await skaha(['app', 'launch', desktop, TERMINAL_IMAGE, '--wait', '--json']);
    assert.equal(launched.code, 0, launched.stderr);
    const appId = JSON.parse(launched.stdout) as string;
    const apps = JSON.parse((await skaha(['app', 'ps', desktop, '--json'])).stdout) as Array<{ appid: string; status: string; image: string }>;
    assert.deepEqual(
      apps.map((a) => [a.appid, a.status, a.image]),
      [[appId, 'Running', TERMINAL_IMAGE]],
    );
    assert.match((await skaha(['app', 'ps', desktop])).stdout, new RegExp(`^${appId} +\\S+ +Running +${TERMINAL_IMAGE.replace(/\./g, '\\.')} `, 'm'));
    const gone = await skaha(['app', 'delete', desktop, appId, '--json']);
    assert.deepEqual([gone.code, JSON.parse(gone.stdout)], [0, appId]);
    const after = JSON.parse((await skaha(['app', 'ps', desktop, '--json'])).stdout) as Array<{ appid: string; status: string }>;
    assert.ok(
      after.every((a) => a.appid !== appId || a.status === 'Terminating'),
      JSON.stringify(after),
    );
    const missing = await skaha(['app', 'launch', 'abcdefgh', TERMINAL_IMAGE]);
    assert.deepEqual([missing.code, missing.stderr], [1, 'skaha: session abcdefgh not found\n']);
    assert.equal((await skaha(['delete', desktop, '--yes'])).code, 0);
  });

  it('follows logs until a job ends, and prunes by prefix, type and status only', async () => {
    const run = async (name: string, script: string) => {
      // A script file: skaha splits args on spaces, so a script cannot travel in them.
      const r = await skaha(['create', 'headless', HEADLESS_IMAGE, '--name', name, '--json', '--', 'sh', projectScript(tp, script)]);
      assert.equal(r.code, 0, r.stderr);
      return (JSON.parse(r.stdout) as [string])[0];
    };
    const slow = await run('prunea', 'echo one; sleep 2; echo two; exit 3');
    const followed = await skaha(['logs', '--follow', slow]);
    assert.deepEqual([followed.code, followed.stdout], [0, 'one\ntwo\n']);
    const succeeded = await run('pruneb', 'true');
    const otherPrefix = await run('keepa', 'exit 1');
    const waited = await skaha(['create', 'headless', HEADLESS_IMAGE, '--name', 'prunec', '--wait', '--', 'sh', projectScript(tp, 'exit 2')]);
    assert.equal(waited.code, 1, 'a waited-for job that fails is an error');
    const failedId = /^skaha: (\w+) failed: see skaha events \1$/m.exec(waited.stderr)?.[1];
    assert.ok(failedId, waited.stderr);
    for (const id of [succeeded, otherPrefix]) assert.equal((await skaha(['info', id, '--json'])).code, 0);
    await tp.waitStatus(token, succeeded, ['Succeeded']);
    await tp.waitStatus(token, otherPrefix, ['Failed']);

    const pruned = await skaha(['prune', 'prune', '--status', 'Failed', '--yes', '--json']);
    assert.equal(pruned.code, 0, pruned.stderr);
    assert.deepEqual((JSON.parse(pruned.stdout) as string[]).sort(), [slow, failedId].sort());
    const left = (JSON.parse((await skaha(['ps', '--all', '--json'])).stdout) as Array<{ id: string }>).map((s) => s.id);
    assert.ok(left.includes(succeeded) && left.includes(otherPrefix), 'a Succeeded job and another prefix stay');
    assert.equal((await skaha(['prune', '--type', 'contributed', '--yes', '--json'])).stdout.trim(), '[]', 'no Succeeded contributed sessions');
    const rest = await skaha(['delete', succeeded, otherPrefix, '--yes', '--json']);
    assert.deepEqual(JSON.parse(rest.stdout), [succeeded, otherPrefix]);
  });

  it('says what went wrong in one line with the documented exit code', async () => {
    const bad = await skaha(['create', 'headless', HEADLESS_IMAGE, '--name', 'bad_name']);
    assert.deepEqual([bad.code, bad.stderr], [1, "skaha: name can only contain alpha-numeric chars and '-'\n"]);
    const notFound = await skaha(['info', 'abcdefgh']);
    assert.deepEqual([notFound.code, notFound.stderr], [1, 'skaha: session abcdefgh not found\n']);
    const down = await skaha(['ps'], { SKAHA_URL: 'http://127.0.0.1:9/skaha' });
    assert.deepEqual([down.code, down.stderr], [1, 'skaha: cannot reach http://127.0.0.1:9: ECONNREFUSED\n']);
    const usage = await skaha(['create', 'spaceship', HEADLESS_IMAGE]);
    assert.equal(usage.code, 2);
    assert.equal(
      usage.stderr,
      "skaha: command-argument value 'spaceship' is invalid for argument 'type'. Allowed choices are notebook, desktop, carta, contributed, firefly, headless. (see: skaha create --help)\n",
    );
    const option = await skaha(['ps', '--bogus']);
    assert.deepEqual([option.code, option.stderr, option.stdout], [2, "skaha: unknown option '--bogus' (see: skaha ps --help)\n", '']);
    const open = await skaha(['create', 'headless', HEADLESS_IMAGE, '--open']);
    assert.deepEqual([open.code, open.stderr], [2, 'skaha: headless sessions have nothing to open; use --wait\n']);
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
