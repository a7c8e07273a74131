import type { Server } from 'node:http';
import Provider from 'oidc-provider';
export { freePort } from './ports.js';

export interface TestIssuer {
  issuer: string;
  /** A JWT access token for `resource` (the audience), carrying `preferred_username` and `groups`. */
  accessToken(resource?: string): Promise<string>;
  close(): Promise<void>;
}

export const AUDIENCE = 'https://skaha.test';

/** The public client `skaha login --oidc` uses (server config `oidc.cliClientId`). */
export const CLI_CLIENT_ID = 'skaha-cli';

/** Groups the issuer gives a user who logged in (the client-credentials tokens carry others). */
export const USER_GROUPS = ['astro', 'observers'];

/**
 * A real OpenID Provider (the `oidc-provider` package) on loopback: client credentials give JWT
 * access tokens for the bearer tests, and the authorization code flow with its development login
 * and consent pages serves the browser test. A public, native client (`skaha-cli`) has the
 * device flow (RFC 8628), refresh tokens, and the code flow on a loopback redirect with any
 * port (RFC 8252 §7.3: oidc-provider allows that for native clients).
 */
export async function startIssuer(opts: { port: number; redirectUri?: string; accessTokenTtlSeconds?: number; username?: string }): Promise<TestIssuer> {
  const issuer = `http://127.0.0.1:${opts.port}`;
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: 'skaha',
        client_secret: 'test-secret',
        grant_types: ['authorization_code', 'client_credentials'],
        response_types: ['code'],
        redirect_uris: [opts.redirectUri ?? 'http://127.0.0.1/unused'],
      },
      {
        client_id: CLI_CLIENT_ID,
        client_name: 'skaha CLI',
        application_type: 'native',
        token_endpoint_auth_method: 'none',
        grant_types: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token', 'authorization_code'],
        response_types: ['code'],
        redirect_uris: ['http://127.0.0.1/callback'],
      },
    ],
    findAccount: (_ctx: unknown, sub: string) => ({ accountId: sub, claims: () => ({ sub, preferred_username: sub, groups: USER_GROUPS }) }),
    claims: { openid: ['sub'], profile: ['preferred_username', 'groups'] },
    features: {
      devInteractions: { enabled: true },
      deviceFlow: { enabled: true },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => AUDIENCE,
        getResourceServerInfo: (_ctx: unknown, resource: string) => ({
          scope: 'openid',
          audience: resource,
          accessTokenFormat: 'jwt',
          accessTokenTTL: opts.accessTokenTtlSeconds ?? 300,
        }),
        useGrantedResource: () => true,
      },
    },
    // A user's access token names that user (as a real issuer's would); a client-credentials
    // token has no account and stands for `opts.username`.
    extraTokenClaims: (_ctx: unknown, token: { accountId?: string }) =>
      token.accountId
        ? { preferred_username: token.accountId, groups: USER_GROUPS }
        : { preferred_username: opts.username ?? 'oidcuser', groups: ['astro', 'batch'] },
    ttl: { ClientCredentials: opts.accessTokenTtlSeconds ?? 300 },
  });
  const server: Server = provider.listen(opts.port, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  return {
    issuer,
    async accessToken(resource = AUDIENCE) {
      const res = await fetch(`${issuer}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from('skaha:test-secret').toString('base64')}` },
        body: new URLSearchParams({ grant_type: 'client_credentials', resource }),
      });
      const body = (await res.json()) as { access_token?: string; error?: string };
      if (!body.access_token) throw new Error(`token request failed: ${JSON.stringify(body)}`);
      return body.access_token;
    },
    async close() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}
