/**
 * The Kubernetes backend's session index with many sessions (issue 9): a real control plane with
 * kwok nodes (test/helpers/kube-cluster.ts), BENCH_K8S_SESSIONS running sessions of one user
 * (Jobs made straight through the API with the backend's own makeJob, so seeding is not what is
 * measured), then:
 *
 *   start      createPlatform with backend kubernetes: the informers' list of every Job and Pod
 *              (and again after closing it: the index rebuilt after a restart), with the memory
 *              the index takes (heap and RSS growth across the start)
 *   GET /skaha/v0/session           one user's list (N / BENCH_K8S_USERS sessions)
 *   GET /skaha/v0/session?view=all  an administrator's list of all N sessions
 *   GET /skaha/v0/session/<id>      one session
 *   GET /skaha/v0/session?view=stats
 *
 * and, side by side, what a request would pay without the index: one list of the Jobs and one of
 * the Pods with skaha's label selector, as skaha's v0 did with kubectl per request.
 *
 *   node --import tsx bench/kubernetes.ts
 *
 * Environment: BENCH_K8S_SESSIONS (1000), BENCH_K8S_USERS (1: every session one user's; 100 for
 * 10,000 sessions of 100 users), BENCH_REQUESTS (500 per endpoint), BENCH_LIST_CALLS (20).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BatchV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { makeJob, planMounts, type KubernetesObjectOptions } from '../src/backends/kubernetes/objects.js';
import type { LaunchSpec } from '../src/backends/backend.js';
import { resolveConfig } from '../src/server/config.js';
import { createPlatform } from '../src/server/platform.js';
import { LAUNCH_SCRIPTS_DIR } from '../src/common/paths.js';
import { jobName, newSessionId } from '../src/sessions/ids.js';
import { createNamespace, startKubeCluster } from '../test/helpers/kube-cluster.js';
import { envInt, machine, machineLine, markdownTable, ms, now, ratio, sleep, summarize, textTable } from './lib.js';

const SESSIONS = envInt('BENCH_K8S_SESSIONS', 1000, 1, 10_000);
const REQUESTS = envInt('BENCH_REQUESTS', 500, 10, 100_000);
const LIST_CALLS = envInt('BENCH_LIST_CALLS', 20, 3, 1000);
const USERS = envInt('BENCH_K8S_USERS', 1, 1, 10_000);
const NAMESPACE = 'bench';
const USER = 'benchuser';
const userOf = (i: number) => (USERS === 1 ? USER : `${USER}${i % USERS}`);
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

const cluster = await startKubeCluster({ nodeCapacity: { cpu: String(SESSIONS + 100), memory: `${(SESSIONS + 100) * 2}Gi`, pods: String(SESSIONS + 100) } });
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
    launchScripts: { hostDir: LAUNCH_SCRIPTS_DIR, configMap: 'skaha-launch-scripts' },
    imagePullPolicy: 'IfNotPresent',
    nodeSelector: {},
    ttlAfterFinishedSeconds: { headless: 3600, interactive: 86400 },
  };

  console.log(`seeding ${SESSIONS} sessions...`);
  const t0 = now();
  const ids: string[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < SESSIONS) {
        next++;
        const id = newSessionId();
        const username = userOf(next);
        if (username === USER || username === userOf(0)) ids.push(id);
        const spec: LaunchSpec = {
          sessionId: id,
          username,
          name: `s${next}`,
          type: 'headless',
          image: 'images.canfar.net/skaha/headless:1.0',
          env: [['HOME', `/arc/home/${username}`]],
          uid: 200000,
          gid: 200000,
          supplementalGroups: [],
          mounts: [],
          hostname: `s${next}`,
          resources: { coresRequest: 1, coresLimit: 1, ramRequestGiB: 1, ramLimitGiB: 1, gpus: 0 },
          ports: [],
          deadlineSeconds: 3600,
          jobName: jobName('headless', username, id),
        };
        await batch.createNamespacedJob({ namespace: NAMESPACE, body: makeJob(spec, opts, planMounts(spec, opts, new Map())) });
      }
    }),
  );
  const selector = 'app.kubernetes.io/managed-by=skaha,canfar.net/id';
  for (;;) {
    const pods = await core.listNamespacedPod({ namespace: NAMESPACE, labelSelector: selector });
    const running = pods.items.filter((p) => p.status?.phase === 'Running').length;
    if (running >= SESSIONS) break;
    process.stdout.write(`\r${running}/${SESSIONS} pods running`);
    await sleep(1000);
  }
  console.log(`\nseeded in ${((now() - t0) / 1000).toFixed(1)} s`);

  const config = resolveConfig({
    port: 0,
    dataDir,
    backend: 'kubernetes',
    kubernetes: { kubeconfig: cluster.kubeconfigPath, namespace: NAMESPACE },
    sessions: { reaperIntervalMs: 3_600_000 },
  });
  // The index after a restart: start once (cold caches), close, measure the second start.
  const firstStartT0 = now();
  await (await createPlatform(config, { log: quiet, requestLog: false })).close();
  const firstStartMs = now() - firstStartT0;
  global.gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  const rssBefore = process.memoryUsage().rss;
  const startT0 = now();
  const platform = await createPlatform(config, { log: quiet, requestLog: false });
  const startMs = now() - startT0;
  global.gc?.();
  const indexHeapMiB = (process.memoryUsage().heapUsed - heapBefore) / 2 ** 20;
  const indexRssMiB = (process.memoryUsage().rss - rssBefore) / 2 ** 20;
  const base = await platform.listen();
  const indexed = platform.backend.list().length;
  const rssMiB = process.memoryUsage().rss / 2 ** 20;
  const me = userOf(0);
  const mine = USERS === 1 ? SESSIONS : Math.ceil(SESSIONS / USERS);
  const token = (await platform.store.createToken(me, 'bench')).token;
  await platform.store.addToGroup('benchadmin', config.authorization.adminsGroup);
  const adminToken = (await platform.store.createToken('benchadmin', 'bench', { scopes: ['read', 'launch', 'admin'] })).token;
  const getAs = (t: string, p: string) =>
    fetch(`${base}${p}`, { headers: { authorization: `Bearer ${t}` } }).then(async (r) => {
      if (r.status !== 200) throw new Error(`${p}: ${r.status}`);
      return r.text();
    });
  const get = (p: string) => getAs(token, p);
  const listReply = JSON.parse(await get('/skaha/v0/session')) as unknown[];
  if (Math.abs(listReply.length - mine) > 1) throw new Error(`listed ${listReply.length} of ${mine}`);
  const allReply = JSON.parse(await getAs(adminToken, '/skaha/v0/session?view=all')) as unknown[];
  if (allReply.length !== SESSIONS) throw new Error(`view=all listed ${allReply.length} of ${SESSIONS}`);

  const results = {
    list: summarize(await timed(REQUESTS, () => get('/skaha/v0/session'))),
    all: summarize(await timed(Math.min(REQUESTS, 200), () => getAs(adminToken, '/skaha/v0/session?view=all'))),
    one: summarize(await timed(REQUESTS, () => get(`/skaha/v0/session/${ids[0]}`))),
    stats: summarize(await timed(REQUESTS, () => get('/skaha/v0/session?view=stats'))),
    apiList: summarize(
      await timed(LIST_CALLS, () =>
        Promise.all([
          batch.listNamespacedJob({ namespace: NAMESPACE, labelSelector: selector }),
          core.listNamespacedPod({ namespace: NAMESPACE, labelSelector: selector }),
        ]),
      ),
    ),
  };
  await platform.close();

  const m = machine();
  const headers = ['request', 'n', 'p50 ms', 'p99 ms', 'vs one API list of Jobs + Pods (p50)'];
  const rows = [
    [
      `GET /skaha/v0/session (one user: ${listReply.length} sessions)`,
      String(REQUESTS),
      ms(results.list.p50),
      ms(results.list.p99),
      `${ratio(results.apiList.p50, results.list.p50)} faster`,
    ],
    [
      `GET /skaha/v0/session?view=all (admin: ${SESSIONS} sessions)`,
      String(results.all.n),
      ms(results.all.p50),
      ms(results.all.p99),
      `${ratio(results.apiList.p50, results.all.p50)} faster`,
    ],
    ['GET /skaha/v0/session/<id>', String(REQUESTS), ms(results.one.p50), ms(results.one.p99), `${ratio(results.apiList.p50, results.one.p50)} faster`],
    [
      'GET /skaha/v0/session?view=stats',
      String(REQUESTS),
      ms(results.stats.p50),
      ms(results.stats.p99),
      `${ratio(results.apiList.p50, results.stats.p50)} faster`,
    ],
    ['peer: list Jobs + Pods (label selector)', String(LIST_CALLS), ms(results.apiList.p50), ms(results.apiList.p99), '-'],
  ];
  const head = `${SESSIONS} running sessions of ${USERS} user(s) on kwok nodes; index built at first start in ${ms(firstStartMs, 0)} ms, rebuilt after a restart in ${ms(startMs, 0)} ms (${indexed} records); the index takes ${indexHeapMiB.toFixed(0)} MiB of heap (RSS +${indexRssMiB.toFixed(0)} MiB); RSS of the process (the server in-process plus this benchmark) ${rssMiB.toFixed(0)} MiB`;
  console.log(`\n${machineLine(m)}\n${head}\n${textTable(headers, rows)}`);
  console.log(`--- markdown ---\n${head}\n\n${markdownTable(headers, rows)}\n--- end ---`);
} finally {
  await cluster.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
}
