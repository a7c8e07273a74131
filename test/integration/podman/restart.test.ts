import assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { SESSION_LABEL } from '../../../src/backends/labels.js';
import { engine, HEADLESS_IMAGE, removeNetworks, testInstance, WEB_IMAGE } from '../../helpers/platform.js';
import { adminToken, serveProcess } from '../../helpers/server-process.js';

const BIN = path.resolve('bin/skaha.js');
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'skaha-cli-'));
// The server's own network and uid range on the shared engine (helpers/platform.ts).
const configFile = `${dataDir}.json`;
fs.writeFileSync(configFile, JSON.stringify(testInstance(dataDir)));
const env = { ...process.env, SKAHA_CONFIG: configFile };

const serve = () => serveProcess(dataDir, env);

describe('the skaha command and a server restart', () => {
  const children: ChildProcess[] = [];
  after(async () => {
    for (const c of children) c.kill('SIGKILL');
    fs.rmSync(dataDir, { recursive: true, force: true });
    fs.rmSync(configFile, { force: true });
    await removeNetworks(testInstance(dataDir).podman.network);
  });

  it('admin token create prints the token alone on its last line, server running or not', () => {
    const r = spawnSync(process.execPath, [BIN, 'admin', 'token', 'create', 'cliuser', '--data-dir', dataDir], { encoding: 'utf8', env });
    assert.equal(r.status, 0, r.stderr);
    const last = r.stdout.trim().split('\n').pop()!;
    assert.match(last, /^skt_[A-Za-z0-9_-]{43}$/);
    const bad = spawnSync(process.execPath, [BIN, 'admin', 'token', 'create', 'Not Valid', '--data-dir', dataDir], { encoding: 'utf8', env });
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /^skaha: invalid username 'Not Valid'/);
    const usage = spawnSync(process.execPath, [BIN, 'serve', '--port', 'abc'], { encoding: 'utf8', env });
    assert.equal(usage.status, 2);
  });

  it('lists every session it had after being killed and started again', async () => {
    const token = adminToken(dataDir, env, 'restarter');
    const auth = { authorization: `Bearer ${token}` };
    let server = await serve();
    children.push(server.child);
    assert.equal((await fetch(`${server.url}/skaha/v0/session`)).status, 401);
    const created = await fetch(`${server.url}/skaha/v0/session`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ name: 'survivor', image: WEB_IMAGE, type: 'contributed' }),
    });
    assert.equal(created.status, 200);
    const id = (await created.text()).trim();

    await server.kill9();
    // A token made while the server is down works once it is back.
    const later = adminToken(dataDir, env, 'restarter');

    server = await serve();
    children.push(server.child);
    // Double slashes are tolerated (the Python client can send them, spec §1.1).
    const list = await fetch(`${server.url}//skaha//v0/session`, { headers: { authorization: `Bearer ${later}` } });
    assert.equal(list.status, 200);
    const sessions = (await list.json()) as Array<{ id: string; status: string; name: string }>;
    const survivor = sessions.find((s) => s.id === id);
    assert.ok(survivor, 'the session is listed after the restart');
    assert.equal(survivor.name, 'survivor');
    assert.match(survivor.status, /^(Pending|Running)$/);

    assert.equal((await fetch(`${server.url}/skaha/v1/session/${id}`, { method: 'DELETE', headers: auth })).status, 200);
    let status = 0;
    for (let i = 0; i < 100 && status !== 404; i++) {
      status = (await fetch(`${server.url}/skaha/v0/session/${id}`, { headers: auth })).status;
      if (status !== 404) await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(status, 404);
    await server.stop();
  });

  it('finishes a DELETE it acknowledged before being killed -9, and never shows the session again', async () => {
    const token = adminToken(dataDir, env, 'deleter');
    const auth = { authorization: `Bearer ${token}` };
    let server = await serve();
    children.push(server.child);
    const launch = async (form: Record<string, string>) => {
      const r = await fetch(`${server.url}/skaha/v0/session`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(form),
      });
      assert.equal(r.status, 200);
      return (await r.text()).trim();
    };
    // A job that ignores SIGTERM (sleep as PID 1) lives until the grace ends; the web app exits at once.
    const job = await launch({ name: 'sleeper', image: HEADLESS_IMAGE, type: 'headless', cmd: 'sleep', args: '600' });
    const app = await launch({ name: 'webapp', image: WEB_IMAGE, type: 'contributed' });
    for (const id of [job, app]) {
      let status = '';
      for (let i = 0; i < 150 && status !== 'Running'; i++) {
        status = ((await (await fetch(`${server.url}/skaha/v0/session/${id}`, { headers: auth })).json()) as { status: string }).status;
        if (status !== 'Running') await new Promise((r) => setTimeout(r, 200));
      }
      assert.equal(status, 'Running', id);
    }
    for (const id of [job, app]) assert.equal((await fetch(`${server.url}/skaha/v0/session/${id}`, { method: 'DELETE', headers: auth })).status, 200);
    await server.kill9();
    const ours = async () => (await engine().listContainers({ all: true, filters: { label: [`${SESSION_LABEL.id}=${job}`] } })).length;
    assert.equal(await ours(), 1, "the job's container outlived the server (the window this test is about)");

    server = await serve();
    children.push(server.child);
    const listed = (await (await fetch(`${server.url}/skaha/v0/session`, { headers: auth })).json()) as Array<{ id: string; status: string }>;
    for (const s of listed.filter((x) => x.id === job || x.id === app))
      assert.equal(s.status, 'Terminating', `${s.id} is shown as being deleted, not ${s.status}`);
    let gone = false;
    for (let i = 0; i < 150 && !gone; i++) {
      const statuses = await Promise.all([job, app].map(async (id) => (await fetch(`${server.url}/skaha/v0/session/${id}`, { headers: auth })).status));
      gone = statuses.every((st) => st === 404) && (await ours()) === 0;
      if (!gone) await new Promise((r) => setTimeout(r, 200));
    }
    assert.ok(gone, "both sessions and the job's container are gone after the restart");
    await server.stop();
  });
});
