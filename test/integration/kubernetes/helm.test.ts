// The Helm chart (deploy/helm/skaha, issue 9): it renders with helm built from Go modules, lints,
// produces a config.json the server itself accepts, and its objects are accepted by a real API
// server. Then the server runs with the chart's ServiceAccount token against that API server and
// launches, renews, inspects and deletes sessions: the Role is enough, and no more than the code
// calls (the rules are compared whole).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import { createCa, issueServerCert, issueUserCert } from '../../../src/auth/x509/pki.js';
import { ConfigSchema, resolveConfig } from '../../../src/server/config.js';
import { createPlatform, type Platform } from '../../../src/server/platform.js';
import { loadContextFile } from '../../../src/sessions/context.js';
import { CHART_DIR, fullValues, helm, pick, renderChart, ROLE_RULES, saKubeconfig, schemaUnknownKeys } from '../../helpers/helm.js';
import { createNamespace, kubeBinDir, missingKubeBinaries, startKubeCluster, type KubeCluster } from '../../helpers/kube-cluster.js';
import { freePort } from '../../helpers/ports.js';

const missing = missingKubeBinaries();
const noHelm = missing.includes('helm') && `helm is missing in ${kubeBinDir()} (scripts/test.sh builds it)`;
const noCluster = missing.length > 0 && `Kubernetes test binaries missing in ${kubeBinDir()}: ${missing.join(', ')} (scripts/test.sh builds them)`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const configOf = (objects: k8s.KubernetesObject[]) =>
  JSON.parse(pick<k8s.V1ConfigMap>(objects, 'ConfigMap', 'skaha-config').data!['config.json']!) as Record<string, any>;
const rulesOf = (role: k8s.V1Role) => (role.rules ?? []).map((r) => [r.apiGroups, r.resources, r.verbs]);
const mountsOf = (d: k8s.V1Deployment) => Object.fromEntries((d.spec!.template.spec!.containers[0]!.volumeMounts ?? []).map((m) => [m.name, m.mountPath]));
const volumesOf = (d: k8s.V1Deployment) => Object.fromEntries((d.spec!.template.spec!.volumes ?? []).map((v) => [v.name, v]));

