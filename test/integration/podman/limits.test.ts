import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { SESSION_LABEL } from '../../../src/backends/labels.js';
import { cleanupList, engine, HEADLESS_IMAGE, launch, projectScript, randomName, startPlatform, type TestPlatform } from '../../helpers/platform.js';

/** Issue 16 point 4: a user's headless jobs are limited in number and in what they request together. */
describe('per-user limits on headless jobs', () => {
  let tp: TestPlatform;
  const cleanups = cleanupList();
  before(async () => {
    tp = await startPlatform(cleanups.add, { sessions: { maxHeadlessJobs: 2, maxHeadlessCores: 3 } });
  });
  after(() => cleanups.run());

  it('refuses the job past the count or the cores, with a one-line reason, and admits again when one ends', async () => {
    const { username, token } = await tp.newUser('lim');
    const job = (cores: string) => ({ name: 'sleeper', image: HEADLESS_IMAGE, type: 'headless', cmd: 'sleep', args: '300', cores, ram: '1' });
    const post = (form: Record<string, string>) => tp.request('POST', '/skaha/v0/session', { token, form });
    const first = await launch(tp, token, job('2'));
    const tooMuch = await post(job('2'));
    assert.equal(tooMuch.status, 400);
    assert.equal(tooMuch.body, `User ${username}'s active headless jobs would request 4 cores, more than the maximum of 3.\n`);
    await launch(tp, token, job('1'));
    const third = await post(job('1'));
    assert.equal(third.status, 400);
    assert.equal(third.body, `User ${username} has reached the maximum of 2 active headless jobs.\n`);
    const jobs = JSON.parse((await tp.request('GET', '/skaha/v0/session', { token })).body) as unknown[];
    assert.equal(jobs.length, 2, 'a refused launch made nothing');
    // Another user is not held by this one's jobs.
    const other = await tp.newUser('lim');
    assert.equal((await tp.request('POST', '/skaha/v0/session', { token: other.token, form: job('2') })).status, 200);

    assert.equal((await tp.request('DELETE', `/skaha/v0/session/${first}`, { token })).status, 200);
    let admitted = 0;
    for (let i = 0; i < 100 && admitted !== 200; i++) {
      admitted = (await post(job('1'))).status;
      if (admitted !== 200) await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(admitted, 200, 'room again once a job is gone');
  });
});

/**
 * Issue 16: admission against capacity. Headless jobs run while their requests fit in the quota;
 * the rest wait, Pending with their place in the queue, start in launch order as room frees, and
 * keep their places across a restart of the server.
 */
describe('headless jobs queued for room on the machine', () => {
  const cleanups = cleanupList();
  const quota = { podman: { headlessQuota: { cores: 1, ramGiB: 64 } } };
  after(() => cleanups.run());

  it('queues what does not fit, starts it in order when room frees, and keeps the queue over a restart', async () => {
    const firstRun = cleanupList();
    const first = await startPlatform(firstRun.add, quota, { keepData: true });
    const dataDir = first.dataDir;
    const { token } = await first.newUser('queue');
    const flag = `${first.dataDir}/arc/projects/${randomName('flag')}`;
    const job = (name: string, script: string) =>
      launch(first, token, { name, image: HEADLESS_IMAGE, type: 'headless', cmd: '/bin/sh', args: projectScript(first, script), cores: '1', ram: '1' });
    const blocker = await job('blocker', `while [ ! -e /arc/projects/${flag.split('/').pop()} ]; do sleep 0.2; done; echo blocker done`);
    assert.equal(await first.waitStatus(token, blocker, ['Running', 'Failed', 'Succeeded']), 'Running');
    const second = await job('second', 'echo second done');
    const third = await job('third', 'echo third done');
    const tooBig = await first.request('POST', '/skaha/v0/session', {
      token,
      form: { name: 'huge', image: HEADLESS_IMAGE, type: 'headless', cmd: 'true', cores: '2', ram: '1' },
    });
    assert.equal(tooBig.status, 400);
    assert.match(tooBig.body, /can never start here: headless jobs may ask 1 cores and 64 GiB in all/);

    const events = async (tp: TestPlatform, id: string) => (await tp.request('GET', `/skaha/v0/session/${id}`, { token, query: { view: 'events' } })).body;
    const containers = async (id: string) => (await engine().listContainers({ all: true, filters: { label: [`${SESSION_LABEL.id}=${id}`] } })).length;
    for (const [id, place] of [
      [second, '1st of 2'],
      [third, '2nd of 2'],
    ] as const) {
      assert.equal(JSON.parse((await first.request('GET', `/skaha/v0/session/${id}`, { token })).body).status, 'Pending');
      assert.match(await events(first, id), new RegExp(`Queued \\(${place}\\): asks 1 cores and 1 GiB; 0 cores and 63 GiB of the 1 cores and 64 GiB`));
      assert.equal(await containers(id), 0, 'no container while it waits');
    }

    // The server stops (its sessions stay) and starts again on the same data: the queue is back, in order.
    await firstRun.run();
    const again = await startPlatform(cleanups.add, quota, { dataDir });
    cleanups.add(async () => {
      for (const id of [blocker, second, third]) await again.request('DELETE', `/skaha/v0/session/${id}`, { token });
    });
    assert.match(await events(again, second), /Queued \(1st of 2\)/);
    assert.match(await events(again, third), /Queued \(2nd of 2\)/);
    assert.equal(JSON.parse((await again.request('GET', `/skaha/v0/session/${blocker}`, { token })).body).status, 'Running');

    // Room frees: the queued jobs start, in order, and do their work.
    fs.writeFileSync(flag, '');
    for (const id of [blocker, second, third])
      assert.equal(await again.waitStatus(token, id, ['Succeeded', 'Failed'], 120_000), 'Succeeded', await events(again, id));
    const started = async (id: string) =>
      new Date((JSON.parse((await again.request('GET', `/skaha/v0/session/${id}`, { token })).body) as { startTime: string }).startTime).getTime();
    assert.ok((await started(second)) <= (await started(third)), 'the second started no later than the third');
    assert.match((await again.request('GET', `/skaha/v0/session/${third}`, { token, query: { view: 'logs' } })).body, /third done/);
  });
});
