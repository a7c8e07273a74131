import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CoreV1Api, loadAllYaml, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { kubeBinDir } from './kube-cluster.js';

/**
 * The chart in deploy/helm/skaha, rendered by the helm that scripts/lib/kube.sh builds from Go
 * modules (KUBE_BIN_DIR/helm). Values are written as JSON, which helm reads as YAML.
 */
export const CHART_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../deploy/helm/skaha');
const HELM = path.join(kubeBinDir(), 'helm');

interface HelmResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function helm(args: string[], values?: Record<string, unknown>): HelmResult {
  return withValuesFile(values, (valuesArgs) => {
    const r = spawnSync(HELM, [...args, ...valuesArgs], { encoding: 'utf8', env: helmEnv() });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  });
}

/**
 * helm without blocking this process: for `install --wait` against a cluster whose API relay or
 * kubelet depends on this process's event loop (the real node's).
 */
export async function helmAsync(args: string[], values?: Record<string, unknown>): Promise<HelmResult> {
  return withValuesFile(values, async (valuesArgs) => {
    const { status, stdout, stderr } = await new Promise<HelmResult>((resolve, reject) => {
      const child = spawn(HELM, [...args, ...valuesArgs], { env: helmEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (c: Buffer) => (out += c.toString()));
      child.stderr.on('data', (c: Buffer) => (err += c.toString()));
      child.on('error', reject);
      child.on('close', (code) => resolve({ status: code, stdout: out, stderr: err }));
    });
    return { status, stdout, stderr };
  });
}

const helmEnv = () => ({ ...process.env, HELM_CACHE_HOME: os.tmpdir() });

/** Values written as JSON (which helm reads as YAML) for the length of `use`. */
function withValuesFile<T>(values: Record<string, unknown> | undefined, use: (valuesArgs: string[]) => T): T {
  if (!values) return use([]);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'skaha-helm-'));
  const valuesFile = path.join(dir, 'values.json');
  fs.writeFileSync(valuesFile, JSON.stringify(values, null, 2));
  const cleanUp = () => fs.rmSync(dir, { recursive: true, force: true });
  let result: T;
  try {
    result = use(['-f', valuesFile]);
  } catch (err) {
    cleanUp();
    throw err;
  }
  if (result instanceof Promise) return result.finally(cleanUp) as T;
  cleanUp();
  return result;
}

/** `helm template <release> <chart> -n <namespace>`, parsed; throws with helm's message when it fails. */
export function renderChart(release: string, namespace: string, values?: Record<string, unknown>): KubernetesObject[] {
  const r = helm(['template', release, CHART_DIR, '--namespace', namespace], values);
  if (r.status !== 0) throw new Error(`helm template failed: ${r.stderr.trim()}`);
  return (loadAllYaml(r.stdout) as Array<KubernetesObject | null>).filter((o): o is KubernetesObject => !!o);
}

/** The one object of this kind (and name, when given). */
export function pick<T extends KubernetesObject>(objects: KubernetesObject[], kind: string, name?: string): T {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata?.name === name));
  if (found.length !== 1) throw new Error(`expected one ${kind}${name ? ` ${name}` : ''}, rendered ${found.length}`);
  return found[0] as T;
}

/**
 * The Role's rules, as [apiGroups, resources, verbs]: what src/backends/kubernetes/backend.ts
 * calls (see the comment in templates/rbac.yaml). A change on either side shows up here.
 */
export const ROLE_RULES = [
  [['batch'], ['jobs'], ['get', 'list', 'watch', 'create', 'patch', 'delete']],
  [['batch'], ['jobs/finalizers'], ['update']],
  [[''], ['pods'], ['list', 'watch']],
  [[''], ['pods/log'], ['get']],
  [[''], ['services'], ['create']],
  [[''], ['configmaps'], ['create']],
  [[''], ['secrets'], ['create', 'update']],
  [[''], ['events'], ['list']],
  [['networking.k8s.io'], ['networkpolicies'], ['create', 'update']],
];

