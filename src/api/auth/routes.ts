import fs from 'node:fs';
import path from 'node:path';
import type { FastifyPluginAsync } from 'fastify';
import { issueProxyCert, issueUserCert, proxyPem, type Issued } from '../../auth/x509/pki.js';
import { Type } from '@sinclair/typebox';
import { inGroup, isAdmin, type AuthorizationPolicy } from '../../auth/authorize.js';
import { LOGIN_COOKIE, parseCookies, type CookieIssuer } from '../../auth/cookie.js';
import { badRequest, forbidden, notFound } from '../../common/errors.js';
import { SCOPES, type IdentityStore, type Scope } from '../../store/store.js';
import { requireUser } from '../deps.js';
import { Params } from '../params.js';
import { sendEmpty, sendJson } from '../replies.js';
import { bodyOf, errorResponses } from '../session/schemas.js';

const TokenInfo = Type.Object({
  id: Type.String(),
  name: Type.String(),
  scopes: Type.Array(Type.String({ enum: [...SCOPES] })),
  createdAt: Type.String(),
  expiresAt: Type.Union([Type.String(), Type.Null()]),
});

const MAX_TOKEN_DAYS = 3650;

/** The platform CA (certificate and key), when `skaha admin tls init` made one. */
function readCa(dir: string): Issued | undefined {
  try {
    return { certPem: fs.readFileSync(path.join(dir, 'ca.pem'), 'utf8'), keyPem: fs.readFileSync(path.join(dir, 'ca.key'), 'utf8') };
  } catch {
    return undefined;
  }
}
const DEFAULT_TOKEN_DAYS = 90;

/** The caller's account: who am I (and the CSRF token of a browser), and their API tokens. */
export const accountRoutes: FastifyPluginAsync<{ store: IdentityStore; cookies: CookieIssuer; policy: AuthorizationPolicy; caDir?: string }> = async (
  app,
  { store, cookies, policy, caDir },
) => {
  const tags = ['account'];

  app.get(
    '/auth/session',
    {
      schema: {
        tags,
        summary: 'Who the caller is; for a browser login, the CSRF token to send as X-CSRF-Token',
        response: {
          200: Type.Object({
            username: Type.String(),
            uid: Type.Integer(),
            groups: Type.Array(Type.String()),
            method: Type.String(),
            scopes: Type.Array(Type.String()),
            admin: Type.Boolean(),
            csrfToken: Type.Optional(Type.String()),
          }),
          ...errorResponses,
        },
      },
    },
    async (req, reply) => {
      const principal = requireUser(req);
      const cookie = parseCookies(req.headers).get(LOGIN_COOKIE);
      return sendJson(reply, {
        username: principal.user.username,
        uid: principal.user.uid,
        groups: principal.user.groups.map((g) => g.name),
        method: principal.method,
        scopes: [...principal.scopes],
        admin: isAdmin(principal, policy),
        ...(principal.method === 'cookie' && cookie ? { csrfToken: cookies.csrfToken(cookie) } : {}),
      });
    },
  );

  app.get(
    '/auth/tokens',
    { schema: { tags, summary: "The caller's API tokens (never their secrets)", response: { 200: Type.Array(TokenInfo), ...errorResponses } } },
    async (req, reply) => {
      const { user } = requireUser(req);
      return sendJson(
        reply,
        (await store.listTokens(user.username)).map(({ username: _, ...info }) => info),
      );
    },
  );

  app.post(
    '/auth/tokens',
    {
      schema: {
        tags,
        summary: 'Create an API token; its secret is in this answer only',
        querystring: Type.Object({
          name: Type.String(),
          scopes: Type.Optional(Type.String({ description: "Comma list of read, launch, admin; default read,launch; at most the caller's own." })),
          expiresDays: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_TOKEN_DAYS })),
        }),
        response: { 200: Type.Object({ token: Type.String(), ...TokenInfo.properties }), ...errorResponses },
      },
    },
    async (req, reply) => {
      const principal = requireUser(req);
      const p = Params.from(req);
      const name = (p.first('name') ?? '').trim();
      if (!name || name.length > 64) throw badRequest('a token needs a name of 1 to 64 characters');
      const requested = (p.all('scopes').join(',') || 'read,launch')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      const unknown = requested.filter((s) => !(SCOPES as readonly string[]).includes(s));
      if (unknown.length) throw badRequest(`unknown scope: ${unknown.join(', ')} (use read, launch, admin)`);
      const beyond = requested.filter((s) => !principal.scopes.has(s as Scope));
      if (beyond.length) throw badRequest(`your credential cannot grant: ${beyond.join(', ')}`);
      const days = Number(p.first('expiresDays') ?? DEFAULT_TOKEN_DAYS);
      if (!Number.isInteger(days) || days < 1 || days > MAX_TOKEN_DAYS) throw badRequest(`expiresDays must be a whole number from 1 to ${MAX_TOKEN_DAYS}`);
      const { token, info } = await store.createToken(principal.user.username, name, {
        scopes: requested as Scope[],
        expiresAt: new Date(Date.now() + days * 86400_000),
      });
      const { username: _, ...shown } = info;
      return sendJson(reply, { token, ...shown });
    },
  );

  app.post(
    '/auth/certificate',
    {
      schema: {
        tags,
        summary: 'A short-lived proxy certificate for the caller, from the platform CA (cadcproxy.pem layout)',
        querystring: Type.Object({ days: Type.Optional(Type.Integer({ minimum: 1, maximum: 30, description: 'Lifetime, default 10.' })) }),
        response: { 200: bodyOf('Proxy certificate, its key, the user certificate.', 'application/x-pem-file'), ...errorResponses },
      },
    },
    async (req, reply) => {
      const principal = requireUser(req);
      const { user } = principal;
      // A certificate acts with every scope: only a credential that already may do all of it gets
      // one (`admin` matters for members of the administrators' group only).
      const grants: Scope[] = ['read', 'launch', ...(policy.adminsGroup && inGroup(user, policy.adminsGroup) ? (['admin'] as const) : [])];
      const missing = grants.filter((s) => !principal.scopes.has(s));
      if (missing.length) throw forbidden(`a certificate carries every scope; this credential lacks ${missing.join(', ')}`);
      const ca = caDir ? readCa(caDir) : undefined;
      if (!ca) throw notFound('this server issues no certificates (no platform CA: skaha admin tls init)');
      const days = Number(Params.from(req).first('days') ?? 10);
      if (!Number.isInteger(days) || days < 1 || days > 30) throw badRequest('days must be a whole number from 1 to 30');
      const eec = issueUserCert(ca, user.username, days);
      const proxy = issueProxyCert(eec, { days });
      return reply
        .type('application/x-pem-file')
        .header('content-disposition', 'attachment; filename="cadcproxy.pem"')
        .header('cache-control', 'no-store')
        .send(proxyPem(proxy, [eec.certPem]));
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/auth/tokens/:id',
    {
      schema: {
        tags,
        summary: "Revoke one of the caller's tokens",
        params: Type.Object({ id: Type.String() }),
        response: { 200: Type.String(), ...errorResponses },
      },
    },
    async (req, reply) => {
      const { user } = requireUser(req);
      if (!(await store.revokeToken(user.username, req.params.id))) throw notFound(`no token ${req.params.id}`);
      return sendEmpty(reply);
    },
  );
};
