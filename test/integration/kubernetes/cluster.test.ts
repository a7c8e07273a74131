// The test control plane itself (test/helpers/kube-cluster.ts): Jobs run to completion under
// kwok, long-running pods get an IP, garbage collection removes a Job's pods, and a watch can be
// set up again after the API server restarts. The backend's own tests build on these facts.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import { createNamespace, kubeBinDir, kubeScriptVersion, missingKubeBinaries, startKubeCluster, type KubeCluster } from '../../helpers/kube-cluster.js';

const missing = missingKubeBinaries();
const skip = missing.length ? `Kubernetes test binaries missing in ${kubeBinDir()}: ${missing.join(', ')} (scripts/test.sh builds them)` : false;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await sleep(100);
  }
}

function job(name: string, annotations: Record<string, string> = {}, extra: Partial<k8s.V1JobSpec> = {}): k8s.V1Job {
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name },
    spec: {
      backoffLimit: 0,
      ...extra,
      template: {
        metadata: { annotations },
        spec: { restartPolicy: 'Never', containers: [{ name: 'main', image: 'images.canfar.net/skaha/headless:1.0', command: ['sleep', '5'] }] },
      },
    },
  };
}

describe('Kubernetes test control plane (etcd, apiserver, controller-manager, scheduler, kwok)', { skip }, () => {
  let cluster: KubeCluster;
  let kc: k8s.KubeConfig;
  let core: k8s.CoreV1Api;
  let batch: k8s.BatchV1Api;
  let ns: string;

  before(async () => {
    const t0 = Date.now();
    cluster = await startKubeCluster({ nodes: 2 });
    const rss = cluster.rss();
    const total = Object.values(rss).reduce((a, b) => a + b, 0);
    console.log(
      `# cluster started in ${((Date.now() - t0) / 1000).toFixed(1)} s; RSS ${(total / 2 ** 20).toFixed(0)} MiB: ` +
        Object.entries(rss)
          .map(([k, v]) => `${k} ${(v / 2 ** 20).toFixed(0)}`)
          .join(', '),
    );
    kc = new k8s.KubeConfig();
    kc.loadFromFile(cluster.kubeconfigPath);
    core = kc.makeApiClient(k8s.CoreV1Api);
    batch = kc.makeApiClient(k8s.BatchV1Api);
    ns = `t-${Date.now().toString(36)}`;
    await createNamespace(cluster, ns);
  });

  after(async () => {
    if (!cluster) return;
    const rss = Object.values(cluster.rss()).reduce((a, b) => a + b, 0);
    console.log(`# control plane RSS at the end: ${(rss / 2 ** 20).toFixed(0)} MiB`);
    await cluster.stop();
  });

  const podsOf = async (jobName: string) => (await core.listNamespacedPod({ namespace: ns, labelSelector: `job-name=${jobName}` })).items;

  it('runs a Job whose pod completes (skaha.test/complete-after) to Complete', async () => {
    await batch.createNamespacedJob({ namespace: ns, body: job('done', { 'skaha.test/complete-after': '1s' }) });
    const done = await until('Job done Complete', async () => {
      const j = await batch.readNamespacedJob({ name: 'done', namespace: ns });
      return j.status?.conditions?.some((c) => c.type === 'Complete' && c.status === 'True') && j;
    });
    assert.equal(done.status?.succeeded, 1);
    const [pod] = await podsOf('done');
    assert.equal(pod?.status?.phase, 'Succeeded');
    assert.equal(pod?.status?.containerStatuses?.[0]?.state?.terminated?.exitCode, 0);
    assert.equal(pod?.status?.containerStatuses?.[0]?.state?.terminated?.reason, 'Completed');
  });

  it('fails a Job whose pod exits non-zero (skaha.test/exit-code), and ttlSecondsAfterFinished deletes it', async () => {
    // Watched, not polled: with a 1 s TTL the Job can be Failed and deleted between two polls
    // on a busy machine.
    let failed = false;
    const watching = await new k8s.Watch(kc).watch(
      `/apis/batch/v1/namespaces/${ns}/jobs`,
      { fieldSelector: 'metadata.name=boom' },
      (_type, j: k8s.V1Job) => {
        if (j.status?.conditions?.some((c) => c.type === 'Failed' && c.status === 'True')) failed = true;
      },
      () => {},
    );
    try {
      await batch.createNamespacedJob({
        namespace: ns,
        body: job('boom', { 'skaha.test/complete-after': '0s', 'skaha.test/exit-code': '3' }, { ttlSecondsAfterFinished: 1 }),
      });
      await until('Job boom Failed', async () => failed);
    } finally {
      watching.abort();
    }
    // The TTL controller deletes the finished Job, and the garbage collector its pod.
    await until('Job boom deleted after its TTL', async () => {
      try {
        await batch.readNamespacedJob({ name: 'boom', namespace: ns });
        return false;
      } catch (err) {
        return (err as { code?: number }).code === 404;
      }
    });
    await until('pods of boom gone', async () => (await podsOf('boom')).length === 0);
  });

  it('keeps a pod without the annotation Running on a fake node, with a pod IP', async () => {
    await core.createNamespacedPod({
      namespace: ns,
      body: { metadata: { name: 'forever' }, spec: { containers: [{ name: 'main', image: 'images.canfar.net/skaha/webapp:1.0' }] } },
    });
    const pod = await until('pod forever Running', async () => {
      const p = await core.readNamespacedPod({ name: 'forever', namespace: ns });
      return p.status?.phase === 'Running' && p;
    });
    assert.match(pod.status?.podIP ?? '', /^127\.42\.\d+\.\d+$/);
    assert.ok(cluster.nodes.includes(pod.spec?.nodeName ?? ''), `scheduled on ${pod.spec?.nodeName}`);
    assert.equal(pod.status?.conditions?.find((c) => c.type === 'Ready')?.status, 'True');
    await sleep(2_000);
    assert.equal((await core.readNamespacedPod({ name: 'forever', namespace: ns })).status?.phase, 'Running');
  });

  for (const propagationPolicy of ['Background', 'Foreground'] as const) {
    it(`deleting a running Job (propagationPolicy ${propagationPolicy}) removes its pod`, async () => {
      const name = `gc-${propagationPolicy.toLowerCase()}`;
      await batch.createNamespacedJob({ namespace: ns, body: job(name) });
      await until(`pod of ${name} Running`, async () => (await podsOf(name)).some((p) => p.status?.phase === 'Running'));
      await batch.deleteNamespacedJob({ name, namespace: ns, propagationPolicy });
      await until(`pod of ${name} gone`, async () => (await podsOf(name)).length === 0);
      await until(`Job ${name} gone`, async () => (await batch.listNamespacedJob({ namespace: ns })).items.every((j) => j.metadata?.name !== name));
    });
  }

  it('a watch ends when the API server restarts and can be set up again', async () => {
    const watch = new k8s.Watch(kc);
    let firstEnded = false;
    const seen: string[] = [];
    const first = await watch.watch(
      `/api/v1/namespaces/${ns}/pods`,
      {},
      () => {},
      () => (firstEnded = true),
    );
    const t0 = Date.now();
    await cluster.restartApiServer();
    console.log(`# kube-apiserver restarted in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    await until('the first watch to end', async () => firstEnded, 10_000);
    first.abort();

    const list = await core.listNamespacedPod({ namespace: ns });
    const second = await watch.watch(
      `/api/v1/namespaces/${ns}/pods`,
      { resourceVersion: list.metadata?.resourceVersion },
      (type, obj: k8s.V1Pod) => seen.push(`${type} ${obj.metadata?.name} ${obj.status?.phase ?? ''}`),
      () => {},
    );
    try {
      await core.createNamespacedPod({ namespace: ns, body: { metadata: { name: 'after-restart' }, spec: { containers: [{ name: 'main', image: 'x' }] } } });
      await until(
        'ADDED and Running events for after-restart',
        async () => seen.some((s) => s.startsWith('ADDED after-restart')) && seen.some((s) => s === 'MODIFIED after-restart Running'),
      );
    } finally {
      second.abort();
    }
  });

  it('helm from the same cache runs', () => {
    const r = spawnSync(path.join(kubeBinDir(), 'helm'), ['version', '--short'], { encoding: 'utf8', env: { ...process.env, HOME: cluster.dir } });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim().split('+')[0], kubeScriptVersion('HELM'), 'the version scripts/lib/kube.sh builds');
  });
});
