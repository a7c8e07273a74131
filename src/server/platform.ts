import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { CallbackAuthenticator, CallbackTokens } from '../auth/callback.js';
import { CookieIssuer, LoginCookieAuthenticator } from '../auth/cookie.js';
import { loadOrCreateKey, Signer } from '../auth/keys.js';
import { ActivityTracker } from '../proxy/activity.js';
import { SessionProxy } from '../proxy/proxy.js';
import { BearerTokenAuthenticator } from '../auth/token.js';
import type Docker from 'dockerode';
import { connectEngine } from '../engine/process.js';
import { engineClaims, neighbourUidRanges } from '../backends/podman/claim.js';
import { PodmanBackend } from '../backends/podman/backend.js';
import { KubeConfig } from '@kubernetes/client-node';
import type { SessionBackend } from '../backends/backend.js';
import { KubernetesBackend } from '../backends/kubernetes/backend.js';
import { CachedCatalog } from '../catalog/catalog.js';
import { catalogsFrom, installRegistryAuthorities } from '../catalog/sources.js';
import { RegistryAccess, registryEndpoints } from '../catalog/registry/access.js';
import { buildContext, loadContextFile, thisMachine, type MachineCapacity } from '../sessions/context.js';
import { SessionService } from '../sessions/service.js';
import { Metrics } from './metrics.js';
import { HostStorage } from '../storage/homes.js';
import { DigestStore } from '../storage/digests.js';
import { UserFiles } from '../storage/files.js';
import { openStores } from '../store/open.js';
import { settleUidRange, uidRangeOf, type SettledUidRange } from '../store/uid-range.js';
import type { IdentityStore } from '../store/store.js';
import { buildApp, withSessionTraffic } from './app.js';
import { readCertificates, X509Authenticator } from '../auth/x509/authenticator.js';
import { OidcBearerAuthenticator } from '../auth/oidc/authenticator.js';
import { oidcOfferOf } from '../api/auth/oidc.js';
import { publicBaseUrl, type Config } from './config.js';
import { LAUNCH_SCRIPTS_DIR } from '../common/paths.js';
import { CallbackListener } from './callbacks.js';
import { SessionOrigins } from '../proxy/origins.js';

export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

const consoleLogger: Logger = {
  info: (m) => console.log(`${new Date().toISOString()} INFO ${m}`),
  warn: (m) => console.warn(`${new Date().toISOString()} WARN ${m}`),
  error: (m) => console.error(`${new Date().toISOString()} ERROR ${m}`),
};

export interface Platform {
  app: FastifyInstance;
  service: SessionService;
  backend: SessionBackend;
  /** The identity store (identity.store: SQLite or PostgreSQL). */
  store: IdentityStore;
  catalog: CachedCatalog;
  /** Listen on config.host:config.port (0: any free port), and HTTPS if configured; returns the base URL. */
  listen(): Promise<string>;
  tlsUrl(): string | undefined;
  close(): Promise<void>;
}

/**
 * Wire the platform: identity store (SQLite, or PostgreSQL shared by several servers), the configured backend (Podman, the embedded default,
 * or Kubernetes), local image catalog, session service, HTTP app, background loops. Nothing
 * listens until `listen()`.
 */
