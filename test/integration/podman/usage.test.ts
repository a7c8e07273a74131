import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { cleanupList, HEADLESS_IMAGE, launch, projectScript, startPlatform, type TestPlatform } from '../../helpers/platform.js';
import { eventually } from '../../helpers/wait.js';

/**
 * Issue 17 point 5: `cpuCoresInUse` and `ramInUse` of a running session come from the engine
 * (they were always `<none>`): a job spinning on one core is seen using about one core.
 */
describe('live CPU and memory of a session from the engine', () => {
  let tp: TestPlatform;
  const cleanups = cleanupList();
  before(async () => {
    tp = await startPlatform(cleanups.add);
  });
  after(() => cleanups.run());

  it("reports a busy job's cores and memory as skaha's unit-less strings", async () => {
    const { token } = await tp.newUser('busy');
    const id = await launch(tp, token, {
      name: 'spin',
      image: HEADLESS_IMAGE,
      type: 'headless',
      cmd: '/bin/sh',
      args: projectScript(tp, 'while :; do :; done'),
      cores: '1',
      ram: '1',
    });
    assert.equal(await tp.waitStatus(token, id, ['Running', 'Failed', 'Succeeded']), 'Running');
    const session = await eventually(
      'two usage samples (10 s apart)',
      async () =>
        JSON.parse((await tp.request('GET', `/skaha/v0/session/${id}`, { token })).body) as { cpuCoresInUse: string; ramInUse: string; status: string },
      (s) => s.cpuCoresInUse !== '<none>',
      40_000,
    );
    assert.match(session.cpuCoresInUse, /^\d+\.\d{3}$/);
    assert.ok(Number(session.cpuCoresInUse) > 0.3 && Number(session.cpuCoresInUse) < 1.3, `about one core: ${session.cpuCoresInUse}`);
    assert.match(session.ramInUse, /^\d+\.\d{2}$/);
    const listed = JSON.parse((await tp.request('GET', '/skaha/v0/session', { token })).body) as Array<{ id: string; ramInUse: string }>;
    assert.notEqual(listed.find((s) => s.id === id)?.ramInUse, '<none>', 'the list shows it too');
  });
});
