import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { referenceProblem } from './reference.js';

/** One launchable image, as /image lists it (spec §3.10): key order id, types, digest. */
export interface CatalogImage {
  id: string;
  types: string[];
  digest: string;
  /** The image's OCI title and description labels, when it has them (not part of /image's default shape). */
  title?: string;
  description?: string;
}

/** Label an image carries to say which session types it can be launched as (comma list). */
export const TYPES_LABEL = 'canfar.net/types';

/**
 * A source of launchable images: `local` (the engine's images), `registry` (any OCI registry),
 * `harbor`. Implementations may be slow; callers read through CachedCatalog.
 */
export interface ImageCatalog {
  readonly name: string;
  /** Every listable image. Throws when the source cannot be read. */
  fetch(): Promise<CatalogImage[]>;
  /** Release connections. */
  close?(): Promise<void>;
}

export interface CatalogLog {
  info?(message: string): void;
  warn(message: string): void;
}

interface SourceState {
  source: ImageCatalog;
  images: CatalogImage[];
  error?: string;
  loaded: boolean;
  inFlight?: Promise<void>;
}

/** How long start() waits for slow sources before the server goes on without them. */
const START_WAIT_MS = 10_000;

/**
 * Answers from memory, refreshed in the background every `refreshIntervalMs` and on demand
 * (engine image events). Each source is fetched on its own: a slow registry does not hold up the
 * engine's images, and a failing one keeps its last good list (and shows in problem()).
 */
export class CachedCatalog {
  private images: CatalogImage[] = [];
  private byId = new Map<string, CatalogImage>();
  private renderedByType = new Map<string, { body: string; gzipped(): Buffer }>();
  private readonly states: SourceState[];
  private timer: NodeJS.Timeout | undefined;

  /**
   * `stateDir`: where each source's last good list is kept, so a restarted server lists images
   * at once (a large registry takes a while to walk) and refreshes them in the background.
   */
  constructor(
    sources: ImageCatalog[],
    private readonly log: CatalogLog,
    private readonly stateDir?: string,
  ) {
    this.states = sources.map((source) => ({ source, images: this.remembered(source), loaded: false }));
    this.merge();
  }