export async function createPlatform(
  config: Config,
  opts: {
    log?: Logger;
    /** One line per API request in the log (default on); errors are logged either way. */
    requestLog?: boolean;
    /**
     * A backend made and started by the caller instead of the configured one (the backend
     * contract suite's in-memory backend); the platform stops it when it closes.
     */
    backend?: SessionBackend;
  } = {},
): Promise<Platform> {
  const log = opts.log ?? consoleLogger;
  // On Podman the uid range is settled against the other servers on the engine before the
  // identity store hands out a uid (store/uid-range.ts).
  const podman = !opts.backend && config.backend === 'podman' ? await podmanEngine(config, log) : undefined;
  const stores = await openStores(config, { log, tolerateUnavailable: true, uidRange: podman?.uidRange ?? uidRangeOf(config) });
  const { identity: store, registryCredentials } = stores;
  let backend: SessionBackend;
  let machine: MachineCapacity;
  try {
    ({ backend, machine } = opts.backend
      ? { backend: opts.backend, machine: thisMachine() }
      : podman
        ? await createPodmanBackend(config, log, podman.docker, podman.uidRange)
        : await createKubernetesBackend(config, log));
  } catch (err) {
    await stores.close().catch(() => undefined);
    throw err;
  }
  const catalog = new CachedCatalog(catalogsFrom(config.catalog.sources, backend, log), log, path.join(config.dataDir, 'catalog'));
  await catalog.start(config.catalog.refreshIntervalMs);
  let imageRefresh: NodeJS.Timeout | undefined;
  backend.onChange((kind) => {
    if (kind !== 'image') return;
    // Image events come in bursts (a tag is several events): refresh once after the burst.
    clearTimeout(imageRefresh);
    imageRefresh = setTimeout(() => void catalog.refresh((source) => source.name === 'local'), 200);
  });

  const context = buildContext(loadContextFile(config.resources.file), machine, config.sessions.maxUserSessions);
  const layout = { topLevelDir: config.storage.topLevelDir };
  const storage = new HostStorage(config.storage.hostDir, config.dataDir, layout, LAUNCH_SCRIPTS_DIR);
  const digests = new DigestStore(config.dataDir);
  const files = new UserFiles(config.storage.hostDir, digests, Math.round(config.storage.homeQuotaGiB * 2 ** 30));
  const callbackTokens = new CallbackTokens(config.dataDir);
  let boundPort = config.port;
  const baseUrl = () => publicBaseUrl(config, boundPort);
  // Desktops call the API back (menu, app launches) from inside their containers, where
  // 127.0.0.1 is the container itself: on Podman they reach the callback listener at their
  // network's gateway; on Kubernetes, the configured in-cluster URL (e.g. skaha's Service).
  const sessionsApiUrl = config.backend === 'kubernetes' ? config.kubernetes.sessionsApiUrl.replace(/\/+$/, '') : '';
  const callbacks = podman
    ? new CallbackListener({
        port: config.podman.callbackPort || (config.port ? config.port + 2 : 0),
        host: '0.0.0.0',
        isSessionPeer: (address) => backend.isSessionPeer?.(address) ?? false,
        handler: (req, res) => app.routing(req, res),
        onListening: (port) => backend.openCallbackPort?.(port),
        log,
      })
    : undefined;
  const callbackUrl = async (uid: number): Promise<string> => {
    if (sessionsApiUrl) return sessionsApiUrl;
    const host = callbacks ? await backend.hostAddress(uid) : undefined;
    const port = callbacks?.advertisedPort();
    return host && port ? `http://${host}:${port}` : baseUrl();
  };
  const service = new SessionService(
    backend,
    catalog,
    storage,
    callbackTokens,
    () => context,
    {
      registryHosts: config.registryHosts,
      ...config.sessions,
      baseUrl,
      callbackUrl,
      headlessGroup: config.authorization.headlessGroup,
      registryCredentials,
    },
    log,
  );
  const cookieSigner = new Signer(loadOrCreateKey(config.dataDir, 'cookie'));
  const cookies = new CookieIssuer(
    cookieSigner,
    {
      secure: baseUrl().startsWith('https:'),
      maxAgeSeconds: config.proxy.loginCookieHours * 3600,
    },
    store,
  );
  const bearer = new BearerTokenAuthenticator(store);
  const loginCookie = new LoginCookieAuthenticator(cookies, store);
  const x509 =
    config.tls.port && fs.existsSync(config.tls.clientCaFile)
      ? [
          new X509Authenticator(
            {
              trusted: readCertificates(config.tls.clientCaFile),
              dnMap: config.tls.dnMapFile ? (JSON.parse(fs.readFileSync(config.tls.dnMapFile, 'utf8')) as Record<string, string>) : {},
            },
            store,
          ),
        ]
      : [];
  const oidc = config.oidc.issuer ? [new OidcBearerAuthenticator({ ...config.oidc, audience: config.oidc.audience || config.oidc.clientId }, store)] : [];
  // The fixed order of docs/auth.md: client certificate, OIDC JWT, API token, browser cookie,
  // desktop callback token.
  const authenticators = [...x509, ...oidc, bearer, loginCookie, new CallbackAuthenticator(callbackTokens, (id) => service.record(id)?.username, store)];
  const activity = new ActivityTracker();
  const metrics = new Metrics({ backend, queueLength: () => backend.queueLength?.() ?? 0 });
  const origins = new SessionOrigins(config.proxy.sessionsDomain, baseUrl);
  const proxy = new SessionProxy({
    sessions: service,
    origins,
    authenticators: [...x509, ...oidc, bearer, loginCookie],
    cookies,
    activity,
    loginPath: '/login',
    upstreamTimeoutMs: config.proxy.upstreamTimeoutMs,
    startupGraceMs: config.proxy.startupGraceMs,
    log,
    metrics,
  });
  service.setActivity(activity, config.sessions.idleCullSeconds);
  const app = await buildApp({
    deps: {
      service,
      catalog,
      context: () => context,
      registryHosts: config.registryHosts,
      baseUrl,
      sessionBase: (id) => origins.baseOf(id),
      layout,
      policy: config.authorization,
    },
    origins,
    authenticators,
    policy: config.authorization,
    cookies,
    store,
    registryCredentials,
    caDir: path.dirname(config.tls.clientCaFile),
    proxy,
    files,
    ...(config.oidc.issuer && config.oidc.clientId
      ? {
          oidcLogin: {
            issuer: config.oidc.issuer,
            clientId: config.oidc.clientId,
            clientSecret: config.oidc.clientSecret,
            usernameClaim: config.oidc.usernameClaim,
            groupsClaim: config.oidc.groupsClaim,
            signer: cookieSigner,
          },
        }
      : {}),
    oidcOffer: oidcOfferOf(config.oidc),
    readiness: async () => callbacks?.problem(),
    metrics,
    loginLimits: config.login,
    log,
    requestLog: opts.requestLog !== false,
  });

  const reaper = setInterval(() => {
    service.reap().catch((err) => log.warn(`reaper: ${(err as Error).message}`));
  }, config.sessions.reaperIntervalMs);
  reaper.unref();
  void service.reap().catch((err) => log.warn(`reaper: ${(err as Error).message}`));

  let tlsServer: https.Server | undefined;
  return {
    app,
    service,
    backend,
    store,
    catalog,
    async listen() {
      // The callback listener first: it exists before any session bridge does (issue 16).
      await callbacks?.start();
      await app.listen({ port: config.port, host: config.host });
      const address = app.server.address();
      if (address && typeof address === 'object') boundPort = address.port;
      if (config.tls.port) {
        let tlsOptions: https.ServerOptions;
        try {
          tlsOptions = {
            cert: fs.readFileSync(config.tls.certFile),
            key: fs.readFileSync(config.tls.keyFile),
            // Ask every client for a certificate, and judge it ourselves (proxy certificates).
            requestCert: true,
            rejectUnauthorized: false,
            ...(fs.existsSync(config.tls.clientCaFile) ? { ca: fs.readFileSync(config.tls.clientCaFile) } : {}),
          };
        } catch (err) {
          throw new Error(`HTTPS: ${(err as Error).message} (run \`skaha admin tls init\`, or set tls.certFile and tls.keyFile)`);
        }
        tlsServer = withSessionTraffic(https.createServer(tlsOptions), proxy, (req, res) => app.routing(req, res), origins);
        await new Promise<void>((resolve, reject) => {
          tlsServer!.once('error', reject);
          tlsServer!.listen(config.tls.port, config.tls.host, () => resolve());
        });
      }
      return baseUrl();
    },
    /** The HTTPS listener's base URL, when there is one. */
    tlsUrl() {
      const address = tlsServer?.address();
      return address && typeof address === 'object' ? `https://${config.tls.host === '0.0.0.0' ? '127.0.0.1' : config.tls.host}:${address.port}` : undefined;
    },
    async close() {
      clearInterval(reaper);
      clearTimeout(imageRefresh);
      await catalog.stop();
      if (tlsServer) {
        tlsServer.closeAllConnections();
        await new Promise((r) => tlsServer!.close(r));
      }
      await callbacks?.close();
      await app.close();
      proxy.close();
      await backend.close();
      await stores.close();
      files.close();
      digests.close();
    },
  };
}

