import crypto from 'node:crypto';
import fs from 'node:fs';
import tls from 'node:tls';
import { Agent, request, type Dispatcher } from 'undici';

/** How to reach one registry. `url` is the API base, e.g. `https://images.example.org:5000`. */
export interface RegistryEndpoint {
  url: string;
  username?: string;
  password?: string;
  /** PEM file of the authority that signed the registry's certificate (else the system's). */
  caFile?: string;
}

/** A registry answer that is not what we asked for; `message` is one line, credentials-free. */
export class RegistryError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

interface Manifest {
  digest: string;
  mediaType: string;
  body: Buffer;
  json: ManifestJson;
}

interface ManifestJson {
  mediaType?: string;
  config?: { mediaType: string; digest: string; size: number };
  layers?: Array<{ mediaType: string; digest: string; size: number }>;
  manifests?: Array<{ digest: string; mediaType: string; platform?: { os?: string; architecture?: string } }>;
}

interface ImageConfig {
  /** Digest of the manifest the reference names (an index's, for multi-platform images). */
  digest: string;
  labels: Record<string, string>;
}

const MANIFEST_TYPES = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

const isIndex = (mediaType: string) => mediaType.includes('index') || mediaType.includes('manifest.list');

/** Page size asked of /v2/_catalog and tags/list; registries may give less and a Link header. */
const PAGE_SIZE = 1000;
/** Tokens are refreshed this long before the expiry the token service gave. */
const TOKEN_MARGIN_MS = 10_000;

/**
 * A client of the OCI distribution API (the `/v2/` protocol every registry speaks): listing,
 * manifests, image configs, blob and manifest uploads. Authenticates the way `docker login`
 * does: Basic, or a Bearer token from the realm the registry's 401 challenge names (asked with
 * the Basic credentials when there are any). TLS is always verified; `caFile` adds an authority.
 */
export class RegistryClient {
  readonly base: string;
  private readonly dispatcher: Dispatcher;
  private readonly tokens = new Map<string, { token: string; expiresAt: number }>();
  private basicPreferred = false;

  constructor(private readonly endpoint: RegistryEndpoint) {
    this.base = endpoint.url.replace(/\/+$/, '');
    this.dispatcher = httpsAgent(endpoint.caFile);
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }

  /** Every repository name, following `Link` pagination. */
  async repositories(): Promise<string[]> {
    return this.paged(`/v2/_catalog?n=${PAGE_SIZE}`, 'registry:catalog:*', (j: { repositories?: string[] | null }) => j.repositories ?? []);
  }

  async tags(repository: string): Promise<string[]> {
    return this.paged(`/v2/${repository}/tags/list?n=${PAGE_SIZE}`, pullScope(repository), (j: { tags?: string[] | null }) => j.tags ?? []);
  }

  /** The digest a tag points at, without downloading the manifest (HEAD). */
  async digestOf(repository: string, reference: string): Promise<string> {
    const res = await this.send('HEAD', `/v2/${repository}/manifests/${reference}`, pullScope(repository), { accept: MANIFEST_TYPES });
    await res.body.dump();
    const digest = res.headers['docker-content-digest'];
    if (typeof digest === 'string' && digest.startsWith('sha256:')) return digest;
    return (await this.manifest(repository, reference)).digest;
  }

  async manifest(repository: string, reference: string): Promise<Manifest> {
    const res = await this.send('GET', `/v2/${repository}/manifests/${reference}`, pullScope(repository), { accept: MANIFEST_TYPES });
    const body = Buffer.from(await res.body.arrayBuffer());
    const json = JSON.parse(body.toString('utf8')) as ManifestJson;
    const header = res.headers['docker-content-digest'];
    const digest = typeof header === 'string' && header.startsWith('sha256:') ? header : sha256(body);
    const mediaType = String(res.headers['content-type'] ?? json.mediaType ?? '').split(';')[0] ?? '';
    return { digest, mediaType, body, json };
  }

  /**
   * The image config (labels) of a reference. For a multi-platform index, the linux/amd64
   * image's config (what this platform's nodes run); the digest stays the index's.
   */
  async imageConfig(repository: string, reference: string): Promise<ImageConfig> {
    const top = await this.manifest(repository, reference);
    let manifest = top;
    if (isIndex(top.mediaType) || top.json.manifests) {
      const entries = top.json.manifests ?? [];
      const pick = entries.find((m) => m.platform?.os === 'linux' && m.platform.architecture === 'amd64') ?? entries[0];
      if (!pick) throw new RegistryError(404, `${repository}:${reference} is an empty image index`);
      manifest = await this.manifest(repository, pick.digest);
    }
    const configDigest = manifest.json.config?.digest;
    if (!configDigest) throw new RegistryError(415, `${repository}:${reference} has no image config (${manifest.mediaType})`);
    const config = JSON.parse((await this.blob(repository, configDigest)).toString('utf8')) as { config?: { Labels?: Record<string, string> | null } };
    return { digest: top.digest, labels: config.config?.Labels ?? {} };
  }

