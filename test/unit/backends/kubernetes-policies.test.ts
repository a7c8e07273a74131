import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeSessionsPolicy, makeUserPolicy } from '../../../src/backends/kubernetes/policies.js';

const opts = {
  namespace: 'skaha-workload',
  serverNamespace: 'skaha-system',
  serverPodLabels: { 'app.kubernetes.io/name': 'skaha' },
  blockedCidrs: ['10.244.0.0/16'],
  serverCidrs: [] as string[],
};
const server = {
  namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'skaha-system' } },
  podSelector: { matchLabels: { 'app.kubernetes.io/name': 'skaha' } },
};

describe('Kubernetes NetworkPolicies of sessions', () => {
  it('lets only the server in to any session, and sessions out to DNS, the server and the world minus the cluster', () => {
    assert.deepEqual(makeSessionsPolicy(opts), {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: {
        name: 'skaha-sessions',
        namespace: 'skaha-workload',
        labels: { 'app.kubernetes.io/managed-by': 'skaha', 'app.kubernetes.io/part-of': 'canfar' },
      },
      spec: {
        podSelector: { matchLabels: { 'app.kubernetes.io/managed-by': 'skaha' } },
        policyTypes: ['Ingress', 'Egress'],
        ingress: [{ _from: [server] }],
        egress: [
          {
            ports: [
              { protocol: 'UDP', port: 53 },
              { protocol: 'TCP', port: 53 },
            ],
          },
          { to: [server] },
          { to: [{ ipBlock: { cidr: '0.0.0.0/0', except: ['10.244.0.0/16'] } }] },
        ],
      },
    });
    // No blocked ranges: an ipBlock without an empty `except`, which the API server would keep as noise.
    assert.deepEqual(makeSessionsPolicy({ ...opts, blockedCidrs: [] }).spec?.egress?.[2], { to: [{ ipBlock: { cidr: '0.0.0.0/0' } }] });
  });

  it('lets in, and lets sessions call, a server outside the cluster at its addresses', () => {
    const outside = makeSessionsPolicy({ ...opts, serverCidrs: ['10.99.0.1/32'] });
    assert.deepEqual(outside.spec?.ingress, [{ _from: [server, { ipBlock: { cidr: '10.99.0.1/32' } }] }]);
    assert.deepEqual(outside.spec?.egress?.[1], { to: [server, { ipBlock: { cidr: '10.99.0.1/32' } }] });
  });

  it("lets a user's pods reach each other, selected by uid", () => {
    const own = { podSelector: { matchLabels: { 'app.kubernetes.io/managed-by': 'skaha', 'canfar.net/uid': '200001' } } };
    const policy = makeUserPolicy(200001, opts);
    assert.equal(policy.metadata?.name, 'skaha-user-200001');
    assert.deepEqual(policy.spec, { podSelector: own.podSelector, policyTypes: ['Ingress', 'Egress'], ingress: [{ _from: [own] }], egress: [{ to: [own] }] });
  });
});
