import type Docker from 'dockerode';
import type { SessionRecord } from '../../sessions/model.js';
import { recordKey } from '../backend.js';
import type { DeadlineStore } from './deadlines.js';
import { engineMessage, isGone } from './engine-api.js';
import type { EngineEvent } from './events.js';
import { LABEL, publishedPorts, recordFromInspect } from './objects.js';
import type { UsageSampler } from './usage.js';

/** One session record: a container's, or a launch's still waiting for one (no container yet). */
export interface Entry {
  record: SessionRecord;
  /** Empty while the launch waits (queued, or its image being pulled). */
  containerId: string;
  /** Container port → the host port the engine published it on (loopback). */
  ports: Map<number, number>;
}

interface SessionIndexOptions {
  /** Whether a container's labels make it this server's (SessionNetworks.isOurs). */
  isOurs: (labels: Record<string, string>) => boolean;
  deadlines: DeadlineStore;
  usage: UsageSampler;
  /** Called when a record leaves the index, so what else is kept of it goes too. */
  onForget: (key: string) => void;
  /** Called after every change a refresh or an event made. */
  onChange: () => void;
  log: { warn(message: string): void };
}

/**
 * Every session record of this server by key (`<id>` or `<id>/<appId>`), built from container
 * labels — the source of truth — at start and after every reconnection, and kept current from
 * the engine's events (the Podman counterpart of kubernetes/session-index.ts).
 */
export class SessionIndex {
  private readonly entries = new Map<string, Entry>();
  /** Records being deleted: shown Terminating whatever the engine still says. */
  private readonly terminating = new Set<string>();

  constructor(
    private readonly docker: Docker,
    private readonly opts: SessionIndexOptions,
  ) {}

  get(key: string): Entry | undefined {
    return this.entries.get(key);
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  /** A launch without a container yet, or its Failed end. */
  set(key: string, entry: Entry): void {
    this.entries.set(key, entry);
  }

  /** Drop a waiting launch (its container never came). */
  delete(key: string): void {
    this.entries.delete(key);
  }

  all(): IterableIterator<[string, Entry]> {
    return this.entries.entries();
  }

  records(): SessionRecord[] {
    return [...this.entries.values()].map((e) => e.record);
  }

  markTerminating(key: string): void {
    this.terminating.add(key);
    const entry = this.entries.get(key);
    if (entry) entry.record = { ...entry.record, status: 'Terminating' };
  }

  unmarkTerminating(key: string): void {
    this.terminating.delete(key);
  }

  forget(key: string): void {
    this.entries.delete(key);
    this.terminating.delete(key);
    this.opts.deadlines.delete(key);
    this.opts.onForget(key);
  }

  /** Forget the records of these containers (removed). */
  forgetContainers(containerIds: string[]): void {
    for (const [key, e] of [...this.entries]) if (e.containerId && containerIds.includes(e.containerId)) this.forget(key);
  }

  /** Rebuild the whole index from the engine (at start and after every reconnection). */
  async relist(): Promise<void> {
    const containers = await this.docker.listContainers({ all: true, filters: { label: [LABEL.id] } });
    const seen = new Set<string>();
    for (const c of containers) {
      const key = await this.refresh(c.Id, false);
      if (key) seen.add(key);
    }
    for (const [key, e] of [...this.entries]) if (!seen.has(key) && e.containerId) this.forget(key);
    this.opts.onChange();
  }

  /** Inspect one container and put it in (or take it out of) the index; returns its key. */
  async refresh(containerId: string, notify = true): Promise<string | undefined> {
    let info: Docker.ContainerInspectInfo;
    try {
      info = await this.docker.getContainer(containerId).inspect();
    } catch (err) {
      if (isGone(err)) {
        this.forgetContainers([containerId]);
        if (notify) this.opts.onChange();
        return undefined;
      }
      throw err;
    }
    const labels = info.Config?.Labels ?? {};
    const id = labels[LABEL.id];
    if (!id || !this.opts.isOurs(labels)) return undefined;
    const key = recordKey(id, labels[LABEL.appId]);
    const deadlineOverride = this.opts.deadlines.get(key);
    const record = recordFromInspect(info, { terminating: this.terminating.has(key), ...(deadlineOverride ? { deadlineOverride } : {}) });
    if (!record) return undefined;
    const usage = record.status === 'Running' ? this.opts.usage.of(info.Id) : undefined;
    if (usage) record.usage = usage;
    this.entries.set(key, { record, containerId: info.Id, ports: publishedPorts(info) });
    if (notify) this.opts.onChange();
    return key;
  }

  /** One container event from the engine's stream (EngineWatch). */
  apply(event: EngineEvent): void {
    const attributes = event.Actor?.Attributes ?? {};
    const containerId = event.Actor?.ID ?? event.id;
    if (!containerId || !attributes[LABEL.id] || !this.opts.isOurs(attributes)) return;
    if (event.Action === 'remove' || event.status === 'remove') {
      this.forgetContainers([containerId]);
      this.opts.onChange();
      return;
    }
    this.refresh(containerId).catch((err: unknown) => this.opts.log.warn(`inspect ${containerId}: ${engineMessage(err)}`));
  }

  /** Put the latest CPU and memory sample into the running records. */
  applyUsage(): void {
    for (const e of this.entries.values()) {
      if (!e.containerId || e.record.status !== 'Running') continue;
      const usage = this.opts.usage.of(e.containerId);
      if (usage) e.record = { ...e.record, usage };
    }
  }
}
