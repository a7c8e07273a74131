import fs from 'node:fs';
import path from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { DEFAULT_CONTAINERS_CONF, DEFAULT_ENGINE_HOME } from '../common/paths.js';

/** An address range as a NetworkPolicy's ipBlock takes it (IPv4 or IPv6, with its prefix length). */
const Cidr = Type.String({ pattern: '^([0-9]{1,3}(\\.[0-9]{1,3}){3}/[0-9]{1,2}|[0-9a-fA-F:]+/[0-9]{1,3})$' });

/** One image catalog source (docs/catalogs.md). */
export const CatalogSourceSchema = Type.Object({
  kind: Type.Union([Type.Literal('local'), Type.Literal('registry'), Type.Literal('harbor')], { description: 'local | registry | harbor' }),
  url: Type.Optional(Type.String({ description: 'Registry API base URL (registry, harbor), e.g. https://images.example.org' })),
  host: Type.Optional(
    Type.String({ description: "Host prefix of the listed image IDs (default: the URL's host[:port]); it must be one of registryHosts to be launchable." }),
  ),
  username: Type.Optional(Type.String({ description: 'Account for listing (Harbor: a robot account or CLI secret user).' })),
  password: Type.Optional(Type.String({ description: 'Its password; prefer passwordFile.' })),
  passwordFile: Type.Optional(Type.String({ description: 'File holding the password (first line).' })),
  caFile: Type.Optional(Type.String({ description: "PEM authority for the registry's TLS certificate, also given to the engine for pulls." })),
  repositories: Type.Optional(Type.Array(Type.String(), { description: 'registry: only repositories starting with one of these prefixes.' })),
  projects: Type.Optional(Type.Array(Type.String(), { description: 'harbor: only these projects.' })),
});
export type CatalogSource = Static<typeof CatalogSourceSchema>;

/**
 * The one configuration schema (style.md). Precedence: built-in defaults < config file (JSON)
 * < environment (SKAHA_PORT, SKAHA_DATA_DIR, SKAHA_CONFIG, SKAHA_PUBLIC_URL) < command-line flags.
 * Every field says what it is and its unit; docs/config.md is generated from this schema.
 */
