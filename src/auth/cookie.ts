import crypto from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { LOGIN_PREFIX } from '../store/shared.js';
import type { IdentityStore, Scope } from '../store/store.js';
import type { Authenticator, Credentials, Principal } from './authenticator.js';
import type { Signer } from './keys.js';

export const LOGIN_COOKIE = 'skaha_login';
/** How long a ticket to a session's origin is valid: one redirect's worth. */
const TICKET_MS = 60_000;
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

interface CookieOptions {
  /** Mark every cookie Secure (a public URL behind TLS); cookies set over TLS always are. */
  secure: boolean;
  maxAgeSeconds: number;
}

function cookieHeader(name: string, value: string, path: string, maxAgeSeconds: number, secure: boolean): string {
  // HttpOnly: scripts (including a session's own pages) cannot read it. SameSite=Lax: no
  // cross-site POST carries it. No Domain: host-only. Secure: never sent back over plain HTTP.
  return `${name}=${value}; Path=${path}; Max-Age=${maxAgeSeconds}; HttpOnly; SameSite=Lax${secure ? '; Secure' : ''}`;
}

/** What a browser logged in with: a password or OIDC (every scope), or an API token (its own). */
export interface LoginSource {
  scopes: readonly Scope[];
  /** The API token that logged in: revoking it ends the login. */
  tokenId?: string;
  /** The token's expiry: the login ends no later. */
  expiresAt?: string | null;
}

/** What a session cookie lets its holder do on that one session. */
export interface SessionAccess {
  username: string;
  scopes: ReadonlySet<Scope>;
  /** The secret of the browser login it came from, which must stay valid. */
  login?: string;
}

/**
 * The browser's cookies. The login cookie (whole site) carries the secret of a login record in
 * the identity store — a token of kind `login` with the scopes and at most the expiry of what
 * logged in — so logout, a password change, revoking the token that logged in and
 * `skaha admin user logout` end it at once (issue 15 point 2). When the owner follows a skaha
 * `?token=`/`?password=` link, a signed cookie scoped to that one session's path names the user,
 * the scopes, and the login it came from, and ends with it.
 */
export class CookieIssuer {
  /** Nonces of tickets redeemed in the last minute (a ticket works once). */
  private readonly usedTickets = new Map<string, number>();

  constructor(
    private readonly signer: Signer,
    private readonly opts: CookieOptions,
    private readonly store: Pick<IdentityStore, 'createToken' | 'userForToken'>,
  ) {}

  /**
   * Record a login for `username` and return the Set-Cookie header carrying it. `overTls`: the
   * request came over TLS, so the cookie must never go back over plain HTTP.
   */
  async startLogin(username: string, source: LoginSource, overTls = false, now = Date.now()): Promise<string> {
    const ends = Math.min(now + this.opts.maxAgeSeconds * 1000, source.expiresAt ? Date.parse(source.expiresAt) : Infinity);
    const { token } = await this.store.createToken(username, 'browser login', {
      kind: 'login',
      scopes: [...source.scopes],
      expiresAt: new Date(ends),
      ...(source.tokenId ? { parentId: source.tokenId } : {}),
    });
    return cookieHeader(LOGIN_COOKIE, token, '/', Math.max(1, Math.floor((ends - now) / 1000)), this.opts.secure || overTls);
  }

  clearLoginCookie(overTls = false): string {
    return cookieHeader(LOGIN_COOKIE, '', '/', 0, this.opts.secure || overTls);
  }

  /**
   * A cookie for one session's path. `login`: the secret of the browser login it was issued to,
   * which must still be valid each time the cookie is used.
   */
  sessionCookie(sessionId: string, sessionPrefix: string, access: SessionAccess, overTls = false, now = Date.now()): string {
    const claims = {
      u: access.username,
      s: sessionId,
      sc: [...access.scopes],
      ...(access.login ? { l: access.login } : {}),
      exp: now + this.opts.maxAgeSeconds * 1000,
    };
    return cookieHeader(
      SESSION_COOKIE_PREFIX + sessionId,
      this.signer.sign(JSON.stringify(claims)),
      `${sessionPrefix}/`,
      this.opts.maxAgeSeconds,
      this.opts.secure || overTls,
    );
  }

