import type { LaunchSpec, Mount, NodeCapacity, SessionBackend, SessionEvent } from '../backends/backend.js';
import type { CachedCatalog } from '../catalog/catalog.js';
import { launchProblem } from '../catalog/reference.js';
import type { CallbackTokens } from '../auth/callback.js';
import { badRequest, missingParameter, notFound, SkahaError } from '../common/errors.js';
import { parseEnv, parseOption, parseRegistryAuth, resourcesFrom } from './params.js';
import type { User } from '../store/store.js';
import { XAUTHORITY_PATH, type SessionStorage } from '../storage/homes.js';
import type { ResourceContext } from './context.js';
import { appJobName, appNameFromImage, jobName, nameProblem, newAppId, newSessionId } from './ids.js';
import { fixedResourcesOf, isInteractive, isLaunchableType, type LaunchableType, type Resources, type SessionRecord } from './model.js';
import { desktopAppEnv, recipeFor } from './recipes.js';

/** Raw launch parameters, as strings, exactly as the client sent them (spec §3.5). */
interface LaunchRequest {
  name?: string | undefined;
  image?: string | undefined;
  type?: string | undefined;
  cores?: string | undefined;
  ram?: string | undefined;
  gpus?: string | undefined;
  cmd?: string | undefined;
  args?: string | undefined;
  env: string[];
  /** The x-skaha-registry-auth header: base64(username:secret). */
  registryAuth?: string | undefined;
}

/** Raw desktop-app launch parameters (spec §3.9); anything else the client sends is ignored. */
interface AppLaunchRequest {
  image?: string | undefined;
  cores?: string | undefined;
  ram?: string | undefined;
  /** The x-skaha-registry-auth header, as for sessions. */
  registryAuth?: string | undefined;
}

type RegistryAuth = NonNullable<LaunchSpec['registryAuth']>;
/** The fields of a LaunchSpec that come from its user and their files, filled in by createPrepared. */
type UserFields = 'username' | 'uid' | 'gid' | 'supplementalGroups' | 'mounts' | 'registryAuth';

export type ApiVersion = 'v0' | 'v1';

export interface SessionServiceOptions {
  registryHosts: string[];
  expirySeconds: number;
  headlessExpirySeconds: number;
  maxUserSessions: number;
  headlessTtlAfterFinishedSeconds: number;
  interactiveTtlAfterFinishedSeconds: number;
  /** Per user: active headless jobs, and the cores and GiB of RAM they request together (0: no limit). */
  maxHeadlessJobs: number;
  maxHeadlessCores: number;
  maxHeadlessRamGiB: number;
  /** `view=logs` gives the last this many bytes of each container's log. */
  logTailBytes: number;
  /** The server's public base URL (SKAHA_HOSTNAME). */
  baseUrl: () => string;
  /** Where session containers reach the API (desktop menus and app launches). */
  callbackUrl?: (uid: number) => string | Promise<string>;
  /** Only members may launch headless jobs (skaha.headlessgroup); empty: everyone. */
  headlessGroup?: string;
  /** Users' stored registry credentials, used when a launch brings no x-skaha-registry-auth. */
  registryCredentials?: { get(owner: string, host: string): Promise<{ username: string; password: string } | undefined> };
}

interface ListFilter {
  type?: string | undefined;
  status?: string | undefined;
}

interface Log {
  info(message: string): void;
  warn(message: string): void;
}

/**
 * The rules of sessions: validation, limits, IDs, expiry, ownership. The only caller of the
 * backend; it resolves everything (user, mounts, env, resources) before calling it.
 */
export class SessionService {
  /** Launches of one user run one at a time, so two parallel POSTs cannot both pass the limit. */
  private readonly userLocks = new Map<string, Promise<unknown>>();
  /** Session keys whose files exist but whose container may not yet: the sweep leaves them. */
  private readonly launching = new Set<string>();

