import type { V1NetworkPolicy, V1NetworkPolicyPeer } from '@kubernetes/client-node';
import { SESSION_LABEL } from '../labels.js';

/**
 * Network isolation on the cluster (issue 15 point 4), as NetworkPolicies in the workload
 * namespace. Policies add up: a pod selected by any policy of a direction accepts only what one
 * of them allows. So:
 *
 * - `skaha-sessions` selects every session pod: ingress only from the skaha server's pods (the
 *   proxy), or its `serverCidrs` when it runs outside the cluster; egress only to DNS, the server
 *   (the callback API) and addresses outside `blockedCidrs` (the operator lists the pod, service
 *   and node networks there).
 * - `skaha-user-<uid>`, one per user, selects that user's pods and lets them reach each other
 *   (a desktop-app draws on its desktop's X display over the pod network).
 *
 * No other user's pod is allowed in: another user's session cannot reach this one, whatever
 * egress it has. Enforcement is the network plugin's (Calico, Cilium, kube-router, ...); without
 * one the API server accepts the policies and nothing enforces them (docs/kubernetes.md).
 */
export interface NetworkPolicyOptions {
  namespace: string;
  /** The namespace of the skaha server's pods, and their labels (the chart's selector labels). */
  serverNamespace: string;
  serverPodLabels: Record<string, string>;
  /** Address ranges sessions must not reach (pods, services, nodes); the rest of the world they may. */
  blockedCidrs: string[];
  /** A server outside the cluster: its addresses, let in and reachable like the server's pods. */
  serverCidrs: string[];
}

/** The label that carries a session's uid: unique per user, unlike a shortened username label. */
export const UID_LABEL = 'canfar.net/uid';
const MANAGED = { [SESSION_LABEL.managedBy]: 'skaha' };
const POLICY_LABELS = { [SESSION_LABEL.managedBy]: 'skaha', [SESSION_LABEL.partOf]: 'canfar' };
const SESSIONS_POLICY = 'skaha-sessions';
const userPolicyName = (uid: number) => `skaha-user-${uid}`;

/** The skaha server: its pods, and its addresses when it runs outside the cluster. */
function serverPeers(opts: NetworkPolicyOptions): V1NetworkPolicyPeer[] {
  return [
    {
      namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': opts.serverNamespace } },
      podSelector: { matchLabels: opts.serverPodLabels },
    },
    ...opts.serverCidrs.map((cidr) => ({ ipBlock: { cidr } })),
  ];
}

export function makeSessionsPolicy(opts: NetworkPolicyOptions): V1NetworkPolicy {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name: SESSIONS_POLICY, namespace: opts.namespace, labels: POLICY_LABELS },
    spec: {
      podSelector: { matchLabels: MANAGED },
      policyTypes: ['Ingress', 'Egress'],
      ingress: [{ _from: serverPeers(opts) }],
      egress: [
        {
          ports: [
            { protocol: 'UDP', port: 53 },
            { protocol: 'TCP', port: 53 },
          ],
        },
        { to: serverPeers(opts) },
        { to: [{ ipBlock: { cidr: '0.0.0.0/0', ...(opts.blockedCidrs.length ? { except: opts.blockedCidrs } : {}) } }] },
      ],
    },
  };
}

export function makeUserPolicy(uid: number, opts: Pick<NetworkPolicyOptions, 'namespace'>): V1NetworkPolicy {
  const sameUser = { podSelector: { matchLabels: { ...MANAGED, [UID_LABEL]: String(uid) } } };
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name: userPolicyName(uid), namespace: opts.namespace, labels: POLICY_LABELS },
    spec: {
      podSelector: sameUser.podSelector,
      policyTypes: ['Ingress', 'Egress'],
      ingress: [{ _from: [sameUser] }],
      egress: [{ to: [sameUser] }],
    },
  };
}