describe('Helm chart: rendering', { skip: noHelm }, () => {
  it('lints, with the default values and with every feature on', () => {
    for (const values of [undefined, fullValues('skaha-wl-full')]) {
      const r = helm(['lint', '--strict', CHART_DIR], values);
      assert.equal(r.status, 0, r.stdout + r.stderr);
    }
  });

  it('deploys the version in package.json', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(CHART_DIR, '../../../package.json'), 'utf8')) as { version: string };
    assert.match(fs.readFileSync(path.join(CHART_DIR, 'Chart.yaml'), 'utf8'), new RegExp(`^appVersion: "${pkg.version.replace(/\./g, '\\.')}"$`, 'm'));
  });

  it('default values: a config the server accepts, least RBAC in the workload namespace, a confined server', () => {
    const objects = renderChart('skaha', 'skaha-system');
    assert.deepEqual(objects.map((o) => o.kind).sort(), [
      'ClusterRole',
      'ClusterRoleBinding',
      'ConfigMap',
      'Deployment',
      'Namespace',
      'PersistentVolumeClaim',
      'Role',
      'RoleBinding',
      'Service',
      'ServiceAccount',
    ]);
    const raw = configOf(objects);
    assert.deepEqual(schemaUnknownKeys(raw, ConfigSchema), [], 'every config.json key is one of the schema');
    const config = resolveConfig(raw);
    assert.equal(config.backend, 'kubernetes');
    assert.deepEqual([config.host, config.port, config.dataDir, config.publicUrl], ['0.0.0.0', 8555, '/var/lib/skaha', '']);
    assert.deepEqual(config.kubernetes.storage, { kind: 'pvc', claimName: 'skaha-storage', hostPath: '' });
    assert.equal(config.kubernetes.namespace, 'skaha-workload');
    assert.equal(config.kubernetes.kubeconfig, '', "in the cluster: the pod's service account");
    assert.equal(config.kubernetes.sessionsApiUrl, 'http://skaha.skaha-system.svc:8555', 'desktops call the API through the Service');
    assert.deepEqual([config.registryHosts, config.sessions.expirySeconds, config.sessions.maxUserSessions], [['images.canfar.net'], 345600, 5]);
    assert.equal(config.resources.file, '', "no resource context: skaha's chart defaults");

    const role = pick<k8s.V1Role>(objects, 'Role');
    assert.equal(role.metadata?.namespace, 'skaha-workload');
    assert.deepEqual(rulesOf(role), ROLE_RULES);
    const binding = pick<k8s.V1RoleBinding>(objects, 'RoleBinding');
    assert.equal(binding.metadata?.namespace, 'skaha-workload');
    assert.deepEqual(
      binding.subjects?.map((s) => [s.kind, s.name, s.namespace]),
      [['ServiceAccount', 'skaha', 'skaha-system']],
    );
    assert.deepEqual(rulesOf(pick<k8s.V1ClusterRole>(objects, 'ClusterRole')), [[[''], ['nodes'], ['list']]]);
    for (const o of objects) {
      if (!['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding'].includes(o.kind!))
        assert.equal(o.metadata?.namespace, 'skaha-system', `${o.kind} in the release namespace`);
    }

    const deployment = pick<k8s.V1Deployment>(objects, 'Deployment');
    const spec = deployment.spec!;
    assert.deepEqual([spec.replicas, spec.strategy?.type], [1, 'Recreate'], 'one server on the SQLite store, also while upgrading');
    const pod = spec.template.spec!;
    const container = pod.containers[0]!;
    assert.equal(pod.serviceAccountName, 'skaha');
    assert.equal(pod.securityContext?.seccompProfile?.type, 'RuntimeDefault');
    const sc = container.securityContext!;
    assert.deepEqual(
      [sc.allowPrivilegeEscalation, sc.privileged, sc.readOnlyRootFilesystem, sc.capabilities?.drop, sc.capabilities?.add],
      [false, false, true, ['ALL'], ['CHOWN', 'FOWNER', 'DAC_OVERRIDE']],
      'root only to chown new homes: nothing else',
    );
    assert.equal(container.image, 'images.example.org/skaha/server:0.1.0');
    assert.deepEqual(container.command, ['skaha', 'serve']);
    assert.deepEqual(container.env?.find((e) => e.name === 'SKAHA_CONFIG')?.value, '/etc/skaha/config/config.json');
    for (const probe of [container.startupProbe, container.livenessProbe]) assert.equal(probe?.httpGet?.path, '/healthz');
    // Ready only while the session watch is live (the server answers 503 on /readyz otherwise),
    // with 30 s of grace so that an API server restart does not take every replica out.
    assert.deepEqual([container.readinessProbe?.httpGet?.path, container.readinessProbe?.httpGet?.port], ['/readyz', 'http']);
    assert.equal((container.readinessProbe?.periodSeconds ?? 10) * (container.readinessProbe?.failureThreshold ?? 3), 30);
    assert.deepEqual(mountsOf(deployment), { config: '/etc/skaha/config', data: config.dataDir, 'user-storage': config.storage.hostDir, tmp: '/tmp' });
    const volumes = volumesOf(deployment);
    assert.equal(volumes.data?.persistentVolumeClaim?.claimName, pick<k8s.V1PersistentVolumeClaim>(objects, 'PersistentVolumeClaim').metadata?.name);
    assert.equal(volumes['user-storage']?.persistentVolumeClaim?.claimName, 'skaha-storage');
    assert.equal(pick<k8s.V1Service>(objects, 'Service').spec?.ports?.[0]?.port, 8555);
  });

  it('every feature on: ingress, PVC user storage, a resource context, OIDC, catalogs, two replicas on a shared store, the certificate listener', () => {
    const objects = renderChart('skaha', 'skaha-full', fullValues('skaha-wl-full'));
    const config = resolveConfig(configOf(objects));
    assert.equal(config.publicUrl, 'https://skaha.example.org', 'the ingress host, with TLS');
    assert.deepEqual(config.registryHosts, ['images.canfar.net', 'images.example.org'], "skaha's space-separated form is split");
    assert.deepEqual([config.sessions.expirySeconds, config.sessions.maxUserSessions], [7200, 3]);
    assert.deepEqual(config.kubernetes.storage, { kind: 'pvc', claimName: 'cavern', hostPath: '' });
    assert.equal(config.kubernetes.namespace, 'skaha-wl-full');
    assert.deepEqual(config.kubernetes.nodeSelector, { type: 'kwok' });
    assert.equal(config.oidc.issuer, 'https://iam.example.org/');
    assert.deepEqual(
      config.catalog.sources.map((s) => [s.kind, s.url, s.projects]),
      [['harbor', 'https://images.example.org', ['skaha']]],
    );
    assert.equal(config.resources.file, '/etc/skaha/resources/k8s-resources.json');

    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'skaha-ctx-')), 'k8s-resources.json');
    fs.writeFileSync(file, pick<k8s.V1ConfigMap>(objects, 'ConfigMap', 'skaha-resources').data!['k8s-resources.json']!);
    assert.deepEqual(loadContextFile(file).cores.options, [1, 2, 4, 8], 'the server reads the resource context');
    fs.rmSync(path.dirname(file), { recursive: true });

    const deployment = pick<k8s.V1Deployment>(objects, 'Deployment');
    assert.deepEqual([deployment.spec?.replicas, deployment.spec?.strategy?.type], [2, 'RollingUpdate']);
    assert.equal(mountsOf(deployment).resources, '/etc/skaha/resources');
    assert.equal(mountsOf(deployment).secrets, '/etc/skaha/secrets');
    assert.equal(volumesOf(deployment)['user-storage']?.nfs?.server, 'nfs.example.org');
    const ingress = pick<k8s.V1Ingress>(objects, 'Ingress');
    assert.equal(ingress.spec?.ingressClassName, 'nginx');
    assert.deepEqual(
      ingress.spec?.tls,
      [{ hosts: ['skaha.example.org', '*.sessions.example.org'], secretName: 'skaha-tls' }].map((t) => Object.assign(new k8s.V1IngressTLS(), t)),
    );
    const [rule, sessionsRule] = ingress.spec!.rules!;
    assert.deepEqual([rule!.host, rule!.http?.paths[0]?.path, rule!.http?.paths[0]?.backend.service?.name], ['skaha.example.org', '/', 'skaha']);
    // Each session on its own origin: the wildcard host reaches the same server, which is told the domain.
    assert.deepEqual([sessionsRule!.host, sessionsRule!.http?.paths[0]?.backend.service?.name], ['*.sessions.example.org', 'skaha']);
    assert.equal(config.proxy.sessionsDomain, 'sessions.example.org');
    assert.deepEqual(config.kubernetes.networkPolicy, {
      enabled: true,
      serverNamespace: 'skaha-full',
      serverPodLabels: { 'app.kubernetes.io/name': 'skaha', 'app.kubernetes.io/instance': 'skaha' },
      blockedCidrs: [],
      // The chart's server is a pod of serverNamespace: no addresses outside the cluster.
      serverCidrs: [],
    });
    assert.equal(ingress.metadata?.annotations?.['nginx.ingress.kubernetes.io/proxy-read-timeout'], '3600');
    assert.equal(pick<k8s.V1Namespace>(objects, 'Namespace').metadata?.labels?.['pod-security.kubernetes.io/enforce'], 'restricted');
    const pvc = pick<k8s.V1PersistentVolumeClaim>(objects, 'PersistentVolumeClaim');
    assert.deepEqual([pvc.spec?.storageClassName, pvc.spec?.accessModes, pvc.spec?.resources?.requests?.storage], ['fast', ['ReadWriteMany'], '5Gi']);

    // The HTTPS listener for client certificates: its files from the Secret, its own Service.
    assert.deepEqual(
      [config.tls.port, config.tls.host, config.tls.certFile, config.tls.keyFile, config.tls.clientCaFile],
      [8556, '0.0.0.0', '/etc/skaha/tls/tls.crt', '/etc/skaha/tls/tls.key', '/etc/skaha/tls/ca.crt'],
    );
    assert.equal(mountsOf(deployment)['certificate-listener'], '/etc/skaha/tls');
    assert.equal(volumesOf(deployment)['certificate-listener']?.secret?.secretName, 'skaha-certs');
    assert.deepEqual(
      deployment.spec!.template.spec!.containers[0]!.ports!.map((p) => [p.name, p.containerPort]),
      [
        ['http', 8555],
        ['https-certs', 8556],
      ],
    );
    const certificates = pick<k8s.V1Service>(objects, 'Service', 'skaha-certificates');
    assert.equal(certificates.spec?.type, 'LoadBalancer');
    assert.deepEqual(
      certificates.spec?.ports?.map((p) => [p.port, p.targetPort]),
      [[443, 'https-certs']],
    );
    assert.equal(certificates.metadata?.annotations?.['example.org/lb'], 'internal');
  });

  it('refuses what would not work, with the reason', () => {
    const refusals: Array<[Record<string, unknown>, RegExp]> = [
      [{ replicaCount: 2 }, /replicaCount > 1 needs a shared identity store/],
      [{ replicaCount: 2, sharedIdentityStore: true }, /replicaCount > 1 needs one ReadWriteMany data volume/],
      // A PostgreSQL identity store is a shared one.
      [
        { replicaCount: 2, config: { identity: { store: 'postgres', postgres: { url: 'postgres://skaha@db:5432/skaha' } } } },
        /replicaCount > 1 needs one ReadWriteMany data volume/,
      ],
      [{ config: { kubernetes: { namespace: 'elsewhere' } } }, /config\.kubernetes\.namespace is set by the chart/],
      [{ config: { dataDir: '/data' } }, /config\.dataDir is set by the chart/],
      [{ userStorage: { kind: 'hostPath' } }, /userStorage\.hostPath: the node directory/],
      [{ certificateListener: { enabled: true } }, /certificateListener\.secretName: the Secret with tls\.crt, tls\.key and ca\.crt/],
      [{ config: { tls: { port: 8443 } } }, /config\.tls\.port is set by the chart: use certificateListener/],
    ];
    for (const [values, message] of refusals) assert.throws(() => renderChart('skaha', 'skaha-system', values), message, JSON.stringify(values));

    // Idle culling reads the proxy activity of one process: with several replicas a notebook in
    // use through one would be culled by another. Refused, in one line.
    const shared = {
      replicaCount: 2,
      persistence: { accessModes: ['ReadWriteMany'] },
      config: { identity: { store: 'postgres', postgres: { url: 'postgres://skaha@db:5432/skaha' } } },
    };
    const culling = helm(['template', 'skaha', CHART_DIR, '--namespace', 'skaha-system'], {
      ...shared,
      config: { ...shared.config, sessions: { idleCullSeconds: 3600 } },
    });
    assert.notEqual(culling.status, 0, 'refused');
    // Besides helm's own hint (--debug), one line: where, and the whole reason.
    const lines = culling.stderr.split('\n').filter((l) => l.trim() && !l.startsWith('Use --debug flag'));
    assert.equal(lines.length, 1, culling.stderr);
    assert.match(
      lines[0]!,
      /^Error: execution error at \(skaha\/templates\/deployment\.yaml:\d+:\d+\): replicaCount > 1 cannot cull idle notebooks: each replica sees only the proxy traffic it carries; set config\.sessions\.idleCullSeconds to 0 or run one replica$/,
    );
    assert.doesNotThrow(
      () => renderChart('skaha', 'skaha-system', { ...shared, config: { ...shared.config, sessions: { idleCullSeconds: 0 } } }),
      'several replicas without culling',
    );
    assert.equal(
      resolveConfig(configOf(renderChart('skaha', 'skaha-system', { config: { sessions: { idleCullSeconds: 3600 } } }))).sessions.idleCullSeconds,
      3600,
      'one replica may cull',
    );
    const replicas = renderChart('skaha', 'skaha-system', {
      replicaCount: 2,
      persistence: { accessModes: ['ReadWriteMany'] },
      config: { identity: { store: 'postgres', postgres: { url: 'postgres://skaha@db:5432/skaha', passwordFile: '/etc/skaha-db/password' } } },
    });
    assert.equal(pick<k8s.V1Deployment>(replicas, 'Deployment').spec?.strategy?.type, 'RollingUpdate');
    assert.deepEqual(resolveConfig(configOf(replicas)).identity.postgres.url, 'postgres://skaha@db:5432/skaha');
    const hostPath = renderChart('skaha', 'skaha-system', { userStorage: { kind: 'hostPath', hostPath: '/srv/arc' } });
    assert.deepEqual(resolveConfig(configOf(hostPath)).kubernetes.storage, { kind: 'hostPath', hostPath: '/srv/arc', claimName: 'skaha-storage' });
    assert.deepEqual(
      volumesOf(pick(hostPath, 'Deployment'))['user-storage']?.hostPath,
      Object.assign(new k8s.V1HostPathVolumeSource(), { path: '/srv/arc', type: 'Directory' }),
    );
  });
});

