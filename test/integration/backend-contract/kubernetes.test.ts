import crypto from 'node:crypto';
import http from 'node:http';
import { describe, it } from 'node:test';
import { createNamespace, missingKubeBinaries, startKubeCluster, type KubeCluster } from '../../helpers/kube-cluster.js';
import { describeBackendContract } from './contract.js';
import { kubernetesChecks } from './kubernetes-checks.js';

/**
 * The backend contract on a real control plane (etcd, kube-apiserver, controller-manager,
 * scheduler) with kwok playing the kubelet (test/helpers/kube-cluster.ts). No container runs:
 * pods go Running with a loopback pod IP, where the test itself plays the session's server, and
 * a headless pod ends when the test annotates it. Everything else — Jobs, deadlines, garbage
 * collection of desktop-apps, watches, Events — is the real Kubernetes code.
 */
let cluster: KubeCluster | undefined;
const namespace = `skaha-contract-${crypto.randomBytes(3).toString('hex')}`;
const { kube, podOf, checkDesktopApp, deadlineOf } = kubernetesChecks(() => cluster!.kubeconfigPath, namespace);

const missing = missingKubeBinaries().filter((b) => b !== 'helm');
if (missing.length > 0) {
  describe('backend contract: kubernetes', () => {
    it(`needs the control-plane binaries (missing: ${missing.join(', ')}; scripts/test.sh builds them)`, { skip: true }, () => undefined);
  });
} else {
  describeBackendContract('kubernetes', {
    async setUp() {
      cluster = await startKubeCluster();
      await createNamespace(cluster, namespace);
    },
    async tearDown() {
      await cluster?.stop();
    },
    // gpuNodeAffinity on: sessions without GPUs must stay off GPU nodes, and still schedule here.
    config: () => ({ backend: 'kubernetes', kubernetes: { kubeconfig: cluster!.kubeconfigPath, namespace, gpuNodeAffinity: true } }),
    images: {
      web: 'images.canfar.net/skaha/webapp:1.0',
      headless: 'images.canfar.net/skaha/headless:1.0',
      desktop: 'images.canfar.net/skaha/desktop:1.0',
      terminal: 'images.canfar.net/skaha/terminal:1.0',
      notebook: 'images.canfar.net/skaha/notebook:1.0',
    },
    // kwok's skaha-pod-complete stage ends a running pod carrying these annotations.
    async finish(id, exitCode) {
      const pod = await podOf(id);
      await kube().core.patchNamespacedPod({
        name: pod.metadata!.name!,
        namespace,
        body: [{ op: 'add', path: '/metadata/annotations', value: { 'skaha.test/complete-after': '0s', 'skaha.test/exit-code': String(exitCode) } }],
      });
    },
    // Pod IPs are loopback addresses (127.42.0.0/16): the test listens there as the session would.
    async serve(address, body) {
      const server = http.createServer((_req, res) => res.end(body));
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(address.port, address.host, () => resolve());
      });
      return () => new Promise<void>((resolve) => server.close(() => resolve()));
    },
    restartEngine: () => cluster!.restartApiServer(),
    checkDesktopApp,
    deadlineOf,
    logsAreReal: false,
  });
}
