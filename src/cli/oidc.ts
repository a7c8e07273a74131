import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { decodeJwt } from 'jose';
import * as oidc from 'openid-client';
import { openInBrowser } from './browser.js';
import { ClientError, type Connection, type OidcOfferJson } from './client.js';
import { Spinner } from './format.js';
import { connectionOf, environmentUrl, resolveConnection, selectContext, settingsPath, updateSettings, type OidcGrant } from './settings.js';

/** The one line a command ends with when its OIDC session cannot be renewed. */
const SESSION_EXPIRED = 'session expired: run skaha login again';

/** Renew this long before the stated expiry, so a token does not run out on its way to the server. */
const EXPIRY_MARGIN_MS = 30_000;
/** How long the browser flow waits for the issuer to send the browser back. */
const BROWSER_WAIT_MS = 5 * 60_000;
/** Per request to the issuer, in seconds (openid-client's unit); keeps a refresh inside the config lock's patience. */
const ISSUER_TIMEOUT_SECONDS = 10;

export type LoginMethod = 'device' | 'browser';

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** A short reason from openid-client's errors: the OAuth error code and description when there is one. */
function reasonOf(err: unknown): string {
  if (err instanceof oidc.ResponseBodyError || err instanceof oidc.AuthorizationResponseError) {
    return err.error_description ? `${err.error}: ${err.error_description}` : err.error;
  }
  const e = err as Error & { cause?: { code?: string; message?: string } };
  return e.cause?.code ?? e.cause?.message ?? e.message ?? String(err);
}

/** The issuer's metadata (its discovery document) for our public client: no secret, PKCE. */
async function issuerConfiguration(issuer: string, clientId: string): Promise<oidc.Configuration> {
  const url = new URL(issuer);
  // Tokens travel to the issuer: plain HTTP only when it is on this machine (a test or dev issuer).
  if (url.protocol === 'http:' && !LOOPBACK.has(url.hostname))
    throw new ClientError(`refusing the plain-HTTP issuer ${issuer}: tokens would travel unencrypted`, 0);
  try {
    const config = await oidc.discovery(url, clientId, undefined, oidc.None(), {
      timeout: ISSUER_TIMEOUT_SECONDS,
      ...(url.protocol === 'http:' ? { execute: [oidc.allowInsecureRequests] } : {}),
    });
    config.timeout = ISSUER_TIMEOUT_SECONDS;
    return config;
  } catch (err) {
    throw new ClientError(`cannot read the discovery document of ${issuer}: ${reasonOf(err)}`, 0);
  }
}

/** RFC 8707 names the target API by an absolute URI; a bare client-id audience is left to the issuer. */
export function resourceOf(audience: string): string | undefined {
  try {
    return /^https?:$/.test(new URL(audience).protocol) ? audience : undefined;
  } catch {
    return undefined;
  }
}

/** `exp` of a JWT access token, for issuers that leave `expires_in` out of the token response. */
function jwtExpiryMs(token: string): number | undefined {
  try {
    const { exp } = decodeJwt(token);
    return typeof exp === 'number' ? exp * 1000 : undefined;
  } catch {
    return undefined; // an opaque token: the server's 401 will tell
  }
}

/** What the config file keeps of a token response. Issuers that do not rotate send no new refresh token. */
export function grantOf(
  tokens: oidc.TokenEndpointResponse,
  base: Pick<OidcGrant, 'issuer' | 'clientId' | 'resource' | 'refreshToken'>,
): { token: string; oidc: OidcGrant } {
  const expiresAtMs = tokens.expires_in !== undefined ? Date.now() + tokens.expires_in * 1000 : jwtExpiryMs(tokens.access_token);
  const refreshToken = tokens.refresh_token ?? base.refreshToken;
  return {
    token: tokens.access_token,
    oidc: {
      issuer: base.issuer,
      clientId: base.clientId,
      ...(base.resource ? { resource: base.resource } : {}),
      ...(refreshToken ? { refreshToken } : {}),
      ...(expiresAtMs !== undefined ? { expiresAtMs } : {}),
    },
  };
}

/**
 * The device flow suits a terminal with no local browser (SSH, a headless host): the loopback
 * redirect of the browser flow would land on the wrong machine there.
 */
export function defaultMethod(config: oidc.Configuration, env: NodeJS.ProcessEnv = process.env): LoginMethod {
  if (!config.serverMetadata().device_authorization_endpoint) return 'browser';
  const remote = Boolean(env.SSH_CONNECTION || env.SSH_TTY);
  const noDisplay = process.platform === 'linux' && !env.DISPLAY && !env.WAYLAND_DISPLAY;
  return remote || noDisplay ? 'device' : 'browser';
}

