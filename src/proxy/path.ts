import { SESSION_TYPE_TABLE, SESSION_TYPES, type SessionType } from '../sessions/model.js';

/** The proxied types by their URL segment (spec §4.3): `contrib` → contributed, ... */
const BY_SEGMENT = new Map(SESSION_TYPES.flatMap((type) => (SESSION_TYPE_TABLE[type].proxy ? [[SESSION_TYPE_TABLE[type].proxy!.segment, type] as const] : [])));

/** The container port the proxy reaches, per type (spec §4.2): the type's first port. */
export const upstreamPort = (type: SessionType): number | undefined => SESSION_TYPE_TABLE[type].ports[0];

export interface SessionPath {
  type: SessionType;
  id: string;
  /** `/session/<urlType>/<id>`, as received. */
  prefix: string;
  /** Everything after the prefix, path and query, as received (never decoded). */
  rest: string;
}

/**
 * Match a raw request target. The ID must be exactly a session ID (8 of [a-z0-9]), so nothing
 * encoded (`%2F`, `%252F`) or relative (`..`) can change which session is addressed: routing is
 * decided on the raw bytes, before any decoding (style.md: configurable-http-proxy's fault).
 */
const SESSION_PATH = new RegExp(`^/session/(${[...BY_SEGMENT.keys()].join('|')})/([a-z][a-z0-9]{7})(?=[/?]|$)`);

export function parseSessionPath(rawUrl: string): SessionPath | undefined {
  const m = SESSION_PATH.exec(rawUrl);
  if (!m) return undefined;
  return { type: BY_SEGMENT.get(m[1]!)!, id: m[2]!, prefix: m[0], rest: rawUrl.slice(m[0].length) };
}

export function isSessionUrl(rawUrl: string): boolean {
  return rawUrl.startsWith('/session/');
}

/**
 * Dot segments in the path part, raw or percent-encoded. Browsers never send them; a client that
 * does is refused, so no upstream ever has to resolve them.
 */
const DOT_SEGMENT = /(^|\/)(\.|%2e){1,2}(\/|$)/i;
/** Encoded slashes and backslashes (single or double encoded) in the path part. */
const ENCODED_SEPARATOR = /%(25)*(2f|5c)|\\/i;

export function unsafePath(rest: string): boolean {
  const q = rest.indexOf('?');
  const path = q >= 0 ? rest.slice(0, q) : rest;
  return DOT_SEGMENT.test(path) || ENCODED_SEPARATOR.test(path) || path.includes('//');
}

/** The request target the container receives. */
export function upstreamTarget(p: SessionPath): string {
  if (!SESSION_TYPE_TABLE[p.type].proxy?.stripsPrefix) return p.prefix + p.rest;
  if (p.rest === '' || p.rest.startsWith('?')) return '/' + p.rest;
  return p.rest;
}

/** The query parameters that carry the session secret in skaha's connect URLs (spec §4.3). */
const SECRET_PARAMS = new Set(['token', 'password']);

/**
 * If the URL carries the session's own ID as `token`/`password`, the same URL without it;
 * otherwise undefined.
 */
export function withoutSecret(rawUrl: string, sessionId: string): string | undefined {
  const q = rawUrl.indexOf('?');
  if (q < 0) return undefined;
  const kept: string[] = [];
  let found = false;
  for (const pair of rawUrl.slice(q + 1).split('&')) {
    const eq = pair.indexOf('=');
    const name = eq >= 0 ? pair.slice(0, eq) : pair;
    const value = eq >= 0 ? pair.slice(eq + 1) : '';
    if (SECRET_PARAMS.has(name.toLowerCase()) && value === sessionId) found = true;
    else if (pair) kept.push(pair);
  }
  if (!found) return undefined;
  return rawUrl.slice(0, q) + (kept.length ? `?${kept.join('&')}` : '');
}
