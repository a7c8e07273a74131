/**
 * A real Kubernetes control plane on loopback for the tests (issue 9): etcd, kube-apiserver,
 * kube-controller-manager, kube-scheduler and kwok, which plays the kubelet for fake nodes.
 * The binaries come from scripts/lib/kube.sh (`ensure_kube_binaries`, run by scripts/test.sh),
 * found through KUBE_BIN_DIR or, when that is unset, the same versioned cache path kube.sh uses.
 *
 *   const cluster = await startKubeCluster();          // ~10 s; { nodes: 2 } for two fake nodes
 *   const kc = new KubeConfig(); kc.loadFromFile(cluster.kubeconfigPath);
 *   ...
 *   await cluster.stop();                                // also done on process exit
 *
 * What the cluster is:
 * - One etcd, one kube-apiserver on https://127.0.0.1:<free port> (RBAC + Node authorization,
 *   the default admission plugins, service accounts signed by a key in `dir`), the
 *   controller-manager with all default controllers (Jobs, garbage collection, TTL after
 *   finished, namespaces, service accounts, ...) and the scheduler. The kubeconfig's user is
 *   `admin` in `system:masters` (client certificate).
 * - Fake nodes `kwok-node-0`, `kwok-node-1`, ... (annotation kwok.x-k8s.io/node=fake, label
 *   type=kwok, no taints, so any pod schedules there with no toleration), each with
 *   `nodeCapacity` (default cpu 16, memory 64Gi, pods 110) as capacity and allocatable.
 *   startKubeCluster returns once every node is Ready and untainted and the controller-manager
 *   has made the `default` service account in `default`.
 * - Nothing else: tests make their own namespaces. A pod can only be created in a namespace
 *   once the controller-manager made its `default` ServiceAccount there (a second or less);
 *   createNamespace() below creates one and waits for that.
 *
 * What pods do under kwok (stages in test/helpers/kwok-stages.yaml):
 * - Scheduled pods go Pending -> Running at once, with a podIP from `podCidr`. The default is a
 *   loopback range (127.42.0.0/16) so that nothing in a test ever sends traffic off the machine,
 *   and a test can listen on a pod's IP itself to play the pod's server. (The EndpointSlice
 *   controller refuses loopback addresses, so Services get no endpoints; pass another podCidr
 *   if a test needs them.)
 * - A pod runs until deleted, unless it has the annotation `skaha.test/complete-after: "<Go
 *   duration>"` (e.g. "0s", "2s"): that long after it started running it terminates with exit
 *   code `skaha.test/exit-code` (default "0"): 0 -> phase Succeeded, reason Completed; anything
 *   else -> phase Failed, reason Error. For a Job, put the annotations on the pod template; with
 *   restartPolicy Never and backoffLimit 0 the Job then goes Complete (or Failed).
 * - A deleted pod is removed at once, whatever its grace period; finalizers are left for the
 *   controllers that own them, as with a real kubelet.
 * - Except on a node named TEST_KUBELET_NODE, which a test adds itself (addKwokNode): kwok keeps
 *   that node Ready and removes its deleted pods, but leaves their status to the test, which
 *   writes it as a kubelet would (a container waiting on an image pull that fails, say).
 * No container runs, so there are no logs, exec or port-forward.
 *
 * Files in `dir`: pki/ (CA, apiserver, admin, service-account keys), etcd/ (data),
 * logs/<component>.log (each component's output; startup errors name the file to read).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import forge from 'node-forge';
import { createCa, issueServerCert, type Issued } from '../../src/auth/x509/pki.js';
import { freePort } from './ports.js';

export interface KubeCluster {
  /** https://127.0.0.1:<port> */
  server: string;
  /** Admin kubeconfig (client certificate, system:masters); KubeConfig.loadFromFile reads it. */
  kubeconfigPath: string;
  /** Temp dir with pki/, etcd/ and logs/; removed by stop(). */
  dir: string;
  /** Names of the fake nodes. */
  nodes: string[];
  /** Stops and starts kube-apiserver on the same port and etcd (watch-reconnect tests). */
  restartApiServer(): Promise<void>;
  /** Resident memory of each control-plane process, in bytes (from /proc). */
  rss(): Record<string, number>;
  /** Kills everything and removes dir. Safe to call twice. */
  stop(): Promise<void>;
}

