import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resolveConfig } from '../../../src/server/config.js';

describe('configuration: NetworkPolicy address ranges', () => {
  it('takes IPv4 and IPv6 ranges, and refuses anything else at load, naming the key', () => {
    const config = resolveConfig({
      dataDir: '/tmp/skaha-config-test',
      kubernetes: { networkPolicy: { serverCidrs: ['10.99.0.1/32', 'fd00::/8'], blockedCidrs: ['10.244.0.0/16'] } },
    });
    assert.deepEqual(config.kubernetes.networkPolicy.serverCidrs, ['10.99.0.1/32', 'fd00::/8']);
    assert.throws(
      () => resolveConfig({ dataDir: '/tmp/skaha-config-test', kubernetes: { networkPolicy: { serverCidrs: ['10.99.0.1'] } } }),
      /^Error: invalid configuration at \/kubernetes\/networkPolicy\/serverCidrs\/0: Expected string to match/,
    );
    assert.throws(
      () => resolveConfig({ dataDir: '/tmp/skaha-config-test', kubernetes: { networkPolicy: { blockedCidrs: ['pods'] } } }),
      /networkPolicy\/blockedCidrs\/0/,
    );
  });
});