interface FlowParams {
  scope: string;
  resource?: string | undefined;
}

/**
 * RFC 8628 device authorization: print where to go and the code to enter, then poll the token
 * endpoint. openid-client's poll waits `interval` seconds between requests, adds 5 s on
 * `slow_down`, and stops at the code's `expires_in`.
 */
async function deviceFlow(config: oidc.Configuration, p: FlowParams, out: NodeJS.WritableStream = process.stderr): Promise<oidc.TokenEndpointResponse> {
  if (!config.serverMetadata().device_authorization_endpoint)
    throw new ClientError(`${config.serverMetadata().issuer} offers no device flow: use --browser`, 0);
  const extra = p.resource ? { resource: p.resource } : undefined;
  let device: oidc.DeviceAuthorizationResponse;
  try {
    device = await oidc.initiateDeviceAuthorization(config, { scope: p.scope, ...extra });
  } catch (err) {
    throw new ClientError(`the issuer refused to start a device login: ${reasonOf(err)}`, 0);
  }
  out.write(`To log in, open ${device.verification_uri} in a browser and enter the code ${device.user_code}\n`);
  if (device.verification_uri_complete) out.write(`  (or open ${device.verification_uri_complete})\n`);
  const spinner = new Spinner().start(`waiting for the login at ${new URL(device.verification_uri).host} (code ${device.user_code})…`);
  const signal = AbortSignal.timeout(device.expires_in * 1000);
  try {
    return await oidc.pollDeviceAuthorizationGrant(config, device, extra, { signal });
  } catch (err) {
    const code = (err as { error?: string }).error;
    if (signal.aborted || code === 'expired_token') throw new ClientError('the code expired before the login was completed: run skaha login again', 0);
    if (code === 'access_denied') throw new ClientError('the login was denied at the issuer', 0);
    throw new ClientError(`login failed: ${reasonOf(err)}`, 0);
  } finally {
    spinner.stop();
  }
}

function escapeHtml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function page(res: http.ServerResponse, status: number, title: string, text: string): void {
  // `connection: close`: the CLI exits right after, and must not wait on the browser's keep-alive.
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', connection: 'close' });
  res.end(`<!DOCTYPE html><meta charset="utf-8"><title>${escapeHtml(title)} · skaha</title><h1>${escapeHtml(title)}</h1><p>${escapeHtml(text)}</p>\n`);
}

/**
 * Authorization code with PKCE (S256), state and nonce, on a loopback redirect
 * `http://127.0.0.1:<free port>/callback` (RFC 8252 §7.3: the issuer must accept any port).
 * The browser is opened when `open` and an opener exists; the URL is printed either way.
 */
async function browserFlow(
  config: oidc.Configuration,
  p: FlowParams,
  open: boolean,
  out: NodeJS.WritableStream = process.stderr,
): Promise<oidc.TokenEndpointResponse> {
  const server = http.createServer();
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  const redirectUri = `http://127.0.0.1:${(server.address() as AddressInfo).port}/callback`;
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope: p.scope,
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
    ...(p.resource ? { resource: p.resource } : {}),
    // OIDC Core §11: issuers drop offline_access (so give no refresh token) unless consent is asked.
    ...(p.scope.split(' ').includes('offline_access') ? { prompt: 'consent' } : {}),
  });
  const opened = open && openInBrowser(url.href);
  out.write(
    opened ? `Opening a browser to log in; if none opens, visit:\n  ${url.href}\n` : `To log in, open this URL in a browser on this machine:\n  ${url.href}\n`,
  );
  const spinner = new Spinner().start(`waiting for the browser to come back to ${redirectUri}…`);
  let timer: NodeJS.Timeout | undefined;
  try {
    return await new Promise<oidc.TokenEndpointResponse>((resolve, reject) => {
      timer = setTimeout(() => reject(new ClientError(`no login within ${BROWSER_WAIT_MS / 60_000} minutes: run skaha login again`, 0)), BROWSER_WAIT_MS);
      let done = false;
      server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
        const here = new URL(req.url ?? '/', redirectUri);
        if (here.pathname !== '/callback' || done) return page(res, 404, 'Not found', 'Nothing to see here.');
        // Another page sending the browser here (login CSRF) is turned away without ending this login.
        if (here.searchParams.get('state') !== state) return page(res, 400, 'Not this login', 'This answer is not for the login skaha is waiting for.');
        done = true;
        oidc
          .authorizationCodeGrant(
            config,
            here,
            { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, idTokenExpected: p.scope.split(' ').includes('openid') },
            p.resource ? { resource: p.resource } : undefined,
          )
          .then((tokens) => {
            page(res, 200, 'Logged in', 'skaha is logged in. You can close this tab and go back to the terminal.');
            resolve(tokens);
          })
          .catch((err: unknown) => {
            const reason = reasonOf(err);
            page(res, 400, 'Login failed', reason);
            reject(new ClientError(`login failed: ${reason}`, 0));
          });
      });
    });
  } finally {
    clearTimeout(timer);
    spinner.stop();
    server.close();
    server.closeIdleConnections();
  }
}