  private activity: { lastActivity(id: string): number; forget(id: string): void } | undefined;
  private idleCullSeconds = 0;
  /** Session keys in the backend's index at the last look (filesOfGoneSessions). */
  private indexed = new Set<string>();
  private lookScheduled = false;
  /** Told after each burst of index changes (the portal's live list). */
  private readonly watchers = new Set<() => void>();

  constructor(
    private readonly backend: SessionBackend,
    private readonly catalog: CachedCatalog,
    private readonly storage: SessionStorage,
    private readonly callbackTokens: CallbackTokens,
    private readonly context: () => ResourceContext,
    private readonly opts: SessionServiceOptions,
    private readonly log: Log,
  ) {
    // What the backend found at its start (a deletion a killed server acknowledged may still be
    // finishing): when it leaves the index, its files go too, even before the first change.
    this.indexed = this.indexedKeys();
    backend.onChange((kind) => {
      if (kind !== 'session' || this.lookScheduled) return;
      this.lookScheduled = true;
      queueMicrotask(() => this.filesOfGoneSessions());
    });
  }

  // ---- what HTTP reads of the engine: through here, so the service stays a backend's only caller ----

  /**
   * A session or desktop-app as the engine's index holds it, whoever owns it: for the proxy and
   * the callback authenticator, which check ownership themselves. Routes use get().
   */
  record(id: string, appId?: string): SessionRecord | undefined {
    return this.backend.get(id, appId);
  }

  /** Where the proxy reaches a session's container port. */
  address(id: string, port: number): { host: string; port: number } | undefined {
    return this.backend.address(id, port);
  }

  /** What a Pending session waits for (an image pull and its progress), when the engine knows. */
  pendingNote(id: string): string | undefined {
    return this.backend.pendingNote?.(id);
  }

  /** The machines sessions run on (view=stats). */
  capacity(): Promise<NodeCapacity[]> {
    return this.backend.capacity();
  }

  /** Whether the engine answers (/availability, /readyz). */
  engineAvailability(): Promise<{ available: boolean; note: string }> {
    return this.backend.availability();
  }

  /** Call `fn` after each burst of changes to the sessions (any user's); returns how to stop. */
  onSessionsChanged(fn: () => void): () => void {
    this.watchers.add(fn);
    return () => void this.watchers.delete(fn);
  }

  /**
   * A session's files go when it leaves the index, however it went: deleted here, a deletion a
   * restarted server finished (the files of a server killed before its own removal), removed on
   * the engine by hand. Once per burst of index changes.
   */
  private filesOfGoneSessions(): void {
    this.lookScheduled = false;
    for (const watcher of this.watchers) watcher();
    const now = this.indexedKeys();
    for (const key of this.indexed) if (!now.has(key) && !this.launching.has(key)) this.storage.removeSession(key);
    this.indexed = now;
  }

  /** The keys (`<id>` or `<id>/<appId>`, as session files are named) of every record in the backend's index. */
  private indexedKeys(): Set<string> {
    return new Set(this.backend.list().map((s) => (s.appId ? `${s.id}/${s.appId}` : s.id)));
  }

  /** Feed of proxy activity for idle culling of notebooks (0 seconds: never cull). */
  setActivity(activity: { lastActivity(id: string): number; forget(id: string): void }, idleCullSeconds: number): void {
    this.activity = activity;
    this.idleCullSeconds = idleCullSeconds;
  }

  // --- launch ---------------------------------------------------------------------------

  /**
   * Steps 1 and 2 of spec §3.5, for sessions and desktop-apps alike: the image is given and comes
   * from a configured registry host: a valid reference whose host is exactly one of them (skaha
   * compares a string prefix, spec §11.17; see catalog/reference.ts).
   */
  private launchableImage(raw: string | undefined): string {
    const image = raw?.trim();
    if (!image) throw missingParameter('image');
    const problem = launchProblem(image, this.opts.registryHosts);
    if (problem) throw new SkahaError('SKAHA_ERR_IMAGE_REJECTED', problem);
    return image;
  }

