import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startedDespite } from '../../../src/backends/podman/engine-api.js';

/** An error as dockerode builds it from the engine's 500 answer. */
const engineError = (message: string) => Object.assign(new Error(`(HTTP code 500) server error - ${message}`), { statusCode: 500, json: { message } });

describe('a start that failed but happened (containers/podman#16383)', () => {
  const race = engineError('read /proc/17910/cgroup: no such process');
  it('counts the cgroup-read race as a start when the container did start and end', () => {
    assert.equal(startedDespite(race, { Status: 'exited', StartedAt: '2026-12-04T13:40:01.5Z' }), true);
    assert.equal(startedDespite(race, { Status: 'running', StartedAt: '2026-12-04T13:40:01.5Z' }), true);
  });
  it('is a failure when the container never started, is gone, or the error is another', () => {
    assert.equal(startedDespite(race, { Status: 'created', StartedAt: '0001-01-01T00:00:00Z' }), false);
    assert.equal(startedDespite(race, { Status: 'exited', StartedAt: '0001-01-01T00:00:00Z' }), false);
    assert.equal(startedDespite(race, undefined), false);
    const noExec = engineError('crun: executable file `/no/such/program` not found in $PATH: No such file or directory');
    assert.equal(startedDespite(noExec, { Status: 'exited', StartedAt: '2026-12-04T13:40:01.5Z' }), false);
  });
});