export const ConfigSchema = Type.Object({
  port: Type.Integer({ minimum: 0, maximum: 65535, default: 8555, description: 'TCP port skaha serves HTTP on (0: any free port).' }),
  host: Type.String({
    default: '127.0.0.1',
    description: 'Address to listen on; 0.0.0.0 serves other machines (put a TLS reverse proxy in front until the HTTPS listener lands).',
  }),
  dataDir: Type.String({
    default: 'data',
    description:
      'Directory holding the SQLite identity store, user storage (arc/), per-session files and secrets. Relative paths are taken from the working directory.',
  }),
  publicUrl: Type.String({ default: '', description: 'Base URL users reach this server at, used in connectURL (spec §4.3). Empty: http://<host>:<port>.' }),
  registryHosts: Type.Array(Type.String({ minLength: 1 }), {
    default: ['images.canfar.net'],
    description: 'Registry host prefixes a launched image must start with (skaha.harborhosts); listed by /repository.',
  }),
  sessions: Type.Object(
    {
      expirySeconds: Type.Integer({
        minimum: 1,
        default: 345600,
        description: 'Lifetime of interactive sessions and desktop-apps, and the extension a renew grants (skaha.sessionexpiry), in seconds.',
      }),
      headlessExpirySeconds: Type.Integer({ minimum: 60, default: 1209600, description: 'Lifetime of headless jobs, in seconds (14 days in skaha).' }),
      maxUserSessions: Type.Integer({
        minimum: 1,
        default: 5,
        description: 'Concurrent interactive (non-headless) Pending or Running sessions per user (skaha.maxusersessions).',
      }),
      headlessTtlAfterFinishedSeconds: Type.Integer({
        minimum: 0,
        default: 3600,
        description: 'How long a finished headless job stays listed (its logs readable) before it is removed, in seconds.',
      }),
      interactiveTtlAfterFinishedSeconds: Type.Integer({
        minimum: 0,
        default: 86400,
        description: 'How long a finished interactive session stays listed before it is removed, in seconds.',
      }),
      maxHeadlessJobs: Type.Integer({
        minimum: 0,
        default: 20,
        description: 'Headless jobs a user may have Pending or Running at once; more are refused (400, session_limit). 0: no limit.',
      }),
      maxHeadlessCores: Type.Number({
        minimum: 0,
        default: 0,
        description: "Cores a user's active headless jobs may request together; a job that would pass it is refused. 0: no limit.",
      }),
      maxHeadlessRamGiB: Type.Number({
        minimum: 0,
        default: 0,
        description: "GiB of RAM a user's active headless jobs may request together; a job that would pass it is refused. 0: no limit.",
      }),
      logTailBytes: Type.Integer({
        minimum: 1024,
        default: 1048576,
        description:
          "`view=logs` answers the last this many bytes of each container's log (a first line says when earlier output was left out), read as a stream whatever the log's size. On disk, Podman caps each log at log_size_max (deploy/podman/containers.conf); on Kubernetes the kubelet rotates them.",
      }),
      reaperIntervalMs: Type.Integer({
        minimum: 100,
        default: 15000,
        description:
          "How often expired, finished and idle sessions are looked for, in milliseconds. On Kubernetes expiry and removal are the cluster's (the Job's deadline and TTL): the reaper there only culls idle notebooks.",
      }),
      idleCullSeconds: Type.Integer({
        minimum: 0,
        default: 0,
        description:
          'Delete notebook sessions with no proxied request or WebSocket frame for this long, in seconds (0: never). Other types are never culled. A server sees only the traffic of its own proxy: with several servers (Kubernetes replicas) leave it at 0; the Helm chart refuses it with replicaCount above 1.',
      }),
    },
    { default: {} },
  ),
  tls: Type.Object(
    {
      port: Type.Integer({
        minimum: 0,
        maximum: 65535,
        default: 0,
        description:
          'Port of the HTTPS listener (0: none). It serves everything the HTTP one does and asks for client certificates (X.509 and RFC 3820 proxy certificates).',
      }),
      host: Type.String({ default: '', description: 'Address of the HTTPS listener. Empty: the same as `host`.' }),
      certFile: Type.String({
        default: '',
        description: 'Server certificate (PEM, with its chain). Empty: <dataDir>/tls/server.pem, as `skaha admin tls init` writes it.',
      }),
      keyFile: Type.String({ default: '', description: 'Server private key (PEM). Empty: <dataDir>/tls/server.key.' }),
      clientCaFile: Type.String({
        default: '',
        description: 'Authorities whose user certificates are accepted (PEM bundle). Empty: <dataDir>/tls/ca.pem, the platform CA.',
      }),
      dnMapFile: Type.String({
        default: '',
        description: "JSON object mapping certificate subject DNs (`O=skaha,CN=alice`) to usernames. Without an entry, the certificate's CN is the username.",
      }),
    },
    { default: {} },
  ),
  oidc: Type.Object(
    {
      issuer: Type.String({ default: '', description: 'OIDC issuer URL; bearer JWTs from it are accepted and browsers can log in with it. Empty: no OIDC.' }),
      audience: Type.String({ default: '', description: "The `aud` access tokens must carry (usually this server's URL or client id)." }),
      clientId: Type.String({ default: '', description: 'Client id of this server at the issuer, for the browser login (authorization code with PKCE).' }),
      clientSecret: Type.String({ default: '', description: 'Client secret for the browser login (empty for a public client); prefer clientSecretFile.' }),
      clientSecretFile: Type.String({
        default: '',
        description: 'File holding the client secret (its first line), e.g. a mounted Kubernetes Secret; read at start, instead of clientSecret.',
      }),
      cliClientId: Type.String({
        default: '',
        description:
          "Client id the `skaha` CLI logs in with (device or loopback browser flow, PKCE): a public client, since a secret cannot be kept on users' machines. Empty: the same as `clientId`. Offered, with the issuer, at GET /auth/oidc.",
      }),
      cliScopes: Type.Array(Type.String({ minLength: 1 }), {
        default: ['openid', 'profile', 'offline_access'],
        description: 'Scopes the CLI asks for; `offline_access` is what gets it a refresh token from most issuers.',
      }),
      usernameClaim: Type.String({ default: 'preferred_username', description: 'Claim holding the username.' }),
      groupsClaim: Type.String({ default: 'groups', description: "Claim holding the user's groups (a list of names); they add to the local groups." }),
      clockToleranceSeconds: Type.Integer({ minimum: 0, default: 30, description: 'Clock skew allowed when checking exp/nbf/iat, in seconds.' }),
    },
    { default: {} },
  ),
  authorization: Type.Object(
    {
      usersGroup: Type.String({ default: '', description: 'Group whose members may use the platform (skaha.usersgroup). Empty: every authenticated user.' }),
      headlessGroup: Type.String({ default: '', description: 'Group whose members may launch headless jobs (skaha.headlessgroup). Empty: everyone.' }),
      adminsGroup: Type.String({
        default: 'skaha-admins',
        description: "Group whose members, with a credential allowing `admin`, may see every user's sessions (view=all).",
      }),
    },
    { default: {} },
  ),
  login: Type.Object(
    {
      perAccount: Type.Integer({
        minimum: 1,
        default: 10,
        description:
          'Failed logins (POST /login) allowed per account within the window, from all addresses; then 429 with Retry-After until the oldest leaves the window.',
      }),
      perAddress: Type.Integer({
        minimum: 1,
        default: 50,
        description: 'Failed logins allowed per client address within the window, for all accounts and API tokens.',
      }),
      windowSeconds: Type.Integer({
        minimum: 1,
        default: 300,
        description: 'The sliding window of the login limits, in seconds. Nothing locks an account for longer.',
      }),
    },
    { default: {} },
  ),
  proxy: Type.Object(
    {
      upstreamTimeoutMs: Type.Integer({
        minimum: 100,
        default: 120000,
        description: 'Time a session container has, once a request has reached it, to send response headers before the proxy answers 504, in milliseconds.',
      }),
      startupGraceMs: Type.Integer({
        minimum: 0,
        default: 120000,
        description:
          'For this long after a session starts, a request that cannot connect yet is held up to 2 s while the application begins to listen (requests without a body), then sees the waiting page instead of a 502, in milliseconds.',
      }),
      loginCookieHours: Type.Integer({ minimum: 1, default: 12, description: 'Lifetime of the browser login cookie and of per-session cookies, in hours.' }),
      sessionsDomain: Type.String({
        default: 'auto',
        description:
          "Each session is served on an origin of its own, <session id>.<sessionsDomain> (same scheme and port as publicUrl), so that a page a session serves cannot act as its owner on the portal. `auto`: `localhost` when publicUrl is on loopback (browsers resolve *.localhost without DNS), none otherwise. A cluster names a domain with a wildcard DNS record and certificate (docs/operations.md). Empty: sessions share the portal's origin (unsafe with images you did not write).",
      }),
    },
    { default: {} },
  ),
  storage: Type.Object(
    {
      topLevelDir: Type.String({
        default: '/arc',
        description: 'Where user storage appears inside containers (SKAHA_TOP_LEVEL_DIR): homes at <dir>/home/<user>, projects at <dir>/projects.',
      }),
      hostDir: Type.String({ default: '', description: 'Host directory backing user storage. Empty: <dataDir>/arc.' }),
      homeQuotaGiB: Type.Number({
        minimum: 0,
        default: 0,
        description:
          'Most a home may hold through the storage service (/arc uploads are refused with 507 beyond it; sessions write on regardless, as on a plain filesystem). 0: no quota.',
      }),
    },
    { default: {} },
  ),
  identity: Type.Object(
    {
      uidMin: Type.Optional(
        Type.Integer({
          minimum: 1000,
          description:
            'First uid (and personal gid) allocated to users; set with uidMax. Unset: 200000..299999, or, on a Podman engine where another server holds that, the first free range after it; either way remembered in <dataDir>/uid-range.json so uids never move.',
        }),
      ),
      uidMax: Type.Optional(
        Type.Integer({ minimum: 1000, description: 'Last uid allocated to users (shared groups get the gids above it); set with uidMin.' }),
      ),
      store: Type.Union([Type.Literal('sqlite'), Type.Literal('postgres')], {
        default: 'sqlite',
        description:
          'Where users, uids, groups, password and API token hashes and sealed registry credentials are kept: `sqlite` (<dataDir>/skaha.db; one server) or `postgres` (a PostgreSQL database several servers share: needed for more than one replica). See docs/operations.md.',
      }),
      postgres: Type.Object(
        {
          url: Type.String({
            default: '',
            description:
              'The database when store is `postgres`: postgres://USER@HOST:PORT/DATABASE, with ?sslmode=verify-full for TLS. Put the password in passwordFile, not here; it is never logged.',
          }),
          passwordFile: Type.String({
            default: '',
            description: "File holding the database password (its first line), e.g. a mounted Kubernetes Secret. Empty: the URL's password, else PGPASSWORD.",
          }),
          poolSize: Type.Integer({ minimum: 1, default: 10, description: 'Database connections one server keeps open at most.' }),
          connectTimeoutMs: Type.Integer({
            minimum: 100,
            default: 5000,
            description: 'How long a request waits for a database connection before it is answered 503, in milliseconds.',
          }),
        },
        { default: {} },
      ),
    },
    { default: {} },
  ),
  resources: Type.Object(
    {
      file: Type.String({
        default: '',
        description:
          "A k8s-resources.json file (spec §3.11) with cores/memoryGB/gpus options and defaults. Empty: skaha's chart defaults. Options are trimmed to what this machine has.",
      }),
    },
    { default: {} },
  ),
  backend: Type.Union([Type.Literal('podman'), Type.Literal('kubernetes')], {
    default: 'podman',
    description: 'Where sessions run: `podman` (one machine, the embedded default) or `kubernetes` (a cluster; see the `kubernetes` section).',
  }),
  podman: Type.Object(
    {
      socketPath: Type.String({
        default: '/run/skaha/podman.sock',
        description: "Unix socket of Podman's Docker-compatible API (a Docker Engine socket works too).",
      }),
      startService: Type.Boolean({ default: true, description: 'Start `podman system service` on socketPath when nothing answers there.' }),
      containersConf: Type.String({
        default: DEFAULT_CONTAINERS_CONF,
        description: 'containers.conf given to the Podman service we start (runc, lowered ulimits).',
      }),
      network: Type.String({
        default: '',
        pattern: '^$|^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,40}$',
        description:
          "This server's name on the engine: its sessions run on the networks `<network>-u<uid>` (one per user) and carry it as a label. Empty: `skaha`, or, when another live server on this engine holds that, a name of this data directory's own (kept across restarts). Two servers may not set the same name, nor overlapping uid ranges (`identity.uidMin..uidMax`) unless they share an identity store: the second is refused at start (docs/operations.md).",
      }),
      stopTimeoutSeconds: Type.Integer({
        minimum: 0,
        default: 5,
        description: 'Grace period between SIGTERM and SIGKILL when a session is deleted, in seconds.',
      }),
      pidsLimit: Type.Integer({ minimum: 0, default: 4096, description: 'Maximum number of processes in one session container (0: unlimited).' }),
      headlessQuota: Type.Object(
        {
          cores: Type.Number({
            minimum: 0,
            default: 0,
            description:
              "Cores headless jobs may request in all; a job that would go past waits, Pending, and starts in launch order when room frees. 0: the machine's cores.",
          }),
          ramGiB: Type.Number({ minimum: 0, default: 0, description: "RAM (GiB) headless jobs may request in all, likewise. 0: the machine's memory." }),
        },
        { default: {} },
      ),
      callbackPort: Type.Integer({
        minimum: 0,
        maximum: 65535,
        default: 0,
        description:
          'TCP port of the callback listener session containers call the API on (desktop menus, desktop-app launches), bound on all addresses at start; it answers session containers only and serves /skaha/ only. 0: `port` + 2 (any free port when `port` is 0).',
      }),
      home: Type.String({
        default: DEFAULT_ENGINE_HOME,
        description:
          'HOME of the Podman service skaha starts. Registry authorities it trusts for pulls live in <home>/.config/containers/certs.d/<host:port>/ca.crt; skaha puts the caFile of each configured registry catalog there.',
      }),
    },
    { default: {} },
  ),
  kubernetes: Type.Object(
    {
      kubeconfig: Type.String({
        default: '',
        description: "kubeconfig file of the cluster. Empty: the pod's service account when skaha runs in the cluster, else $KUBECONFIG or ~/.kube/config.",
      }),
      namespace: Type.String({
        default: 'skaha-workload',
        description: 'Namespace session Jobs, Pods, Services, ConfigMaps and Secrets are made in (skaha.namespace). It must exist.',
      }),
      storage: Type.Object(
        {
          kind: Type.Union([Type.Literal('hostPath'), Type.Literal('pvc')], {
            default: 'hostPath',
            description:
              "How user storage (`storage.hostDir`, seen at `storage.topLevelDir`) reaches session pods: `hostPath` (the same directory on every node, e.g. an NFS mount) or `pvc` (a ReadWriteMany claim that skaha's own pod mounts at `storage.hostDir`). Homes and projects are sub-paths of it.",
          }),
          hostPath: Type.String({
            default: '',
            description: 'Node directory holding user storage when kind is `hostPath`. Empty: the same path as `storage.hostDir`.',
          }),
          claimName: Type.String({ default: 'skaha-storage', description: 'PersistentVolumeClaim holding user storage when kind is `pvc`.' }),
        },
        { default: {} },
      ),
      imagePullPolicy: Type.Union([Type.Literal('Always'), Type.Literal('IfNotPresent'), Type.Literal('Never')], {
        default: 'Always',
        description:
          "imagePullPolicy of session containers. Always (skaha's choice): the kubelet checks every launch's pull secret, so a private image cached on a node is not everyone's; IfNotPresent only with the kubelet's KEP-2535 (KubeletEnsureSecretPulledImages) on.",
      }),
      nodeSelector: Type.Record(Type.String(), Type.String(), {
        default: {},
        description: 'Node labels session pods must match (JSON object of label: value).',
      }),
      gpuNodeAffinity: Type.Boolean({
        default: false,
        description: "Keep sessions with GPUs on nodes labelled nvidia.com/gpu.count > 0 and the others off them (skaha's GPU_ENABLED, spec §5.7).",
      }),
      sessionsApiUrl: Type.String({
        default: '',
        description:
          "Base URL at which session pods reach this server's API (desktop menus and desktop-app launches), e.g. http://skaha.skaha-system.svc:8555. Empty: publicUrl.",
      }),
      networkPolicy: Type.Object(
        {
          enabled: Type.Boolean({
            default: false,
            description:
              "Write NetworkPolicies in the namespace: session pods accept connections only from the skaha server and from the same user's pods, and reach only DNS, the server and addresses outside `blockedCidrs`. The Helm chart turns this on. Enforced by the cluster's network plugin (docs/kubernetes.md).",
          }),
          serverNamespace: Type.String({ default: '', description: "Namespace of the skaha server's pods (the chart: the release namespace)." }),
          serverPodLabels: Type.Record(Type.String(), Type.String(), {
            default: {},
            description: "Labels of the skaha server's pods (the chart: its selector labels). Empty: every pod of serverNamespace.",
          }),
          blockedCidrs: Type.Array(Cidr, {
            default: [],
            description:
              "Address ranges session pods must not reach, e.g. the cluster's pod, service and node networks. Everything else outside the cluster is allowed.",
          }),
          serverCidrs: Type.Array(Cidr, {
            default: [],
            description:
              "Addresses of a skaha server that runs outside the cluster (a kubeconfig, not a pod): its proxy reaches session pods from there, so they are let in, and sessions may call it back there, like the server's pods. Empty: the server runs in the cluster.",
          }),
        },
        { default: {} },
      ),
      launchScriptsConfigMap: Type.String({
        default: 'skaha-launch-scripts',
        description:
          'Name prefix of the ConfigMap skaha writes its launch scripts into at start, `<prefix>-<hash of the scripts>`, mounted read-only at /skaha-system in sessions: servers of different versions (a rolling upgrade) each keep their own.',
      }),
    },
    { default: {} },
  ),
  catalog: Type.Object(
    {
      refreshIntervalMs: Type.Integer({
        minimum: 1000,
        default: 60000,
        description: 'Background refresh period of the image catalog, in milliseconds (engine image events also refresh it).',
      }),
      sources: Type.Array(CatalogSourceSchema, {
        default: [{ kind: 'local' }],
        description:
          'Where launchable images are listed from, merged in order (the first source listing an image ID wins). Each is {"kind": "local"} (images in the engine), {"kind": "registry", "url": ...} (any OCI registry; types from the canfar.net/types image label) or {"kind": "harbor", "url": ...} (Harbor v2 API; types from artifact labels). See docs/catalogs.md.',
      }),
      prePull: Type.Array(Type.String({ minLength: 1 }), {
        default: [],
        description: 'Images pulled into the engine when the server starts (in the background, progress in the log), so first launches do not wait.',
      }),
    },
    { default: {} },
  ),
});