  /**
   * The credentials a launch of `image` pulls it with, and proves access to a cached private copy
   * with (spec §7): the x-skaha-registry-auth header, else the user's stored ones for its host.
   */
  private async registryAuthFor(user: User, image: string, header: string | undefined): Promise<RegistryAuth | undefined> {
    if (header) return parseRegistryAuth(header, image);
    const host = image.split('/')[0] ?? '';
    const stored = await this.opts.registryCredentials?.get(user.username, host);
    return stored ? { ...stored, serveraddress: host } : undefined;
  }

  /** Validate in skaha's order (spec §3.5), then create. Returns the new session ID. */
  async launch(user: User, req: LaunchRequest, version: ApiVersion): Promise<string> {
    // 1, 2. image and registry host
    const image = this.launchableImage(req.image);
    // 3. type
    const typeWord = (req.type ?? '').trim().toLowerCase() || 'headless';
    if (!isLaunchableType(typeWord)) throw badRequest(`Invalid session type: ${req.type}`);
    const type: LaunchableType = typeWord;
    const registryAuth = await this.registryAuthFor(user, image, req.registryAuth);
    const listed = this.catalog.find(image);
    if (version === 'v0') {
      if (listed && !listed.types.includes(type)) {
        throw new SkahaError('SKAHA_ERR_IMAGE_REJECTED', `image/type mismatch: ${image}/${type}`);
      }
      if (!listed && !registryAuth) {
        throw new SkahaError(
          'SKAHA_ERR_IMAGE_REJECTED',
          'No authentication provided for unknown or private image.  Use x-skaha-registry-auth request header with base64Encode(username:secret).',
        );
      }
    }
    if (type === 'headless' && this.opts.headlessGroup && !user.groups.some((g) => g.name === this.opts.headlessGroup)) {
      throw new SkahaError('SKAHA_ERR_FORBIDDEN', 'Not authorized to create a headless session');
    }
    // 4. cores and ram
    const context = this.context();
    const cores = parseOption('cores', req.cores, context.cores.options, version);
    const ram = parseOption('ram', req.ram, context.memoryGB.options, version);
    // 5. name
    const rawName = req.name?.trim();
    if (!rawName) throw missingParameter('name');
    const problem = nameProblem(rawName);
    if (problem) throw badRequest(problem);
    const name = rawName.toLowerCase();

    return this.withUserLock(user.username, async () => {
      // 6. limit on interactive sessions (Pending + Running, spec §11.12 v1 counting)
      if (type !== 'headless' && this.activeInteractive(this.backend.list(), user.username) >= this.opts.maxUserSessions) {
        throw this.sessionLimit(user.username);
      }
      // 7. ID
      let id = newSessionId();
      while (this.backend.get(id)) id = newSessionId();
      // 8. gpus
      const gpus = req.gpus === undefined || req.gpus === '' ? 0 : (parseOption('gpus', req.gpus, context.gpus.options, 'v0') ?? 0);

      const resources: Resources = fixedResourcesOf(type) ?? resourcesFrom(context, cores, ram, gpus);
      if (type === 'headless') this.checkHeadlessLimits(user.username, resources);
      const recipe = recipeFor({
        type,
        sessionId: id,
        username: user.username,
        uid: user.uid,
        resources,
        layout: this.storage.layout,
        hostname: new URL(this.opts.baseUrl()).host,
        apiBaseUrl: this.opts.callbackUrl ? await this.opts.callbackUrl(user.uid) : this.opts.baseUrl(),
        ...(req.cmd ? { cmd: req.cmd } : {}),
        ...(req.args ? { args: req.args } : {}),
        userEnv: type === 'headless' ? parseEnv(req.env) : [],
        ...(type === 'desktop' ? { desktopAppToken: this.callbackTokens.mint(id) } : {}),
      });
      // 9. home, per-session files, container
      const extra = { mounts: type === 'desktop' ? [this.storage.createDesktopXauthority(id)] : [], registryAuth };
      await this.createPrepared(id, user, extra, {
        sessionId: id,
        name,
        type,
        image,
        ...(recipe.command ? { command: recipe.command } : {}),
        ...(recipe.args ? { args: recipe.args } : {}),
        env: type === 'desktop' ? [...recipe.env, ['XAUTHORITY', XAUTHORITY_PATH]] : recipe.env,
        ...(recipe.workingDir ? { workingDir: recipe.workingDir } : {}),
        hostname: name,
        resources,
        ports: recipe.ports,
        deadlineSeconds: type === 'headless' ? this.opts.headlessExpirySeconds : this.opts.expirySeconds,
        jobName: jobName(type, user.username, id),
      });
      if (type !== 'headless') await this.backOutPastLimit(user.username, id);
      this.log.info(`launched ${type} session ${id} (${name}) for ${user.username} from ${image}`);
      return id;
    });
  }