interface KubeClusterOptions {
  /** Fake nodes (default 1). */
  nodes?: number;
  /** Capacity (= allocatable) of each fake node; default { cpu: '16', memory: '64Gi', pods: '110' }. */
  nodeCapacity?: Record<string, string>;
  /** CIDR that kwok hands pod IPs out of (default 127.42.0.0/16, loopback). */
  podCidr?: string;
  /** How long to wait for the whole control plane (default 120 s). */
  timeoutMs?: number;
  /** More addresses the API server's certificate names (a real node reaches it there: kube-node.ts). */
  serverIps?: string[];
}

/** The node whose pods kwok does not start: a test writes their status (kwok-stages.yaml). */
export const TEST_KUBELET_NODE = 'test-kubelet';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '../..');
const KWOK_STAGES = path.join(HERE, 'kwok-stages.yaml');
const COMPONENTS = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kwok'] as const;
type Component = (typeof COMPONENTS)[number];

/** A version scripts/lib/kube.sh builds, from its `<NAME>_VERSION="..."` line (e.g. KUBE, HELM). */
export function kubeScriptVersion(name: string): string {
  const script = fs.readFileSync(path.join(ROOT, 'scripts/lib/kube.sh'), 'utf8');
  const version = new RegExp(`^${name}_VERSION="([^"]+)"`, 'm').exec(script)?.[1];
  if (!version) throw new Error(`no ${name}_VERSION="..." line in scripts/lib/kube.sh`);
  return version;
}

/** KUBE_BIN_DIR, or the directory scripts/lib/kube.sh builds into (its KUBE_VERSION line). */
export function kubeBinDir(): string {
  if (process.env.KUBE_BIN_DIR) return process.env.KUBE_BIN_DIR;
  const cache = process.env.KUBE_CACHE_DIR ?? `/var/cache/skaha-test/kubernetes-${kubeScriptVersion('KUBE')}`;
  return path.join(cache, 'bin');
}

/** The control-plane binaries (and helm) that are not in kubeBinDir(); empty when all are. */
export function missingKubeBinaries(): string[] {
  const dir = kubeBinDir();
  return [...COMPONENTS, 'helm'].filter((b) => {
    try {
      fs.accessSync(path.join(dir, b), fs.constants.X_OK);
      return false;
    } catch {
      return true;
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Certificates

export function issueClientCert(ca: Issued, commonName: string, organizations: string[]): Issued {
  const caCert = forge.pki.certificateFromPem(ca.certPem);
  const caKey = forge.pki.privateKeyFromPem(ca.keyPem) as forge.pki.rsa.PrivateKey;
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyPem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
  const key = forge.pki.privateKeyFromPem(keyPem) as forge.pki.rsa.PrivateKey;
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.setRsaPublicKey(key.n, key.e);
  cert.serialNumber = '01' + crypto.randomBytes(15).toString('hex');
  cert.validity.notBefore = new Date(Date.now() - 5 * 60_000);
  cert.validity.notAfter = new Date(Date.now() + 30 * 86_400_000);
  cert.setSubject([...organizations.map((value) => ({ name: 'organizationName', value })), { name: 'commonName', value: commonName }]);
  cert.setIssuer(caCert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', clientAuth: true },
  ]);
  cert.sign(caKey, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem };
}

interface Pki {
  ca: Issued;
  admin: Issued;
  files: { caCert: string; caKey: string; serverCert: string; serverKey: string; saKey: string; saPub: string; adminCert: string; adminKey: string };
}

function makePki(dir: string, serverIps: string[] = []): Pki {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const ca = createCa('skaha-test-kubernetes-ca', 30);
  const server = issueServerCert(
    ca,
    {
      dns: ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local'],
      ips: ['127.0.0.1', '10.96.0.1', ...serverIps],
    },
    30,
  );
  const admin = issueClientCert(ca, 'admin', ['system:masters']);
  const sa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const files = {
    caCert: path.join(dir, 'ca.crt'),
    caKey: path.join(dir, 'ca.key'),
    serverCert: path.join(dir, 'apiserver.crt'),
    serverKey: path.join(dir, 'apiserver.key'),
    saKey: path.join(dir, 'sa.key'),
    saPub: path.join(dir, 'sa.pub'),
    adminCert: path.join(dir, 'admin.crt'),
    adminKey: path.join(dir, 'admin.key'),
  };
  fs.writeFileSync(files.adminCert, admin.certPem);
  fs.writeFileSync(files.adminKey, admin.keyPem, { mode: 0o600 });
  fs.writeFileSync(files.caCert, ca.certPem);
  fs.writeFileSync(files.caKey, ca.keyPem, { mode: 0o600 });
  fs.writeFileSync(files.serverCert, server.certPem);
  fs.writeFileSync(files.serverKey, server.keyPem, { mode: 0o600 });
  fs.writeFileSync(files.saKey, sa.privateKey.export({ type: 'pkcs1', format: 'pem' }).toString(), { mode: 0o600 });
  fs.writeFileSync(files.saPub, sa.publicKey.export({ type: 'spki', format: 'pem' }).toString());
  return { ca, admin, files };
}

function kubeconfigYaml(server: string, pki: Pki): string {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: skaha-test',
    '  cluster:',
    `    server: ${server}`,
    `    certificate-authority-data: ${b64(pki.ca.certPem)}`,
    'users:',
    '- name: admin',
    '  user:',
    `    client-certificate-data: ${b64(pki.admin.certPem)}`,
    `    client-key-data: ${b64(pki.admin.keyPem)}`,
    'contexts:',
    '- name: skaha-test',
    '  context:',
    '    cluster: skaha-test',
    '    user: admin',
    'current-context: skaha-test',
    '',
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------
// Small utilities

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function tail(file: string, lines = 25): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

interface Reply {
  status: number;
  body: string;
}

// setpriv (util-linux, always on Debian) makes the kernel SIGKILL each component when this
// process dies, however it dies, so a crashed or killed test leaves no control plane behind.
const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => fs.existsSync(p));

interface Proc {
  name: Component;
  child: ChildProcess;
  exited?: string;
  logFile: string;
}

const live = new Set<ChildProcess>();
const liveDirs = new Set<string>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const c of live) c.kill('SIGKILL');
    for (const d of liveDirs) fs.rmSync(d, { recursive: true, force: true });
  });
}

