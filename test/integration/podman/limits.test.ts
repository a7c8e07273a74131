import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { cleanupList, HEADLESS_IMAGE, launch, startPlatform, type TestPlatform } from '../../helpers/platform.js';

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