  private activeInteractive(sessions: SessionRecord[], username: string): number {
    return sessions.filter((s) => s.username === username && !s.appId && isInteractive(s.type) && (s.status === 'Pending' || s.status === 'Running')).length;
  }

  /**
   * Per-user limits on headless jobs (issue 16 point 4): how many may be Pending or Running at
   * once, and what they may request together (0: no limit). A script that submits a hundred jobs
   * gets a clear 400 at the limit instead of overcommitting the machine.
   */
  private checkHeadlessLimits(username: string, asked: Resources): void {
    const active = this.backend.list().filter((s) => s.username === username && s.type === 'headless' && (s.status === 'Pending' || s.status === 'Running'));
    const { maxHeadlessJobs, maxHeadlessCores, maxHeadlessRamGiB } = this.opts;
    if (maxHeadlessJobs > 0 && active.length >= maxHeadlessJobs) {
      throw new SkahaError('SKAHA_ERR_SESSION_LIMIT', `User ${username} has reached the maximum of ${maxHeadlessJobs} active headless jobs.`);
    }
    const cores = active.reduce((sum, s) => sum + s.resources.coresRequest, 0) + asked.coresRequest;
    if (maxHeadlessCores > 0 && cores > maxHeadlessCores) {
      throw new SkahaError(
        'SKAHA_ERR_SESSION_LIMIT',
        `User ${username}'s active headless jobs would request ${cores} cores, more than the maximum of ${maxHeadlessCores}.`,
      );
    }
    const ram = active.reduce((sum, s) => sum + s.resources.ramRequestGiB, 0) + asked.ramRequestGiB;
    if (maxHeadlessRamGiB > 0 && ram > maxHeadlessRamGiB) {
      throw new SkahaError(
        'SKAHA_ERR_SESSION_LIMIT',
        `User ${username}'s active headless jobs would request ${ram}G of RAM, more than the maximum of ${maxHeadlessRamGiB}G.`,
      );
    }
  }

  private sessionLimit(username: string): SkahaError {
    return new SkahaError('SKAHA_ERR_SESSION_LIMIT', `User ${username} has reached the maximum of ${this.opts.maxUserSessions} active sessions.`);
  }

  /**
   * Another server sharing the engine may have launched for the same user at the same moment
   * (Kubernetes replicas): count again from the engine itself, and the launch that finds the
   * limit passed removes its own session. Two racing launches may then both back out, never
   * both stay. A failed count keeps the session (the launch itself went through).
   */
  private async backOutPastLimit(username: string, id: string): Promise<void> {
    if (!this.backend.listNow) return;
    let now: SessionRecord[];
    try {
      now = await this.backend.listNow(username);
    } catch (err) {
      this.log.warn(`launch ${id}: could not count ${username}'s sessions again: ${(err as Error).message}`);
      return;
    }
    if (this.activeInteractive(now, username) <= this.opts.maxUserSessions) return;
    this.log.info(`launch ${id}: ${username} passed the session limit through another server at the same time; removing it`);
    const session = this.backend.get(id) ?? now.find((s) => s.id === id && !s.appId);
    if (session) await this.remove(session).catch((err) => this.log.warn(`launch ${id}: ${(err as Error).message}`));
    throw this.sessionLimit(username);
  }

