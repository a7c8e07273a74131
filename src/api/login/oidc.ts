import type { FastifyPluginAsync } from 'fastify';
import * as oidc from 'openid-client';
import type { CookieIssuer } from '../../auth/cookie.js';
import { parseCookies } from '../../auth/cookie.js';
import type { Signer } from '../../auth/keys.js';
import { identityFromClaims, withTokenGroups } from '../../auth/oidc/authenticator.js';
import type { IdentityStore } from '../../store/store.js';
import { safeNext } from './routes.js';

export interface OidcLoginOptions {
  issuer: string;
  clientId: string;
  clientSecret: string;
  usernameClaim: string;
  groupsClaim: string;
  store: IdentityStore;
  cookies: CookieIssuer;
  signer: Signer;
  /** This server's public base URL (the callback is `<base>/login/oidc/callback`). */
  baseUrl: () => string;
}

const FLOW_COOKIE = 'skaha_oidc';
const FLOW_SECONDS = 600;

/**
 * Browser login with the OIDC issuer: authorization code with PKCE (S256), state and nonce kept
 * in a signed, HttpOnly cookie for the ten minutes the round trip may take.
 */
export const oidcLoginRoutes: FastifyPluginAsync<OidcLoginOptions> = async (app, o) => {
  let config: Promise<oidc.Configuration> | undefined;
  const configuration = () => {
    config ??= oidc
      .discovery(new URL(o.issuer), o.clientId, o.clientSecret || undefined, undefined, {
        // A loopback or test issuer may be plain HTTP; production issuers are HTTPS.
        ...(o.issuer.startsWith('http:') ? { execute: [oidc.allowInsecureRequests] } : {}),
      })
      .catch((err: Error) => {
        config = undefined;
        throw err;
      });
    return config;
  };
  const callback = () => `${o.baseUrl()}/login/oidc/callback`;
  const secure = () => o.baseUrl().startsWith('https:');

  app.get('/login/oidc', { schema: { hide: true } }, async (req, reply) => {
    const next = safeNext((req.query as { next?: string }).next);
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const url = oidc.buildAuthorizationUrl(await configuration(), {
      redirect_uri: callback(),
      scope: 'openid profile',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    });
    const flow = o.signer.sign(JSON.stringify({ v: verifier, s: state, n: nonce, next, exp: Date.now() + FLOW_SECONDS * 1000 }));
    return reply
      .code(302)
      .header('set-cookie', `${FLOW_COOKIE}=${flow}; Path=/login/oidc; Max-Age=${FLOW_SECONDS}; HttpOnly; SameSite=Lax${secure() ? '; Secure' : ''}`)
      .header('location', url.href)
      .send();
  });

  app.get('/login/oidc/callback', { schema: { hide: true } }, async (req, reply) => {
    const raw = parseCookies(req.headers).get(FLOW_COOKIE);
    const flow = raw ? (JSON.parse(o.signer.verify(raw) ?? 'null') as { v: string; s: string; n: string; next: string; exp: number } | null) : null;
    const clear = `${FLOW_COOKIE}=; Path=/login/oidc; Max-Age=0; HttpOnly; SameSite=Lax`;
    if (!flow || flow.exp < Date.now()) {
      return reply.code(400).header('set-cookie', clear).type('text/plain').send('login expired or not started here: start again at /login\n');
    }
    let claims: Record<string, unknown> | undefined;
    try {
      const tokens = await oidc.authorizationCodeGrant(await configuration(), new URL(req.url, o.baseUrl()), {
        pkceCodeVerifier: flow.v,
        expectedState: flow.s,
        expectedNonce: flow.n,
        idTokenExpected: true,
      });
      claims = { ...tokens.claims() };
      // Many issuers put only `sub` in the ID token of a code flow; the rest is at userinfo.
      const sub = typeof claims.sub === 'string' ? claims.sub : undefined;
      if (sub && (claims[o.usernameClaim] === undefined || claims[o.groupsClaim] === undefined)) {
        const info = await oidc.fetchUserInfo(await configuration(), tokens.access_token, sub).catch(() => undefined);
        if (info) claims = { ...info, ...claims, [o.groupsClaim]: claims[o.groupsClaim] ?? info[o.groupsClaim] };
      }
    } catch (err) {
      req.log?.warn?.(`oidc login: ${(err as Error).message}`);
      return reply
        .code(401)
        .header('set-cookie', clear)
        .type('text/plain')
        .send(`login refused by the identity provider: ${(err as Error).message.split('\n')[0]}\n`);
    }
    const identity = identityFromClaims(claims ?? {}, o);
    if ('problem' in identity) return reply.code(401).header('set-cookie', clear).type('text/plain').send(`login refused: ${identity.problem}\n`);
    // The browser's cookie names only the user: remember the issuer's groups as memberships.
    for (const group of identity.groups) await o.store.addToGroup(identity.username, group);
    const user = await withTokenGroups(o.store, identity.username, identity.groups);
    return reply
      .code(303)
      .header('set-cookie', [clear, await o.cookies.startLogin(user.username, { scopes: ['read', 'launch', 'admin'] }, req.protocol === 'https')])
      .header('location', flow.next)
      .send();
  });
};
