import type { FastifyPluginAsync } from 'fastify';
import { Type } from '@sinclair/typebox';
import { badRequest, notFound } from '../../common/errors.js';
import type { RegistryCredentials } from '../../store/store.js';
import { requireUser } from '../deps.js';
import { sendEmpty, sendJson } from '../replies.js';
import { errorResponses } from '../session/schemas.js';

const CredentialInfo = Type.Object({ host: Type.String(), username: Type.String(), updatedAt: Type.String() });

/**
 * The caller's stored registry credentials (spec §7 without the header on every launch): used
 * to pull their private images. Secrets go in, never out.
 */
export const registryCredentialRoutes: FastifyPluginAsync<{ credentials: RegistryCredentials; registryHosts: string[] }> = async (
  app,
  { credentials, registryHosts },
) => {
  const tags = ['account'];

  app.get(
    '/auth/registry',
    {
      schema: {
        tags,
        summary: 'Registries the caller has credentials stored for (never the secrets)',
        response: { 200: Type.Array(CredentialInfo), ...errorResponses },
      },
    },
    async (req, reply) => sendJson(reply, await credentials.list(requireUser(req).user.username)),
  );

  app.put<{ Params: { host: string } }>(
    '/auth/registry/:host',
    {
      schema: {
        tags,
        summary:
          "Store (or replace) the caller's credentials for one registry host; form or JSON body with username and secret (a Harbor CLI secret or robot token works)",
        params: Type.Object({ host: Type.String() }),
        response: { ...errorResponses },
      },
    },
    async (req, reply) => {
      const { user } = requireUser(req);
      const host = req.params.host;
      if (!registryHosts.includes(host)) throw badRequest(`not a registry of this platform: ${host} (one of [${registryHosts.join(', ')}])`);
      // From the body only: a secret in a query string would end up in access logs.
      const body = typeof req.body === 'string' ? Object.fromEntries(new URLSearchParams(req.body)) : ((req.body ?? {}) as Record<string, unknown>);
      const username = typeof body.username === 'string' ? body.username.trim() : '';
      const secret = typeof body.secret === 'string' ? body.secret : '';
      if (!username || username.includes(':')) throw badRequest("a registry username is required (without ':')");
      if (!secret) throw badRequest('a registry secret is required, in the request body');
      await credentials.set(user.username, host, { username, password: secret });
      return sendEmpty(reply);
    },
  );

  app.delete<{ Params: { host: string } }>(
    '/auth/registry/:host',
    {
      schema: {
        tags,
        summary: "Forget the caller's credentials for one registry host",
        params: Type.Object({ host: Type.String() }),
        response: { ...errorResponses },
      },
    },
    async (req, reply) => {
      const { user } = requireUser(req);
      if (!(await credentials.delete(user.username, req.params.host))) throw notFound(`no credentials stored for ${req.params.host}`);
      return sendEmpty(reply);
    },
  );
};
