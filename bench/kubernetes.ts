/**
 * The Kubernetes backend's session index with many sessions (issue 9): a real control plane with
 * kwok nodes (test/helpers/kube-cluster.ts), BENCH_K8S_SESSIONS running sessions of one user
 * (Jobs made straight through the API with the backend's own makeJob, so seeding is not what is
 * measured), then:
 *
 *   start      createPlatform with backend kubernetes: the informers' list of every Job and Pod
 *   GET /skaha/v0/session           the caller's list (all N sessions in the reply)
 *   GET /skaha/v0/session/<id>      one session
 *   GET /skaha/v0/session?view=stats
 *
 * and, side by side, what a request would pay without the index: one list of the Jobs and one of
 * the Pods with skaha's label selector, as skaha's v0 did with kubectl per request.
 *
 *   node --import tsx bench/kubernetes.ts
 *
 * Environment: BENCH_K8S_SESSIONS (1000), BENCH_REQUESTS (500 per endpoint), BENCH_LIST_CALLS (20).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BatchV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { makeJob, planMounts, type KubernetesObjectOptions } from '../src/backends/kubernetes/objects.js';
import type { LaunchSpec } from '../src/backends/backend.js';
import { resolveConfig } from '../src/server/config.js';
import { createPlatform } from '../src/server/platform.js';
import { LAUNCH_SCRIPTS_DIR } from '../src/server/paths.js';
import { jobName, newSessionId } from '../src/sessions/ids.js';
import { createNamespace, startKubeCluster } from '../test/helpers/kube-cluster.js';
import { envInt, machine, machineLine, markdownTable, ms, now, ratio, sleep, summarize, textTable } from './lib.js';

const SESSIONS = envInt('BENCH_K8S_SESSIONS', 1000, 1, 10_000);
const REQUESTS = envInt('BENCH_REQUESTS', 500, 10, 100_000);
const LIST_CALLS = envInt('BENCH_LIST_CALLS', 20, 3, 1000);
const NAMESPACE = 'bench';
const USER = 'benchuser';
const quiet = { info() {}, warn() {}, error: (m: string) => console.error(m) };

async function timed(count: number, call: () => Promise<unknown>): Promise<number[]> {
  for (let i = 0; i < Math.min(20, count); i++) await call();
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    const t0 = now();
    await call();
    samples.push(now() - t0);
  }
  return samples;
}

const cluster = await startKubeCluster({ nodeCapacity: { cpu: '1000', memory: '4000Gi', pods: String(SESSIONS + 100) } });
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'skaha-bench-k8s-'));
try {
  await createNamespace(cluster, NAMESPACE);
  const kc = new KubeConfig();
  kc.loadFromFile(cluster.kubeconfigPath);
  const batch = kc.makeApiClient(BatchV1Api);
  const core = kc.makeApiClient(CoreV1Api);
  const opts: KubernetesObjectOptions = {
    namespace: NAMESPACE,
    storage: { kind: 'hostPath', hostPath: '/cavern' },
    storageHostDir: path.join(dataDir, 'arc'),
    launchScripts: { hostDir: LAUNCH_SCRIPTS_DIR, configMap: 'skaha-launch-scripts' },
    imagePullPolicy: 'IfNotPresent',
    nodeSelector: {},
    ttlAfterFinishedSeconds: { headless: 3600, interactive: 86400 },
  };

  console.log(`seeding ${SESSIONS} sessions...`);
  const t0 = now();
  const ids: string[] = [];
  let next = 0;
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (next < SESSIONS) {
      next++;
      const id = newSessionId();
      ids.push(id);
      const spec: LaunchSpec = {
        sessionId: id, username: USER, name: `s${next}`, type: 'headless', image: 'images.canfar.net/skaha/headless:1.0',
        env: [['HOME', `/arc/home/${USER}`]], uid: 200000, gid: 200000, supplementalGroups: [], mounts: [], hostname: `s${next}`,
        resources: { coresRequest: 1, coresLimit: 1, ramRequestGiB: 1, ramLimitGiB: 1, gpus: 0 }, ports: [], deadlineSeconds: 3600,
        jobName: jobName('headless', USER, id),
      };
      await batch.createNamespacedJob({ namespace: NAMESPACE, body: makeJob(spec, opts, planMounts(spec, opts, new Map())) });
    }
  }));
  const selector = 'app.kubernetes.io/managed-by=skaha,canfar.net/id';
  for (;;) {
    const pods = await core.listNamespacedPod({ namespace: NAMESPACE, labelSelector: selector });
    const running = pods.items.filter((p) => p.status?.phase === 'Running').length;
    if (running >= SESSIONS) break;
    process.stdout.write(`\r${running}/${SESSIONS} pods running`);
    await sleep(1000);
  }
  console.log(`\nseeded in ${((now() - t0) / 1000).toFixed(1)} s`);

  const startT0 = now();
  const platform = await createPlatform(
    resolveConfig({ port: 0, dataDir, backend: 'kubernetes', kubernetes: { kubeconfig: cluster.kubeconfigPath, namespace: NAMESPACE }, sessions: { reaperIntervalMs: 3_600_000 } }),
    { log: quiet, requestLog: false },
  );
  const startMs = now() - startT0;
  const base = await platform.listen();
  const indexed = platform.backend.list().length;
  const rssMiB = process.memoryUsage().rss / 2 ** 20;
  const token = platform.store.createToken(USER, 'bench').token;
  const get = (p: string) => fetch(`${base}${p}`, { headers: { authorization: `Bearer ${token}` } }).then(async (r) => {
    if (r.status !== 200) throw new Error(`${p}: ${r.status}`);
    return r.text();
  });
  const listReply = JSON.parse(await get('/skaha/v0/session')) as unknown[];
  if (listReply.length !== SESSIONS) throw new Error(`listed ${listReply.length} of ${SESSIONS}`);

  const results = {
    list: summarize(await timed(REQUESTS, () => get('/skaha/v0/session'))),
    one: summarize(await timed(REQUESTS, () => get(`/skaha/v0/session/${ids[0]}`))),
    stats: summarize(await timed(REQUESTS, () => get('/skaha/v0/session?view=stats'))),
    apiList: summarize(await timed(LIST_CALLS, () => Promise.all([
      batch.listNamespacedJob({ namespace: NAMESPACE, labelSelector: selector }),
      core.listNamespacedPod({ namespace: NAMESPACE, labelSelector: selector }),
    ]))),
  };
  await platform.close();

  const m = machine();
  const headers = ['request', 'n', 'p50 ms', 'p99 ms', 'vs one API list (p50)'];
  const rows = [
    ['GET /skaha/v0/session (all sessions)', String(REQUESTS), ms(results.list.p50), ms(results.list.p99), ratio(results.list.p50, results.apiList.p50)],
    ['GET /skaha/v0/session/<id>', String(REQUESTS), ms(results.one.p50), ms(results.one.p99), ratio(results.one.p50, results.apiList.p50)],
    ['GET /skaha/v0/session?view=stats', String(REQUESTS), ms(results.stats.p50), ms(results.stats.p99), ratio(results.stats.p50, results.apiList.p50)],
    ['peer: list Jobs + Pods (label selector)', String(LIST_CALLS), ms(results.apiList.p50), ms(results.apiList.p99), '1.00×'],
  ];
  const head = `${SESSIONS} running sessions on kwok nodes; index rebuilt at start in ${ms(startMs, 0)} ms (${indexed} records); RSS of the process (the server in-process plus this benchmark) ${rssMiB.toFixed(0)} MiB`;
  console.log(`\n${machineLine(m)}\n${head}\n${textTable(headers, rows)}`);
  console.log(`--- markdown ---\n${head}\n\n${markdownTable(headers, rows)}\n--- end ---`);
} finally {
  await cluster.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
}
