/**
 * A real Kubernetes node for the test control plane (issue 20): the kubelet built with the
 * control plane (scripts/lib/kube.sh), Debian's containerd and runc, and the CNI bridge plugin,
 * in network, mount and PID namespaces of its own (kube-node/node-init.sh is their PID 1), so the
 * host's network, its /run and the Podman sessions of other tests are untouched.
 *
 *   const cluster = await startKubeCluster({ nodes: 0, serverIps: [NODE_HOST_IP] });
 *   const node = await startRealNode(cluster, { images: [WEB_IMAGE] });   // ~15 s + imports
 *   ...                                    // pods run for real; their IPs answer from this host
 *   await node.stop();
 *
 * Wiring:
 * - A veth pair: NODE_HOST_IP (10.99.0.1) on the host, NODE_IP (10.99.0.2) in the node; the
 *   host routes the pod network (10.244.0.0/24, the node's `cni0` bridge) through the node, so
 *   the platform's proxy reaches a session's pod IP as it would in a cluster.
 * - The API server listens on loopback; a TCP relay in this process on NODE_HOST_IP:6443 takes the
 *   kubelet to it (the certificate names that address: startKubeCluster's `serverIps`). The API
 *   server reaches the kubelet on NODE_IP:10250 for logs.
 * - The kubelet authenticates as system:node:<name> (Node authorizer) with a certificate of the
 *   cluster's CA, and serves with one naming NODE_IP; cgroup v1 with the cgroupfs driver
 *   (`failCgroupV1: false`), eviction thresholds low enough for a test machine.
 * - Images: no registry. The pause image is a 30-line Go program (kube-node/pause.go) built into a
 *   one-file image; workload images are saved from the local Podman engine. Both are cached as
 *   archives by image ID under /var/cache/skaha-test/node and imported into containerd at start.
 * stop() kills the namespaces' PID 1 (everything in them goes with it) and removes the kubelet's
 * cgroups; nothing is left on the host (links, routes, mounts, processes) but the logs, copied to
 * LAST_LOGS (/tmp/skaha-node-logs) for whoever reads a failure.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { CoreV1Api, KubeConfig, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { issueServerCert, type Issued } from '../../src/auth/x509/pki.js';
import { issueClientCert, kubeBinDir, type KubeCluster } from './kube-cluster.js';
import Docker from 'dockerode';
import { DEFAULT_CONTAINERS_CONF } from '../../src/common/paths.js';
import { connectEngine } from '../../src/engine/process.js';

const run = promisify(execFile);
const HERE = path.dirname(fileURLToPath(import.meta.url));
const CACHE = process.env.SKAHA_NODE_CACHE ?? '/var/cache/skaha-test/node';

export const NODE_HOST_IP = '10.99.0.1';
const NODE_IP = '10.99.0.2';
export const POD_CIDR = '10.244.0.0/24';
const API_RELAY_PORT = 6443;
/** Not /tmp: the node's unpacked images (GBs) would fill a tmpfs /tmp. */
const NODE_DIRS = '/var/tmp';
const HOST_LINK = 'skaha-node-h';
const NODE_LINK = 'skaha-node-n';
const PAUSE_IMAGE = 'localhost/skaha-test/pause:1';
/** Where the last node's logs are kept once it has stopped. */
const LAST_LOGS = path.join(os.tmpdir(), 'skaha-node-logs');

export interface RealNode {
  name: string;
  /** The node's directory: logs/{node-init,containerd,kubelet}.log. */
  dir: string;
  stop(): Promise<void>;
}