  /**
   * Attach a desktop-app to the caller's desktop (spec §3.9). Returns the app ID. Unlike skaha,
   * the image is held to the same registry hosts and pulled with the same credentials as a
   * session's (docs/compatibility.md): an app is a container of the user's like any other.
   */
  async launchApp(user: User, desktopId: string, req: AppLaunchRequest): Promise<string> {
    const image = this.launchableImage(req.image);
    const registryAuth = await this.registryAuthFor(user, image, req.registryAuth);
    const desktop = this.backend.get(desktopId);
    if (!desktop || desktop.username !== user.username || desktop.type !== 'desktop' || desktop.status === 'Terminating') {
      throw notFound(`session ${desktopId} not found`);
    }
    const context = this.context();
    const cores = parseOption('cores', req.cores, context.cores.options, 'v1');
    const ram = parseOption('ram', req.ram, context.memoryGB.options, 'v1');
    const resources = resourcesFrom(context, cores, ram, 0);
    let appId = newAppId();
    while (this.backend.get(desktopId, appId)) appId = newAppId();
    const appName = appNameFromImage(image);
    await this.createPrepared(
      `${desktopId}/${appId}`,
      user,
      { mounts: [this.storage.desktopXauthority(desktopId)], registryAuth },
      {
        sessionId: desktopId,
        appId,
        name: appName,
        type: 'desktop-app',
        image,
        // The image's CMD is ignored: the seed's startup sequence runs (spec §8).
        command: ['/skaha-system/start-desktop-software.sh', user.username, appName],
        args: [],
        // The app shares the desktop's network namespace: its X server is 127.0.0.1:1 (TCP 6001).
        env: desktopAppEnv({
          sessionId: desktopId,
          username: user.username,
          layout: this.storage.layout,
          display: '127.0.0.1:1',
          coresRequest: resources.coresRequest,
          xauthority: XAUTHORITY_PATH,
        }),
        workingDir: `${this.storage.layout.topLevelDir}/home/${user.username}`,
        hostname: appName,
        resources,
        ports: [],
        deadlineSeconds: this.opts.expirySeconds,
        jobName: appJobName(desktopId, appId, user.username, appName),
        joinSessionOf: desktopId,
      },
    );
    this.log.info(`launched desktop-app ${appId} (${image}) in desktop ${desktopId} for ${user.username}`);
    return appId;
  }

  // --- read -----------------------------------------------------------------------------

  /** The caller's sessions and desktop-apps (v0 lists desktop-apps too, spec §3.1). */
  list(user: User, filter: ListFilter, opts: { includeApps: boolean }): SessionRecord[] {
    return this.backend
      .list()
      .filter((s) => s.username === user.username && (opts.includeApps || !s.appId || filter.type === 'desktop-app') && matches(s, filter));
  }

  /** Every user's sessions (view=all). */
  listAll(filter: ListFilter, opts: { includeApps: boolean }): SessionRecord[] {
    return this.backend.list().filter((s) => (opts.includeApps || !s.appId || filter.type === 'desktop-app') && matches(s, filter));
  }

  /** The caller's session (not a desktop-app); another user's or unknown is 404 (spec §3.6). */
  get(user: User, id: string): SessionRecord {
    const session = this.backend.get(id);
    if (!session || session.username !== user.username) throw notFound(`session ${id} not found`);
    return session;
  }

  apps(user: User, filter: ListFilter): SessionRecord[] {
    return this.backend.list().filter((s) => s.username === user.username && s.appId && matches(s, { status: filter.status }));
  }

