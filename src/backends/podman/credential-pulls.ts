import fs from 'node:fs';
import { writeDurably } from '../../common/durable.js';

/**
 * The engine's images that a launch pulled WITH registry credentials (KEP-2535's "image pulled
 * records"): image ID → the repositories (`host/repository`) it was pulled from that way. Both
 * matter. The ID covers every name of those bytes in that repository (another tag, a digest
 * reference). The repository keeps the check to private names: the same bytes under another
 * name (a public repository, a locally built reference image) were available without these
 * credentials, and a private copy of them must not make that name unlaunchable while its
 * registry is away. Kept in the backend's state directory, since a restart must not turn a
 * private image into everyone's; only IDs and names are written, never credentials.
 */
export class CredentialPulls {
  private readonly records: Map<string, Set<string>>;
  /** Repositories being pulled with credentials right now: their image ID is not known yet. */
  private readonly inFlight = new Map<string, number>();

  constructor(private readonly file: string) {
    this.records = readRecords(file);
  }

  /** Nothing recorded and nothing being pulled with credentials: no launch needs a check. */
  isEmpty(): boolean {
    return this.records.size === 0 && this.inFlight.size === 0;
  }

  /** Whether a container of image `imageId`, launched by a name in `repository`, needs an access check. */
  needsCheck(imageId: string, repository: string): boolean {
    return this.records.get(imageId)?.has(repository) === true || this.inFlight.has(repository);
  }

  /** A pull of `repository` with credentials starts; call the returned function once it is recorded or failed. */
  begin(repository: string): () => void {
    this.inFlight.set(repository, (this.inFlight.get(repository) ?? 0) + 1);
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      const left = (this.inFlight.get(repository) ?? 1) - 1;
      if (left > 0) this.inFlight.set(repository, left);
      else this.inFlight.delete(repository);
    };
  }

  add(imageId: string, repository: string): void {
    const repositories = this.records.get(imageId) ?? new Set<string>();
    if (repositories.has(repository)) return;
    this.records.set(imageId, repositories.add(repository));
    this.save();
  }

  /** Forget images the engine no longer has (a new pull of them records them again). */
  retain(present: Iterable<string>): void {
    const keep = new Set(present);
    const before = this.records.size;
    for (const id of this.records.keys()) if (!keep.has(id)) this.records.delete(id);
    if (this.records.size !== before) this.save();
  }

  private save(): void {
    const json = Object.fromEntries([...this.records].map(([id, repositories]) => [id, [...repositories]]));
    writeDurably(this.file, JSON.stringify(json));
  }
}

function readRecords(file: string): Map<string, Set<string>> {
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new Map(); // a first start
    // Starting empty would make every private image the file named runnable by anyone.
    throw new Error(`cannot read ${file}: ${(err as Error).message}`);
  }
  const records = new Map<string, Set<string>>();
  for (const [id, repositories] of Object.entries(json as Record<string, unknown>)) {
    if (Array.isArray(repositories)) records.set(id, new Set(repositories.filter((r): r is string => typeof r === 'string')));
  }
  return records;
}
