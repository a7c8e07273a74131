import fs from 'node:fs';
import path from 'node:path';
import type { SessionBackend } from '../backends/backend.js';
import type { CatalogSource } from '../server/config.js';
import type { CatalogLog, ImageCatalog } from './catalog.js';
import { HarborCatalog } from './harbor/harbor.js';
import { LocalCatalog } from './local/local.js';
import { RegistryCatalog } from './registry/registry.js';

/** The configured catalog sources, in order (docs/catalogs.md); `log` hears of images a source skips. */
export function catalogsFrom(sources: CatalogSource[], backend: Pick<SessionBackend, 'images'>, log?: CatalogLog): ImageCatalog[] {
  return sources.map((s) => {
    if (s.kind === 'local') return new LocalCatalog(backend);
    const endpoint = {
      url: s.url!,
      ...(s.host ? { host: s.host } : {}),
      ...(s.username ? { username: s.username, password: s.password ?? '' } : {}),
      ...(s.caFile ? { caFile: s.caFile } : {}),
    };
    return s.kind === 'registry'
      ? new RegistryCatalog({ ...endpoint, ...(s.repositories ? { repositories: s.repositories } : {}), ...(log ? { log } : {}) })
      : new HarborCatalog({ ...endpoint, ...(s.projects ? { projects: s.projects } : {}) });
  });
}

/**
 * Give the engine the authority of each registry source, where containers/image looks for it
 * (`$HOME/.config/containers/certs.d/<host:port>/ca.crt` of the Podman service), so pulls verify
 * TLS against the same CA the catalog does.
 */
export function installRegistryAuthorities(sources: CatalogSource[], engineHome: string): void {
  for (const s of sources) {
    if (s.kind === 'local' || !s.caFile || !s.url) continue;
    const dir = path.join(engineHome, '.config', 'containers', 'certs.d', new URL(s.url).host);
    fs.mkdirSync(dir, { recursive: true });
    fs.copyFileSync(s.caFile, path.join(dir, 'ca.crt'));
  }
}