/** What the node needs from this machine that is not there; empty when it can start. */
export function missingNodeParts(opts: { networkPolicies?: boolean } = {}): string[] {
  const needs = [
    ...(opts.networkPolicies ? [path.join(kubeBinDir(), 'kube-router'), '/usr/sbin/ipset'] : []),
    path.join(kubeBinDir(), 'kubelet'),
    '/usr/bin/containerd',
    '/usr/bin/ctr',
    '/usr/sbin/runc',
    '/usr/lib/cni/bridge',
    '/usr/lib/cni/host-local',
    '/usr/bin/unshare',
    '/usr/sbin/ip',
  ];
  return needs.filter((p) => !fs.existsSync(p));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Wait until no pod of the namespace holds resources (Pending, Running, or terminating): on a
 * two-core node, the next launch needs the cores the last one's pods held.
 */
export async function noLivePods(core: CoreV1Api, namespace: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pods = (await core.listNamespacedPod({ namespace })).items;
    const live = pods.filter((p) => p.metadata?.deletionTimestamp || (p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed'));
    if (!live.length) return;
    if (Date.now() > deadline)
      throw new Error(`pods still live after ${timeoutMs} ms: ${live.map((p) => `${p.metadata?.name} ${p.status?.phase}`).join(', ')}`);
    await sleep(250);
  }
}

/** Start the node, join it to `cluster` and wait until it is Ready with `images` on it. */
export async function startRealNode(
  cluster: KubeCluster,
  opts: { images: string[]; name?: string; timeoutMs?: number; enforceNetworkPolicies?: boolean },
): Promise<RealNode> {
  const name = opts.name ?? 'skaha-node';
  const deadline = Date.now() + (opts.timeoutMs ?? 180_000);
  // One node at a time (its link names and addresses are fixed): what a killed run left is stale.
  await removeStaleLink();
  await removeKubeletCgroups();
  for (const old of fs.readdirSync(NODE_DIRS).filter((d) => d.startsWith('skaha-node-')))
    fs.rmSync(path.join(NODE_DIRS, old), { recursive: true, force: true });
  const dir = fs.mkdtempSync(path.join(NODE_DIRS, 'skaha-node-'));
  fs.mkdirSync(path.join(dir, 'logs'));
  fs.mkdirSync(path.join(dir, 'images'));

  // Images: the pause image and the workloads, as cached archives.
  for (const archive of [await pauseArchive(), ...(await Promise.all(opts.images.map(imageArchive)))]) {
    fs.symlinkSync(archive, path.join(dir, 'images', path.basename(archive)));
  }
  writeNodeFiles(dir, cluster, name, opts.enforceNetworkPolicies ? path.join(kubeBinDir(), 'kube-router') : '');
  if (opts.enforceNetworkPolicies) await prepareNetworkPolicies(dir, cluster);

  let relay: net.Server | undefined;
  const logFd = fs.openSync(path.join(dir, 'logs', 'node-init.log'), 'a');
  const init: ChildProcess = spawn(
    '/usr/bin/setpriv',
    [
      '--pdeathsig',
      'SIGKILL',
      '--',
      'unshare',
      '--net',
      '--mount',
      '--pid',
      '--fork',
      '--kill-child',
      '--mount-proc',
      '/bin/bash',
      path.join(HERE, 'kube-node', 'node-init.sh'),
      dir,
    ],
    { stdio: ['ignore', logFd, logFd] },
  );
  fs.closeSync(logFd);
  let exited: string | undefined;
  init.on('exit', (code, signal) => (exited = signal ? `killed by ${signal}` : `exited with ${code}`));

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (init.exitCode === null && init.signalCode === null) {
      const gone = new Promise((r) => init.once('exit', r));
      init.kill('SIGKILL');
      await gone;
    }
    relay?.close();
    // The node's logs outlive it, for a failed test's reader.
    fs.cpSync(path.join(dir, 'logs'), LAST_LOGS, { recursive: true, force: true });
    await removeKubeletCgroups();
    await removeStaleLink();
    fs.rmSync(dir, { recursive: true, force: true });
  };

  try {
    // unshare has made the network namespace by the time its process exists; the pair is made
    // with the node's end inside it.
    await waitFor(
      deadline,
      () => fs.existsSync(`/proc/${init.pid}/ns/net`) && fs.readlinkSync(`/proc/${init.pid}/ns/net`) !== fs.readlinkSync('/proc/self/ns/net'),
    );
    await run('ip', ['link', 'add', HOST_LINK, 'type', 'veth', 'peer', 'name', NODE_LINK, 'netns', String(init.pid)]);
    await run('ip', ['addr', 'add', `${NODE_HOST_IP}/24`, 'dev', HOST_LINK]);
    await run('ip', ['link', 'set', HOST_LINK, 'up']);
    await run('ip', ['route', 'add', POD_CIDR, 'via', NODE_IP, 'dev', HOST_LINK]);
    relay = await relayApiServer(cluster);

    const kc = new KubeConfig();
    kc.loadFromFile(cluster.kubeconfigPath);
    const core = kc.makeApiClient(CoreV1Api);
    await waitFor(
      deadline,
      async () => {
        if (exited) throw new Error(`the node's init ${exited}:\n${tail(path.join(dir, 'logs', 'node-init.log'))}`);
        const node = await core.readNode({ name }).catch(() => undefined);
        return node?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
      },
      () =>
        `node ${name} not Ready; kubelet log:\n${tail(path.join(dir, 'logs', 'kubelet.log'))}\nnode-init:\n${tail(path.join(dir, 'logs', 'node-init.log'))}`,
    );
    if (opts.enforceNetworkPolicies) {
      // Its informers have synced and its chains are in place: policies made from now on apply.
      const log = path.join(dir, 'logs', 'network-policies.log');
      await waitFor(
        deadline,
        () => fs.existsSync(log) && fs.readFileSync(log, 'utf8').includes('Starting network policy controller full sync goroutine'),
        () => `the NetworkPolicy enforcer did not start:\n${tail(log)}`,
      );
    }
    return { name, dir, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

async function waitFor(deadline: number, check: () => boolean | Promise<boolean>, what?: () => string): Promise<void> {
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(what?.() ?? 'timed out');
    await sleep(100);
  }
}

function tail(file: string, lines = 30): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** The configuration files of containerd, the CNI bridge and the kubelet, and the kubelet's certificates. */
function writeNodeFiles(dir: string, cluster: KubeCluster, name: string, enforcer: string): void {
  const pki = path.join(cluster.dir, 'pki');
  const ca: Issued = { certPem: fs.readFileSync(path.join(pki, 'ca.crt'), 'utf8'), keyPem: fs.readFileSync(path.join(pki, 'ca.key'), 'utf8') };
  const client = issueClientCert(ca, `system:node:${name}`, ['system:nodes']);
  const serving = issueServerCert(ca, { dns: [name], ips: [NODE_IP] }, 30);
  const write = (file: string, text: string, mode = 0o644) => fs.writeFileSync(path.join(dir, file), text, { mode });
  write('ca.crt', ca.certPem);
  write('kubelet.crt', serving.certPem);
  write('kubelet.key', serving.keyPem, 0o600);
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  write(
    'kubelet.kubeconfig',
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'skaha-test', cluster: { server: `https://${NODE_HOST_IP}:${API_RELAY_PORT}`, 'certificate-authority-data': b64(ca.certPem) } }],
      users: [{ name: 'kubelet', user: { 'client-certificate-data': b64(client.certPem), 'client-key-data': b64(client.keyPem) } }],
      contexts: [{ name: 'kubelet', context: { cluster: 'skaha-test', user: 'kubelet' } }],
      'current-context': 'kubelet',
    }),
    0o600,
  );
  write(
    'node.env',
    [
      `NODE_IP=${NODE_IP}`,
      `HOST_IP=${NODE_HOST_IP}`,
      `NODE_LINK=${NODE_LINK}`,
      `NODE_NAME=${name}`,
      `KUBELET=${path.join(kubeBinDir(), 'kubelet')}`,
      // The NetworkPolicy enforcer, when one is asked for (prepareNetworkPolicies).
      `ENFORCER=${enforcer}`,
      '',
    ].join('\n'),
  );
  fs.mkdirSync(path.join(dir, 'cni'));
  write(
    'cni/10-skaha-node.conflist',
    JSON.stringify({
      cniVersion: '1.0.0',
      name: 'skaha-node',
      plugins: [
        {
          type: 'bridge',
          bridge: 'cni0',
          isGateway: true,
          ipMasq: true,
          hairpinMode: true,
          ipam: { type: 'host-local', ranges: [[{ subnet: POD_CIDR }]], routes: [{ dst: '0.0.0.0/0' }] },
        },
        { type: 'portmap', capabilities: { portMappings: true } },
      ],
    }),
  );
  // containerd 1.6 (Debian): its state in the node's own /run, its images under `dir`.
  // restrict_oom_score_adj: this machine's bounding set lacks CAP_SYS_RESOURCE (every sandbox
  // fails to start without it).
  write(
    'containerd.toml',
    [
      'version = 2',
      `root = "${path.join(dir, 'containerd')}"`,
      'state = "/run/containerd"',
      '[grpc]',
      '  address = "/run/containerd/containerd.sock"',
      '[plugins."io.containerd.grpc.v1.cri"]',
      `  sandbox_image = "${PAUSE_IMAGE}"`,
      '  restrict_oom_score_adj = true',
      '  [plugins."io.containerd.grpc.v1.cri".containerd]',
      '    snapshotter = "overlayfs"',
      '    default_runtime_name = "runc"',
      '    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]',
      '      runtime_type = "io.containerd.runc.v2"',
      '      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]',
      '        SystemdCgroup = false',
      '  [plugins."io.containerd.grpc.v1.cri".cni]',
      '    bin_dir = "/usr/lib/cni"',
      `    conf_dir = "${path.join(dir, 'cni')}"`,
      '',
    ].join('\n'),
  );
  write(
    'kubelet.yaml',
    JSON.stringify({
      apiVersion: 'kubelet.config.k8s.io/v1beta1',
      kind: 'KubeletConfiguration',
      failCgroupV1: false,
      cgroupDriver: 'cgroupfs',
      failSwapOn: false,
      containerRuntimeEndpoint: 'unix:///run/containerd/containerd.sock',
      address: NODE_IP,
      readOnlyPort: 0,
      tlsCertFile: path.join(dir, 'kubelet.crt'),
      tlsPrivateKeyFile: path.join(dir, 'kubelet.key'),
      authentication: { x509: { clientCAFile: path.join(dir, 'ca.crt') }, webhook: { enabled: true }, anonymous: { enabled: false } },
      authorization: { mode: 'Webhook' },
      evictionHard: { 'memory.available': '100Mi', 'nodefs.available': '1%', 'imagefs.available': '1%', 'nodefs.inodesFree': '1%' },
      imageGCHighThresholdPercent: 100,
      imageGCLowThresholdPercent: 99,
      clusterDNS: ['10.96.0.10'],
      clusterDomain: 'cluster.local',
      resolvConf: '/etc/resolv.conf',
      registerNode: true,
      // The workload images are imported, never pulled: a pull of the pause image would fail.
      serializeImagePulls: true,
    }),
  );
}