export type Config = Static<typeof ConfigSchema>;

export interface ConfigOverrides {
  configFile?: string | undefined;
  port?: number | undefined;
  dataDir?: string | undefined;
}

/** Build the effective configuration; throws a one-line Error on a bad file or value. */
export function loadConfig(overrides: ConfigOverrides = {}, env: NodeJS.ProcessEnv = process.env): Config {
  const configFile = overrides.configFile ?? env.SKAHA_CONFIG;
  let raw: Record<string, unknown> = {};
  if (configFile) {
    try {
      raw = JSON.parse(fs.readFileSync(configFile, 'utf8')) as Record<string, unknown>;
    } catch (err) {
      throw new Error(`cannot read config file ${configFile}: ${(err as Error).message}`);
    }
  }
  if (env.SKAHA_PORT) raw.port = Number(env.SKAHA_PORT);
  if (env.SKAHA_DATA_DIR) raw.dataDir = env.SKAHA_DATA_DIR;
  if (env.SKAHA_PUBLIC_URL) raw.publicUrl = env.SKAHA_PUBLIC_URL;
  if (overrides.port !== undefined) raw.port = overrides.port;
  if (overrides.dataDir !== undefined) raw.dataDir = overrides.dataDir;
  return resolveConfig(raw);
}

export function resolveConfig(raw: unknown): Config {
  const withDefaults = Value.Default(ConfigSchema, structuredClone(raw ?? {}));
  if (!Value.Check(ConfigSchema, withDefaults)) {
    const first = [...Value.Errors(ConfigSchema, withDefaults)][0];
    throw new Error(`invalid configuration at ${first?.path || '/'}: ${first?.message ?? 'bad value'}`);
  }
  const config = withDefaults as Config;
  config.dataDir = path.resolve(config.dataDir);
  if (!config.storage.hostDir) config.storage.hostDir = path.join(config.dataDir, 'arc');
  const tlsDir = path.join(config.dataDir, 'tls');
  config.tls.certFile ||= path.join(tlsDir, 'server.pem');
  config.tls.keyFile ||= path.join(tlsDir, 'server.key');
  config.tls.clientCaFile ||= path.join(tlsDir, 'ca.pem');
  config.tls.host ||= config.host;
  const { uidMin, uidMax } = config.identity;
  if ((uidMin === undefined) !== (uidMax === undefined)) throw new Error('invalid configuration: set both identity.uidMin and identity.uidMax, or neither');
  if (uidMin !== undefined && uidMax !== undefined && uidMax < uidMin) throw new Error('invalid configuration: identity.uidMax < identity.uidMin');
  const pg = config.identity.postgres;
  if (config.identity.store === 'postgres' && !/^postgres(ql)?:\/\/[^/]/.test(pg.url)) {
    throw new Error('invalid configuration at /identity/postgres/url: identity.store is postgres: set a postgres://USER@HOST:PORT/DATABASE URL');
  }
  if (config.backend === 'kubernetes' && config.kubernetes.networkPolicy.enabled && !config.kubernetes.networkPolicy.serverNamespace) {
    throw new Error(
      "invalid configuration at /kubernetes/networkPolicy/serverNamespace: the namespace of the skaha server's pods, which session pods accept connections from",
    );
  }
  // The password itself is read when connecting (src/store/open.ts), never kept in the config.
  if (pg.passwordFile) pg.passwordFile = path.resolve(pg.passwordFile);
  if (config.oidc.clientSecretFile) {
    config.oidc.clientSecretFile = path.resolve(config.oidc.clientSecretFile);
    config.oidc.clientSecret = firstLineOf(config.oidc.clientSecretFile, '/oidc/clientSecretFile');
  }
  config.catalog.sources.forEach((source, i) => {
    if (source.kind === 'local') return;
    if (!source.url || !/^https?:\/\//.test(source.url))
      throw new Error(`invalid configuration at /catalog/sources/${i}/url: a ${source.kind} source needs an http(s) URL`);
    if (source.caFile) source.caFile = path.resolve(source.caFile);
    if (source.passwordFile) {
      source.passwordFile = path.resolve(source.passwordFile);
      source.password = firstLineOf(source.passwordFile, `/catalog/sources/${i}/passwordFile`);
    }
  });
  return config;
}

/** A secret kept in a file (a mounted Kubernetes Secret): its first line, or a one-line error naming the field. */
function firstLineOf(file: string, field: string): string {
  try {
    return fs.readFileSync(file, 'utf8').split('\n')[0]?.trim() ?? '';
  } catch (err) {
    throw new Error(`invalid configuration at ${field}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

/** The base of connect URLs. */
export function publicBaseUrl(config: Config, boundPort?: number): string {
  if (config.publicUrl) return config.publicUrl.replace(/\/+$/, '');
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
  return `http://${host}:${boundPort ?? config.port}`;
}
