import fs from 'node:fs';
import path from 'node:path';
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { PORTAL_DIST_DIR } from '../../common/paths.js';
import { fromThisSite } from '../../auth/authorize.js';
import { browserLogin, type CookieIssuer, type LoginSource } from '../../auth/cookie.js';
import { LOGIN_PREFIX } from '../../store/shared.js';
import { TICKET_PARAM, type SessionOrigins } from '../../proxy/origins.js';
import type { LoginThrottle } from '../../auth/throttle.js';
import type { IdentityStore } from '../../store/store.js';

function escape(text: string): string {
  return text.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** Only a local path may be a `next`: never `//host` or `https://...` (no open redirect). */
export function safeNext(next: string | undefined): string {
  if (!next || !next.startsWith('/') || next.startsWith('//') || next.startsWith('/\\')) return '/';
  return next;
}

/** The portal's stylesheet (hashed name) when the portal is built: the login page looks like it. */
function portalStylesheet(): string | undefined {
  try {
    return /<link rel="stylesheet"[^>]*href="(\/assets\/[^"]+\.css)"/.exec(fs.readFileSync(path.join(PORTAL_DIST_DIR, 'index.html'), 'utf8'))?.[1];
  } catch {
    return undefined;
  }
}

const LOGO =
  '<svg class="logo" viewBox="0 0 32 32" width="28" height="28" aria-hidden="true" focusable="false"><rect width="32" height="32" rx="7" fill="#f2c14e"/><circle cx="16" cy="16" r="6" fill="#1d3f73"/><ellipse cx="16" cy="16" rx="13" ry="4.5" fill="none" stroke="#1d3f73" stroke-width="2" transform="rotate(-25 16 16)"/></svg>';

/**
 * The login page the server answers itself (a wrong password, a throttled login, a link to
 * `/login`): the portal's own login card, with its stylesheet, the error where the eye lands,
 * and the username kept. Operator instructions live in the docs, not here.
 */