/**
 * NetworkPolicies enforced on the node by kube-router's network policy controller alone
 * (`--run-firewall`; no routing, no service proxy): iptables chains per pod, ipsets of the
 * allowed peers, bridged pod traffic sent through iptables. It runs in the node's namespaces as a
 * DaemonSet's pod would, with a ServiceAccount token that may read pods, namespaces, nodes and
 * policies. Why kube-router: scripts/lib/kube.sh.
 */
async function prepareNetworkPolicies(dir: string, cluster: KubeCluster): Promise<void> {
  const kc = new KubeConfig();
  kc.loadFromFile(cluster.kubeconfigPath);
  const core = kc.makeApiClient(CoreV1Api);
  const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
  const name = 'kube-router';
  const ignoreExisting = (err: unknown) => {
    if ((err as { code?: number }).code !== 409) throw err;
  };
  await core.createNamespacedServiceAccount({ namespace: 'kube-system', body: { metadata: { name } } }).catch(ignoreExisting);
  await rbac
    .createClusterRole({
      body: {
        metadata: { name },
        rules: [
          // Read only. Services and endpoints: kube-router's informers start for every controller.
          { apiGroups: [''], resources: ['pods', 'namespaces', 'nodes', 'services', 'endpoints'], verbs: ['get', 'list', 'watch'] },
          { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['get', 'list', 'watch'] },
          { apiGroups: ['networking.k8s.io'], resources: ['networkpolicies'], verbs: ['get', 'list', 'watch'] },
        ],
      },
    })
    .catch(ignoreExisting);
  await rbac
    .createClusterRoleBinding({
      body: {
        metadata: { name },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
        subjects: [{ kind: 'ServiceAccount', name, namespace: 'kube-system' }],
      },
    })
    .catch(ignoreExisting);
  const token = await core.createNamespacedServiceAccountToken({
    name,
    namespace: 'kube-system',
    body: { spec: { audiences: [], expirationSeconds: 86_400 } },
  });
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      { name: 'test', cluster: { server: `https://${NODE_HOST_IP}:${API_RELAY_PORT}`, 'certificate-authority': path.join(cluster.dir, 'pki', 'ca.crt') } },
    ],
    users: [{ name, user: { token: token.status?.token ?? '' } }],
    contexts: [{ name, context: { cluster: 'test', user: name } }],
    'current-context': name,
  };
  fs.writeFileSync(path.join(dir, 'network-policies.kubeconfig'), JSON.stringify(config), { mode: 0o600 });
}

