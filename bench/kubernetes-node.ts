/**
 * Notebook launch on a real Kubernetes node (issue 20): the test control plane with one real
 * node (test/helpers/kube-node.ts: kubelet, containerd, runc), the platform in this process with
 * `backend: kubernetes`, and, alternating with each platform launch, a bare pod of the same
 * image, command, environment and volumes created straight through the API. Measured from the
 * request to:
 *
 *   Running      the platform: the session's status; the bare pod: its phase
 *   answering    the platform: JupyterLab answering through skaha's proxy at the connect URL;
 *                the bare pod: JupyterLab answering at its pod IP, the same path
 *
 *   node --import tsx bench/kubernetes-node.ts       # ~4 min; BENCH_LAUNCHES (10)
 *
 * One warm-up launch (page cache, the bare pod's template) is not counted. Every pod is gone
 * before the next launch (the node has two cores; each notebook asks one).
 */
import { BatchV1Api, CoreV1Api, KubeConfig, type V1Pod, type V1Volume } from '@kubernetes/client-node';
import { createNamespace, startKubeCluster } from '../test/helpers/kube-cluster.js';
import { NODE_HOST_IP, noLivePods, startRealNode } from '../test/helpers/kube-node.js';
import { startPlatform } from '../test/helpers/platform.js';
import { envInt, machine, machineLine, markdownTable, ms, now, ratio, sleep, summarize } from './lib.js';

const NOTEBOOK_IMAGE = 'images.canfar.net/skaha/notebook:1.0';
const LAUNCHES = envInt('BENCH_LAUNCHES', 10, 1, 50);
const NAMESPACE = 'bench-node';

