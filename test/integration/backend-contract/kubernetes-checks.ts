import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { BatchV1Api, CoreV1Api, Exec, KubeConfig, type V1Pod } from '@kubernetes/client-node';

/**
 * What the contract suite checks on the cluster's side, the same whether kwok plays the nodes
 * (kubernetes.test.ts) or a real kubelet runs the pods (kubernetes-node.test.ts).
 */
export function kubernetesChecks(kubeconfigPath: () => string, namespace: string) {
  const kube = () => {
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfigPath());
    return { core: kc.makeApiClient(CoreV1Api), batch: kc.makeApiClient(BatchV1Api) };
  };

  /** The Running pod of a session (or of a desktop-app). */
  async function podOf(id: string, appId?: string): Promise<V1Pod> {
    const selector = `canfar.net/id=${id}${appId ? `,canfar.net/app-id=${appId}` : ',!canfar.net/app-id'}`;
    for (let i = 0; i < 600; i++) {
      const pods = await kube().core.listNamespacedPod({ namespace, labelSelector: selector });
      const pod = pods.items.find((p) => p.status?.phase === 'Running');
      if (pod) return pod;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`no running pod for session ${id}`);
  }

  /** The app belongs to the desktop's Job and draws on the desktop pod's display, by pod IP. */
  async function checkDesktopApp(desktopId: string, appId: string): Promise<void> {
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
  }

  async function deadlineOf(id: string): Promise<number | undefined> {
    const jobs = (await kube().batch.listNamespacedJob({ namespace, labelSelector: `canfar.net/id=${id},!canfar.net/app-id` })).items;
    return jobs[0]?.spec?.activeDeadlineSeconds;
  }

  /** Run a command in a session's pod (through the API server and the kubelet) and return its output. */
  async function execIn(id: string, command: string[]): Promise<string> {
    const pod = await podOf(id);
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfigPath());
    const out = new PassThrough();
    let text = '';
    out.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
    await new Promise<void>((resolve, reject) => {
      new Exec(kc)
        .exec(namespace, pod.metadata!.name!, pod.spec!.containers[0]!.name, command, out, out, null, false, () => resolve())
        .then((socket) => socket.on('close', () => resolve()))
        .catch(reject);
    });
    return text;
  }

  /**
   * On a real node: the app's window is on the desktop's X display — the app's pod reached the
   * desktop's pod over the pod network, with the desktop's cookie.
   */
  async function appWindowOnDesktop(desktopId: string, windowName: string): Promise<void> {
    let tree = '';
    for (let i = 0; i < 60 && !tree.includes(`"${windowName}"`); i++) {
      tree = await execIn(desktopId, ['sh', '-c', 'DISPLAY=127.0.0.1:1 XAUTHORITY=/skaha-session/Xauthority xwininfo -root -tree 2>&1']);
      if (!tree.includes(`"${windowName}"`)) await new Promise((r) => setTimeout(r, 500));
    }
    assert.match(tree, new RegExp(`"${windowName}"`), `the app's window is on the desktop's display:\n${tree}`);
  }

  return { kube, podOf, checkDesktopApp, deadlineOf, appWindowOnDesktop };
}
