// The Helm chart installed for real (issue 20): `helm install` of deploy/helm/skaha into the test
// control plane with one real node (test/helpers/kube-node.ts), the server running in its pod
// from an image built here from the project's own parts (deploy/docker/Containerfile.local), and
// the seed's `curl -E cadcproxy.pem` flows against it: images, context, a headless job whose
// output and file come from its container, a web app through the pod's proxy (with the
// NetworkPolicies enforced, so the server pod gets in by the chart's labels), and the server pod
// deleted and replaced by its Deployment with every session and identity still there.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import { createCa, issueServerCert, issueUserCert, type Issued } from '../../../src/auth/x509/pki.js';
import { startHarborReplay, type HarborReplay } from '../../helpers/harbor-replay.js';
import { CHART_DIR, helmAsync } from '../../helpers/helm.js';
import { kubeBinDir, missingKubeBinaries, startKubeCluster, type KubeCluster } from '../../helpers/kube-cluster.js';
import { missingNodeParts, NODE_HOST_IP, POD_CIDR, startRealNode, type RealNode } from '../../helpers/kube-node.js';
import { HEADLESS_IMAGE, WEB_IMAGE } from '../../helpers/platform.js';
import { buildServerImage } from '../../helpers/server-image.js';
import { eventually } from '../../helpers/wait.js';

const run = promisify(execFile);
const missing = [...missingKubeBinaries(), ...missingNodeParts({ networkPolicies: true })];
const skip =
  missing.length > 0 &&
  `needs the cluster's and the node's parts (missing in ${kubeBinDir()} or the system: ${missing.join(', ')}; scripts/test.sh builds them)`;

const RELEASE = 'skaha';
const NAMESPACE = 'skaha-system';
const WORKLOAD = 'skaha-workload';
/** The name the certificate listener's certificate carries; curl resolves it to the pod's IP. */
const SERVER_NAME = 'skaha.test';
const CERT_PORT = 8556;
const USER = 'seeduser';

