import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  recordFromSpec,
  recordKey,
  type EngineImage,
  type LaunchSpec,
  type NodeCapacity,
  type SessionBackend,
  type SessionEvent,
} from '../../src/backends/backend.js';
import { CallbackTokens } from '../../src/auth/callback.js';
import { CachedCatalog, type CatalogImage } from '../../src/catalog/catalog.js';
import { CHART_DEFAULT_CONTEXT } from '../../src/sessions/context.js';
import type { SessionRecord } from '../../src/sessions/model.js';
import { SessionService, type SessionServiceOptions } from '../../src/sessions/service.js';
import { HostStorage } from '../../src/storage/homes.js';

/**
 * A SessionBackend that keeps its sessions in memory and runs nothing: the session service's
 * own rules (validation order, limits, what it hands a backend, cleanup when a backend fails,
 * the reaper's choices) are tested against it without an engine, and the backend contract suite
 * runs on it too (test/integration/backend-contract/memory.test.ts), as the reference of what the
 * interface promises: create is idempotent per key, a record shows `Terminating` while its
 * deletion is under way, a desktop's apps go with it, onChange fires after each change, and the
 * sessions outlive a server (one instance serves the platforms started on it, as an engine would).
 * Jobs end when told (`finish`); `address` gives a loopback port per session, where a test may
 * listen.
 */
export class MemoryBackend implements SessionBackend {
  readonly name = 'memory';
  readonly records = new Map<string, SessionRecord>();
  /** Every LaunchSpec create() was given, in order. */
  readonly created: LaunchSpec[] = [];
  /** Keys passed to delete(), in order. */
  readonly deleted: string[] = [];
  /** The next create() throws this (then clears it), as an engine that fails would. */
  failNextCreate: Error | undefined;
  private readonly listeners: Array<(kind: 'session' | 'image') => void> = [];
  private readonly eventsOf = new Map<string, SessionEvent[]>();
  private readonly ports = new Map<string, number>();
  private nextPort = 20_000 + Math.floor(Math.random() * 10_000);

  constructor(
    records: SessionRecord[] = [],
    readonly enforcesLifetimes = false,
    /** What images() lists (the local catalog's source). */
    private readonly engineImages: EngineImage[] = [],
  ) {
    for (const r of records) this.records.set(recordKey(r.id, r.appId), r);
  }

  /** End a session's container with this exit code, as its command would. */
  finish(id: string, exitCode: number, appId?: string): void {
    const record = this.get(id, appId);
    if (!record) throw new Error(`no session ${recordKey(id, appId)}`);
    this.records.set(recordKey(id, appId), { ...record, status: exitCode === 0 ? 'Succeeded' : 'Failed', finishedAt: new Date(), exitCode });
    this.event(recordKey(id, appId), exitCode === 0 ? 'Normal' : 'Warning', exitCode === 0 ? 'Completed' : 'Failed', `exited with code ${exitCode}`);
    this.changed();
  }

  private event(key: string, type: SessionEvent['type'], reason: string, message: string): void {
    const now = new Date();
    this.eventsOf.set(key, [...(this.eventsOf.get(key) ?? []), { type, reason, message, firstTime: now, lastTime: now }]);
  }

  async start(): Promise<void> {}
  async close(): Promise<void> {}

  async create(spec: LaunchSpec): Promise<void> {
    const key = recordKey(spec.sessionId, spec.appId);
    if (this.records.has(key)) return;
    if (this.failNextCreate) {
      const err = this.failNextCreate;
      this.failNextCreate = undefined;
      throw err;
    }
    this.created.push(spec);
    const now = new Date();
    this.records.set(key, { ...recordFromSpec(spec, now), status: 'Running', startedAt: now });
    this.event(key, 'Normal', 'Started', `started ${spec.image}`);
    this.changed();
  }

  list(): SessionRecord[] {
    return [...this.records.values()];
  }

  get(id: string, appId?: string): SessionRecord | undefined {
    return this.records.get(recordKey(id, appId));
  }