const cleanups: Array<() => Promise<void>> = [];
const cluster = await startKubeCluster({ nodes: 0, serverIps: [NODE_HOST_IP] });
cleanups.push(() => cluster.stop());
try {
  const node = await startRealNode(cluster, { images: [NOTEBOOK_IMAGE] });
  cleanups.unshift(() => node.stop());
  await createNamespace(cluster, NAMESPACE);
  const kc = new KubeConfig();
  kc.loadFromFile(cluster.kubeconfigPath);
  const core = kc.makeApiClient(CoreV1Api);
  const batch = kc.makeApiClient(BatchV1Api);
  const tp = await startPlatform((fn) => void cleanups.unshift(fn), {
    backend: 'kubernetes',
    kubernetes: { kubeconfig: cluster.kubeconfigPath, namespace: NAMESPACE, imagePullPolicy: 'Never' },
    sessions: { maxUserSessions: 100 },
  });
  const user = await tp.newUser('bench');

  const podsGone = () => noLivePods(core, NAMESPACE);
  /** Poll until `ok` (every 20 ms), returning the time from t0. */
  const until = async (t0: number, ok: () => Promise<boolean>) => {
    for (let i = 0; i < 6000; i++) {
      if (await ok().catch(() => false)) return now() - t0;
      await sleep(20);
    }
    return Number.NaN;
  };

  let bare: { spec: NonNullable<V1Pod['spec']>; path: string; port: number } | undefined;

  async function platformLaunch(i: number): Promise<{ running: number; answered: number }> {
    const t0 = now();
    const r = await tp.request('POST', '/skaha/v1/session', {
      token: user.token,
      form: { name: `nb${i}`, image: NOTEBOOK_IMAGE, type: 'notebook', cores: '1', ram: '2' },
    });
    if (r.status !== 200) throw new Error(`launch: ${r.status} ${r.body}`);
    const id = r.body.trim();
    const session = async () =>
      JSON.parse((await tp.request('GET', `/skaha/v0/session/${id}`, { token: user.token })).body) as { status: string; connectURL: string };
    const running = await until(t0, async () => (await session()).status === 'Running');
    const connect = new URL((await session()).connectURL);
    const answered = await until(
      t0,
      async () => (await fetch(`${tp.base}${connect.pathname}`, { headers: { authorization: `Bearer ${user.token}` } })).status === 200,
    );
    if (!bare) bare = await bareTemplate(id, connect.pathname);
    await tp.request('DELETE', `/skaha/v0/session/${id}`, { token: user.token });
    await podsGone();
    return { running, answered };
  }

  /** The platform's own pod template of a session, with copies of its per-session ConfigMaps and Secrets. */
  async function bareTemplate(id: string, connectPath: string): Promise<NonNullable<typeof bare>> {
    const job = (await batch.listNamespacedJob({ namespace: NAMESPACE, labelSelector: `canfar.net/id=${id}` })).items[0]!;
    const spec = structuredClone(job.spec!.template.spec!);
    const volumes: V1Volume[] = [];
    for (const v of spec.volumes ?? []) {
      if (v.configMap?.name) {
        const cm = await core.readNamespacedConfigMap({ name: v.configMap.name, namespace: NAMESPACE });
        const name = `bare-${v.configMap.name}`;
        await core.createNamespacedConfigMap({ namespace: NAMESPACE, body: { metadata: { name }, data: cm.data ?? {} } }).catch(() => undefined);
        volumes.push({ ...v, configMap: { ...v.configMap, name } });
      } else if (v.secret?.secretName) {
        const secret = await core.readNamespacedSecret({ name: v.secret.secretName, namespace: NAMESPACE });
        const name = `bare-${v.secret.secretName}`;
        await core.createNamespacedSecret({ namespace: NAMESPACE, body: { metadata: { name }, data: secret.data ?? {} } }).catch(() => undefined);
        volumes.push({ ...v, secret: { ...v.secret, secretName: name } });
      } else volumes.push(v);
    }
    spec.volumes = volumes;
    spec.restartPolicy = 'Never';
    const port = spec.containers[0]?.ports?.[0]?.containerPort ?? 8888;
    return { spec, path: connectPath, port };
  }

  async function bareLaunch(i: number): Promise<{ running: number; answered: number }> {
    const name = `bare-${i}`;
    const t0 = now();
    await core.createNamespacedPod({ namespace: NAMESPACE, body: { metadata: { name }, spec: bare!.spec } });
    let ip = '';
    const running = await until(t0, async () => {
      const pod = await core.readNamespacedPod({ name, namespace: NAMESPACE });
      ip = pod.status?.podIP ?? '';
      return pod.status?.phase === 'Running';
    });
    const answered = await until(t0, async () => (await fetch(`http://${ip}:${bare!.port}${bare!.path}`)).status === 200);
    await core.deleteNamespacedPod({ name, namespace: NAMESPACE });
    await podsGone();
    return { running, answered };
  }

  const samples = { platform: { running: [] as number[], answered: [] as number[] }, bare: { running: [] as number[], answered: [] as number[] } };
  for (let i = 0; i <= LAUNCHES; i++) {
    const p = await platformLaunch(i);
    const b = await bareLaunch(i);
    console.log(
      `launch ${i}${i === 0 ? ' (warm-up)' : ''}: platform Running ${ms(p.running)} ms, answering ${ms(p.answered)} ms; bare pod Running ${ms(b.running)} ms, answering ${ms(b.answered)} ms`,
    );
    if (i === 0) continue;
    samples.platform.running.push(p.running);
    samples.platform.answered.push(p.answered);
    samples.bare.running.push(b.running);
    samples.bare.answered.push(b.answered);
  }
  const row = (label: string, s: number[], base: number[]) => {
    const a = summarize(s);
    const b = summarize(base);
    return [label, String(a.n), ms(a.p50), ms(a.p95), ratio(a.p50, b.p50), ratio(a.p95, b.p95)];
  };
  const table = markdownTable(
    ['measure (ms)', 'n', 'p50', 'p95', 'p50 / bare pod', 'p95 / bare pod'],
    [
      row('platform: POST → Running', samples.platform.running, samples.bare.running),
      row('bare pod: create → Running', samples.bare.running, samples.bare.running),
      row('platform: POST → JupyterLab through the proxy', samples.platform.answered, samples.bare.answered),
      row('bare pod: create → JupyterLab at the pod IP', samples.bare.answered, samples.bare.answered),
    ],
  );
  const goal = summarize(samples.platform.answered).p50 / summarize(samples.bare.answered).p50;
  console.log(
    `\n--- markdown ---\nNotebook launch on a real node, ${LAUNCHES} launches of ${NOTEBOOK_IMAGE} (imported) alternating with a bare pod, after one warm-up; ${machineLine(machine())}.\n\n${table}\n\ngoal ≤ 1.2× the bare pod (to answering, p50): ${goal <= 1.2 ? 'met' : 'NOT met'} (${goal.toFixed(2)}×).\n--- end ---`,
  );
} finally {
  for (const fn of cleanups) await fn().catch((err: unknown) => console.error(`cleanup: ${(err as Error).message}`));
}