  async blob(repository: string, digest: string): Promise<Buffer> {
    const res = await this.send('GET', `/v2/${repository}/blobs/${digest}`, pullScope(repository), {});
    return Buffer.from(await res.body.arrayBuffer());
  }

  /** Monolithic upload (POST then PUT with the digest); small blobs such as image configs. */
  async putBlob(repository: string, data: Buffer): Promise<string> {
    const digest = sha256(data);
    const scope = pushScope(repository);
    const head = await this.send('HEAD', `/v2/${repository}/blobs/${digest}`, scope, {}, undefined, [200, 404]);
    await head.body.dump();
    if (head.statusCode === 200) return digest;
    const start = await this.send('POST', `/v2/${repository}/blobs/uploads/`, scope, {}, undefined, [202]);
    // Every body is read to its end: undici reuses a connection only after that.
    await start.body.dump();
    const location = String(start.headers.location ?? '');
    if (!location) throw new RegistryError(502, `${this.base}: blob upload gave no Location`);
    const target = new URL(location, this.base);
    target.searchParams.set('digest', digest);
    await (await this.send('PUT', target.pathname + target.search, scope, { 'content-type': 'application/octet-stream' }, data, [201])).body.dump();
    return digest;
  }

  async putManifest(repository: string, reference: string, mediaType: string, body: Buffer): Promise<string> {
    await (await this.send('PUT', `/v2/${repository}/manifests/${reference}`, pushScope(repository), { 'content-type': mediaType }, body, [201])).body.dump();
    return sha256(body);
  }

  /**
   * Replace labels of `repository:reference` by writing a new image config and manifest under the
   * same tag (layers untouched). Image configs are immutable, so this is how a label "changes"
   * on a plain registry. Single-platform images only.
   */
  async relabel(repository: string, reference: string, labels: Record<string, string | undefined>): Promise<string> {
    const manifest = await this.manifest(repository, reference);
    if (isIndex(manifest.mediaType) || !manifest.json.config) {
      throw new RegistryError(400, `${repository}:${reference} is a multi-platform index; set its labels when building it`);
    }
    const config = JSON.parse((await this.blob(repository, manifest.json.config.digest)).toString('utf8')) as {
      config?: { Labels?: Record<string, string> | null };
    };
    config.config ??= {};
    const merged: Record<string, string> = { ...(config.config.Labels ?? {}) };
    for (const [k, v] of Object.entries(labels)) {
      if (v === undefined) delete merged[k];
      else merged[k] = v;
    }
    config.config.Labels = merged;
    const configBytes = Buffer.from(JSON.stringify(config));
    const configDigest = await this.putBlob(repository, configBytes);
    const next = { ...manifest.json, config: { ...manifest.json.config, digest: configDigest, size: configBytes.length } };
    return this.putManifest(
      repository,
      reference,
      manifest.mediaType || next.mediaType || 'application/vnd.oci.image.manifest.v1+json',
      Buffer.from(JSON.stringify(next)),
    );
  }

  // --- transport --------------------------------------------------------------------------

  private async paged<J, T>(first: string, scope: string, items: (json: J) => T[]): Promise<T[]> {
    const out: T[] = [];
    let next: string | undefined = first;
    while (next) {
      const res = await this.send('GET', next, scope, { accept: 'application/json' });
      out.push(...items((await res.body.json()) as J));
      next = nextLink(res.headers.link);
    }
    return out;
  }

  /** One request, authenticating on a 401 challenge and retrying once. */
  private async send(
    method: Dispatcher.HttpMethod,
    pathAndQuery: string,
    scope: string,
    headers: Record<string, string>,
    body?: Buffer,
    ok: number[] = [200],
  ): Promise<Dispatcher.ResponseData> {
    const url = this.base + pathAndQuery;
    let res = await this.attempt(method, url, { ...headers, ...this.authHeader(scope) }, body);
    if (res.statusCode === 401) {
      const challenge = String(res.headers['www-authenticate'] ?? '');
      await res.body.dump();
      res = await this.attempt(method, url, { ...headers, ...(await this.answer(challenge, scope)) }, body);
    }
    if (!ok.includes(res.statusCode)) {
      const detail = await errorDetail(res);
      throw new RegistryError(res.statusCode, `${this.base}: ${method} ${pathAndQuery.split('?')[0]}: ${res.statusCode}${detail ? ` ${detail}` : ''}`);
    }
    return res;
  }

