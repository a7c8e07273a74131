import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseCallbackRules } from '../../../src/backends/podman/firewall.js';

describe("the session firewall's rules", () => {
  it('finds the callback-port rules in iptables-save output, and nothing else', () => {
    const saved = [
      ':SKAHA_INPUT - [0:0]',
      '-A INPUT -j SKAHA_INPUT',
      '-A SKAHA_INPUT -i podman3 -p tcp -m tcp --dport 8557 -m comment --comment "skaha callback listener" -j RETURN',
      '-A SKAHA_INPUT -i podman3 -p tcp -m tcp --dport 53 -j RETURN',
      '-A OTHER -i podman4 -p tcp -m tcp --dport 9000 -m comment --comment "skaha callback listener" -j RETURN',
      '-A SKAHA_INPUT -i podman3 -j REJECT --reject-with icmp-port-unreachable',
    ].join('\n');
    assert.deepEqual(parseCallbackRules(saved), [{ bridge: 'podman3', port: '8557' }]);
  });
});