// ---------------------------------------------------------------------------------------------

/** Starts a control plane with `opts.nodes` fake nodes (default 1); see the file header. */
export async function startKubeCluster(opts: KubeClusterOptions = {}): Promise<KubeCluster> {
  const started = Date.now();
  const binDir = kubeBinDir();
  const missing = missingKubeBinaries().filter((b) => b !== 'helm');
  if (missing.length)
    throw new Error(
      `missing in ${binDir}: ${missing.join(', ')} (build them with scripts/test.sh, or: ROOT=$PWD; . scripts/lib/ensure.sh; . scripts/lib/kube.sh; ensure_kube_binaries)`,
    );
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const deadline = started + timeoutMs;
  const nodeCount = opts.nodes ?? 1;
  const capacity = opts.nodeCapacity ?? { cpu: '16', memory: '64Gi', pods: '110' };

  installExitHook();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'skaha-kube-'));
  liveDirs.add(dir);
  const logDir = path.join(dir, 'logs');
  fs.mkdirSync(logDir);
  const pki = makePki(path.join(dir, 'pki'), opts.serverIps);
  const [etcdPort, etcdPeerPort, apiPort] = [await freePort(), await freePort(), await freePort()];
  const server = `https://127.0.0.1:${apiPort}`;
  const kubeconfigPath = path.join(dir, 'admin.kubeconfig');
  fs.writeFileSync(kubeconfigPath, kubeconfigYaml(server, pki), { mode: 0o600 });

  const procs = new Map<Component, Proc>();
  let stopping = false;

  function launch(name: Component, args: string[]): Proc {
    const logFile = path.join(logDir, `${name}.log`);
    const fd = fs.openSync(logFile, 'a');
    const bin = path.join(binDir, name);
    const [cmd, argv] = SETPRIV ? [SETPRIV, ['--pdeathsig', 'SIGKILL', '--', bin, ...args]] : [bin, args];
    const child = spawn(cmd, argv, { stdio: ['ignore', fd, fd], cwd: dir, env: { ...process.env, HOME: dir } });
    fs.closeSync(fd);
    child.unref();
    live.add(child);
    const proc: Proc = { name, child, logFile };
    child.on('error', (err) => (proc.exited = `could not start: ${err.message}`));
    child.on('exit', (code, signal) => {
      live.delete(child);
      proc.exited = signal ? `killed by ${signal}` : `exited with code ${code}`;
    });
    procs.set(name, proc);
    return proc;
  }

  function failure(what: string, name?: Component): Error {
    const dead = [...procs.values()].find((p) => p.exited);
    const culprit = dead ?? (name ? procs.get(name) : undefined);
    const logs = [...procs.values()].map((p) => `  ${p.name}: ${p.logFile}`).join('\n');
    const detail = culprit ? `\n${culprit.name} ${culprit.exited ?? 'is running'}; last lines of ${culprit.logFile}:\n${tail(culprit.logFile)}` : '';
    return new Error(`Kubernetes test cluster: ${what}${detail}\nlogs:\n${logs}`);
  }

  /** Polls `check` until it returns true; fails early when a component has died. */
  async function waitFor(what: string, check: () => Promise<boolean>, name?: Component, until = deadline): Promise<void> {
    let lastError = '';
    for (;;) {
      const dead = [...procs.values()].find((p) => p.exited);
      if (dead) throw failure(`${dead.name} stopped while waiting for ${what}`, dead.name);
      try {
        if (await check()) return;
      } catch (err) {
        lastError = (err as Error).message;
      }
      if (Date.now() > until) throw failure(`timed out waiting for ${what}${lastError ? ` (last error: ${lastError})` : ''}`, name);
      await sleep(100);
    }
  }

  function api(method: string, urlPath: string, body?: unknown): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const data = body === undefined ? undefined : JSON.stringify(body);
      const req = https.request(
        {
          host: '127.0.0.1',
          port: apiPort,
          method,
          path: urlPath,
          ca: pki.ca.certPem,
          cert: pki.admin.certPem,
          key: pki.admin.keyPem,
          agent: false,
          timeout: 5_000,
          headers: data ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } : {},
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
        },
      );
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', reject);
      req.end(data);
    });
  }

  const apiServerArgs = [
    `--etcd-servers=http://127.0.0.1:${etcdPort}`,
    '--bind-address=127.0.0.1',
    '--advertise-address=127.0.0.1',
    `--secure-port=${apiPort}`,
    `--tls-cert-file=${pki.files.serverCert}`,
    `--tls-private-key-file=${pki.files.serverKey}`,
    `--client-ca-file=${pki.files.caCert}`,
    '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
    `--service-account-key-file=${pki.files.saPub}`,
    `--service-account-signing-key-file=${pki.files.saKey}`,
    '--service-cluster-ip-range=10.96.0.0/16',
    '--authorization-mode=Node,RBAC',
    '--allow-privileged=true',
    // The apiserver would publish its own address as the endpoint of the `kubernetes` Service;
    // a loopback address is not allowed there, and no pod here ever calls the API server.
    '--endpoint-reconciler-type=none',
    '--profiling=false',
    `--cert-dir=${path.join(dir, 'pki')}`,
    // A real node's kubelet (kube-node.ts) serves logs; the API server reaches it by its IP.
    `--kubelet-client-certificate=${pki.files.adminCert}`,
    `--kubelet-client-key=${pki.files.adminKey}`,
    '--kubelet-preferred-address-types=InternalIP,Hostname',
  ];

  async function apiServerReady(until = deadline): Promise<void> {
    await waitFor(`kube-apiserver ${server}/readyz`, async () => (await api('GET', '/readyz')).status === 200, 'kube-apiserver', until);
  }

  /** SIGTERM, then SIGKILL after graceMs (at once when 0). */
  async function terminate(p: Proc, graceMs: number): Promise<void> {
    if (p.exited) return;
    // The children are unref'd (they never keep a test process alive); while one is awaited
    // here, it must hold the event loop open, or an idle process would end mid-await.
    p.child.ref();
    const gone = new Promise<void>((r) => p.child.once('exit', () => r()));
    if (graceMs === 0) {
      p.child.kill('SIGKILL');
      return gone;
    }
    p.child.kill('SIGTERM');
    const killed = await Promise.race([gone.then(() => true), sleep(graceMs).then(() => false)]);
    if (!killed) {
      p.child.kill('SIGKILL');
      await gone;
    }
  }

  async function stop(): Promise<void> {
    if (stopping) return;
    stopping = true;
    // SIGKILL: nothing here is kept, and a graceful apiserver shutdown takes seconds.
    await Promise.all([...procs.values()].map((p) => terminate(p, 0)));
    liveDirs.delete(dir);
    fs.rmSync(dir, { recursive: true, force: true });
  }

  try {
    // etcd: fsync off (test data), quiet logs.
    launch('etcd', [
      '--name=skaha-test',
      `--data-dir=${path.join(dir, 'etcd')}`,
      `--listen-client-urls=http://127.0.0.1:${etcdPort}`,
      `--advertise-client-urls=http://127.0.0.1:${etcdPort}`,
      `--listen-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
      `--initial-cluster=skaha-test=http://127.0.0.1:${etcdPeerPort}`,
      '--unsafe-no-fsync',
      '--log-level=warn',
    ]);
    await waitFor(
      `etcd http://127.0.0.1:${etcdPort}/health`,
      () =>
        new Promise<boolean>((resolve, reject) => {
          http
            .get(`http://127.0.0.1:${etcdPort}/health`, (res) => {
              let t = '';
              res.on('data', (c) => (t += c));
              res.on('end', () => resolve(res.statusCode === 200 && t.includes('"true"')));
            })
            .on('error', reject);
        }),
      'etcd',
    );

    launch('kube-apiserver', apiServerArgs);
    await apiServerReady();

    const clientArgs = [
      `--kubeconfig=${kubeconfigPath}`,
      `--authentication-kubeconfig=${kubeconfigPath}`,
      `--authorization-kubeconfig=${kubeconfigPath}`,
      '--leader-elect=false',
      '--bind-address=127.0.0.1',
      '--secure-port=0',
    ];
    launch('kube-controller-manager', [
      ...clientArgs,
      '--controllers=*',
      '--use-service-account-credentials=false',
      `--service-account-private-key-file=${pki.files.saKey}`,
      `--root-ca-file=${pki.files.caCert}`,
      `--cluster-signing-cert-file=${pki.files.caCert}`,
      `--cluster-signing-key-file=${pki.files.caKey}`,
    ]);
    launch('kube-scheduler', clientArgs);
    launch('kwok', [
      `--kubeconfig=${kubeconfigPath}`,
      `--config=${KWOK_STAGES}`,
      '--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake',
      `--cidr=${opts.podCidr ?? '127.42.0.0/16'}`,
      '--node-ip=127.0.0.1',
      '--node-lease-duration-seconds=40',
    ]);

    const nodes = Array.from({ length: nodeCount }, (_, i) => `kwok-node-${i}`);
    for (const name of nodes) {
      const r = await api('POST', '/api/v1/nodes', kwokNode(name, capacity, { type: 'kwok' }));
      if (r.status !== 201) throw failure(`creating node ${name}: HTTP ${r.status} ${r.body}`, 'kube-apiserver');
    }

    await waitFor(
      `${nodes.length} node(s) Ready and untainted (kwok)`,
      async () => {
        const r = await api('GET', '/api/v1/nodes?labelSelector=type%3Dkwok');
        if (r.status !== 200) return false;
        const items = (JSON.parse(r.body) as { items: { status?: { conditions?: { type: string; status: string }[] }; spec?: { taints?: unknown[] } }[] })
          .items;
        return (
          items.length === nodes.length &&
          items.every((n) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') && !n.spec?.taints?.length)
        );
      },
      'kwok',
    );
    await waitFor(
      'the default ServiceAccount in namespace default (kube-controller-manager)',
      async () => (await api('GET', '/api/v1/namespaces/default/serviceaccounts/default')).status === 200,
      'kube-controller-manager',
    );

    return {
      server,
      kubeconfigPath,
      dir,
      nodes,
      async restartApiServer() {
        const p = procs.get('kube-apiserver');
        // SIGTERM first (it stops listening at once); it then lingers on open watches for
        // 10 s or more, so it gets SIGKILL after 2 s.
        if (p) await terminate(p, 2_000);
        launch('kube-apiserver', apiServerArgs);
        await apiServerReady(Date.now() + 60_000);
      },
      rss() {
        const out: Record<string, number> = {};
        for (const p of procs.values()) {
          if (p.exited || !p.child.pid) continue;
          // With setpriv the pid is the component itself: setpriv execs it.
          try {
            const kb = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${p.child.pid}/status`, 'utf8'))?.[1];
            if (kb) out[p.name] = Number(kb) * 1024;
          } catch {
            /* exited meanwhile */
          }
        }
        return out;
      },
      stop,
    };
  } catch (err) {
    // Keep the logs of a failed start for the error message's reader; kill the processes.
    for (const p of procs.values()) p.child.kill('SIGKILL');
    liveDirs.delete(dir);
    throw err;
  }
}

/**
 * Creates a namespace and waits until the controller-manager has made its `default`
 * ServiceAccount (before that the apiserver refuses pods there). Uses the cluster's admin
 * kubeconfig via a plain HTTPS call, so it needs no client library.
 */
export async function createNamespace(cluster: KubeCluster, name: string, timeoutMs = 30_000): Promise<void> {
  const call = adminCall(cluster);
  const created = (await call('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name } })).status;
  if (created !== 201 && created !== 409) throw new Error(`creating namespace ${name}: HTTP ${created}`);
  const deadline = Date.now() + timeoutMs;
  while ((await call('GET', `/api/v1/namespaces/${name}/serviceaccounts/default`)).status !== 200) {
    if (Date.now() > deadline)
      throw new Error(`namespace ${name}: no default ServiceAccount after ${timeoutMs} ms (see ${cluster.dir}/logs/kube-controller-manager.log)`);
    await sleep(100);
  }
}

/**
 * Adds a fake node of its own size and labels (a GPU node, a larger one, TEST_KUBELET_NODE) to
 * a running cluster, and waits until kwok has made it Ready and untainted.
 */
export async function addKwokNode(
  cluster: KubeCluster,
  name: string,
  opts: { capacity: Record<string, string>; labels?: Record<string, string> },
  timeoutMs = 30_000,
): Promise<void> {
  const call = adminCall(cluster);
  const created = await call('POST', '/api/v1/nodes', kwokNode(name, opts.capacity, opts.labels ?? {}));
  if (created.status !== 201) throw new Error(`creating node ${name}: HTTP ${created.status} ${created.body}`);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await call('GET', `/api/v1/nodes/${name}`);
    const node = JSON.parse(r.body) as { status?: { conditions?: { type: string; status: string }[] }; spec?: { taints?: unknown[] } };
    if (node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') && !node.spec?.taints?.length) return;
    if (Date.now() > deadline) throw new Error(`node ${name} not Ready after ${timeoutMs} ms (see ${cluster.dir}/logs/kwok.log)`);
    await sleep(100);
  }
}

/** A Node that kwok plays the kubelet of (its annotation), with `capacity` as capacity and allocatable. */
function kwokNode(name: string, capacity: Record<string, string>, labels: Record<string, string>): unknown {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      annotations: { 'kwok.x-k8s.io/node': 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
      labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64', 'node-role.kubernetes.io/agent': '', ...labels },
    },
    spec: {},
    status: { capacity, allocatable: capacity },
  };
}

/** Requests to the cluster's API server as its admin, with no client library. */
function adminCall(cluster: KubeCluster): (method: string, path: string, body?: unknown) => Promise<Reply> {
  const cfg = fs.readFileSync(cluster.kubeconfigPath, 'utf8');
  const field = (k: string) => Buffer.from(new RegExp(`${k}: (\\S+)`).exec(cfg)![1]!, 'base64').toString();
  const tls = { ca: field('certificate-authority-data'), cert: field('client-certificate-data'), key: field('client-key-data') };
  const url = new URL(cluster.server);
  return (method, p, body) =>
    new Promise<Reply>((resolve, reject) => {
      const data = body === undefined ? undefined : JSON.stringify(body);
      const req = https.request(
        { host: url.hostname, port: url.port, method, path: p, ...tls, agent: false, headers: data ? { 'content-type': 'application/json' } : {} },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
        },
      );
      req.on('error', reject);
      req.end(data);
    });
}