/** The Kubernetes backend, started, and the largest node a session can get (the context's options are trimmed to it). */
async function createKubernetesBackend(config: Config, log: Logger): Promise<{ backend: SessionBackend; machine: MachineCapacity }> {
  const k = config.kubernetes;
  const kubeConfig = new KubeConfig();
  // loadFromDefault: $KUBECONFIG, ~/.kube/config, or the pod's service account in a cluster.
  if (k.kubeconfig) kubeConfig.loadFromFile(k.kubeconfig);
  else kubeConfig.loadFromDefault();
  const backend = new KubernetesBackend(kubeConfig, {
    namespace: k.namespace,
    storage:
      k.storage.kind === 'pvc' ? { kind: 'pvc', claimName: k.storage.claimName } : { kind: 'hostPath', hostPath: k.storage.hostPath || config.storage.hostDir },
    launchScripts: { hostDir: LAUNCH_SCRIPTS_DIR, configMap: k.launchScriptsConfigMap },
    imagePullPolicy: k.imagePullPolicy,
    nodeSelector: k.nodeSelector,
    gpuNodeAffinity: k.gpuNodeAffinity,
    ttlAfterFinishedSeconds: { headless: config.sessions.headlessTtlAfterFinishedSeconds, interactive: config.sessions.interactiveTtlAfterFinishedSeconds },
    ...(k.networkPolicy.enabled ? { networkPolicy: k.networkPolicy } : {}),
    log,
  });
  if (k.networkPolicy.enabled && k.networkPolicy.blockedCidrs.length === 0) {
    // Not only the rest of the cluster: with some enforcers (kube-router, docs/kubernetes.md) a
    // session's egress to every address also opens other sessions to it.
    log.warn(
      'kubernetes.networkPolicy.blockedCidrs is empty: sessions may connect to anything in the cluster, and where the network plugin is kube-router, to each other; list the pod, service and node networks there',
    );
  }
  await backend.start();
  return { backend, machine: await backend.largestNode() };
}

