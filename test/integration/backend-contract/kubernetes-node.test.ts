import crypto from 'node:crypto';
import { describe, it } from 'node:test';
import { createNamespace, missingKubeBinaries, startKubeCluster, type KubeCluster } from '../../helpers/kube-cluster.js';
import { missingNodeParts, NODE_HOST_IP, noLivePods, startRealNode, type RealNode } from '../../helpers/kube-node.js';
import { HEADLESS_IMAGE, WEB_IMAGE } from '../../helpers/platform.js';
import { DESKTOP_IMAGE, NOTEBOOK_IMAGE, TERMINAL_IMAGE } from '../../helpers/sessions.js';
import { describeBackendContract } from './contract.js';
import { kubernetesChecks } from './kubernetes-checks.js';

/**
 * The backend contract on a real node (issue 20): the same control plane as kubernetes.test.ts,
 * without kwok, and one node whose kubelet runs every pod in containerd and runc
 * (test/helpers/kube-node.ts). Jobs really run and end by themselves, the web app answers the
 * proxy from its pod IP, logs come from the container, and a desktop-app's pod is made beside its
 * desktop's. The images are the reference images, imported from the local engine (never pulled).
 */
let cluster: KubeCluster | undefined;
let node: RealNode | undefined;
const namespace = `skaha-node-${crypto.randomBytes(3).toString('hex')}`;
const { kube, checkDesktopApp, deadlineOf, appWindowOnDesktop } = kubernetesChecks(() => cluster!.kubeconfigPath, namespace);

const missing = [...missingKubeBinaries().filter((b) => b !== 'helm'), ...missingNodeParts()];
if (missing.length > 0) {
  describe('backend contract: kubernetes, real node', () => {
    it(`needs the cluster's and the node's parts (missing: ${missing.join(', ')}; scripts/test.sh installs and builds them)`, { skip: true }, () => undefined);
  });
} else {
  describeBackendContract('kubernetes, real node', {
    async setUp() {
      cluster = await startKubeCluster({ nodes: 0, serverIps: [NODE_HOST_IP] });
      node = await startRealNode(cluster, { images: [WEB_IMAGE, HEADLESS_IMAGE, DESKTOP_IMAGE, TERMINAL_IMAGE, NOTEBOOK_IMAGE] });
      await createNamespace(cluster, namespace);
    },
    async tearDown() {
      await node?.stop();
      await cluster?.stop();
    },
    // Imported images only: a pull would go to images.canfar.net, which is not reachable here.
    config: () => ({ backend: 'kubernetes', kubernetes: { kubeconfig: cluster!.kubeconfigPath, namespace, imagePullPolicy: 'Never' } }),
    images: { web: WEB_IMAGE, headless: HEADLESS_IMAGE, desktop: DESKTOP_IMAGE, terminal: TERMINAL_IMAGE, notebook: NOTEBOOK_IMAGE },
    // `true` and `false` end by themselves in their containers.
    finish: async () => undefined,
    // The web image answers on its port, at its pod IP (routed to the node).
    serve: async () => async () => undefined,
    restartEngine: () => cluster!.restartApiServer(),
    async checkDesktopApp(desktopId, appId) {
      await checkDesktopApp(desktopId, appId);
      // The terminal's xterm, drawn on the desktop's display from the app's own pod.
      await appWindowOnDesktop(desktopId, 'terminal-1-0');
    },
    deadlineOf,
    logsAreReal: true,
    // Two cores, and each session asks one: a case starts once the last one's pods are gone.
    settle: () => noLivePods(kube().core, namespace),
  });
}
