import fs from 'node:fs';
import path from 'node:path';
import { SkahaError } from '../../common/errors.js';
import type { CatalogSource } from '../../server/config.js';
import { RegistryClient, RegistryError, type RegistryEndpoint } from './client.js';

/** `host[:port]/repository[:tag|@digest]`, as a registry's API names it. */
interface ImageReference {
  host: string;
  repository: string;
  /** A tag or a digest; `latest` when the reference names neither. */
  reference: string;
}

/** Split an image reference into the parts the distribution API needs. */
export function parseImageReference(image: string): ImageReference {
  const slash = image.indexOf('/');
  const host = slash > 0 ? image.slice(0, slash) : '';
  const rest = image.slice(slash + 1);
  const at = rest.indexOf('@');
  if (at >= 0) return { host, repository: rest.slice(0, at), reference: rest.slice(at + 1) };
  // A ':' after the last '/' is the tag's; one before it belongs to the host's port.
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) return { host, repository: rest.slice(0, colon), reference: rest.slice(colon + 1) };
  return { host, repository: rest, reference: 'latest' };
}

/** `host/repository` without tag or digest: what registries grant access to. */
export const repositoryOf = (image: string) => {
  const { host, repository } = parseImageReference(image);
  return `${host}/${repository}`;
};

/** Credentials a launch brings for the image's registry (header or stored, spec §7). */
export interface PullCredentials {
  username: string;
  password: string;
}

/**
 * Asks an image's registry whether the given credentials (or none) may pull it now, without
 * pulling: one manifest HEAD. This is the check Kubernetes' KEP-2535 ("ensure secret pulled
 * images") makes before a node runs a cached copy of an image that was pulled with someone's
 * credentials: having the bytes on the machine must not stand in for having access to them.
 */
export class RegistryAccess {
  /** `endpointFor(host)`: where that registry's API is and which authority signs its certificate. */
  constructor(private readonly endpointFor: (host: string) => Omit<RegistryEndpoint, 'username' | 'password'>) {}

  /**
   * Resolves when `credentials` may pull `image`. Throws SkahaError 400 with the words a failed
   * pull has (`Failed to pull image "x": unauthorized: ...`) when the registry refuses or does not
   * have it, 503 when the registry cannot be asked.
   */
  async verify(image: string, credentials?: PullCredentials): Promise<void> {
    const ref = parseImageReference(image);
    // A client per check: its tokens belong to these credentials and must not serve another user.
    const login = credentials ? { username: credentials.username, password: credentials.password } : {};
    const client = new RegistryClient({ ...this.endpointFor(ref.host), ...login });
    try {
      await client.digestOf(ref.repository, ref.reference);
    } catch (err) {
      throw accessError(image, ref.host, err);
    } finally {
      await client.close().catch(() => undefined);
    }
  }
}

function accessError(image: string, host: string, err: unknown): SkahaError {
  const status = err instanceof RegistryError ? err.status : 0;
  const detail = (err as Error).message;
  if (status === 401 || status === 403) return pullRefused(image, 'unauthorized', detail);
  if (status === 404) return pullRefused(image, 'not found', detail);
  return new SkahaError(
    'SKAHA_ERR_BACKEND_UNAVAILABLE',
    `temporarily unavailable: the image registry ${host} could not be asked whether you may use ${image}, try again shortly`,
    `access check of ${image}: ${detail}`,
  );
}

/** The message of a failed pull's event (podman/backend.ts), as a synchronous refusal. */
const pullRefused = (image: string, reason: string, detail: string) =>
  new SkahaError('SKAHA_ERR_IMAGE_REJECTED', `Failed to pull image "${image}": ${reason}: ${detail}`);

/**
 * Where to ask each registry host: a catalog source for that host gives its API URL and authority
 * (without the source's own listing credentials, which are the operator's, not the user's); other
 * hosts are `https://<host>` with the authority the engine was given for them, if any.
 */
export function registryEndpoints(sources: CatalogSource[], engineHome: string): (host: string) => Omit<RegistryEndpoint, 'username' | 'password'> {
  return (host) => {
    const source = sources.find((s) => s.kind !== 'local' && s.url && (s.host || new URL(s.url).host) === host);
    if (source?.url) return { url: source.url, ...(source.caFile ? { caFile: source.caFile } : {}) };
    const engineCa = path.join(engineHome, '.config', 'containers', 'certs.d', host, 'ca.crt');
    return { url: `https://${host}`, ...(fs.existsSync(engineCa) ? { caFile: engineCa } : {}) };
  };
}
