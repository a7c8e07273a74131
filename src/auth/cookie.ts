import type { IncomingHttpHeaders } from 'node:http';
import type { IdentityStore } from '../store/store.js';
import type { Authenticator, Credentials, Principal } from './authenticator.js';
import type { Signer } from './keys.js';

export const LOGIN_COOKIE = 'skaha_login';
const SESSION_COOKIE_PREFIX = 'skaha_s_';

/** Cookies of a request; the first of a repeated name wins. */
export function parseCookies(headers: IncomingHttpHeaders): Map<string, string> {
  const cookies = new Map<string, string>();
  const header = headers.cookie;
  if (!header) return cookies;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim();
    if (!cookies.has(name)) cookies.set(name, part.slice(eq + 1).trim());
  }
  return cookies;
}

export interface CookieOptions {
  /** Mark every cookie Secure (a public URL behind TLS); cookies set over TLS always are. */
  secure: boolean;
  maxAgeSeconds: number;
}

function cookieHeader(name: string, value: string, path: string, maxAgeSeconds: number, secure: boolean): string {
  // HttpOnly: scripts (including a session's own pages) cannot read it. SameSite=Lax: no
  // cross-site POST carries it. No Domain: host-only. Secure: never sent back over plain HTTP.
  return `${name}=${value}; Path=${path}; Max-Age=${maxAgeSeconds}; HttpOnly; SameSite=Lax${secure ? '; Secure' : ''}`;
}

/**
 * Signed cookies naming a user: the login cookie (whole site) and, when the owner follows a
 * skaha `?token=`/`?password=` link, a cookie scoped to that one session's path (issue 4).
 */
export class CookieIssuer {
  constructor(private readonly signer: Signer, private readonly opts: CookieOptions) {}

  /** `overTls`: the request that gets it came over TLS, so the cookie must never go back over HTTP. */
  loginCookie(username: string, overTls = false, now = Date.now()): string {
    const value = this.signer.sign(JSON.stringify({ u: username, exp: now + this.opts.maxAgeSeconds * 1000 }));
    return cookieHeader(LOGIN_COOKIE, value, '/', this.opts.maxAgeSeconds, this.opts.secure || overTls);
  }

  clearLoginCookie(overTls = false): string {
    return cookieHeader(LOGIN_COOKIE, '', '/', 0, this.opts.secure || overTls);
  }

  sessionCookie(sessionId: string, sessionPrefix: string, username: string, overTls = false, now = Date.now()): string {
    const value = this.signer.sign(JSON.stringify({ u: username, s: sessionId, exp: now + this.opts.maxAgeSeconds * 1000 }));
    return cookieHeader(SESSION_COOKIE_PREFIX + sessionId, value, `${sessionPrefix}/`, this.opts.maxAgeSeconds, this.opts.secure || overTls);
  }

  /** The user a login cookie names, if it is genuine and not expired. */
  loginUser(cookies: Map<string, string>, now = Date.now()): string | undefined {
    return this.read(cookies.get(LOGIN_COOKIE), now)?.u;
  }

  /** The user a session cookie names for this session, if genuine and not expired. */
  sessionUser(cookies: Map<string, string>, sessionId: string, now = Date.now()): string | undefined {
    const claims = this.read(cookies.get(SESSION_COOKIE_PREFIX + sessionId), now);
    return claims?.s === sessionId ? claims.u : undefined;
  }

  private read(value: string | undefined, now: number): { u: string; s?: string; exp: number } | undefined {
    if (!value) return undefined;
    const payload = this.signer.verify(value);
    if (!payload) return undefined;
    try {
      const claims = JSON.parse(payload) as { u?: unknown; s?: unknown; exp?: unknown };
      if (typeof claims.u !== 'string' || typeof claims.exp !== 'number' || claims.exp < now) return undefined;
      return { u: claims.u, exp: claims.exp, ...(typeof claims.s === 'string' ? { s: claims.s } : {}) };
    } catch {
      return undefined;
    }
  }

  /**
   * The CSRF token of a login cookie: a browser page of ours reads it (GET /auth/session) and
   * sends it back in `X-CSRF-Token` on every state change; another site cannot read it.
   */
  csrfToken(loginCookieValue: string): string {
    return this.signer.mac(`csrf:${loginCookieValue}`);
  }

  /** Names of our cookies, which never travel on to a session's container. */
  static isOurs(name: string): boolean {
    return name === LOGIN_COOKIE || name.startsWith(SESSION_COOKIE_PREFIX);
  }
}

/** The login cookie as a credential (tried after Authorization headers). */
export class LoginCookieAuthenticator implements Authenticator {
  readonly name = 'cookie';

  constructor(private readonly cookies: CookieIssuer, private readonly store: IdentityStore) {}

  matches(req: Credentials): boolean {
    // An Authorization header of another scheme (JupyterLab sends `token ...`) is the
    // session's business, not a credential of ours.
    return !/^bearer\s/i.test(req.headers.authorization ?? '') && parseCookies(req.headers).has(LOGIN_COOKIE);
  }

  async authenticate(req: Credentials): Promise<Principal | undefined> {
    const username = this.cookies.loginUser(parseCookies(req.headers));
    const user = username ? await this.store.findUser(username) : undefined;
    return user ? { user, method: 'cookie', scopes: new Set(['read', 'launch', 'admin'] as const) } : undefined;
  }
}
