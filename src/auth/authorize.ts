import type { IncomingHttpHeaders } from 'node:http';
import { forbidden, SkahaError } from '../common/errors.js';
import type { Scope, User } from '../store/store.js';
import type { Principal } from './authenticator.js';
import { LOGIN_COOKIE, parseCookies, type CookieIssuer } from './cookie.js';

export interface AuthorizationPolicy {
  usersGroup: string;
  headlessGroup: string;
  adminsGroup: string;
}

export const inGroup = (user: User, group: string) => user.groups.some((g) => g.name === group);

/** Is this user an administrator with a credential that allows it? */
export function isAdmin(principal: Principal, policy: AuthorizationPolicy): boolean {
  return principal.scopes.has('admin') && policy.adminsGroup !== '' && inGroup(principal.user, policy.adminsGroup);
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Whether a browser request was made by a page of this site. Browsers send `Origin` with every
 * POST and WebSocket handshake: it must name the host the request was sent to (whichever listener,
 * HTTP or HTTPS) or the public URL's. The scheme is not compared: behind a TLS-terminating
 * ingress the page is https and this hop is not. Without `Origin` (curl, the CLI) the request
 * passes unless the browser's `Sec-Fetch-Site` says another site made it.
 */
export function fromThisSite(headers: IncomingHttpHeaders, publicOrigin?: string): boolean {
  const origin = headers.origin;
  if (origin === undefined) return !['cross-site', 'same-site'].includes(String(headers['sec-fetch-site']));
  try {
    const host = new URL(origin).host;
    return host === headers.host || (publicOrigin !== undefined && host === new URL(publicOrigin).host);
  } catch {
    return false; // `Origin: null`: a sandboxed frame, a data: URL, a redirect from elsewhere
  }
}

/**
 * Everything decided about a request once its caller is known (design.md: authenticate →
 * authorize): the platform's users group, the credential's scope for the method, and CSRF for
 * browser cookies on state changes.
 */
export function authorize(
  principal: Principal,
  req: { method: string; headers: IncomingHttpHeaders },
  policy: AuthorizationPolicy,
  cookies: CookieIssuer,
  origin: () => string,
): void {
  // Desktop callbacks act for a session whose owner was checked at launch (spec §6.5).
  if (principal.method !== 'callback' && policy.usersGroup && !inGroup(principal.user, policy.usersGroup)) {
    throw forbidden('Not authorized to use the skaha system');
  }
  const needed: Scope = SAFE_METHODS.has(req.method) ? 'read' : 'launch';
  if (!principal.scopes.has(needed)) throw forbidden(`this token does not allow '${needed}'`);
  if (principal.method === 'cookie' && !SAFE_METHODS.has(req.method)) {
    const given = req.headers['x-csrf-token'];
    const cookie = parseCookies(req.headers).get(LOGIN_COOKIE) ?? '';
    if (typeof given !== 'string' || given !== cookies.csrfToken(cookie) || !fromThisSite(req.headers, origin())) {
      throw new SkahaError('SKAHA_ERR_FORBIDDEN', 'CSRF check failed: send the X-CSRF-Token from GET /auth/session, from this site');
    }
  }
}
