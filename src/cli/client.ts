import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import type { SessionJson as WireSession } from '../sessions/model.js';

/** How the CLI reaches a server: any skaha-compatible one, including CANFAR's. */
export interface Connection {
  /** Server root, e.g. https://host or http://127.0.0.1:8555 (no /skaha/v0). */
  url: string;
  version: 'v0' | 'v1';
  token?: string | undefined;
  /** A PEM holding certificate and key (e.g. cadcproxy.pem). */
  certFile?: string | undefined;
  /** CA bundle to verify the server with (default: the system's). */
  caFile?: string | undefined;
  timeoutMs?: number;
  /**
   * A new bearer token when the server answers 401 to the current one (an OIDC access token that
   * expired sooner than its stated lifetime, or on a skewed clock). Called at most once per call;
   * it throws when no new token can be had.
   */
  refresh?: (() => Promise<string>) | undefined;
}

/** An error to show as one line; `status` is the HTTP status (0: no answer). */
export class ClientError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

/**
 * Split `https://host[:port][/prefix]/skaha[/v0|/v1]` into the server root and API version
 * (SKAHA_URL may be given with or without the API path, as the Python client names it).
 */
export function parseServerUrl(raw: string): { url: string; version?: 'v0' | 'v1' } {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ClientError(`not a URL: ${raw}`, 0);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ClientError(`not an http(s) URL: ${raw}`, 0);
  const m = /^(.*?)(?:\/skaha(?:\/(v0|v1))?)?\/*$/.exec(url.pathname)!;
  const root = `${url.protocol}//${url.host}${m[1] ?? ''}`;
  return m[2] ? { url: root, version: m[2] as 'v0' | 'v1' } : { url: root };
}

interface Reply {
  status: number;
  body: string;
  contentType: string;
}

/** The usage fields, which other skaha servers (CANFAR's v1) leave out when they have none. */
type UsageFields = 'ramInUse' | 'gpuRAMInUse' | 'cpuCoresInUse' | 'gpuUtilization';

/** A session as a server sends it: the platform's own shape (src/sessions/model.ts). */
export type SessionJson = Omit<WireSession, UsageFields> & Partial<Pick<WireSession, UsageFields>>;

interface ImageJson {
  id: string;
  types: string[];
  digest: string;
}

/** The answer of `GET /auth/oidc` (src/api/auth/oidc.ts). */
export interface OidcOfferJson {
  issuer: string;
  clientId: string;
  audience: string;
  scopes: string[];
}

type Params = Record<string, string | string[] | undefined>;

function encode(params: Params): string {
  const search = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined) continue;
    for (const value of Array.isArray(v) ? v : [v]) search.append(k, value);
  }
  return search.toString();
}

/** A typed client of the skaha REST API; it knows nothing of the server's internals. */
export class SkahaClient {
  private readonly agent: http.Agent;
  private token: string | undefined;

  constructor(readonly conn: Connection) {
    this.token = conn.token;
    const pem = conn.certFile ? readFile(conn.certFile, 'certificate') : undefined;
    this.agent = conn.url.startsWith('https:')
      ? new https.Agent({ keepAlive: true, ...(pem ? { cert: pem, key: pem } : {}), ...(conn.caFile ? { ca: readFile(conn.caFile, 'CA file') } : {}) })
      : new http.Agent({ keepAlive: true });
  }

  close(): void {
    this.agent.destroy();
  }

  /**
   * Raw call to `<url>/skaha/<version>/<path>` (`root`: `<url>/skaha/<path>`, `server`:
   * `<url>/<path>`); non-2xx becomes a ClientError with the server's words. A 401 is retried
   * once with the token `conn.refresh` gives, when there is one.
   */
  async call(
    method: string,
    path: string,
    opts: { query?: Params; form?: Params; root?: boolean; server?: boolean; headers?: Record<string, string> } = {},
  ): Promise<Reply> {
    const reply = await this.send(method, path, opts);
    if (reply.status === 401 && this.conn.refresh) {
      this.token = await this.conn.refresh();
      return this.check(await this.send(method, path, opts));
    }
    return this.check(reply);
  }

  private check(reply: Reply): Reply {
    if (reply.status < 200 || reply.status >= 300) {
      const message = reply.contentType.includes('html') ? `HTTP ${reply.status}` : reply.body.trim().split('\n')[0] || `HTTP ${reply.status}`;
      throw new ClientError(message, reply.status);
    }
    return reply;
  }

