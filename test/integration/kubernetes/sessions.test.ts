// Kubernetes sessions where the cluster decides: the node sizes view=stats reports, expiry by
// the Job's deadline with the reaper idle, pods that cannot be scheduled or whose image cannot be
// pulled, long usernames, one launch-scripts ConfigMap per version of the scripts, and readiness
// that follows the session watch. A real control plane (test/helpers/kube-cluster.ts) with kwok
// nodes of several sizes, one of them with GPUs.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BatchV1Api, CoreV1Api, KubeConfig, type V1Pod } from '@kubernetes/client-node';
import type { LaunchSpec } from '../../../src/backends/backend.js';
import { KubernetesBackend } from '../../../src/backends/kubernetes/backend.js';
import { LAUNCH_SCRIPTS_DIR } from '../../../src/common/paths.js';
import { jobName } from '../../../src/sessions/ids.js';
import { addKwokNode, createNamespace, missingKubeBinaries, startKubeCluster, TEST_KUBELET_NODE, type KubeCluster } from '../../helpers/kube-cluster.js';
import { cleanupList, launch, startPlatform, type TestPlatform } from '../../helpers/platform.js';
import { eventually } from '../../helpers/wait.js';

const missing = missingKubeBinaries().filter((b) => b !== 'helm');
const skip = missing.length > 0 && `needs the control-plane binaries (missing: ${missing.join(', ')}; scripts/test.sh builds them)`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const quiet = { info() {}, warn() {}, error() {} };
const WEB = { name: 'web', image: 'images.canfar.net/skaha/webapp:1.0', type: 'contributed' };