  getApp(user: User, id: string, appId: string): SessionRecord {
    const app = this.backend.get(id, appId);
    if (!app || app.username !== user.username) {
      throw notFound(`desktop app with session ${id} and app ID ${appId} was not found`);
    }
    return app;
  }

  /** Logs of the session, and for a desktop those of its apps after it (spec §3.6). */
  async logs(user: User, id: string): Promise<string> {
    const session = this.backend.get(id);
    if (!session || session.username !== user.username) return '';
    const parts = [await this.backend.logs(id, undefined, this.opts.logTailBytes)];
    for (const app of this.backend.list().filter((s) => s.id === id && s.appId)) parts.push(await this.backend.logs(id, app.appId, this.opts.logTailBytes));
    return parts.join('');
  }

  async events(user: User, id: string): Promise<SessionEvent[]> {
    const session = this.get(user, id);
    return this.backend.events(session.id);
  }

  // --- change ---------------------------------------------------------------------------

  /** Extend the session (and a desktop's apps) to expire `expirySeconds` from now (spec §3.7). */
  async renew(user: User, id: string): Promise<void> {
    const active = this.backend.list().filter((s) => s.id === id && s.username === user.username && (s.status === 'Running' || s.status === 'Pending'));
    if (active.length === 0) throw badRequest(`No active job for user ${user.username} with session ${id}`);
    const now = Date.now();
    for (const s of active) {
      const elapsed = Math.floor((now - (s.startedAt ?? s.createdAt).getTime()) / 1000);
      const remaining = s.deadlineSeconds - elapsed;
      if (this.opts.expirySeconds > remaining) await this.backend.renew(s.id, s.appId, elapsed + this.opts.expirySeconds);
    }
    this.log.info(`renewed session ${id} for ${user.username}`);
  }

  /** Delete the caller's session; another user's or unknown is 404 and nothing changes. */
  async delete(user: User, id: string): Promise<void> {
    const session = this.backend.get(id);
    if (!session || session.username !== user.username) throw notFound(`session ${id} not found`);
    await this.remove(session);
    this.log.info(`deleted session ${id} for ${user.username}`);
  }

  async deleteApp(user: User, id: string, appId: string): Promise<void> {
    const app = this.backend.get(id, appId);
    if (!app || app.username !== user.username) return; // spec §3.9: 200 even if nothing matched
    await this.remove(app);
  }

  /**
   * Write the session's files (home, passwd, group, scratch, plus `extra.mounts`), fill in what
   * every spec takes from its user (identity, groups, mounts, pull credentials), create it, and
   * remove the files again if the creation fails: nothing is left half-made.
   */
  private async createPrepared(
    key: string,
    user: User,
    extra: { mounts: Mount[]; registryAuth: RegistryAuth | undefined },
    spec: Omit<LaunchSpec, UserFields>,
  ): Promise<void> {
    this.launching.add(key);
    try {
      const mounts = [...this.storage.prepareSession(key, user), ...extra.mounts, ...this.storage.systemMounts()];
      await this.backend.create({
        ...spec,
        username: user.username,
        uid: user.uid,
        gid: user.gid,
        supplementalGroups: user.groups.map((g) => g.gid),
        mounts,
        ...(extra.registryAuth ? { registryAuth: extra.registryAuth } : {}),
      });
    } catch (err) {
      this.storage.removeSession(key);
      throw err;
    } finally {
      this.launching.delete(key);
    }
  }

