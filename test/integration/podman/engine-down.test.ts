import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import { after, describe, it } from 'node:test';
import { connectEngine } from '../../../src/engine/process.js';
import { DEFAULT_CONTAINERS_CONF } from '../../../src/common/paths.js';
import { cleanupList, HEADLESS_IMAGE, startPlatform, WEB_IMAGE } from '../../helpers/platform.js';

/** This suite's own Podman API service, so stopping it disturbs nobody else. */
const socketPath = `/run/skaha/test-${crypto.randomBytes(4).toString('hex')}.sock`;
const startEngine = () => connectEngine({ socketPath, containersConf: DEFAULT_CONTAINERS_CONF, startService: true, logFile: '/tmp/skaha-test-podman.log' });
const stopEngine = () => {
  try {
    execFileSync('pkill', ['-f', `podman system service --time=0 unix://${socketPath}`]);
  } catch {
    // nothing to kill
  }
};

/** PIDs of the Podman services on `socketPath`. */
const servicesOn = (socketPath: string) => {
  try {
    return execFileSync('pgrep', ['-f', `podman system service --time=0 unix://${socketPath}$`], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .filter(Boolean);
  } catch {
    return [];
  }
};

describe('starting the engine service', () => {
  const mine = `/run/skaha/test-${crypto.randomBytes(4).toString('hex')}.sock`;
  const connect = () => connectEngine({ socketPath: mine, containersConf: DEFAULT_CONTAINERS_CONF, startService: true, logFile: '/tmp/skaha-test-podman.log' });
  after(() => {
    for (const pid of servicesOn(mine)) process.kill(Number(pid), 'SIGKILL');
  });

  it('starts one service when several processes need it at once, and waits for a busy one instead of replacing it', async () => {
    await Promise.all([connect(), connect(), connect()]);
    const [pid, ...more] = servicesOn(mine);
    assert.ok(pid, 'a service runs');
    assert.deepEqual(more, [], 'and only one');
    // A stopped (SIGSTOP) service still accepts connections but answers nothing, as a very
    // busy one does: the next start waits for it instead of taking its socket.
    process.kill(Number(pid), 'SIGSTOP');
    const resumed = new Promise((r) => setTimeout(r, 5000)).then(() => process.kill(Number(pid), 'SIGCONT'));
    const docker = await connect();
    await resumed;
    assert.deepEqual(servicesOn(mine), [pid], 'the same service, not a second one');
    assert.equal(String(await docker.ping()), 'OK');
  });
});

describe('when the container engine goes away', () => {
  const cleanups = cleanupList();
  after(async () => {
    await cleanups.run();
    stopEngine();
  });

  it('answers 503 with a clear line, creates nothing, keeps listing, and recovers by itself', async () => {
    await startEngine();
    const tp = await startPlatform(cleanups.add, { podman: { socketPath } });
    const { token } = await tp.newUser();
    const running = await tp.request('POST', '/skaha/v0/session', { token, form: { name: 'before', image: WEB_IMAGE, type: 'contributed' } });
    assert.equal(running.status, 200, running.body);

    stopEngine();
    await new Promise((r) => setTimeout(r, 500));
    const refused = await tp.request('POST', '/skaha/v0/session', { token, form: { name: 'during', image: HEADLESS_IMAGE, cmd: 'true' } });
    assert.equal(refused.status, 503);
    assert.equal(refused.body, 'temporarily unavailable: the container engine is not reachable, try again shortly\n');
    assert.equal(refused.headers.get('retry-after'), '30');
    const list = JSON.parse((await tp.request('GET', '/skaha/v0/session', { token })).body) as Array<{ name: string }>;
    assert.deepEqual(
      list.map((s) => s.name),
      ['before'],
      'the list still answers, and nothing half-made is in it',
    );
    const avail = await tp.request('GET', '/skaha/availability');
    assert.match(avail.body, /<vosi:available>false<\/vosi:available>/);

    await startEngine();
    let available = '';
    for (let i = 0; i < 150 && !available.includes('>true<'); i++) {
      await new Promise((r) => setTimeout(r, 200));
      available = (await tp.request('GET', '/skaha/availability')).body;
    }
    assert.match(available, /<vosi:available>true<\/vosi:available>/, 'the event stream reconnected');
    const again = await tp.request('POST', '/skaha/v0/session', { token, form: { name: 'after', image: HEADLESS_IMAGE, cmd: 'true' } });
    assert.equal(again.status, 200, again.body);
    assert.equal(await tp.waitStatus(token, again.body.trim(), ['Succeeded']), 'Succeeded', 'events flow again');
  });
});
