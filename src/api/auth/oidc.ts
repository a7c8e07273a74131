import type { FastifyPluginAsync } from 'fastify';
import { Type } from '@sinclair/typebox';
import { notFound } from '../../common/errors.js';
import { sendJson } from '../replies.js';
import { PlainError } from '../session/schemas.js';

/** What a client needs to log in with the server's OIDC issuer. Everything in it is public. */
export interface OidcOffer {
  issuer: string;
  /** A public client (no secret): the CLI runs on users' machines. */
  clientId: string;
  /** The `aud` the server wants in access tokens; a URL is sent as the RFC 8707 `resource`. */
  audience: string;
  scopes: string[];
}

const OidcOfferSchema = Type.Object({
  issuer: Type.String({ description: 'Issuer URL; its discovery document is at <issuer>/.well-known/openid-configuration.' }),
  clientId: Type.String({ description: 'Public client id to log in with (device flow, or authorization code with PKCE on a loopback redirect).' }),
  audience: Type.String({ description: 'The `aud` access tokens must carry here.' }),
  scopes: Type.Array(Type.String(), { description: 'Scopes to ask for.' }),
});

/**
 * The offer made from the `oidc` config section: the CLI's client id (falling back to the
 * server's), and the audience the bearer authenticator checks (`audience`, else the client id).
 * Undefined without an issuer or a client id, since then there is nothing to log in with.
 */
export function oidcOfferOf(c: { issuer: string; audience: string; clientId: string; cliClientId: string; cliScopes: string[] }): OidcOffer | undefined {
  const clientId = c.cliClientId || c.clientId;
  if (!c.issuer || !clientId) return undefined;
  return { issuer: c.issuer, clientId, audience: c.audience || c.clientId, scopes: c.cliScopes };
}

const NOT_CONFIGURED = 'OIDC login is not configured on this server';

/**
 * `GET /auth/oidc`: how a command-line client logs in (`skaha login URL --oidc`). It is read
 * before the client has any credential, so it takes none (route config `anonymous`), and it
 * never carries the server's own client secret.
 */
export const oidcOfferRoutes: FastifyPluginAsync<{ offer?: OidcOffer | undefined }> = async (app, { offer }) => {
  app.get(
    '/auth/oidc',
    {
      config: { anonymous: true },
      schema: {
        tags: ['account'],
        summary: 'How to log in with OIDC from a command line: issuer, public client id, audience, scopes (no credentials needed)',
        security: [],
        response: { 200: OidcOfferSchema, 404: PlainError },
      },
    },
    async (_req, reply) => {
      if (!offer) throw notFound(NOT_CONFIGURED);
      return sendJson(reply, offer);
    },
  );
};
