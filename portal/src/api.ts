/**
 * The skaha API as the portal uses it: same origin, the browser's login cookie, and the CSRF
 * token from GET /auth/session on every state change (docs/auth.md). Errors are skaha's one-line
 * text/plain messages, kept as they are.
 */

import type { SessionJson } from '../../src/sessions/model';
import type { StorageEntry } from '../../src/cli/storage';

export type { StorageEntry };

export interface Me {
  username: string;
  uid: number;
  groups: string[];
  method: string;
  scopes: string[];
  admin: boolean;
  csrfToken?: string;
}

/** The v0 session object (spec §3.2); unknowns are the string "<none>". */
/** Fields the portal can do without (another server's v1 leaves usage out; the portal never shows the groups). */
type Optional = 'runAsUID' | 'runAsGID' | 'appid' | 'supplementalGroups' | 'ramInUse' | 'gpuRAMInUse' | 'cpuCoresInUse' | 'gpuUtilization';

/** A session as the API sends it (the platform's one shape, src/sessions/model.ts). */
export type Session = Omit<SessionJson, Optional> & Partial<Pick<SessionJson, Optional>>;

/** view=all: only these four (spec §3.3). */
export interface PublicSession {
  userid: string;
  type: string;
  status: string;
  startTime: string;
}

export interface ImageInfo {
  id: string;
  types: string[];
  digest: string;
  /** The image's OCI title and description labels (asked for with `detail=description`). */
  title?: string;
  description?: string;
}

export interface ResourceOption {
  default: number;
  defaultHeadless?: number;
  options: number[];
}

export interface ResourceContext {
  cores: ResourceOption;
  memoryGB: ResourceOption;
  gpus: { options: number[] };
  maxInteractiveSessions?: string;
}

export interface TokenInfo {
  id: string;
  name: string;
  scopes: string[];
  createdAt: string;
  expiresAt: string | null;
}

export interface NewToken extends TokenInfo {
  token: string;
}

export interface Stats {
  instances: { session: number; desktopApp: number; headless: number; total: number };
  cores: { requestedCPUCores: number; cpuCoresAvailable: number; maxCPUCores?: { cpuCores: number; withRam: string } };
  ram: { requestedRAM: string; ramAvailable: string; maxRAM?: { ram: string; withCPUCores: number } };
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export type FormFields = Array<[string, string]>;

/** `application/x-www-form-urlencoded`, repeated names kept (env=..., env=...). */
function encodeForm(fields: FormFields): string {
  const body = new URLSearchParams();
  for (const [name, value] of fields) body.append(name, value);
  return body.toString();
}

/** One line of the server's text, or the status when it said nothing. */
async function errorOf(res: Response): Promise<ApiError> {
  let text = '';
  try {
    text = (await res.text()).trim();
  } catch {
    // the body is optional
  }
  if (text.startsWith('<')) text = ''; // an HTML page from something in between: not a message
  const line = text.split('\n')[0] ?? '';
  return new ApiError(res.status, line || `${res.status} ${res.statusText || 'error'}`.trim());
}

const V0 = '/skaha/v0';
/** The caller's sessions as server-sent events, pushed as they change. */
export const SESSION_EVENTS = `${V0}/session/events`;

export class Api {
  constructor(
    private readonly csrfToken: () => string | undefined,
    /** Called on any 401: the login has expired or was revoked. */
    private readonly onUnauthorized: () => void = () => {},
    private readonly fetcher: typeof fetch = (...args) => fetch(...args),
  ) {}

  private async send(method: string, path: string, fields?: FormFields): Promise<Response> {
    const headers: Record<string, string> = { accept: 'application/json, text/plain;q=0.9' };
    let body: string | undefined;
    if (method !== 'GET') {
      const token = this.csrfToken();
      if (token) headers['x-csrf-token'] = token;
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = encodeForm(fields ?? []);
    }
    let res: Response;
    try {
      res = await this.fetcher(path, { method, headers, credentials: 'same-origin', cache: 'no-store', ...(body !== undefined ? { body } : {}) });
    } catch {
      throw new ApiError(0, 'The server cannot be reached. Check your connection and try again.');
    }
    if (res.status === 401) this.onUnauthorized();
    if (!res.ok) throw await errorOf(res);
    return res;
  }

  async json<T>(path: string): Promise<T> {
    return (await (await this.send('GET', path)).json()) as T;
  }

  async text(path: string): Promise<string> {
    return (await this.send('GET', path)).text();
  }

  async post(path: string, fields: FormFields): Promise<string> {
    return (await this.send('POST', path, fields)).text();
  }

  async postJson<T>(path: string, fields: FormFields): Promise<T> {
    return (await (await this.send('POST', path, fields)).json()) as T;
  }

  async delete(path: string): Promise<void> {
    await this.send('DELETE', path);
  }

  // --- the calls the pages make -------------------------------------------------------------

