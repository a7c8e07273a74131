import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import { describe, it } from 'node:test';
import { BatchV1Api, CoreV1Api, KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { createNamespace, missingKubeBinaries, startKubeCluster, type KubeCluster } from '../../helpers/kube-cluster.js';
import { describeBackendContract } from './contract.js';

/**
 * The backend contract on a real control plane (etcd, kube-apiserver, controller-manager,
 * scheduler) with kwok playing the kubelet (test/helpers/kube-cluster.ts). No container runs:
 * pods go Running with a loopback pod IP, where the test itself plays the session's server, and
 * a headless pod ends when the test annotates it. Everything else — Jobs, deadlines, garbage
 * collection of desktop-apps, watches, Events — is the real Kubernetes code.
 */
let cluster: KubeCluster | undefined;
const namespace = `skaha-contract-${crypto.randomBytes(3).toString('hex')}`;
const kube = () => {
  const kc = new KubeConfig();
  kc.loadFromFile(cluster!.kubeconfigPath);
  return { core: kc.makeApiClient(CoreV1Api), batch: kc.makeApiClient(BatchV1Api) };
};

async function podOf(id: string, appId?: string): Promise<V1Pod> {
  const selector = `canfar.net/id=${id}${appId ? `,canfar.net/app-id=${appId}` : ',!canfar.net/app-id'}`;
  for (let i = 0; i < 300; i++) {
    const pods = await kube().core.listNamespacedPod({ namespace, labelSelector: selector });
    const pod = pods.items.find((p) => p.status?.phase === 'Running');
    if (pod) return pod;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no running pod for session ${id}`);
}

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
    async checkDesktopApp(desktopId, appId) {
      const { batch } = kube();
      const jobs = (await batch.listNamespacedJob({ namespace, labelSelector: `canfar.net/id=${desktopId}` })).items;
      const desktop = jobs.find((j) => !j.metadata?.labels?.['canfar.net/app-id']);
      const app = jobs.find((j) => j.metadata?.labels?.['canfar.net/app-id'] === appId);
      assert.ok(desktop && app);
      assert.deepEqual(
        app.metadata?.ownerReferences?.map((o) => [o.kind, o.name, o.uid]),
        [['Job', desktop.metadata?.name, desktop.metadata?.uid]],
        'the app belongs to the desktop Job (garbage-collected with it)',
      );
      const desktopIp = (await podOf(desktopId)).status?.podIP;
      const display = app.spec?.template.spec?.containers[0]?.env?.find((e) => e.name === 'DISPLAY')?.value;
      assert.equal(display, `${desktopIp}:1`, "the app draws on the desktop pod's X display, by pod IP");
    },
    async deadlineOf(id) {
      const jobs = (await kube().batch.listNamespacedJob({ namespace, labelSelector: `canfar.net/id=${id},!canfar.net/app-id` })).items;
      return jobs[0]?.spec?.activeDeadlineSeconds;
    },
    logsAreReal: false,
  });
}