  /** Who a session cookie lets in to this session, and with what scopes; undefined if not valid (any more). */
  async sessionAccess(cookies: Map<string, string>, sessionId: string, now = Date.now()): Promise<SessionAccess | undefined> {
    return (await this.accessOf(cookies.get(SESSION_COOKIE_PREFIX + sessionId), sessionId, 'cookie', now))?.access;
  }

  /**
   * A one-minute, single-use ticket carrying a browser login's access to one session over to
   * that session's own origin (where the login cookie is never sent): the portal's
   * `/session-login` gives it, the proxy trades it for a session cookie on that origin.
   */
  sessionTicket(sessionId: string, access: SessionAccess, now = Date.now()): string {
    const claims = {
      k: 'ticket',
      u: access.username,
      s: sessionId,
      sc: [...access.scopes],
      ...(access.login ? { l: access.login } : {}),
      n: crypto.randomBytes(12).toString('base64url'),
      exp: now + TICKET_MS,
    };
    return this.signer.sign(JSON.stringify(claims));
  }

  /** The access a ticket carries, once; undefined when forged, expired, for another session or used. */
  async redeemTicket(ticket: string, sessionId: string, now = Date.now()): Promise<SessionAccess | undefined> {
    const { access, nonce } = (await this.accessOf(ticket, sessionId, 'ticket', now)) ?? {};
    if (!access || nonce === undefined) return undefined;
    for (const [n, expiry] of this.usedTickets) if (expiry < now) this.usedTickets.delete(n);
    if (this.usedTickets.has(nonce)) return undefined;
    this.usedTickets.set(nonce, now + TICKET_MS);
    return access;
  }

  /** The access a signed session cookie or ticket grants (and a ticket's nonce), if genuine and current. */
  private async accessOf(
    value: string | undefined,
    sessionId: string,
    kind: 'cookie' | 'ticket',
    now: number,
  ): Promise<{ access: SessionAccess; nonce?: string } | undefined> {
    const payload = value ? this.signer.verify(value) : undefined;
    if (!payload) return undefined;
    let claims: { k?: unknown; u?: unknown; s?: unknown; sc?: unknown; l?: unknown; n?: unknown; exp?: unknown };
    try {
      claims = JSON.parse(payload) as typeof claims;
    } catch {
      return undefined;
    }
    if ((claims.k ?? 'cookie') !== kind) return undefined;
    if (typeof claims.u !== 'string' || claims.s !== sessionId || typeof claims.exp !== 'number' || claims.exp < now || !Array.isArray(claims.sc))
      return undefined;
    if (typeof claims.l === 'string') {
      const login = await this.store.userForToken(claims.l);
      if (login?.user.username !== claims.u) return undefined; // logged out, or the login was ended
    }
    const scopes = new Set(claims.sc.filter((s): s is Scope => typeof s === 'string') as Scope[]);
    const access = { username: claims.u, scopes, ...(typeof claims.l === 'string' ? { login: claims.l } : {}) };
    return { access, ...(typeof claims.n === 'string' ? { nonce: claims.n } : {}) };
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

/**
 * The browser login a request's login cookie carries: its secret and its record, when it is a
 * login record that is still valid. Login records only: an API token pasted into the cookie is
 * not a browser login.
 */
export async function browserLogin(
  store: Pick<IdentityStore, 'userForToken'>,
  headers: IncomingHttpHeaders,
): Promise<({ secret: string } & NonNullable<Awaited<ReturnType<IdentityStore['userForToken']>>>) | undefined> {
  const secret = parseCookies(headers).get(LOGIN_COOKIE) ?? '';
  const found = secret.startsWith(LOGIN_PREFIX) ? await store.userForToken(secret) : undefined;
  return found ? { secret, ...found } : undefined;
}

/** The login cookie as a credential (tried after Authorization headers). */
export class LoginCookieAuthenticator implements Authenticator {
  readonly name = 'cookie';

  constructor(
    private readonly cookies: CookieIssuer,
    private readonly store: IdentityStore,
  ) {}

  matches(req: Credentials): boolean {
    // An Authorization header of another scheme (JupyterLab sends `token ...`) is the
    // session's business, not a credential of ours.
    return !/^bearer\s/i.test(req.headers.authorization ?? '') && parseCookies(req.headers).has(LOGIN_COOKIE);
  }

  async authenticate(req: Credentials): Promise<Principal | undefined> {
    const found = await browserLogin(this.store, req.headers);
    return found ? { user: found.user, method: 'cookie', scopes: new Set(found.token.scopes) } : undefined;
  }
}
