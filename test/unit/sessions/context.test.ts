import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildContext, CHART_DEFAULT_CONTEXT } from '../../../src/sessions/context.js';

describe('resource context (spec §3.11)', () => {
  it('offers only what the machine has and clamps the defaults into it', () => {
    const ctx = buildContext(CHART_DEFAULT_CONTEXT, { cores: 2, memoryGiB: 23.4, gpus: 0 }, 5);
    assert.deepEqual(ctx, {
      cores: { default: 2, defaultRequest: 1, defaultLimit: 2, defaultHeadless: 1, options: [1, 2] },
      memoryGB: { default: 8, defaultRequest: 4, defaultLimit: 20, defaultHeadless: 4, options: [1, 2, 4, 6, 8, 10, 12, 14, 16, 20] },
      gpus: { options: [] },
      maxInteractiveSessions: '5',
    });
  });

  it('keeps the chart context whole on a big machine', () => {
    const ctx = buildContext(CHART_DEFAULT_CONTEXT, { cores: 64, memoryGiB: 512, gpus: 28 }, 5);
    assert.deepEqual(ctx.cores, CHART_DEFAULT_CONTEXT.cores);
    assert.deepEqual(ctx.memoryGB, CHART_DEFAULT_CONTEXT.memoryGB);
    assert.deepEqual(ctx.gpus, CHART_DEFAULT_CONTEXT.gpus);
  });
});