/** Log in with the server's offer (GET /auth/oidc); the context-to-be's token and grant. */
export async function oidcLogin(
  offer: OidcOfferJson,
  how: LoginMethod | undefined,
  open: boolean,
): Promise<{ token: string; oidc: OidcGrant; method: LoginMethod }> {
  const config = await issuerConfiguration(offer.issuer, offer.clientId);
  const params = { scope: offer.scopes.join(' '), resource: resourceOf(offer.audience) };
  const method = how ?? defaultMethod(config);
  const tokens = method === 'device' ? await deviceFlow(config, params) : await browserFlow(config, params, open);
  return { ...grantOf(tokens, { issuer: offer.issuer, clientId: offer.clientId, resource: params.resource }), method };
}

function expiresSoon(grant: OidcGrant, now = Date.now()): boolean {
  return grant.expiresAtMs !== undefined && grant.expiresAtMs - EXPIRY_MARGIN_MS <= now;
}

/** A refresh token grant at the issuer; any failure means the user must log in again. */
async function refreshGrant(grant: OidcGrant): Promise<{ token: string; oidc: OidcGrant }> {
  if (!grant.refreshToken) throw new ClientError(SESSION_EXPIRED, 0);
  let tokens: oidc.TokenEndpointResponse;
  try {
    const config = await issuerConfiguration(grant.issuer, grant.clientId);
    tokens = await oidc.refreshTokenGrant(config, grant.refreshToken, grant.resource ? { resource: grant.resource } : undefined);
  } catch (err) {
    // invalid_grant (the refresh token expired or was revoked) is the usual case and says it all;
    // anything else (issuer down, a timeout) is worth naming.
    const oauthError = err instanceof oidc.ResponseBodyError;
    throw new ClientError(oauthError ? SESSION_EXPIRED : `${SESSION_EXPIRED} (${err instanceof ClientError ? err.message : reasonOf(err)})`, 0);
  }
  return grantOf(tokens, grant);
}

/**
 * Renew context `name`'s access token under the config file's lock. Another command may have
 * renewed it while we waited for the lock: then its token (not `stale`) is used, and the refresh
 * token, which a rotating issuer accepts once, is not spent twice.
 */
async function refreshContext(file: string, name: string, stale: string | undefined): Promise<string> {
  return updateSettings(async (settings) => {
    const entry = settings.contexts[name];
    if (!entry || entry.auth !== 'oidc' || !entry.oidc) throw new ClientError(SESSION_EXPIRED, 0);
    if (entry.token && entry.token !== stale && !expiresSoon(entry.oidc)) return entry.token;
    const fresh = await refreshGrant(entry.oidc);
    entry.token = fresh.token;
    entry.oidc = fresh.oidc;
    return fresh.token;
  }, file);
}

/**
 * The connection a command uses (SKAHA_URL first, else the context). An OIDC context's access
 * token is renewed before the first request when it has expired or is about to, and again if the
 * server answers 401; the new tokens are saved to the config file.
 */
export async function openConnection(opts: { context?: string | undefined }, env: NodeJS.ProcessEnv = process.env): Promise<Connection> {
  if (environmentUrl(opts, env)) return resolveConnection(opts, env);
  const { name, entry } = selectContext(opts, env);
  const conn = connectionOf(entry);
  if (entry.auth !== 'oidc' || !entry.oidc) return conn;
  const file = settingsPath(env);
  let current = entry.token;
  const refresh = async () => (current = await refreshContext(file, name, current));
  if (!entry.token || expiresSoon(entry.oidc)) await refresh();
  return { ...conn, token: current, refresh };
}