  /** Load once (waiting up to `startWaitMs` so the first requests have an answer), then periodically. */
  async start(refreshIntervalMs: number, startWaitMs = START_WAIT_MS): Promise<void> {
    void this.refresh();
    // Wait only for sources with nothing to show yet; the others serve their remembered list.
    const empty = this.states.filter((s) => s.images.length === 0 && s.inFlight).map((s) => s.inFlight);
    let waited: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(empty), new Promise<void>((r) => (waited = setTimeout(r, startWaitMs)))]);
    clearTimeout(waited);
    for (const s of this.states) {
      if (s.loaded || !s.inFlight) continue;
      this.log.warn(
        s.images.length > 0
          ? `image catalog ${s.source.name}: serving the ${s.images.length} images it listed before the restart until it answers`
          : `image catalog ${s.source.name} still loading; serving without it until it answers`,
      );
    }
    this.timer = setInterval(() => void this.refresh(), refreshIntervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await Promise.all(this.states.map((s) => s.source.close?.().catch(() => undefined)));
  }

  list(type?: string): CatalogImage[] {
    return type ? this.images.filter((i) => i.types.includes(type)) : this.images;
  }

  /**
   * `render(list(type))`, remembered under `key` (one per type and shape) until the list changes:
   * serialising thousands of images per request would cost more than everything else /image does.
   */
  rendered(key: string, type: string | undefined, render: (images: CatalogImage[]) => string): { body: string; gzipped(): Buffer } {
    let entry = this.renderedByType.get(key);
    if (!entry) {
      const body = render(this.list(type));
      let gz: Buffer | undefined;
      entry = { body, gzipped: () => (gz ??= zlib.gzipSync(body, { level: 6 })) };
      this.renderedByType.set(key, entry);
    }
    return entry;
  }

  find(id: string): CatalogImage | undefined {
    return this.byId.get(id);
  }

  /** Why the last refresh of some source failed, if one did. */
  problem(): string | undefined {
    const failures = this.states.filter((s) => s.error).map((s) => `${s.source.name}: ${s.error}`);
    return failures.length > 0 ? failures.join('; ') : undefined;
  }

  /** Per-source state for operators (`skaha admin`, logs). */
  status(): Array<{ name: string; images: number; loaded: boolean; error?: string }> {
    return this.states.map((s) => ({ name: s.source.name, images: s.images.length, loaded: s.loaded, ...(s.error ? { error: s.error } : {}) }));
  }

  /** Refresh every source, or those `which` picks (a source already refreshing is not asked twice). */
  async refresh(which: (source: ImageCatalog) => boolean = () => true): Promise<void> {
    await Promise.all(this.states.filter((s) => which(s.source)).map((s) => this.refreshSource(s)));
  }

  private refreshSource(state: SourceState): Promise<void> {
    state.inFlight ??= (async () => {
      const started = Date.now();
      try {
        state.images = await state.source.fetch();
        if (!state.loaded || state.error) this.log.info?.(`image catalog ${state.source.name}: ${state.images.length} images in ${Date.now() - started} ms`);
        this.remember(state);
        state.error = undefined;
        state.loaded = true;
      } catch (err) {
        state.error = (err as Error).message.split('\n')[0];
        this.log.warn(`image catalog ${state.source.name} refresh failed, keeping the last good list (${state.images.length} images): ${state.error}`);
      }
      this.merge();
    })().finally(() => {
      state.inFlight = undefined;
    });
    return state.inFlight;
  }

  private stateFile(source: ImageCatalog): string | undefined {
    // The engine's own images are listed in milliseconds: only remote sources are kept.
    if (!this.stateDir || source.name === 'local') return undefined;
    return path.join(this.stateDir, `${source.name.replace(/[^A-Za-z0-9._-]+/g, '_')}.json`);
  }

  private remembered(source: ImageCatalog): CatalogImage[] {
    const file = this.stateFile(source);
    if (!file) return [];
    try {
      const images = JSON.parse(fs.readFileSync(file, 'utf8')) as CatalogImage[];
      return Array.isArray(images) ? images : [];
    } catch {
      return [];
    }
  }

  private remember(state: SourceState): void {
    const file = this.stateFile(state.source);
    if (!file) return;
    try {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(`${file}.tmp`, JSON.stringify(state.images));
      fs.renameSync(`${file}.tmp`, file);
    } catch (err) {
      this.log.warn(`cannot keep the image list of ${state.source.name}: ${(err as Error).message}`);
    }
  }

  private readonly warned = new Set<string>();
  private warnOnce(message: string): void {
    if (this.warned.has(message)) return;
    if (this.warned.size < 1000) this.warned.add(message);
    this.log.warn(message);
  }

  private merge() {
    const merged = new Map<string, CatalogImage>();
    for (const s of this.states) {
      for (const image of s.images) {
        if (merged.has(image.id)) continue;
        // Listed means launchable: an ID that is no image reference could never be launched.
        const problem = referenceProblem(image.id);
        if (problem) this.warnOnce(`image catalog ${s.source.name}: not listing ${problem}`);
        else merged.set(image.id, image);
      }
    }
    this.images = [...merged.values()].sort((a, b) => a.id.localeCompare(b.id));
    this.byId = merged;
    this.renderedByType = new Map();
  }
}

/** The OCI title and description labels of an image config, without empty ones. */
export function describedBy(labels: Record<string, string> | null | undefined): Pick<CatalogImage, 'title' | 'description'> {
  const title = labels?.['org.opencontainers.image.title']?.trim();
  const description = labels?.['org.opencontainers.image.description']?.trim();
  return { ...(title ? { title } : {}), ...(description ? { description } : {}) };
}

export function parseTypes(label: string | undefined): string[] {
  return (label ?? '')
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean);
}