  async delete(id: string, appId?: string): Promise<{ removed: Promise<string[]> }> {
    const keys = [...this.records.values()].filter((r) => r.id === id && (appId === undefined || r.appId === appId)).map((r) => recordKey(r.id, r.appId));
    this.deleted.push(recordKey(id, appId));
    for (const key of keys) this.records.set(key, { ...this.records.get(key)!, status: 'Terminating' });
    this.changed();
    const removed = Promise.resolve().then(() => {
      for (const key of keys) {
        this.records.delete(key);
        this.eventsOf.delete(key);
        this.ports.delete(key);
      }
      this.changed();
      return keys;
    });
    return { removed };
  }

  /** The session's containers removed on the engine by hand (or a deletion a restarted server finished): one change. */
  vanish(id: string): void {
    for (const key of [...this.records.keys()].filter((k) => k === id || k.startsWith(`${id}/`))) this.records.delete(key);
    this.changed();
  }

  async renew(id: string, appId: string | undefined, deadlineSeconds: number): Promise<void> {
    const record = this.get(id, appId);
    if (record) this.records.set(recordKey(id, appId), { ...record, deadlineSeconds });
  }

  async logs(): Promise<string> {
    return '';
  }

  async events(id: string, appId?: string): Promise<SessionEvent[]> {
    return this.eventsOf.get(recordKey(id, appId)) ?? [];
  }

  /** A loopback port of the session's own (the same for every container port), while it runs. */
  address(id: string): { host: string; port: number } | undefined {
    if (this.get(id)?.status !== 'Running') return undefined;
    let port = this.ports.get(id);
    if (port === undefined) this.ports.set(id, (port = this.nextPort++));
    return { host: '127.0.0.1', port };
  }

  async images(): Promise<EngineImage[]> {
    return this.engineImages;
  }

  async capacity(): Promise<NodeCapacity[]> {
    return [{ cores: 2, memoryBytes: 8 * 2 ** 30 }];
  }

  async hostAddress(): Promise<string | undefined> {
    return '127.0.0.1';
  }

  async availability(): Promise<{ available: boolean; note: string }> {
    return { available: true, note: 'in memory' };
  }

  onChange(listener: (kind: 'session' | 'image') => void): void {
    this.listeners.push(listener);
  }

  private changed(): void {
    for (const listener of this.listeners) listener('session');
  }
}

const DEFAULT_OPTIONS: SessionServiceOptions = {
  registryHosts: ['images.canfar.net'],
  expirySeconds: 3600,
  headlessExpirySeconds: 7200,
  maxUserSessions: 5,
  logTailBytes: 1 << 20,
  maxHeadlessJobs: 0,
  maxHeadlessCores: 0,
  maxHeadlessRamGiB: 0,
  headlessTtlAfterFinishedSeconds: 600,
  interactiveTtlAfterFinishedSeconds: 1200,
  baseUrl: () => 'http://skaha.test',
};

/**
 * A SessionService on `backend` with real parts around it: a catalog listing `images`, home
 * and session files in a fresh temporary directory, callback tokens keyed there. `dir` is that
 * directory (the caller removes it).
 */
export async function serviceOn(
  backend: SessionBackend,
  opts: { images?: CatalogImage[]; options?: Partial<SessionServiceOptions> } = {},
): Promise<{ service: SessionService; storage: HostStorage; dir: string; warnings: string[] }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'skaha-service-'));
  const warnings: string[] = [];
  const log = { info() {}, warn: (m: string) => void warnings.push(m) };
  const catalog = new CachedCatalog([{ name: 'fixed', fetch: async () => opts.images ?? [] }], log);
  await catalog.start(3_600_000, 1000);
  await catalog.stop();
  const storage = new HostStorage(dir, dir, { topLevelDir: '/arc' }, dir);
  const service = new SessionService(
    backend,
    catalog,
    storage,
    new CallbackTokens(dir),
    () => CHART_DEFAULT_CONTEXT,
    { ...DEFAULT_OPTIONS, ...opts.options },
    log,
  );
  return { service, storage, dir, warnings };
}