  sessions = () => this.json<Session[]>(`${V0}/session`);
  session = (id: string) => this.json<Session>(`${V0}/session/${encodeURIComponent(id)}`);
  logs = (id: string) => this.text(`${V0}/session/${encodeURIComponent(id)}?view=logs`);
  events = (id: string) => this.text(`${V0}/session/${encodeURIComponent(id)}?view=events`);
  apps = (id: string) => this.json<Session[]>(`${V0}/session/${encodeURIComponent(id)}/app`);
  launch = async (fields: FormFields) => (await this.post(`${V0}/session`, fields)).trim();
  renew = (id: string) => this.post(`${V0}/session/${encodeURIComponent(id)}`, [['action', 'renew']]);
  remove = (id: string) => this.delete(`${V0}/session/${encodeURIComponent(id)}`);
  images = () => this.json<ImageInfo[]>(`${V0}/image?detail=description`);
  context = () => this.json<ResourceContext>(`${V0}/context`);
  stats = () => this.json<Stats>(`${V0}/session?view=stats`);
  allSessions = () => this.json<PublicSession[]>(`${V0}/session?view=all`);
  tokens = () => this.json<TokenInfo[]>('/auth/tokens');
  createToken = (fields: FormFields) => this.postJson<NewToken>('/auth/tokens', fields);
  revokeToken = (id: string) => this.delete(`/auth/tokens/${encodeURIComponent(id)}`);
  certificate = (days: number) => this.post('/auth/certificate', [['days', String(days)]]);

  // --- storage (/arc) --------------------------------------------------------------------------

  storageNode = async (path: string) => parseStorageNode(await this.text(storageUrl('nodes', path)));
  storageRemove = (path: string) => this.delete(storageUrl('nodes', path));
  storageMkdir = async (path: string) => {
    const doc = `<vos:node xmlns:vos="http://www.ivoa.net/xml/VOSpace/v2.0" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="vos:ContainerNode"/>`;
    await this.sendRaw('PUT', storageUrl('nodes', path), doc, 'text/xml');
  };

  /**
   * Upload one file with progress (XMLHttpRequest: fetch reports no upload progress). Resolves
   * when the server has the file whole; rejects with its one-line reason.
   */
  upload = (path: string, file: Blob, onProgress: (sent: number) => void): Promise<void> =>
    new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open('PUT', storageUrl('files', path));
      const token = this.csrfToken();
      if (token) xhr.setRequestHeader('x-csrf-token', token);
      xhr.setRequestHeader('content-type', 'application/octet-stream');
      xhr.upload.onprogress = (e) => onProgress(e.loaded);
      xhr.onload = () => {
        if (xhr.status === 401) this.onUnauthorized();
        if (xhr.status >= 200 && xhr.status < 300) resolve();
        else reject(new ApiError(xhr.status, (xhr.responseText.trim().split('\n')[0] ?? '') || `${xhr.status} ${xhr.statusText}`));
      };
      xhr.onerror = () => reject(new ApiError(0, 'The server cannot be reached. Check your connection and try again.'));
      xhr.send(file);
    });

  private async sendRaw(method: string, path: string, body: string, contentType: string): Promise<void> {
    const headers: Record<string, string> = { 'content-type': contentType };
    const token = this.csrfToken();
    if (token) headers['x-csrf-token'] = token;
    let res: Response;
    try {
      res = await this.fetcher(path, { method, headers, body, credentials: 'same-origin', cache: 'no-store' });
    } catch {
      throw new ApiError(0, 'The server cannot be reached. Check your connection and try again.');
    }
    if (res.status === 401) this.onUnauthorized();
    if (!res.ok) throw await errorOf(res);
  }
}

const VOSPACE_CORE = 'ivo://ivoa.net/vospace/core#';

/** A VOSpace node document (the storage service's answer) read with the browser's own XML parser. */
export function parseStorageNode(xml: string): { node: StorageEntry; children: StorageEntry[] } {
  const doc = new DOMParser().parseFromString(xml, 'application/xml');
  const entry = (el: Element): StorageEntry => {
    const uri = el.getAttribute('uri') ?? '';
    const path = uri.replace(/^vos:\/\/[^/]*/, '') || '/';
    const props = new Map<string, string>();
    const properties = Array.from(el.children).find((c) => c.localName === 'properties');
    for (const p of Array.from(properties?.children ?? [])) props.set((p.getAttribute('uri') ?? '').replace(VOSPACE_CORE, ''), p.textContent ?? '');
    const type = (el.getAttributeNS('http://www.w3.org/2001/XMLSchema-instance', 'type') ?? el.getAttribute('xsi:type') ?? '').replace(/^.*:/, '');
    const result: StorageEntry = {
      path,
      name: path.split('/').pop() || '/',
      type: type === 'ContainerNode' ? 'container' : type === 'LinkNode' ? 'link' : 'data',
      size: Number(props.get('length') ?? 0),
      modified: `${props.get('date') ?? ''}Z`,
    };
    if (props.get('creator')) result.owner = props.get('creator')!.replace(/^CN=/, '');
    if (props.get('groupread')) result.group = props.get('groupread')!.replace(/^.*\?/, '');
    if (props.get('quota')) result.quota = Number(props.get('quota'));
    return result;
  };
  const root = doc.documentElement;
  if (!root || root.localName !== 'node') throw new ApiError(0, 'The storage service answered something that is not a node.');
  const nodes = Array.from(root.children).find((c) => c.localName === 'nodes');
  return { node: entry(root), children: Array.from(nodes?.children ?? []).map(entry) };
}

/** A node path as a URL path (each name encoded). */
export const storageUrl = (kind: 'nodes' | 'files', path: string) => `/arc/${kind}${path.split('/').map(encodeURIComponent).join('/')}`;

/** Who is logged in, or undefined when nobody is (401). */
export async function whoAmI(fetcher: typeof fetch = (...args) => fetch(...args)): Promise<Me | undefined> {
  const res = await fetcher('/auth/session', { credentials: 'same-origin', cache: 'no-store', headers: { accept: 'application/json' } });
  if (res.status === 401) return undefined;
  if (!res.ok) throw await errorOf(res);
  return (await res.json()) as Me;
}