/** The kubelet reaches the API server (on loopback) through NODE_HOST_IP:6443. */
async function relayApiServer(cluster: KubeCluster): Promise<net.Server> {
  const target = new URL(cluster.server);
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port), target.hostname);
    client.pipe(upstream).pipe(client);
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close);
    upstream.on('error', close);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(API_RELAY_PORT, NODE_HOST_IP, () => resolve());
  });
  server.unref();
  return server;
}

async function removeStaleLink(): Promise<void> {
  await run('ip', ['link', 'del', HOST_LINK]).catch(() => undefined);
}

/** The kubelet's pod cgroups (cgroupfs driver, cgroup v1): removed bottom-up once their processes are gone. */
async function removeKubeletCgroups(): Promise<void> {
  const root = '/sys/fs/cgroup';
  const dirs: string[] = [];
  const walk = (d: string) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) if (e.isDirectory()) walk(path.join(d, e.name));
    dirs.push(d);
  };
  for (const controller of fs.readdirSync(root)) walk(path.join(root, controller, 'kubepods'));
  for (let attempt = 0; attempt < 50; attempt++) {
    const left = dirs.filter((d) => fs.existsSync(d));
    if (!left.length) return;
    for (const d of left) {
      try {
        fs.rmdirSync(d);
      } catch {
        // still has a process leaving, or a child: the next round
      }
    }
    await sleep(100);
  }
}