function loginPage(opts: { next: string; error?: string; username?: string; oidcIssuer?: string; stylesheet?: string }): string {
  const { next, error, username, oidcIssuer, stylesheet } = opts;
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${error ? 'Log in (failed)' : 'Log in'} · skaha</title>
${stylesheet ? `<link rel="stylesheet" href="${escape(stylesheet)}">` : '<style>body{font-family:system-ui,sans-serif;max-width:28rem;margin:4rem auto;padding:0 1rem}label{display:block;margin:.5rem 0 .25rem}input{width:100%;padding:.5rem;box-sizing:border-box}button{margin-top:1rem;padding:.5rem 1.25rem}.notice--error{color:#a40e26}</style>'}
</head>
<body><main id="main" class="login"><div class="login-card">
<div class="login-brand">${LOGO}<span>skaha</span></div>
<h1>Log in</h1>
${error ? `<div class="notice notice--error" role="alert" id="login-error"><div><strong>${escape(error)}</strong></div></div>` : ''}
<form method="post" action="/login" class="form">
<input type="hidden" name="next" value="${escape(next)}">
<div class="field"><label for="login-username">Username</label>
<input id="login-username" name="username" autocomplete="username" autocapitalize="none" spellcheck="false" value="${escape(username ?? '')}"${username ? '' : ' autofocus'}></div>
<div class="field"><label for="login-password">Password</label>
<input id="login-password" name="password" type="password" autocomplete="current-password"${username ? ' autofocus' : ''}></div>
<details class="field"><summary>Log in with an API token instead</summary>
<label for="login-token">API token</label>
<input id="login-token" name="token" type="password" autocomplete="off" spellcheck="false">
</details>
<button type="submit" class="button button--primary button--wide">Log in</button>
</form>
${oidcIssuer ? `<div class="login-alternatives"><a href="/login/oidc?next=${encodeURIComponent(next)}" id="oidc-login">Log in with ${escape(new URL(oidcIssuer).host)}</a></div>` : ''}
</div></main></body></html>`;
}

/**
 * Browser login with a local account (scrypt-hashed password) or an API token, setting the
 * signed login cookie that the API (with CSRF) and the session proxy accept.
 */
interface LoginRoutesOptions {
  store: IdentityStore;
  cookies: CookieIssuer;
  throttle: LoginThrottle;
  publicOrigin: () => string;
  oidcIssuer?: string;
  /** Each session on its own origin: `/session-login` hands its owner a ticket to it. */
  origins?: SessionOrigins;
  /** The owner of a session, if it exists. */
  sessionOwner: (sessionId: string) => string | undefined;
}

export const loginRoutes: FastifyPluginAsync<LoginRoutesOptions> = async (
  app,
  { store, cookies, throttle, publicOrigin, oidcIssuer, origins, sessionOwner },
) => {
  const stylesheet = portalStylesheet();
  const page = (reply: FastifyReply, status: number, next: string, error?: string, username?: string) =>
    reply
      .code(status)
      .type('text/html; charset=utf-8')
      .header('cache-control', 'no-store')
      .send(
        loginPage({
          next,
          ...(error ? { error } : {}),
          ...(username ? { username } : {}),
          ...(oidcIssuer ? { oidcIssuer } : {}),
          ...(stylesheet ? { stylesheet } : {}),
        }),
      );

  app.get('/login', { schema: { hide: true } }, async (req, reply) => {
    const next = safeNext((req.query as { next?: string }).next);
    return page(reply, 200, next);
  });

  app.post('/login', { schema: { hide: true } }, async (req, reply) => {
    const form = new URLSearchParams(typeof req.body === 'string' ? req.body : '');
    const next = safeNext(form.get('next') ?? undefined);
    // Another site's page must not log its visitor in (into the attacker's account) or out.
    if (!fromThisSite(req.headers, publicOrigin())) return page(reply, 403, next, "Log in from this site's own login page.");
    const token = (form.get('token') ?? '').trim();
    const username = (form.get('username') ?? '').trim().toLowerCase();
    const account = token ? undefined : username;
    const wait = throttle.retryAfter(account, req.ip);
    if (wait > 0) {
      void reply.header('retry-after', String(wait));
      return page(reply, 429, next, `Too many failed logins: try again in ${wait} s.`, username);
    }
    // A login keeps the scopes and expiry of what it logged in with (a read-only token gives a
    // read-only login that ends when the token is revoked); a password gives every scope.
    const viaToken = token && !token.startsWith(LOGIN_PREFIX) ? await store.userForToken(token) : undefined;
    const user = token ? viaToken?.user : username ? await store.verifyPassword(username, form.get('password') ?? '') : undefined;
    if (!user) {
      throttle.failed(account, req.ip);
      return page(reply, 401, next, token ? 'That token is not valid.' : 'Wrong username or password.', username);
    }
    if (account !== undefined) throttle.succeeded(account);
    const source: LoginSource = viaToken
      ? { scopes: viaToken.token.scopes, tokenId: viaToken.token.id, expiresAt: viaToken.token.expiresAt }
      : { scopes: ['read', 'launch', 'admin'] };
    return reply
      .code(303)
      .header('set-cookie', await cookies.startLogin(user.username, source, req.protocol === 'https'))
      .header('location', next)
      .send();
  });

  // A session's own origin never sees the portal's login cookie: the portal checks the login
  // and the ownership here and sends the browser there with a one-minute, single-use ticket.
  app.get('/session-login', { schema: { hide: true } }, async (req, reply) => {
    const to = String((req.query as { to?: unknown }).to ?? '');
    const id = origins?.sessionAt(to);
    if (!id) return reply.code(400).type('text/plain; charset=utf-8').send('to: not the address of a session\n');
    const login = await browserLogin(store, req.headers);
    if (!login)
      return reply
        .code(302)
        .header('location', `/login?next=${encodeURIComponent(req.url)}`)
        .send();
    if (sessionOwner(id) !== login.user.username) return page(reply, 404, '/', `You have no session ${id}.`);
    const ticket = cookies.sessionTicket(id, { username: login.user.username, scopes: new Set(login.token.scopes), login: login.secret });
    return reply
      .code(302)
      .header('cache-control', 'no-store')
      .header('location', `${to}${to.includes('?') ? '&' : '?'}${TICKET_PARAM}=${encodeURIComponent(ticket)}`)
      .send();
  });

  app.post('/logout', { schema: { hide: true } }, async (req, reply) => {
    if (!fromThisSite(req.headers, publicOrigin())) return reply.code(403).type('text/plain; charset=utf-8').send("log out from this site's own pages\n");
    // The login record ends here, not only the browser's copy of it.
    const login = await browserLogin(store, req.headers);
    if (login) await store.revokeToken(login.user.username, login.token.id);
    return reply
      .code(303)
      .header('set-cookie', cookies.clearLoginCookie(req.protocol === 'https'))
      .header('location', '/login')
      .send();
  });
};