  private async attempt(method: Dispatcher.HttpMethod, url: string, headers: Record<string, string>, body?: Buffer) {
    try {
      return await request(url, { method, headers, dispatcher: this.dispatcher, ...(body ? { body } : {}), headersTimeout: 30_000, bodyTimeout: 120_000 });
    } catch (err) {
      const e = err as Error & { code?: string; cause?: { code?: string; message?: string } };
      throw new RegistryError(503, `${this.base}: ${e.cause?.message ?? e.message}${e.code ? ` (${e.code})` : ''}`);
    }
  }

  private authHeader(scope: string): Record<string, string> {
    const token = this.tokens.get(scope);
    if (token && token.expiresAt > Date.now()) return { authorization: `Bearer ${token.token}` };
    if (this.basicPreferred && this.endpoint.username) return { authorization: basic(this.endpoint) };
    return {};
  }

  private async answer(challenge: string, scope: string): Promise<Record<string, string>> {
    const [schemeWord = '', ...rest] = challenge.split(' ');
    const scheme = schemeWord.toLowerCase();
    if (scheme === 'basic') {
      if (!this.endpoint.username) throw new RegistryError(401, `${this.base}: credentials required`);
      this.basicPreferred = true;
      return { authorization: basic(this.endpoint) };
    }
    if (scheme !== 'bearer') throw new RegistryError(401, `${this.base}: unsupported authentication challenge '${schemeWord}'`);
    const params = parseChallenge(rest.join(' '));
    if (!params.realm) throw new RegistryError(401, `${this.base}: bearer challenge without realm`);
    const tokenUrl = new URL(params.realm);
    if (params.service) tokenUrl.searchParams.set('service', params.service);
    tokenUrl.searchParams.set('scope', params.scope ?? scope);
    const res = await this.attempt('GET', tokenUrl.toString(), this.endpoint.username ? { authorization: basic(this.endpoint) } : {});
    if (res.statusCode !== 200) {
      await res.body.dump();
      throw new RegistryError(401, `${this.base}: token service refused (${res.statusCode})`);
    }
    const json = (await res.body.json()) as { token?: string; access_token?: string; expires_in?: number };
    const token = json.token ?? json.access_token;
    if (!token) throw new RegistryError(401, `${this.base}: token service gave no token`);
    this.tokens.set(scope, { token, expiresAt: Date.now() + (json.expires_in ?? 60) * 1000 - TOKEN_MARGIN_MS });
    return { authorization: `Bearer ${token}` };
  }
}

/** A keep-alive connection pool that verifies TLS against the system's authorities, plus `caFile`'s. */
export function httpsAgent(caFile?: string): Dispatcher {
  // One secure context for every connection: building it from ~150 PEM roots costs ~20 ms, too
  // much to pay per connection.
  const secureContext = caFile ? tls.createSecureContext({ ca: [...tls.rootCertificates, fs.readFileSync(caFile, 'utf8')] }) : undefined;
  return new Agent({ connections: 16, keepAliveTimeout: 30_000, ...(secureContext ? { connect: { secureContext } } : {}) });
}

const pullScope = (repository: string) => `repository:${repository}:pull`;
const pushScope = (repository: string) => `repository:${repository}:pull,push`;
const sha256 = (data: Buffer) => `sha256:${crypto.createHash('sha256').update(data).digest('hex')}`;
const basic = (e: RegistryEndpoint) => `Basic ${Buffer.from(`${e.username}:${e.password ?? ''}`).toString('base64')}`;

/** `realm="https://auth",service="registry",scope="repository:a:pull"` → fields. */
export function parseChallenge(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of text.matchAll(/(\w+)="([^"]*)"/g)) out[m[1]!.toLowerCase()] = m[2]!;
  return out;
}

/** `</v2/_catalog?last=x&n=100>; rel="next"` → `/v2/_catalog?last=x&n=100`. */
export function nextLink(header: string | string[] | undefined): string | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  const m = value?.match(/<([^>]+)>\s*;\s*rel="?next"?/);
  if (!m) return undefined;
  const u = new URL(m[1]!, 'http://x');
  return u.pathname + u.search;
}

/** The first error of a registry's JSON error body, on one line. */
export async function errorDetail(res: Dispatcher.ResponseData): Promise<string> {
  try {
    const text = await res.body.text();
    const json = JSON.parse(text) as { errors?: Array<{ code?: string; message?: string }> };
    const first = json.errors?.[0];
    return first ? `${first.code ?? ''} ${first.message ?? ''}`.trim().replace(/\s+/g, ' ') : '';
  } catch {
    return '';
  }
}
