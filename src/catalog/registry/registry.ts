import { describedBy, parseTypes, TYPES_LABEL, type CatalogImage, type CatalogLog, type ImageCatalog } from '../catalog.js';
import { RegistryClient, RegistryError, type RegistryEndpoint } from './client.js';

interface RegistryCatalogOptions extends RegistryEndpoint {
  /** Host prefix of image IDs (`<host>/<repository>:<tag>`); default: the URL's host[:port]. */
  host?: string;
  /** Only repositories starting with one of these (e.g. `skaha/`); empty: all. */
  repositories?: string[];
  /** Requests in flight at once while walking the registry. */
  concurrency?: number;
  /** How long a tag's digest is trusted before it is asked again (HEAD), in ms. */
  revalidateMs?: number;
  /** Where skipped repositories and tags are told (one line each, per refresh). */
  log?: CatalogLog;
}

/** A tag is asked again about this often (spread over refreshes), so a re-pushed tag shows up. */
const REVALIDATE_MS = 10 * 60_000;

/**
 * Images of any OCI distribution registry. Session types come from the image config label
 * `canfar.net/types`, so one image can be `notebook,headless`; images without it are not
 * launchable and not listed. Labels are remembered by manifest digest (content-addressed, so
 * never stale): a refresh of an unchanged registry is one HEAD per tag.
 */
export class RegistryCatalog implements ImageCatalog {
  readonly name: string;
  readonly host: string;
  readonly client: RegistryClient;
  private readonly labelsByDigest = new Map<string, Pick<CatalogImage, 'types' | 'title' | 'description'>>();
  private readonly tagDigests = new Map<string, { digest: string; checkedAt: number }>();

  constructor(private readonly opts: RegistryCatalogOptions) {
    this.client = new RegistryClient(opts);
    this.host = opts.host || new URL(opts.url).host;
    this.name = `registry ${this.host}`;
  }

  async fetch(): Promise<CatalogImage[]> {
    const prefixes = this.opts.repositories ?? [];
    const repositories = (await this.client.repositories()).filter((r) => prefixes.length === 0 || prefixes.some((p) => r.startsWith(p)));
    const refs = (
      await mapLimit(repositories, this.concurrency(), (repo) =>
        this.skipping(repo, [], async () => (await this.client.tags(repo)).map((tag) => ({ repo, tag }))),
      )
    ).flat();
    const seen = new Set<string>();
    const images = await mapLimit(refs, this.concurrency(), ({ repo, tag }) => this.skipping(`${repo}:${tag}`, undefined, () => this.image(repo, tag, seen)));
    const listed = new Set(refs.map(({ repo, tag }) => `${repo}:${tag}`));
    for (const digest of this.labelsByDigest.keys()) if (!seen.has(digest)) this.labelsByDigest.delete(digest);
    for (const ref of this.tagDigests.keys()) if (!listed.has(ref)) this.tagDigests.delete(ref);
    return images.filter((i): i is CatalogImage => i !== undefined);
  }

  /** One tag as /image lists it, or undefined when it has no session types; adds its digest to `seen`. */
  private async image(repo: string, tag: string, seen: Set<string>): Promise<CatalogImage | undefined> {
    const ref = `${repo}:${tag}`;
    const revalidateMs = this.opts.revalidateMs ?? REVALIDATE_MS;
    const known = this.tagDigests.get(ref);
    let digest = known?.digest;
    if (!known || Date.now() - known.checkedAt > revalidateMs) {
      digest = await this.client.digestOf(repo, tag);
      // Spread the next checks over later refreshes instead of all tags at once.
      this.tagDigests.set(ref, { digest, checkedAt: Date.now() - Math.random() * revalidateMs * 0.5 });
    }
    if (!digest) return undefined;
    seen.add(digest);
    let labelled = this.labelsByDigest.get(digest);
    if (!labelled) {
      const { labels } = await this.client.imageConfig(repo, tag);
      labelled = { types: parseTypes(labels[TYPES_LABEL]), ...describedBy(labels) };
      this.labelsByDigest.set(digest, labelled);
    }
    return labelled.types.length > 0 ? { id: `${this.host}/${ref}`, ...labelled, digest } : undefined;
  }

  /**
   * `read()`, or `fallback` when what it reads is broken rather than the registry: a tag or
   * repository deleted during the walk (404), a manifest without an image config (415), an
   * artifact whose config is not JSON. One bad tag must not keep the rest of the registry from
   * being listed (it is told once per refresh, and listed again once fixed). The registry itself
   * failing (unreachable, 5xx, rate limit) still fails the walk, so the last good list is kept.
   */
  private async skipping<T>(what: string, fallback: T, read: () => Promise<T>): Promise<T> {
    try {
      return await read();
    } catch (err) {
      if (!isBrokenItem(err)) throw err;
      // Registry errors name the URL, path and status, never credentials.
      this.opts.log?.warn(`image catalog ${this.name}: skipping ${what}: ${(err as Error).message.split('\n')[0]}`);
      return fallback;
    }
  }

  async close(): Promise<void> {
    await this.client.close();
  }

  private concurrency() {
    return this.opts.concurrency ?? 16;
  }
}

/** A failure of one repository or tag (its 4xx, unreadable JSON), not of the registry. */
function isBrokenItem(err: unknown): boolean {
  if (err instanceof SyntaxError) return true;
  return err instanceof RegistryError && err.status >= 400 && err.status < 500 && err.status !== 429;
}

/** `fn` over `items`, at most `limit` at a time, results in input order. */
export async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