/** The Podman API service (started when configured so), connected, and this server's uid range beside its neighbours there. */
async function podmanEngine(config: Config, log: Logger): Promise<{ docker: Docker; uidRange: SettledUidRange }> {
  const docker = await connectEngine({
    socketPath: config.podman.socketPath,
    containersConf: config.podman.containersConf,
    startService: config.podman.startService,
    home: config.podman.home,
    logFile: path.join(config.dataDir, 'logs', 'podman-service.log'),
    log: log.info,
  });
  const { claims } = await engineClaims(docker);
  return { docker, uidRange: settleUidRange(config, neighbourUidRanges(claims, identityOf(config))) };
}

/** The Podman backend on a connected engine, started; sessions may get up to this machine. */
async function createPodmanBackend(
  config: Config,
  log: Logger,
  docker: Docker,
  { configured, ...uidRange }: SettledUidRange,
): Promise<{ backend: SessionBackend; machine: MachineCapacity }> {
  // Cached images pulled with credentials are checked against their registry before they run again.
  const imageAccess = new RegistryAccess(registryEndpoints(config.catalog.sources, config.podman.home));
  const identity = { ...identityOf(config), ...uidRange };
  const backend = new PodmanBackend(docker, {
    ...config.podman,
    stateDir: path.join(config.dataDir, 'podman'),
    identity,
    uidRangeConfigured: configured,
    log,
    imageAccess,
  });
  await backend.start();
  // The engine pulls from registries whose CA the catalog sources name.
  installRegistryAuthorities(config.catalog.sources, config.podman.home);
  if (config.catalog.prePull.length > 0) void backend.prePull(config.catalog.prePull);
  return { backend, machine: thisMachine() };
}

/** This server as other servers on its engine see it: its data directory and its identity store. */
function identityOf(config: Config): { dataDir: string; store: string } {
  return { dataDir: config.dataDir, store: identityStoreName(config) };
}

/** Which identity store uids come from, without credentials: servers sharing one may share uids. */
function identityStoreName(config: Config): string {
  if (config.identity.store === 'sqlite') return `sqlite:${path.join(config.dataDir, 'skaha.db')}`;
  const url = new URL(config.identity.postgres.url);
  return `${url.protocol}//${url.host}${url.pathname}`;
}
