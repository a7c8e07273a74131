import zlib from 'node:zlib';

/** One launchable image, as /image lists it (spec §3.10): key order id, types, digest. */
export interface CatalogImage {
  id: string;
  types: string[];
  digest: string;
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
export const START_WAIT_MS = 10_000;

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

  constructor(sources: ImageCatalog[], private readonly log: CatalogLog) {
    this.states = sources.map((source) => ({ source, images: [], loaded: false }));
  }

  /** Load once (waiting up to `startWaitMs` so the first requests have an answer), then periodically. */
  async start(refreshIntervalMs: number, startWaitMs = START_WAIT_MS): Promise<void> {
    const first = this.refresh();
    let waited: NodeJS.Timeout | undefined;
    await Promise.race([first, new Promise<void>((r) => (waited = setTimeout(r, startWaitMs)))]);
    clearTimeout(waited);
    for (const s of this.states) if (!s.loaded && s.inFlight) this.log.warn(`image catalog ${s.source.name} still loading; serving without it until it answers`);
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
   * `render(list(type))`, remembered until the list changes: serialising thousands of images per
   * request would cost more than everything else /image does.
   */
  rendered(type: string | undefined, render: (images: CatalogImage[]) => string): { body: string; gzipped(): Buffer } {
    const key = type ?? '';
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

  private merge() {
    const merged = new Map<string, CatalogImage>();
    for (const s of this.states) for (const image of s.images) if (!merged.has(image.id)) merged.set(image.id, image);
    this.images = [...merged.values()].sort((a, b) => a.id.localeCompare(b.id));
    this.byId = merged;
    this.renderedByType = new Map();
  }
}

export function parseTypes(label: string | undefined): string[] {
  return (label ?? '').split(',').map((t) => t.trim()).filter(Boolean);
}