describe('Helm chart: on a real API server', { skip: noCluster }, () => {
  let cluster: KubeCluster;
  let kc: k8s.KubeConfig;
  let objectApi: k8s.KubernetesObjectApi;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'skaha-helm-test-'));
  const FULL_NS = 'skaha-full';
  const WORKLOAD = 'skaha-wl-full';

  before(async () => {
    cluster = await startKubeCluster();
    kc = new k8s.KubeConfig();
    kc.loadFromFile(cluster.kubeconfigPath);
    objectApi = k8s.KubernetesObjectApi.makeApiClient(kc);
  });
  after(async () => {
    await cluster?.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  const apply = (o: k8s.KubernetesObject, dryRun?: 'All') => objectApi.patch(o, undefined, dryRun, 'skaha-helm-test', true, k8s.PatchStrategy.ServerSideApply);

  it('accepts every object of both renders (server-side apply, dry run), once their namespaces exist', async () => {
    for (const [release, values] of [
      ['skaha-system', undefined],
      [FULL_NS, fullValues(WORKLOAD)],
    ] as const) {
      const objects = renderChart('skaha', release, values);
      await createNamespace(cluster, release);
      for (const ns of objects.filter((o) => o.kind === 'Namespace')) await apply(ns);
      for (const o of objects.filter((o) => o.kind !== 'Namespace')) {
        await apply(o, 'All').catch((err: unknown) => assert.fail(`${o.kind} ${o.metadata?.name}: ${(err as Error).message}`));
      }
    }
  });

  it("runs the server with the chart's ServiceAccount: sessions of every kind, with nothing forbidden", async () => {
    const objects = renderChart('skaha', FULL_NS, fullValues(WORKLOAD));
    await createNamespace(cluster, FULL_NS);
    for (const o of [...objects.filter((o) => o.kind === 'Namespace'), ...objects.filter((o) => o.kind !== 'Namespace')]) await apply(o);
    const arc = path.join(tmp, 'arc');
    fs.mkdirSync(arc);
    await makeUserStorageClaim(kc, WORKLOAD, 'cavern', arc);
    const kubeconfig = await saKubeconfig(kc, FULL_NS, 'skaha', path.join(tmp, 'sa.kubeconfig'));

    // The rendered config.json, with only what differs outside a pod: local paths and address,
    // the SA's token as a kubeconfig, nothing sent to the example hosts (ingress, issuer, registry).
    const resources = path.join(tmp, 'k8s-resources.json');
    fs.writeFileSync(resources, pick<k8s.V1ConfigMap>(objects, 'ConfigMap', 'skaha-resources').data!['k8s-resources.json']!);
    const rendered = configOf(objects);
    // The Secret's files, as the chart mounts them, here in a directory of the test.
    const ca = createCa('helm test CA');
    const certDir = path.join(tmp, 'tls');
    fs.mkdirSync(certDir);
    const server = issueServerCert(ca, { dns: ['localhost'], ips: ['127.0.0.1'] });
    const secretFiles: Record<string, string> = { 'tls.crt': server.certPem, 'tls.key': server.keyPem, 'ca.crt': ca.certPem };
    for (const [name, pem] of Object.entries(secretFiles)) fs.writeFileSync(path.join(certDir, name), pem, { mode: 0o400 });
    const local = (file: string) => path.join(certDir, path.basename(file));
    const tlsPort = await freePort();
    const config = () =>
      resolveConfig({
        ...rendered,
        host: '127.0.0.1',
        port: 0,
        publicUrl: '',
        dataDir: path.join(tmp, 'data'),
        storage: { ...rendered.storage, hostDir: arc },
        resources: { file: resources },
        kubernetes: { ...rendered.kubernetes, kubeconfig },
        catalog: { sources: [{ kind: 'local' }] },
        oidc: {},
        tls: {
          ...rendered.tls,
          host: '127.0.0.1',
          port: tlsPort,
          certFile: local(rendered.tls.certFile),
          keyFile: local(rendered.tls.keyFile),
          clientCaFile: local(rendered.tls.clientCaFile),
        },
      });
    const problems: string[] = [];
    const log = { info() {}, warn: (m: string) => void problems.push(m), error: (m: string) => void problems.push(m) };
    let platform: Platform = await createPlatform(config(), { log, requestLog: false });
    try {
      let base = await platform.listen();
      const token = (await platform.store.createToken('hedy', 'test')).token;
      const call = async (method: string, p: string, form?: Record<string, string>, headers: Record<string, string> = {}) => {
        const r = await fetch(`${base}${p}`, {
          method,
          headers: { authorization: `Bearer ${token}`, ...(form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}), ...headers },
          ...(form ? { body: new URLSearchParams(form).toString() } : {}),
        });
        return { status: r.status, body: await r.text() };
      };
      const launch = async (form: Record<string, string>, headers?: Record<string, string>) => {
        const r = await call('POST', '/skaha/v1/session', form, headers);
        assert.equal(r.status, 200, r.body);
        return r.body.trim();
      };
      const until = async (what: string, check: () => Promise<boolean>) => {
        const deadline = Date.now() + 30_000;
        while (!(await check())) {
          if (Date.now() > deadline) assert.fail(`${what}; server log: ${problems.join(' | ')}`);
          await sleep(200);
        }
      };
      const status = async (p: string) => ((r) => (r.status === 200 ? (JSON.parse(r.body) as { status: string }).status : r.status))(await call('GET', p));

      // The certificate listener, configured as the chart configures it: `curl -E` works.
      const user = issueUserCert(ca, 'certuser');
      const who = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        https
          .get(`${platform.tlsUrl()}/auth/session`, { ca: ca.certPem, cert: user.certPem, key: user.keyPem, agent: false }, (res) => {
            let body = '';
            res.on('data', (c) => (body += c));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
          })
          .on('error', reject);
      });
      assert.equal(who.status, 200, who.body);
      assert.deepEqual([JSON.parse(who.body).username, JSON.parse(who.body).method], ['certuser', 'x509']);

      // A web app: Job, Service, passwd/group ConfigMap; running (so its pod passed `restricted`).
      const web = await launch({ name: 'web', image: 'images.canfar.net/skaha/webapp:1.0', type: 'contributed' });
      const launched = Date.now();
      await until('the web app runs', async () => (await status(`/skaha/v0/session/${web}`)) === 'Running');
      const events = await call('GET', `/skaha/v0/session/${web}?view=events`);
      assert.equal(events.status, 200);
      assert.match(events.body, /^TYPE +REASON/);
      const logs = await call('GET', `/skaha/v0/session/${web}?view=logs`);
      assert.equal(logs.status, 200);
      assert.doesNotMatch(logs.body, /\(40[13]\)/, 'pods/log is allowed (kwok just has no logs)');

      // The NetworkPolicies the server wrote with the chart's Role, as the API server holds them
      // (accepted and validated; kwok's nodes have no network plugin to enforce them).
      const policies = (await kc.makeApiClient(k8s.NetworkingV1Api).listNamespacedNetworkPolicy({ namespace: WORKLOAD })).items;
      const webPod = (await kc.makeApiClient(k8s.CoreV1Api).listNamespacedPod({ namespace: WORKLOAD, labelSelector: `canfar.net/id=${web}` })).items[0]!;
      const uid = webPod.metadata!.labels!['canfar.net/uid'];
      assert.match(uid ?? '', /^\d+$/, 'session pods carry their uid');
      assert.deepEqual(policies.map((p) => p.metadata!.name).sort(), ['skaha-sessions', `skaha-user-${uid}`]);
      const sessions = policies.find((p) => p.metadata!.name === 'skaha-sessions')!.spec!;
      const selects = (selector: k8s.V1LabelSelector | undefined, labels: Record<string, string>) =>
        Object.entries(selector?.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
      assert.ok(selects(sessions.podSelector, webPod.metadata!.labels!), 'skaha-sessions selects the session pod');
      const plain = (value: unknown) => JSON.parse(JSON.stringify(value)) as unknown;
      assert.deepEqual(
        plain(sessions.ingress),
        [
          {
            _from: [
              {
                namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': FULL_NS } },
                podSelector: { matchLabels: { 'app.kubernetes.io/name': 'skaha', 'app.kubernetes.io/instance': 'skaha' } },
              },
            ],
          },
        ],
        "only the server's pods may connect",
      );
      const own = policies.find((p) => p.metadata!.name === `skaha-user-${uid}`)!.spec!;
      assert.ok(selects(own.podSelector, webPod.metadata!.labels!), "the user's policy selects the user's pod");
      assert.ok(!selects(own.podSelector, { ...webPod.metadata!.labels!, 'canfar.net/uid': String(Number(uid) + 1) }), "and not another user's");
      assert.equal((await call('GET', '/skaha/v0/session?view=stats')).status, 200, 'nodes are listed');

      // A private image twice: the pull secret is created, then updated.
      const auth = { 'x-skaha-registry-auth': Buffer.from('robot:s3cret').toString('base64') };
      for (let i = 0; i < 2; i++) await launch({ name: `job${i}`, image: 'images.example.org/private/job:1', type: 'headless' }, auth);

      // A desktop (X cookie Secret) and a desktop-app owned by its Job.
      const desktop = await launch({ name: 'desk', image: 'images.canfar.net/skaha/desktop:1.0', type: 'desktop' });
      await until('the desktop runs', async () => (await status(`/skaha/v0/session/${desktop}`)) === 'Running');
      const app = await call('POST', `/skaha/v0/session/${desktop}/app`, { image: 'images.canfar.net/skaha/terminal:1.0' });
      assert.equal(app.status, 200, app.body);
      await until('the app runs', async () => (await status(`/skaha/v0/session/${desktop}/app/${app.body.trim()}`)) === 'Running');

      // Renew, once some time has passed (else there is nothing to extend): the Job is patched.
      await sleep(Math.max(0, launched + 2100 - Date.now()));
      assert.equal((await call('POST', `/skaha/v0/session/${web}`, { action: 'renew' })).status, 200);
      const batch = kc.makeApiClient(k8s.BatchV1Api);
      const deadline = async () =>
        (await batch.listNamespacedJob({ namespace: WORKLOAD, labelSelector: `canfar.net/id=${web}` })).items[0]?.spec?.activeDeadlineSeconds ?? 0;
      await until("renew moved the Job's deadline", async () => (await deadline()) > 7200);

      // A second start finds the launch-scripts ConfigMap of its version there (a 409 on create,
      // nothing rewritten) and every session again.
      await platform.close();
      platform = await createPlatform(config(), { log, requestLog: false });
      base = await platform.listen();
      assert.equal(await status(`/skaha/v0/session/${web}`), 'Running');
      for (const id of [web, desktop]) assert.equal((await call('DELETE', `/skaha/v0/session/${id}`)).status, 200);
      await until('both gone', async () => (await status(`/skaha/v0/session/${web}`)) === 404 && (await status(`/skaha/v0/session/${desktop}`)) === 404);
      assert.deepEqual(
        problems.filter((m) => /forbidden|\b40[13]\b/i.test(m)),
        [],
        'nothing was refused to the ServiceAccount',
      );
    } finally {
      await platform.close();
    }
  });

  it("the server's pod passes Pod Security `baseline` (not `restricted`: it chowns new homes as root), hostPath storage neither", async () => {
    const ns = 'skaha-psa';
    await createNamespace(cluster, ns);
    const core = kc.makeApiClient(k8s.CoreV1Api);
    await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'skaha' } } });
    const admitted = async (level: string, values?: Record<string, unknown>) => {
      await core.patchNamespace({ name: ns, body: [{ op: 'add', path: '/metadata/labels/pod-security.kubernetes.io~1enforce', value: level }] });
      const template = pick<k8s.V1Deployment>(renderChart('skaha', ns, values), 'Deployment').spec!.template;
      try {
        await core.createNamespacedPod({
          namespace: ns,
          dryRun: 'All',
          body: { metadata: { name: 'server', namespace: ns, labels: template.metadata?.labels }, spec: template.spec! },
        });
        return 'admitted';
      } catch (err) {
        const body = (err as { body?: string }).body;
        return (body ? (JSON.parse(body) as { message: string }).message : String(err)).replace(/^.*?(?=violates PodSecurity)/, '');
      }
    };
    assert.equal(await admitted('baseline'), 'admitted');
    assert.match(await admitted('restricted'), /violates PodSecurity "restricted.*runAsNonRoot/);
    assert.match(await admitted('baseline', { userStorage: { kind: 'hostPath', hostPath: '/srv/arc' } }), /violates PodSecurity "baseline.*hostPath/);
  });

  it('the ServiceAccount may do nothing else: no reading secrets, no pods of its own, nothing in its own namespace', async () => {
    const authz = kc.makeApiClient(k8s.AuthorizationV1Api);
    const can = async (namespace: string | undefined, verb: string, resource: string, group = '', subresource?: string) =>
      (
        await authz.createSubjectAccessReview({
          body: {
            spec: {
              user: `system:serviceaccount:${FULL_NS}:skaha`,
              groups: ['system:serviceaccounts', `system:serviceaccounts:${FULL_NS}`, 'system:authenticated'],
              resourceAttributes: { namespace, verb, resource, group, ...(subresource ? { subresource } : {}) },
            },
          },
        })
      ).status?.allowed ?? false;
    assert.equal(await can(WORKLOAD, 'update', 'jobs', 'batch', 'finalizers'), true, "desktop-apps may block their desktop's deletion");
    for (const [ns, verb, resource, group] of [
      [WORKLOAD, 'get', 'secrets', ''],
      [WORKLOAD, 'list', 'secrets', ''],
      [WORKLOAD, 'delete', 'secrets', ''],
      [WORKLOAD, 'create', 'pods', ''],
      [WORKLOAD, 'delete', 'pods', ''],
      [WORKLOAD, 'update', 'jobs', 'batch'],
      [WORKLOAD, 'create', 'roles', 'rbac.authorization.k8s.io'],
      [WORKLOAD, 'get', 'configmaps', ''],
      [WORKLOAD, 'update', 'configmaps', ''],
      [FULL_NS, 'update', 'configmaps', ''],
      [FULL_NS, 'list', 'jobs', 'batch'],
      ['default', 'create', 'jobs', 'batch'],
      [undefined, 'get', 'nodes', ''],
      [undefined, 'patch', 'nodes', ''],
      [undefined, 'list', 'namespaces', ''],
    ] as const) {
      assert.equal(await can(ns, verb, resource, group), false, `${verb} ${resource} in ${ns ?? 'the cluster'}`);
    }
  });
});

/** A ReadWriteMany claim bound to a hostPath volume: user storage for session pods. */
async function makeUserStorageClaim(kc: k8s.KubeConfig, namespace: string, name: string, dir: string): Promise<void> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const pv = `${namespace}-${name}`;
  await core.createPersistentVolume({
    body: {
      metadata: { name: pv },
      spec: { capacity: { storage: '1Gi' }, accessModes: ['ReadWriteMany'], storageClassName: '', hostPath: { path: dir }, claimRef: { namespace, name } },
    },
  });
  await core.createNamespacedPersistentVolumeClaim({
    namespace,
    body: { metadata: { name }, spec: { accessModes: ['ReadWriteMany'], storageClassName: '', volumeName: pv, resources: { requests: { storage: '1Gi' } } } },
  });
}