describe('Kubernetes sessions: what the cluster decides', { skip }, () => {
  let cluster: KubeCluster;
  let core: CoreV1Api;
  let batch: BatchV1Api;
  let tp: TestPlatform;
  const cleanups = cleanupList();
  const namespace = `skaha-sessions-${crypto.randomBytes(3).toString('hex')}`;
  // Sessions go to the nodes labelled type=kwok unless a test says otherwise: never to the node
  // whose pods only a test moves along.
  const start = (over: { sessions?: object; kubernetes?: object } = {}) =>
    startPlatform(cleanups.add, {
      backend: 'kubernetes',
      kubernetes: { kubeconfig: cluster.kubeconfigPath, namespace, nodeSelector: { type: 'kwok' }, ...over.kubernetes },
      sessions: { reaperIntervalMs: 500, ...over.sessions },
    });
  const status = async (p: TestPlatform, token: string, id: string) => {
    const r = await p.request('GET', `/skaha/v0/session/${id}`, { token });
    return r.status === 200 ? (JSON.parse(r.body) as { status: string }).status : r.status;
  };
  const events = async (p: TestPlatform, token: string, id: string) =>
    (await p.request('GET', `/skaha/v0/session/${id}`, { token, query: { view: 'events' } })).body;
  const podsOf = async (id: string) => (await core.listNamespacedPod({ namespace, labelSelector: `canfar.net/id=${id}` })).items;
  /** A backend of its own, as a server with these launch scripts would have (user storage in `storageDir`). */
  const backendOf = (scriptsDir: string, storageDir: string) => {
    const kc = new KubeConfig();
    kc.loadFromFile(cluster.kubeconfigPath);
    return new KubernetesBackend(kc, {
      namespace,
      storage: { kind: 'hostPath', hostPath: storageDir },
      launchScripts: { hostDir: scriptsDir, configMap: 'skaha-launch-scripts' },
      imagePullPolicy: 'IfNotPresent',
      nodeSelector: { type: 'kwok' },
      ttlAfterFinishedSeconds: { headless: 3600, interactive: 86400 },
      log: quiet,
    });
  };
  const headlessSpec = (id: string, username: string): LaunchSpec => ({
    sessionId: id,
    username,
    name: 'job',
    type: 'headless',
    image: 'images.canfar.net/skaha/headless:1.0',
    env: [],
    uid: 200001,
    gid: 200001,
    supplementalGroups: [],
    mounts: [],
    hostname: 'job',
    resources: { coresRequest: 1, coresLimit: 1, ramRequestGiB: 1, ramLimitGiB: 1, gpus: 0 },
    ports: [],
    deadlineSeconds: 600,
    jobName: `skaha-headless-${username}-${id}`,
  });

  before(async () => {
    // kwok-node-0: 16 cores, 64 GiB (type=kwok). Added: a larger node by cores, a GPU node larger
    // than both (left out of view=stats), and the node whose pod status the test writes.
    cluster = await startKubeCluster({ nodeCapacity: { cpu: '16', memory: '64Gi', pods: '110' } });
    await addKwokNode(cluster, 'kwok-wide', { capacity: { cpu: '32', memory: '48Gi', pods: '110' }, labels: { type: 'kwok' } });
    await addKwokNode(cluster, 'kwok-gpu', {
      capacity: { cpu: '64', memory: '256Gi', pods: '110', 'nvidia.com/gpu': '4' },
      labels: { type: 'kwok', 'nvidia.com/gpu.count': '4' },
    });
    await addKwokNode(cluster, TEST_KUBELET_NODE, { capacity: { cpu: '2', memory: '4Gi', pods: '110' }, labels: { 'skaha.test/kubelet': 'test' } });
    await createNamespace(cluster, namespace);
    const kc = new KubeConfig();
    kc.loadFromFile(cluster.kubeconfigPath);
    core = kc.makeApiClient(CoreV1Api);
    batch = kc.makeApiClient(BatchV1Api);
    tp = await start();
  });
  after(async () => {
    await cleanups.run();
    await cluster?.stop();
  });

  it('view=stats: the sum of the nodes without GPUs, the largest of them as the maximum (spec §3.4)', async () => {
    const user = await tp.newUser();
    const r = await tp.request('GET', '/skaha/v0/session', { token: user.token, query: { view: 'stats' } });
    assert.equal(r.status, 200, r.body);
    const stats = JSON.parse(r.body) as { cores: Record<string, unknown>; ram: Record<string, unknown> };
    // Nodes without GPUs: 16 cores/64 GiB, 32/48 and 2/4; the GPU node (64/256) does not count.
    assert.equal(stats.cores.cpuCoresAvailable, 50);
    assert.equal(stats.ram.ramAvailable, '116G');
    assert.deepEqual(stats.cores.maxCPUCores, { cpuCores: 32, withRam: '48G' }, 'the node with the most cores, with its RAM');
    assert.deepEqual(stats.ram.maxRAM, { ram: '64G', withCPUCores: 16 }, 'the node with the most RAM, with its cores');
  });

  it("expiry is the cluster's: with the reaper idle, the Job's deadline ends the session (Failed, DeadlineExceeded in view=events)", async () => {
    const idle = await start({ sessions: { expirySeconds: 3, reaperIntervalMs: 3_600_000 } });
    const user = await idle.newUser();
    const id = await launch(idle, user.token, WEB, 'v1');
    await eventually(
      'Running',
      () => status(idle, user.token, id),
      (s) => s === 'Running',
    );
    await eventually(
      'Failed at its deadline',
      () => status(idle, user.token, id),
      (s) => s === 'Failed',
      45_000,
    );
    const table = await eventually(
      'DeadlineExceeded in view=events',
      () => events(idle, user.token, id),
      (e) => /DeadlineExceeded/.test(e),
    );
    assert.match(table, /^Warning {3,}DeadlineExceeded {3,}Job was active longer than specified deadline/m);
    const [job] = (await batch.listNamespacedJob({ namespace, labelSelector: `canfar.net/id=${id}` })).items;
    assert.ok(job && !job.metadata?.deletionTimestamp, 'the Job stays, Failed, until its TTL: nothing deleted it');
    assert.equal(job.spec?.activeDeadlineSeconds, 3);
  });

  it("a session no node can take stays Pending with the scheduler's reason as its note", async () => {
    const nowhere = await start({ kubernetes: { nodeSelector: { 'skaha.test/nowhere': 'true' } } });
    const user = await nowhere.newUser();
    const id = await launch(nowhere, user.token, WEB, 'v1');
    const note = await eventually(
      'a note from the scheduler',
      () => nowhere.platform.backend.pendingNote?.(id) ?? '',
      (n) => /Unschedulable/.test(n),
    );
    assert.match(note, /^No node can take this session yet \(Unschedulable\): 0\/4 nodes are available: .*node affinity\/selector/);
    assert.equal(await status(nowhere, user.token, id), 'Pending');
    const page = await fetch(`${nowhere.base}/session/contrib/${id}/`, { headers: { authorization: `Bearer ${user.token}` } });
    assert.equal(page.status, 503);
    assert.equal(decodeURIComponent(page.headers.get('x-skaha-detail') ?? ''), note, 'the waiting page says it');
  });

  it("an image that cannot be pulled: a note while the node retries, then Failed with the reason in view=events (the kubelet's pod status is written by the test)", async () => {
    const pulling = await start({ kubernetes: { nodeSelector: { 'skaha.test/kubelet': 'test' } } });
    const user = await pulling.newUser();
    const image = 'images.canfar.net/skaha/no-such-image:1.0';
    /** What a kubelet writes while the container waits: here, written by the test. */
    const kubeletSays = async (pod: V1Pod, reason: string, message: string) =>
      core.patchNamespacedPodStatus({
        name: pod.metadata!.name!,
        namespace,
        body: [
          { op: 'add', path: '/status/phase', value: 'Pending' },
          { op: 'add', path: '/status/startTime', value: new Date().toISOString() },
          {
            op: 'add',
            path: '/status/containerStatuses',
            value: [{ name: 'contributed', image, imageID: '', ready: false, restartCount: 0, started: false, state: { waiting: { reason, message } } }],
          },
        ],
      });
    const scheduledPod = (id: string) =>
      eventually(
        `pod of ${id} on ${TEST_KUBELET_NODE}`,
        () => podsOf(id),
        (pods) => pods[0]?.spec?.nodeName === TEST_KUBELET_NODE,
      ).then((pods) => pods[0]!);

    const id = await launch(pulling, user.token, { ...WEB, image }, 'v1');
    const pod = await scheduledPod(id);
    await kubeletSays(pod, 'ErrImagePull', `rpc error: code = NotFound desc = failed to pull and unpack image "${image}": not found`);
    const note = await eventually(
      'the failed pull as the note',
      () => pulling.platform.backend.pendingNote?.(id) ?? '',
      (n) => /ErrImagePull/.test(n),
    );
    assert.equal(
      note,
      `Pulling image ${image} failed (ErrImagePull): rpc error: code = NotFound desc = failed to pull and unpack image "${image}": not found; the node tries again.`,
    );
    await sleep(1000);
    assert.equal(await status(pulling, user.token, id), 'Pending', 'one failed pull is not the end');

    await kubeletSays(pod, 'ImagePullBackOff', `Back-off pulling image "${image}"`);
    await eventually(
      'Failed once the node backs off',
      () => status(pulling, user.token, id),
      (s) => s === 'Failed',
      30_000,
    );
    const table = await events(pulling, user.token, id);
    assert.match(
      table,
      new RegExp(
        `^Warning {3,}ImagePullBackOff {3,}session ended by skaha: the image cannot be pulled: Back-off pulling image "${image.replace(/[./]/g, '\\$&')}"`,
        'm',
      ),
    );
    // The Job controller stops it as at a deadline; the Job stays listed with why, until its TTL.
    await eventually(
      'the Job failed by the Job controller',
      async () => (await batch.listNamespacedJob({ namespace, labelSelector: `canfar.net/id=${id}` })).items[0],
      (job) => !!job?.status?.conditions?.some((c) => c.type === 'Failed' && c.status === 'True'),
    );
    await eventually(
      'its pod removed',
      () => podsOf(id),
      (pods) => pods.length === 0,
    );
    assert.equal(await status(pulling, user.token, id), 'Failed');
    assert.match(await events(pulling, user.token, id), /ImagePullBackOff/, 'still said once the pod is gone');

    // A name that is no image at all ends the session at once.
    const bad = await launch(pulling, user.token, { ...WEB, name: 'bad', image }, 'v1');
    await kubeletSays(await scheduledPod(bad), 'InvalidImageName', `Failed to apply default image tag "${image}": invalid reference format`);
    await eventually(
      'Failed on InvalidImageName',
      () => status(pulling, user.token, bad),
      (s) => s === 'Failed',
      30_000,
    );
    assert.match(await events(pulling, user.token, bad), /^Warning {3,}InvalidImageName {3,}session ended by skaha/m);
  });

  // The identity store keeps usernames to 32 characters (POSIX), where a Job name still fits; the
  // backend takes any LaunchSpec, so the longer one goes straight to it.
  it('a 50-character username: the Job is accepted by the API server, runs, is found again by the username, and deleted', async () => {
    const username = `u${crypto.randomBytes(3).toString('hex')}.firstname-lastname-at-an-institutional-account`.slice(0, 50);
    assert.equal(username.length, 50);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'skaha-long-'));
    const backend = backendOf(LAUNCH_SCRIPTS_DIR, dir);
    try {
      await backend.start();
      const id = 'longuser';
      const spec: LaunchSpec = { ...headlessSpec(id, username), jobName: jobName('headless', username, id) };
      await backend.create(spec);
      await eventually(
        'Running',
        () => backend.get(id)?.status,
        (s) => s === 'Running',
      );
      const [job] = (await batch.listNamespacedJob({ namespace, labelSelector: `canfar.net/id=${id}` })).items;
      assert.equal(job?.metadata?.name, spec.jobName);
      assert.ok(spec.jobName.length <= 63, spec.jobName);
      assert.equal(job.metadata.labels?.['canfar.net/job'], spec.jobName, 'the job label names the Job');
      assert.equal(job.metadata.annotations?.['canfar.net/username'], username, 'the exact username');
      assert.deepEqual(
        (await backend.listNow(username)).map((r) => [r.id, r.username]),
        [[id, username]],
        'found by its (shortened) username label',
      );
      assert.equal(backend.get(id)?.username, username);
      assert.deepEqual(await (await backend.delete(id)).removed, [id]);
    } finally {
      await backend.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('launch scripts: one ConfigMap per version of the scripts, named by their hash, never rewritten; each Job mounts its own', async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'skaha-scripts-'));
    try {
      const copy = (name: string, change?: string) => {
        const dir = path.join(tmp, name);
        fs.cpSync(LAUNCH_SCRIPTS_DIR, dir, { recursive: true });
        if (change) fs.appendFileSync(path.join(dir, fs.readdirSync(dir).sort()[0]!), change);
        return dir;
      };
      const [oldDir, newDir] = [copy('old'), copy('new', '\n# the next version\n')];
      const spec = (id: string, dir: string): LaunchSpec => ({
        ...headlessSpec(id, 'scripts'),
        mounts: [{ kind: 'launchScripts', hostPath: dir, containerPath: '/skaha-system' }],
      });
      const scriptsMaps = async () =>
        (await core.listNamespacedConfigMap({ namespace })).items.filter((c) => c.metadata?.name?.startsWith('skaha-launch-scripts-'));
      const mountedBy = async (id: string) =>
        (await batch.readNamespacedJob({ name: `skaha-headless-scripts-${id}`, namespace })).spec?.template.spec?.volumes?.find(
          (v) => v.name === 'launch-scripts',
        )?.configMap?.name;

      const oldServer = backendOf(oldDir, path.join(tmp, 'arc'));
      await oldServer.start();
      await oldServer.create(spec('scrold01', oldDir));
      const oldName = await mountedBy('scrold01');
      const oldMap = (await scriptsMaps()).find((c) => c.metadata?.name === oldName);
      assert.ok(oldMap?.metadata?.name, `the Job mounts an existing ConfigMap: ${oldName}`);
      assert.match(oldMap.metadata.name, /^skaha-launch-scripts-[0-9a-f]{8}$/);
      assert.equal(oldMap.immutable, true, 'nothing can rewrite it');
      const files = fs.readdirSync(oldDir).filter((f) => fs.statSync(path.join(oldDir, f)).isFile());
      assert.deepEqual(oldMap.data, Object.fromEntries(files.map((f) => [f, fs.readFileSync(path.join(oldDir, f), 'utf8')])), 'the scripts, whole');

      // The next version starts beside it (a rolling upgrade): its own ConfigMap, the old one untouched.
      const newServer = backendOf(newDir, path.join(tmp, 'arc'));
      await newServer.start();
      await newServer.create(spec('scrnew01', newDir));
      const newName = await mountedBy('scrnew01');
      assert.ok(newName && newName !== oldMap.metadata.name, `a new name: ${newName}`);
      assert.equal(await mountedBy('scrold01'), oldMap.metadata.name, "the old version's session keeps its scripts");
      const oldAgain = (await scriptsMaps()).find((c) => c.metadata?.name === oldMap.metadata!.name);
      assert.equal(oldAgain?.metadata?.resourceVersion, oldMap.metadata.resourceVersion, 'not rewritten');

      // A restart of the old version finds its ConfigMap (409) and writes nothing.
      await oldServer.close();
      const restarted = backendOf(oldDir, path.join(tmp, 'arc'));
      await restarted.start();
      await restarted.create(spec('scrold02', oldDir));
      assert.equal(await mountedBy('scrold02'), oldMap.metadata.name);
      assert.equal((await scriptsMaps()).find((c) => c.metadata?.name === oldMap.metadata!.name)?.metadata?.resourceVersion, oldMap.metadata.resourceVersion);
      for (const [server, id] of [
        [restarted, 'scrold01'],
        [restarted, 'scrold02'],
        [newServer, 'scrnew01'],
      ] as const)
        await (
          await server.delete(id)
        ).removed;
      await Promise.all([restarted.close(), newServer.close()]);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('/readyz follows the session watch: 200, 503 while the API server is away, 200 once the watch is back', async () => {
    const readyz = async () => {
      const r = await fetch(`${tp.base}/readyz`);
      return { status: r.status, body: await r.text() };
    };
    assert.deepEqual(await readyz(), { status: 200, body: 'ready\n' });
    const seen: Array<{ status: number; body: string }> = [];
    let polling = true;
    const poller = (async () => {
      while (polling) {
        seen.push(await readyz());
        await sleep(100);
      }
    })();
    try {
      await cluster.restartApiServer();
      await eventually('ready again', readyz, (r) => r.status === 200, 90_000);
    } finally {
      polling = false;
      await poller;
    }
    const down = seen.find((r) => r.status === 503);
    assert.ok(down, `a 503 while the API server was away: ${JSON.stringify(seen.slice(0, 3))}`);
    assert.match(down.body, /^not ready: Kubernetes API server (not reachable|answers but the session watch is reconnecting)/);
    assert.equal((await fetch(`${tp.base}/healthz`)).status, 200, 'alive all along: liveness is another probe');
  });
});
