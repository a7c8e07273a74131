import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AdmissionQueue } from '../../../src/backends/podman/admission.js';

const none = { cores: 0, ramGiB: 0 };

describe('admission of headless jobs against the machine', () => {
  it('admits while the requests fit, then queues everything after the first that does not', () => {
    const queue = new AdmissionQueue(() => ({ cores: 2, ramGiB: 8 }));
    assert.ok(queue.admitsNow({ cores: 1, ramGiB: 4 }, none));
    assert.ok(queue.admitsNow({ cores: 1, ramGiB: 4 }, { cores: 1, ramGiB: 4 }), 'exactly full is fine');
    assert.ok(!queue.admitsNow({ cores: 1, ramGiB: 4 }, { cores: 1.5, ramGiB: 1 }), 'cores');
    assert.ok(!queue.admitsNow({ cores: 0.5, ramGiB: 4.5 }, { cores: 0, ramGiB: 4 }), 'memory');
    assert.ok(queue.admitsNow({ cores: 0.3, ramGiB: 0 }, { cores: 0.1 + 0.2 + 1.4, ramGiB: 0 }), 'rounding noise of fractional cores');
    queue.enqueue('big', { cores: 2, ramGiB: 1 });
    assert.ok(!queue.admitsNow({ cores: 0.1, ramGiB: 0.1 }, none), 'a small job does not pass a waiting one');
  });

  it('starts waiting jobs in order as room frees, never passing the head', () => {
    const queue = new AdmissionQueue(() => ({ cores: 2, ramGiB: 8 }));
    queue.enqueue('a', { cores: 2, ramGiB: 1 });
    queue.enqueue('b', { cores: 0.5, ramGiB: 1 });
    queue.enqueue('c', { cores: 0.5, ramGiB: 1 });
    assert.deepEqual(queue.takeAdmitted({ cores: 1, ramGiB: 0 }), [], 'the head does not fit: nobody starts');
    assert.match(
      queue.note('c', { cores: 1, ramGiB: 0 })!,
      /^Queued \(3rd of 3\): asks 0.5 cores and 1 GiB; 1 cores and 8 GiB of the 2 cores and 8 GiB for headless jobs are free$/,
    );
    assert.deepEqual(queue.takeAdmitted(none), ['a']);
    assert.deepEqual(queue.takeAdmitted({ cores: 1, ramGiB: 1 }), ['b', 'c'], 'both fit beside what runs');
    assert.equal(queue.length, 0);
    assert.equal(queue.note('a', none), undefined);
  });

  it('forgets a deleted job, and refuses one larger than the whole quota at launch', () => {
    const queue = new AdmissionQueue(() => ({ cores: 2, ramGiB: 8 }));
    queue.enqueue('a', { cores: 1, ramGiB: 1 });
    queue.enqueue('a', { cores: 1, ramGiB: 1 });
    assert.equal(queue.length, 1, 'queued once');
    queue.remove('a');
    assert.ok(!queue.has('a'));
    assert.throws(() => queue.check({ cores: 3, ramGiB: 1 }), /asking 3 cores and 1 GiB can never start here: headless jobs may ask 2 cores and 8 GiB in all/);
    queue.check({ cores: 2, ramGiB: 8 });
  });
});