  private async send(
    method: string,
    path: string,
    opts: { query?: Params; form?: Params; root?: boolean; server?: boolean; headers?: Record<string, string> },
  ): Promise<Reply> {
    const query = opts.query ? encode(opts.query) : '';
    const prefix = opts.server ? '' : opts.root ? '/skaha' : `/skaha/${this.conn.version}`;
    const url = `${this.conn.url}${prefix}/${path}${query ? `?${query}` : ''}`;
    const body = opts.form ? encode(opts.form) : undefined;
    const headers: Record<string, string> = { accept: 'application/json', 'user-agent': 'skaha-cli', ...opts.headers };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers['content-type'] = 'application/x-www-form-urlencoded';
    const reply = await new Promise<Reply>((resolve, reject) => {
      const req = (url.startsWith('https:') ? https : http).request(
        url,
        { method, headers, agent: this.agent, timeout: this.conn.timeoutMs ?? 30_000 },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), contentType: String(res.headers['content-type'] ?? '') }),
          );
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new ClientError(`no answer from ${this.conn.url} within ${(this.conn.timeoutMs ?? 30_000) / 1000} s`, 0)));
      req.on('error', (err: NodeJS.ErrnoException) =>
        reject(err instanceof ClientError ? err : new ClientError(`cannot reach ${this.conn.url}: ${err.code ?? err.message}`, 0)),
      );
      req.end(body);
    });
    return reply;
  }

  /**
   * A request to `<url>/<path>` whose body and answer stream (storage transfers of any size); a
   * non-2xx answer becomes a ClientError with the server's words.
   */
  async stream(method: string, path: string, opts: { headers?: Record<string, string>; body?: Readable } = {}): Promise<http.IncomingMessage> {
    const url = `${this.conn.url}/${path}`;
    const headers: Record<string, string> = { 'user-agent': 'skaha-cli', ...opts.headers };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const req = (url.startsWith('https:') ? https : http).request(
        url,
        { method, headers, agent: this.agent, timeout: this.conn.timeoutMs ?? 30_000 },
        resolve,
      );
      req.on('timeout', () => req.destroy(new ClientError(`no answer from ${this.conn.url} within ${(this.conn.timeoutMs ?? 30_000) / 1000} s`, 0)));
      req.on('error', (err: NodeJS.ErrnoException) =>
        reject(err instanceof ClientError ? err : new ClientError(`cannot reach ${this.conn.url}: ${err.code ?? err.message}`, 0)),
      );
      if (opts.body) opts.body.pipe(req);
      else req.end();
    });
    const status = res.statusCode ?? 0;
    if (status >= 200 && status < 300) return res;
    const chunks: Buffer[] = [];
    for await (const chunk of res) chunks.push(chunk as Buffer);
    throw new ClientError(Buffer.concat(chunks).toString('utf8').trim().split('\n')[0] || `HTTP ${status}`, status);
  }

  private async json<T>(path: string, query?: Params, server = false): Promise<T> {
    const reply = await this.call('GET', path, { ...(query ? { query } : {}), server });
    try {
      return JSON.parse(reply.body) as T;
    } catch {
      throw new ClientError(`the server's answer to ${path} is not JSON`, reply.status);
    }
  }

  sessions(filter: { type?: string; status?: string; view?: string } = {}): Promise<SessionJson[]> {
    return this.json('session', filter);
  }

  session(id: string): Promise<SessionJson> {
    return this.json(`session/${encodeURIComponent(id)}`);
  }

  async logs(id: string): Promise<string> {
    return (await this.call('GET', `session/${encodeURIComponent(id)}`, { query: { view: 'logs' } })).body;
  }

  async events(id: string): Promise<string> {
    return (await this.call('GET', `session/${encodeURIComponent(id)}`, { query: { view: 'events' } })).body;
  }

  async create(params: Params): Promise<string> {
    return (await this.call('POST', 'session', { form: params })).body.trim();
  }

  async renew(id: string): Promise<void> {
    await this.call('POST', `session/${encodeURIComponent(id)}`, { form: { action: 'renew' } });
  }

  async delete(id: string): Promise<void> {
    await this.call('DELETE', `session/${encodeURIComponent(id)}`);
  }

  stats(): Promise<Record<string, unknown>> {
    return this.json('session', { view: 'stats' });
  }

  images(type?: string): Promise<ImageJson[]> {
    return this.json('image', type ? { type } : undefined);
  }

  /** `GET /repository`: the registry hosts images may come from (spec §3.5). */
  repositories(): Promise<string[]> {
    return this.json('repository');
  }

  context(): Promise<Record<string, unknown>> {
    return this.json('context');
  }

  /** `GET /auth/oidc`: how to log in with the server's OIDC issuer (no credential needed). */
  async oidcOffer(): Promise<OidcOfferJson> {
    try {
      return await this.json<OidcOfferJson>('auth/oidc', undefined, true);
    } catch (err) {
      // A server without the route (CANFAR's, an older one) answers an HTML or generic 404.
      if (err instanceof ClientError && err.status === 404 && !/OIDC/.test(err.message)) {
        throw new ClientError(`${this.conn.url} offers no OIDC login (${err.message} from /auth/oidc): use --token or --cert`, 404);
      }
      throw err;
    }
  }

  /** `GET /auth/session`: the username the server sees, on servers that have the route. */
  async whoami(): Promise<string | undefined> {
    const me = await this.json<{ username?: unknown }>('auth/session', undefined, true).catch(() => undefined);
    return typeof me?.username === 'string' ? me.username : undefined;
  }

  /** Registries the caller has stored credentials for (this server's /auth/registry). */
  registryCredentials(): Promise<Array<{ host: string; username: string; updatedAt: string }>> {
    return this.json('auth/registry', undefined, true);
  }

  async storeRegistryCredential(host: string, username: string, secret: string): Promise<void> {
    await this.call('PUT', `auth/registry/${encodeURIComponent(host)}`, { server: true, form: { username, secret } });
  }

  async forgetRegistryCredential(host: string): Promise<void> {
    await this.call('DELETE', `auth/registry/${encodeURIComponent(host)}`, { server: true });
  }

  apps(desktopId: string): Promise<SessionJson[]> {
    return this.json(`session/${encodeURIComponent(desktopId)}/app`);
  }

  async launchApp(desktopId: string, params: Params): Promise<string> {
    return (await this.call('POST', `session/${encodeURIComponent(desktopId)}/app`, { form: params })).body.trim();
  }

  async deleteApp(desktopId: string, appId: string): Promise<void> {
    await this.call('DELETE', `session/${encodeURIComponent(desktopId)}/app/${encodeURIComponent(appId)}`);
  }
}

function readFile(file: string, what: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new ClientError(`cannot read ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, 0);
  }
}
