import type { SessionBackend } from '../../backends/backend.js';
import { describedBy, parseTypes, TYPES_LABEL, type CatalogImage, type ImageCatalog } from '../catalog.js';

/**
 * Images already in the engine. Only images labelled with session types (`canfar.net/types`)
 * are listed, as Harbor lists only labelled artifacts (spec §7).
 */
export class LocalCatalog implements ImageCatalog {
  readonly name = 'local';

  constructor(private readonly backend: Pick<SessionBackend, 'images'>) {}

  async fetch(): Promise<CatalogImage[]> {
    const out: CatalogImage[] = [];
    for (const image of await this.backend.images()) {
      const types = parseTypes(image.labels[TYPES_LABEL]);
      if (types.length === 0) continue;
      for (const tag of image.tags) out.push({ id: tag, types, digest: image.digest, ...describedBy(image.labels) });
    }
    return out;
  }
}