  /**
   * Reaper pass: stop what expired, remove what finished long enough ago, cull idle notebooks,
   * sweep stale files. Where the engine enforces deadlines and listing times itself (Kubernetes),
   * expiry and removal are its alone: the session then ends as the engine records it (Failed,
   * DeadlineExceeded in view=events) whichever server is up, where a delete from here would race
   * it and hide why the session ended.
   */
  async reap(now = Date.now()): Promise<number> {
    const due = this.dueForRemoval(this.backend.list(), now);
    for (const { session: s, why } of due) {
      this.log.info(`reaper: removing ${s.appId ? `desktop-app ${s.id}/${s.appId}` : `session ${s.id}`} (${why})`);
      this.activity?.forget(s.id);
      await this.remove(s).catch((err) => this.log.warn(`reaper: ${(err as Error).message}`));
    }
    this.sweepSessionFiles();
    return due.length;
  }

  /** The sessions the reaper ends now, each with why. A desktop's apps go with it, so are not listed twice. */
  private dueForRemoval(all: SessionRecord[], now: number): Array<{ session: SessionRecord; why: string }> {
    const due = all.flatMap((session) => {
      const why = this.reasonToRemove(session, now);
      return why ? [{ session, why }] : [];
    });
    const desktopsGoing = new Set(due.filter((d) => !d.session.appId).map((d) => d.session.id));
    return due.filter((d) => !(d.session.appId && desktopsGoing.has(d.session.id)));
  }

  /** Why a session should end now (expired, finished past its listing time, an idle notebook), or undefined. */
  private reasonToRemove(s: SessionRecord, now: number): string | undefined {
    if (s.status === 'Terminating') return undefined;
    const start = (s.startedAt ?? s.createdAt).getTime();
    if (this.backend.enforcesLifetimes !== true) {
      if ((s.status === 'Running' || s.status === 'Pending') && now >= start + s.deadlineSeconds * 1000) return 'expired';
      const ttl = s.type === 'headless' ? this.opts.headlessTtlAfterFinishedSeconds : this.opts.interactiveTtlAfterFinishedSeconds;
      if ((s.status === 'Succeeded' || s.status === 'Failed') && now >= (s.finishedAt ?? s.createdAt).getTime() + ttl * 1000) return 'finished';
    }
    const idle =
      s.type === 'notebook' &&
      s.status === 'Running' &&
      this.idleCullSeconds > 0 &&
      this.activity !== undefined &&
      now - Math.max(this.activity.lastActivity(s.id), start) >= this.idleCullSeconds * 1000;
    return idle ? `idle for ${this.idleCullSeconds} s` : undefined;
  }

  /** Files of sessions that no longer exist (a crash between a removal and its cleanup), once old enough. */
  private sweepSessionFiles(): void {
    const live = this.indexedKeys();
    for (const key of this.storage.sessionKeys(SWEEP_MIN_AGE_MS)) {
      if (!live.has(key) && !this.launching.has(key)) this.storage.removeSession(key);
    }
  }

  /** Delete through the backend; the session's files go once its containers are gone. */
  private async remove(session: SessionRecord): Promise<void> {
    const { removed } = await this.backend.delete(session.id, session.appId);
    removed
      .then((keys) => keys.forEach((key) => this.storage.removeSession(key)))
      .catch((err) => this.log.warn(`removing ${session.id}: ${(err as Error).message}`));
  }

  private async withUserLock<T>(username: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.userLocks.get(username) ?? Promise.resolve();
    const run = previous.catch(() => undefined).then(fn);
    this.userLocks.set(username, run);
    try {
      return await run;
    } finally {
      if (this.userLocks.get(username) === run) this.userLocks.delete(username);
    }
  }
}

/** Session files younger than this are never swept (another process may be launching them). */
const SWEEP_MIN_AGE_MS = 5 * 60_000;

function matches(s: SessionRecord, filter: ListFilter): boolean {
  if (filter.type && s.type.toLowerCase() !== filter.type.toLowerCase()) return false;
  // `Completed` is v1's word for `Succeeded` (spec §5.4): either finds such sessions on both prefixes.
  const wanted = filter.status?.toLowerCase() === 'completed' ? 'succeeded' : filter.status?.toLowerCase();
  if (wanted && s.status.toLowerCase() !== wanted) return false;
  return true;
}
