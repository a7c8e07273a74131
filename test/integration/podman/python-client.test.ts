import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, describe, it } from 'node:test';
import { cleanupList, HEADLESS_IMAGE, startPlatform } from '../../helpers/platform.js';

const venv = process.env.PYTHON_CLIENT_VENV ?? '/var/cache/skaha-test/python-client';

describe('the official skaha Python client (1.7.0) works unchanged', () => {
  const cleanups = cleanupList();
  after(() => cleanups.run());

  it('lists images and context, creates replicas, waits, reads info, logs, events, stats, prunes', async () => {
    const tp = await startPlatform(cleanups.add);
    const { token } = await tp.newUser('py');
    const { stdout } = await promisify(execFile)(path.join(venv, 'bin', 'python'), [path.resolve('test/integration/podman/python_client_check.py')], {
      env: { ...process.env, SKAHA_TEST_SERVER: `${tp.base}/skaha`, SKAHA_TEST_TOKEN: token, SKAHA_TEST_IMAGE: HEADLESS_IMAGE },
      timeout: 120_000,
    });
    const seen = JSON.parse(stdout.trim().split('\n').pop()!) as {
      images: string[];
      context: string[];
      created: string[];
      statuses: string[];
      info: string[];
      logs: Record<string, string>;
      events: Array<Record<string, string>>;
      stats: { instances: object };
      destroyed: Record<string, boolean>;
    };
    assert.ok(seen.images.includes(HEADLESS_IMAGE));
    assert.deepEqual(seen.context, ['cores', 'gpus', 'maxInteractiveSessions', 'memoryGB']);
    assert.equal(seen.created.length, 2);
    assert.deepEqual(seen.statuses, ['Succeeded', 'Succeeded']);
    assert.deepEqual(seen.info, ['Succeeded', 'Succeeded']);
    const [first, second] = seen.created as [string, string];
    assert.match(seen.logs[first]!, /^FROM=python$/m);
    assert.match(seen.logs[first]!, /^REPLICA_ID=1$/m);
    assert.match(seen.logs[second]!, /^REPLICA_ID=2$/m);
    assert.match(seen.logs[second]!, /^REPLICA_COUNT=2$/m);
    assert.match(seen.events[0]![first]!, /^TYPE +REASON +MESSAGE +FIRST-TIME +LAST-TIME\n/);
    assert.ok('instances' in seen.stats);
    assert.deepEqual(seen.destroyed, { [first]: true, [second]: true });
  });
});