describe('Helm chart installed on a real node: the seed curl flows against the server pod', { skip }, () => {
  let cluster: KubeCluster;
  let node: RealNode;
  let harbor: HarborReplay;
  let kc: k8s.KubeConfig;
  let core: k8s.CoreV1Api;
  const tmp = fs.mkdtempSync(path.join('/var/tmp', 'skaha-helm-node-'));
  const arc = path.join(tmp, 'arc');
  const ca = createCa('helm real-node test CA');
  let user: Issued;
  let serverIp = '';

  /** `curl -E` as the seed shows it, against the server pod's certificate listener. */
  async function curl(route: string, opts: { method?: string; form?: Record<string, string> } = {}): Promise<{ status: number; body: string }> {
    const files = path.join(tmp, 'curl');
    const args = ['-sS', '-E', path.join(files, 'user.pem'), '--cacert', path.join(files, 'ca.pem')];
    args.push('--resolve', `${SERVER_NAME}:${CERT_PORT}:${serverIp}`, '-w', '\n%{http_code}', '--max-time', '20');
    if (opts.method) args.push('-X', opts.method);
    for (const [k, v] of Object.entries(opts.form ?? {})) args.push('-d', `${k}=${v}`);
    // A transfer curl could not make (the pod not listening yet) is status 0, with curl's message.
    const { stdout, stderr } = await run('curl', [...args, `https://${SERVER_NAME}:${CERT_PORT}${route}`]).catch(
      (err: { stdout?: string; stderr?: string }) => ({ stdout: `\n0`, stderr: err.stderr ?? '' }),
    );
    const at = stdout.lastIndexOf('\n');
    return { status: Number(stdout.slice(at + 1)), body: stdout.slice(0, at) || stderr.trim() };
  }
  const LONG = 90_000;
  const sessionOf = async (id: string) => {
    const r = await curl(`/skaha/v0/session/${id}`);
    return r.status === 200 ? (JSON.parse(r.body) as { status: string; connectURL?: string }) : undefined;
  };
  /** The server pod's IP once it is Ready (and not terminating). */
  const readyServerIp = async (exclude?: string) => {
    const ready = await eventually(
      'the server pod is Ready',
      async () =>
        (await core.listNamespacedPod({ namespace: NAMESPACE, labelSelector: `app.kubernetes.io/instance=${RELEASE}` })).items.find(
          (p) =>
            !p.metadata?.deletionTimestamp &&
            p.metadata?.name !== exclude &&
            p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') &&
            p.status?.podIP,
        ),
      (pod) => pod !== undefined,
      LONG,
    );
    return { name: ready!.metadata!.name!, ip: ready!.status!.podIP! };
  };

  before(async () => {
    const image = await buildServerImage();
    cluster = await startKubeCluster({ nodes: 0, serverIps: [NODE_HOST_IP] });
    node = await startRealNode(cluster, { images: [image, HEADLESS_IMAGE, WEB_IMAGE], enforceNetworkPolicies: true });
    kc = new k8s.KubeConfig();
    kc.loadFromFile(cluster.kubeconfigPath);
    core = kc.makeApiClient(k8s.CoreV1Api);
    // The catalog: Harbor's API (a replay; Harbor itself cannot run here) on the host's end of the
    // node's link, where the server pod reaches it.
    const digest = () => `sha256:${crypto.randomBytes(32).toString('hex')}`;
    harbor = await startHarborReplay({
      host: NODE_HOST_IP,
      projects: [{ name: 'skaha', public: true }],
      artifacts: [
        { repository: 'skaha/headless', digest: digest(), tags: ['1.0'], labels: ['headless'] },
        { repository: 'skaha/webapp', digest: digest(), tags: ['1.0'], labels: ['contributed'] },
      ],
      robot: { name: 'robot$skaha', secret: 'unused' },
    });

    // The certificate listener's Secret (server certificate and the CA of user certificates),
    // the user's proxy-style PEM (certificate and key in one file, as cadcproxy.pem).
    fs.mkdirSync(arc);
    fs.mkdirSync(path.join(tmp, 'data'));
    fs.mkdirSync(path.join(tmp, 'curl'));
    const server = issueServerCert(ca, { dns: [SERVER_NAME], ips: [] });
    user = issueUserCert(ca, USER);
    fs.writeFileSync(path.join(tmp, 'curl', 'user.pem'), user.certPem + user.keyPem, { mode: 0o600 });
    fs.writeFileSync(path.join(tmp, 'curl', 'ca.pem'), ca.certPem);
    await core.createNamespace({ body: { metadata: { name: NAMESPACE } } });
    await core.createNamespacedSecret({
      namespace: NAMESPACE,
      body: { metadata: { name: 'skaha-certs' }, stringData: { 'tls.crt': server.certPem, 'tls.key': server.keyPem, 'ca.crt': ca.certPem } },
    });
    // The data claim's volume: a directory of this host (the node shares its filesystem).
    await core.createPersistentVolume({
      body: {
        metadata: { name: 'skaha-helm-node-data' },
        spec: {
          capacity: { storage: '2Gi' },
          accessModes: ['ReadWriteOnce'],
          storageClassName: '',
          hostPath: { path: path.join(tmp, 'data') },
          claimRef: { namespace: NAMESPACE, name: `${RELEASE}-data` },
        },
      },
    });

    const [repository, tag] = image.split(/:(?=[^:]+$)/);
    const values = {
      image: { repository, tag, pullPolicy: 'Never' },
      persistence: { storageClass: '-' },
      userStorage: { kind: 'hostPath', hostPath: arc },
      certificateListener: { enabled: true, secretName: 'skaha-certs', service: { type: 'ClusterIP' } },
      // Enforced on this node (kube-router): the server pod reaches sessions by the chart's
      // selector labels, the one way in that the policies leave.
      networkPolicy: { enabled: true, blockedCidrs: [POD_CIDR] },
      // No kube-proxy on this node: the API server at the address its relay listens on, not the
      // `kubernetes` Service's cluster IP (the kubelet lets a container's env override it).
      extraEnv: [
        { name: 'KUBERNETES_SERVICE_HOST', value: NODE_HOST_IP },
        { name: 'KUBERNETES_SERVICE_PORT', value: '6443' },
      ],
      // Two cores: the server's quarter and one session at a time.
      resourceContext: {
        cores: { default: 1, defaultRequest: 1, defaultLimit: 1, defaultHeadless: 1, options: [1] },
        memoryGB: { default: 1, defaultRequest: 1, defaultLimit: 1, defaultHeadless: 1, options: [1] },
        gpus: { options: [] },
      },
      config: {
        catalog: { sources: [{ kind: 'harbor', url: harbor.url, host: 'images.canfar.net' }] },
        // Imported images only: a pull would go to images.canfar.net, which is not reachable here.
        kubernetes: { imagePullPolicy: 'Never' },
      },
    };
    const install = await helmAsync(
      ['install', RELEASE, CHART_DIR, '--namespace', NAMESPACE, '--kubeconfig', cluster.kubeconfigPath, '--wait', '--timeout', '4m'],
      values,
    );
    assert.equal(install.status, 0, `helm install: ${install.stderr}`);
    serverIp = (await readyServerIp()).ip;
  });

  after(async () => {
    if (cluster) {
      const uninstall = await helmAsync(['uninstall', RELEASE, '--namespace', NAMESPACE, '--kubeconfig', cluster.kubeconfigPath, '--wait']);
      if (uninstall.status !== 0) console.error(`helm uninstall: ${uninstall.stderr}`);
    }
    await harbor?.stop();
    await node?.stop();
    await cluster?.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('runs the seed flows: image, context, a headless job, a web app through the proxy, and survives its pod being replaced', async () => {
    // curl -E cadcproxy.pem .../skaha/v0/image and .../context
    const images = await curl('/skaha/v0/image');
    assert.equal(images.status, 200, images.body);
    const ids = (JSON.parse(images.body) as Array<{ id: string; types: string[] }>).map((i) => `${i.id} ${i.types.join(',')}`).sort();
    assert.deepEqual(ids, [`${HEADLESS_IMAGE} headless`, `${WEB_IMAGE} contributed`]);
    const context = await curl('/skaha/v0/context');
    assert.equal(context.status, 200, context.body);
    assert.deepEqual((JSON.parse(context.body) as { cores: { options: number[] } }).cores.options, [1]);

    // A headless job: its output is the container's own (its uid is the user's, not root), and
    // the file it writes in $HOME (its working directory) is on the chart's user storage.
    // `args` is split on single spaces, so the shell's ${IFS} stands for the one inside.
    const job = await curl('/skaha/v0/session', {
      form: { name: 'seedjob', image: HEADLESS_IMAGE, type: 'headless', cmd: '/bin/sh', args: '-c id|tee${IFS}from-pod.txt' },
    });
    assert.equal(job.status, 200, job.body);
    const jobId = job.body.trim();
    await eventually(
      'the job succeeds',
      () => sessionOf(jobId),
      (s) => s?.status === 'Succeeded',
      LONG,
    );
    const logs = await curl(`/skaha/v0/session/${jobId}?view=logs`);
    assert.equal(logs.status, 200, logs.body);
    const uid = /uid=(\d+)\(seeduser\)/.exec(logs.body)?.[1];
    assert.ok(uid && uid !== '0', `the job's own output names the user: ${logs.body}`);
    const written = path.join(arc, 'home', USER, 'from-pod.txt');
    assert.match(fs.readFileSync(written, 'utf8'), /uid=\d+\(seeduser\)/);
    assert.equal(fs.statSync(written).uid, Number(uid), 'the file is the user’s');

    // A web app, reached through the server pod's proxy at its connect URL.
    const web = await curl('/skaha/v0/session', { form: { name: 'seedweb', image: WEB_IMAGE, type: 'contributed' } });
    assert.equal(web.status, 200, web.body);
    const webId = web.body.trim();
    const running = await eventually(
      'the web app runs',
      () => sessionOf(webId),
      (s) => s?.status === 'Running',
      LONG,
    );
    const connect = new URL(running!.connectURL!);
    const { body: page } = await eventually(
      'the web app answers through the proxy',
      () => curl(`${connect.pathname}${connect.search}`),
      (r) => r.status === 200,
      LONG,
    );
    assert.match(page, /skaha web app/);
    assert.match(page, new RegExp(`<td id="uid">${uid}</td>`), 'the web app runs as the user');

    // The server pod replaced (its Deployment makes a new one): the sessions, the user's uid (the
    // identity store on the data claim) and the job's logs are all still there.
    const before = await readyServerIp();
    await core.deleteNamespacedPod({ name: before.name, namespace: NAMESPACE });
    serverIp = (await readyServerIp(before.name)).ip;
    const list = await curl('/skaha/v0/session');
    assert.equal(list.status, 200, list.body);
    const sessions = JSON.parse(list.body) as Array<{ id: string; status: string }>;
    assert.deepEqual(sessions.map((s) => `${s.id} ${s.status}`).sort(), [`${jobId} Succeeded`, `${webId} Running`].sort());
    assert.match((await curl(`/skaha/v0/session/${jobId}?view=logs`)).body, new RegExp(`uid=${uid}\\(seeduser\\)`));
    assert.match((await curl(`${connect.pathname}${connect.search}`)).body, /skaha web app/, 'the proxy reaches it again');

    // curl -X DELETE: the web app's pod leaves the node.
    assert.equal((await curl(`/skaha/v0/session/${webId}`, { method: 'DELETE' })).status, 200);
    await eventually(
      'the web app is gone',
      () => curl(`/skaha/v0/session/${webId}`),
      (r) => r.status === 404,
      LONG,
    );
    await eventually(
      'its pod has left',
      async () => (await core.listNamespacedPod({ namespace: WORKLOAD, labelSelector: `canfar.net/id=${webId}` })).items.map((p) => p.metadata?.name),
      (pods) => pods.length === 0,
      LONG,
    );
  });
});
