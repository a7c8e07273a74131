import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import fs from 'node:fs';
import { startKubeCluster, createNamespace } from './helpers/kube-cluster.js';
import { startRealNode, NODE_HOST_IP } from './helpers/kube-node.js';
const t0 = Date.now();
const cluster = await startKubeCluster({ nodes: 0, serverIps: [NODE_HOST_IP] });
let node;
try {
  node = await startRealNode(cluster, { images: ['images.canfar.net/skaha/webapp:1.0'] });
  console.log('node ready', Date.now() - t0, node.dir);
  await createNamespace(cluster, 'smoke');
  const kc = new KubeConfig(); kc.loadFromFile(cluster.kubeconfigPath);
  const core = kc.makeApiClient(CoreV1Api);
  await core.createNamespacedPod({ namespace: 'smoke', body: { metadata: { name: 'web' }, spec: { containers: [{ name: 'c', image: 'images.canfar.net/skaha/webapp:1.0', imagePullPolicy: 'Never', securityContext: { runAsUser: 1234, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } } }] } } });
  for (let i = 0; i < 300; i++) {
    const p = await core.readNamespacedPod({ name: 'web', namespace: 'smoke' });
    if (p.status?.phase === 'Running') { console.log('running', Date.now() - t0, p.status.podIP); break; }
    await new Promise((r) => setTimeout(r, 200));
  }
  await new Promise((r) => setTimeout(r, 2000));
  const d0 = Date.now();
  await core.deleteNamespacedPod({ name: 'web', namespace: 'smoke' });
  for (let i = 0; i < 600; i++) {
    const p = await core.readNamespacedPod({ name: 'web', namespace: 'smoke' }).catch(() => undefined);
    if (!p) { console.log('gone after', Date.now() - d0); break; }
    await new Promise((r) => setTimeout(r, 200));
  }
  console.log(fs.readFileSync(node.dir + '/logs/kubelet.log', 'utf8').split('\n').filter((l) => /web|Kill|kill|error|E12/i.test(l)).slice(-25).join('\n'));
} catch (e) { console.error('ERR', e); }
finally { await node?.stop(); await cluster.stop(); console.log('stopped', Date.now() - t0); }
