import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UsageSampler } from '../../../src/backends/podman/usage.js';

describe('live usage of running sessions', () => {
  it('gives memory at once and cores from the CPU time between two samples; forgets gone containers', () => {
    const sampler = new UsageSampler();
    sampler.record([{ ContainerID: 'a', CPUNano: 1e9, MemUsage: 5e8 }], 0);
    assert.deepEqual(sampler.of('a'), { ramBytes: 5e8 });
    // 3 s of CPU time in 2 s of wall time: 1.5 cores.
    sampler.record([{ ContainerID: 'a', CPUNano: 4e9, MemUsage: 6e8 }], 2000);
    assert.deepEqual(sampler.of('a'), { ramBytes: 6e8, cores: 1.5 });
    sampler.record([], 4000);
    assert.equal(sampler.of('a'), undefined);
  });

  it('gives no cores when the counter went backwards (a restarted container)', () => {
    const sampler = new UsageSampler();
    sampler.record([{ ContainerID: 'a', CPUNano: 9e9, MemUsage: 1 }], 0);
    sampler.record([{ ContainerID: 'a', CPUNano: 1e9, MemUsage: 1 }], 1000);
    assert.equal(sampler.of('a')?.cores, undefined);
  });
});
