/** One launchable image, as /image lists it (spec §3.10): key order id, types, digest. */
export interface CatalogImage {
  id: string;
  types: string[];
  digest: string;
}

/** Label an image carries to say which session types it can be launched as (comma list). */
export const TYPES_LABEL = 'canfar.net/types';

/**
 * A source of launchable images. Small on purpose: `local` (the engine's images) now; `registry`
 * (OCI) and `harbor` follow (issue 8). Implementations may be slow; callers read through
 * CachedCatalog.
 */
export interface ImageCatalog {
  readonly name: string;
  /** Every listable image. Throws when the source cannot be read. */
  fetch(): Promise<CatalogImage[]>;
}

export interface CatalogLog {
  warn(message: string): void;
}

/**
 * Answers from memory, refreshed in the background every `refreshIntervalMs` and on demand
 * (engine image events). A failed refresh keeps the last good list.
 */
export class CachedCatalog {
  private images: CatalogImage[] = [];
  private byId = new Map<string, CatalogImage>();
  private inFlight: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastError: string | undefined;

  constructor(private readonly sources: ImageCatalog[], private readonly log: CatalogLog) {}

  /** Load once (so the first request has an answer), then refresh periodically. */
  async start(refreshIntervalMs: number): Promise<void> {
    await this.refresh();
    this.timer = setInterval(() => void this.refresh(), refreshIntervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  list(type?: string): CatalogImage[] {
    return type ? this.images.filter((i) => i.types.includes(type)) : this.images;
  }

  find(id: string): CatalogImage | undefined {
    return this.byId.get(id);
  }

  /** Why the last refresh failed, if it did. */
  problem(): string | undefined {
    return this.lastError;
  }

  refresh(): Promise<void> {
    this.inFlight ??= (async () => {
      const merged = new Map<string, CatalogImage>();
      const failures: string[] = [];
      for (const source of this.sources) {
        try {
          for (const image of await source.fetch()) if (!merged.has(image.id)) merged.set(image.id, image);
        } catch (err) {
          failures.push(`${source.name}: ${(err as Error).message}`);
        }
      }
      if (failures.length > 0) {
        this.lastError = failures.join('; ');
        this.log.warn(`image catalog refresh failed, keeping the last good list: ${this.lastError}`);
        if (failures.length === this.sources.length) return;
      } else {
        this.lastError = undefined;
      }
      this.images = [...merged.values()].sort((a, b) => a.id.localeCompare(b.id));
      this.byId = merged;
    })().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }
}

export function parseTypes(label: string | undefined): string[] {
  return (label ?? '').split(',').map((t) => t.trim()).filter(Boolean);
}