/** The local Podman engine the reference images are in, its service started if this is the first user. */
export function localImageEngine(): Promise<Docker> {
  return connectEngine({
    socketPath: '/run/skaha/podman.sock',
    containersConf: DEFAULT_CONTAINERS_CONF,
    startService: true,
    logFile: '/tmp/skaha-test-podman.log',
  });
}

/** The pause image as a docker-archive, built once (Go, then an image of that one file). */
async function pauseArchive(): Promise<string> {
  const source = fs.readFileSync(path.join(HERE, 'kube-node', 'pause.go'));
  const hash = crypto.createHash('sha256').update(source).digest('hex').slice(0, 12);
  const archive = path.join(CACHE, `pause-${hash}.tar`);
  if (fs.existsSync(archive)) return archive;
  fs.mkdirSync(CACHE, { recursive: true });
  const build = fs.mkdtempSync(path.join(os.tmpdir(), 'skaha-pause-'));
  try {
    const go = fs.existsSync('/usr/local/go/bin/go') ? '/usr/local/go/bin/go' : 'go';
    fs.copyFileSync(path.join(HERE, 'kube-node', 'pause.go'), path.join(build, 'pause.go'));
    await run(go, ['build', '-ldflags', '-s -w', '-o', path.join(build, 'pause'), path.join(build, 'pause.go')], {
      env: { ...process.env, CGO_ENABLED: '0', GOTOOLCHAIN: 'local', GO111MODULE: 'off', HOME: process.env.HOME ?? '/root' },
      cwd: build,
    });
    fs.writeFileSync(path.join(build, 'Containerfile'), 'FROM scratch\nCOPY pause /pause\nENTRYPOINT ["/pause"]\n');
    const context = spawn('tar', ['-C', build, '-c', 'pause', 'Containerfile'], { stdio: ['ignore', 'pipe', 'inherit'] }).stdout!;
    const docker = await localImageEngine();
    const stream = await docker.buildImage(context, { t: PAUSE_IMAGE, dockerfile: 'Containerfile' });
    await new Promise<void>((resolve, reject) => docker.modem.followProgress(stream, (err) => (err ? reject(err) : resolve())));
    await saveImage(PAUSE_IMAGE, archive);
    return archive;
  } finally {
    fs.rmSync(build, { recursive: true, force: true });
  }
}

/** A workload image from the local engine as a docker-archive, cached by image ID. */
async function imageArchive(reference: string): Promise<string> {
  const info = await (await localImageEngine()).getImage(reference).inspect();
  const safe = (s: string) => s.replace(/[^A-Za-z0-9.-]+/g, '_');
  const name = `${info.Id.replace(/^sha256:/, '').slice(0, 16)}-${safe(reference)}.tar`;
  const archive = path.join(CACHE, name);
  if (fs.existsSync(archive)) return archive;
  await saveImage(reference, archive);
  // Older builds of the same repository (a rebuilt image, a new tag) are not imported again.
  const repository = `-${safe(reference.replace(/:[^:/]+$/, ''))}_`;
  for (const old of fs.readdirSync(CACHE)) {
    if (old !== name && old.endsWith('.tar') && old.includes(repository)) fs.rmSync(path.join(CACHE, old), { force: true });
  }
  return archive;
}

async function saveImage(reference: string, archive: string): Promise<void> {
  fs.mkdirSync(path.dirname(archive), { recursive: true });
  const partial = `${archive}.partial`;
  const stream = await (await localImageEngine()).getImage(reference).get();
  await new Promise<void>((resolve, reject) => {
    const out = fs.createWriteStream(partial);
    stream.on('error', reject);
    out.on('error', reject);
    out.on('finish', () => resolve());
    stream.pipe(out);
  });
  fs.renameSync(partial, archive);
}