/** Values with every feature of the chart on (workload namespace `workload`). */
export function fullValues(workload: string): Record<string, unknown> {
  return {
    replicaCount: 2,
    sharedIdentityStore: true,
    image: { repository: 'registry.example.org/skaha/server', tag: 'test', pullPolicy: 'Always' },
    workloadNamespace: { name: workload, create: true, labels: { 'pod-security.kubernetes.io/enforce': 'restricted' } },
    ingress: {
      enabled: true,
      className: 'nginx',
      host: 'skaha.example.org',
      sessionsHost: '*.sessions.example.org',
      annotations: { 'nginx.ingress.kubernetes.io/proxy-read-timeout': '3600' },
      tls: { enabled: true, secretName: 'skaha-tls' },
    },
    persistence: { storageClass: 'fast', size: '5Gi', accessModes: ['ReadWriteMany'] },
    userStorage: { kind: 'pvc', claimName: 'cavern', serverVolume: { nfs: { server: 'nfs.example.org', path: '/export/arc' } } },
    resourceContext: {
      cores: { default: 2, defaultRequest: 1, defaultLimit: 8, defaultHeadless: 1, options: [1, 2, 4, 8] },
      memoryGB: { default: 8, defaultRequest: 4, defaultLimit: 32, defaultHeadless: 4, options: [2, 4, 8, 16, 32] },
      gpus: { options: [] },
    },
    config: {
      registryHosts: 'images.canfar.net images.example.org',
      sessions: { expirySeconds: 7200, maxUserSessions: 3 },
      catalog: { sources: [{ kind: 'harbor', url: 'https://images.example.org', projects: ['skaha'] }] },
      oidc: { issuer: 'https://iam.example.org/', audience: 'https://skaha.example.org', clientId: 'skaha' },
      kubernetes: { imagePullPolicy: 'Always', nodeSelector: { type: 'kwok' } },
    },
    certificateListener: { enabled: true, secretName: 'skaha-certs', service: { port: 443, annotations: { 'example.org/lb': 'internal' } } },
    extraVolumes: [{ name: 'secrets', secret: { secretName: 'skaha-registry' } }],
    extraVolumeMounts: [{ name: 'secrets', mountPath: '/etc/skaha/secrets', readOnly: true }],
  };
}

interface SchemaNode {
  type?: string;
  properties?: Record<string, SchemaNode>;
  items?: SchemaNode;
}

/** Paths of `value` that the TypeBox schema does not declare (TypeBox itself lets them through). */
export function schemaUnknownKeys(value: unknown, typebox: object, at = ''): string[] {
  const schema = typebox as SchemaNode;
  if (schema.type === 'array' && Array.isArray(value) && schema.items) {
    return value.flatMap((v, i) => schemaUnknownKeys(v, schema.items!, `${at}/${i}`));
  }
  if (schema.type !== 'object' || !schema.properties || typeof value !== 'object' || value === null || Array.isArray(value)) return [];
  return Object.entries(value).flatMap(([key, v]) => {
    const sub = schema.properties![key];
    return sub ? schemaUnknownKeys(v, sub, `${at}/${key}`) : [`${at}/${key}`];
  });
}

/**
 * A kubeconfig (written to `file`) that acts as the ServiceAccount, with a token from the
 * TokenRequest API: what the server's pod would get mounted.
 */
export async function saKubeconfig(admin: KubeConfig, namespace: string, serviceAccount: string, file: string): Promise<string> {
  const request = await admin.makeApiClient(CoreV1Api).createNamespacedServiceAccountToken({
    name: serviceAccount,
    namespace,
    body: { spec: { audiences: [], expirationSeconds: 3600 } },
  });
  const cluster = admin.getCurrentCluster()!;
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'c', cluster: { server: cluster.server, 'certificate-authority-data': cluster.caData } }],
    users: [{ name: serviceAccount, user: { token: request.status!.token } }],
    contexts: [{ name: 'sa', context: { cluster: 'c', user: serviceAccount, namespace } }],
    'current-context': 'sa',
  };
  fs.writeFileSync(file, JSON.stringify(config), { mode: 0o600 });
  return file;
}
