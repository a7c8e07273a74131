import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { inSubnet, ipv4Of, ipv4ToInt } from '../../../src/backends/podman/networks.js';

describe('session network addresses', () => {
  it('parses dotted quads and refuses anything else', () => {
    assert.equal(ipv4ToInt('10.89.0.1'), (10 << 24) + (89 << 16) + 1);
    assert.equal(ipv4ToInt('255.255.255.255'), 0xffffffff);
    for (const bad of ['', '10.89.0', '10.89.0.256', '10.89.0.-1', '::1', '10.89.0.1 ', 'a.b.c.d']) assert.equal(ipv4ToInt(bad), undefined, bad);
  });

  it('tells whether a peer lies in a subnet', () => {
    assert.ok(inSubnet('10.89.0.7', '10.89.0.0/24'));
    assert.ok(!inSubnet('10.89.1.7', '10.89.0.0/24'));
    assert.ok(inSubnet('10.89.1.7', '10.89.0.0/16'));
    assert.ok(!inSubnet('127.0.0.1', '10.89.0.0/24'));
    assert.ok(!inSubnet('::ffff:10.89.0.7', '10.89.0.0/24'), 'a mapped address is unwrapped by the listener, not here');
    assert.ok(!inSubnet('10.89.0.7', '10.89.0.0/33'));
    assert.ok(!inSubnet('10.89.0.7', 'garbage'));
  });

  it('reads the IPv4 subnet and gateway from an engine network', () => {
    const info = {
      IPAM: {
        Config: [
          { Subnet: 'fd00::/64', Gateway: 'fd00::1' },
          { Subnet: '10.89.0.0/24', Gateway: '10.89.0.1' },
        ],
      },
    };
    assert.deepEqual(ipv4Of(info), { subnet: '10.89.0.0/24', gateway: '10.89.0.1' });
    assert.equal(ipv4Of({}), undefined);
  });
});
