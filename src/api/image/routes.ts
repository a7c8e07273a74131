import type { FastifyPluginAsync } from 'fastify';
import { Type } from '@sinclair/typebox';
import { badRequest } from '../../common/errors.js';
import { SESSION_TYPES } from '../../sessions/model.js';
import { principalOf, type VersionOptions } from '../deps.js';
import { Params } from '../params.js';
import { gson } from '../gson.js';
import { sendJson } from '../replies.js';
import { errorResponses } from '../session/schemas.js';
import type { CatalogImage } from '../../catalog/catalog.js';

const GZIP_FROM_BYTES = 8192;

const ImageObject = Type.Object({
  id: Type.String({ examples: ['images.canfar.net/skaha/headless:1.0'] }),
  types: Type.Array(Type.String()),
  digest: Type.String(),
  title: Type.Optional(Type.String({ description: 'the OCI title label (only with detail=description)' })),
  description: Type.Optional(Type.String({ description: 'the OCI description label (only with detail=description)' })),
});

/** What `detail=description` adds after skaha's three keys: the image's OCI title and description. */
const described = ({ id, types, digest, title, description }: CatalogImage) => ({
  id,
  types,
  digest,
  ...(title ? { title } : {}),
  ...(description ? { description } : {}),
});

/** /image, /context, /repository (spec §3.10-§3.12). */
export const catalogRoutes: FastifyPluginAsync<VersionOptions> = async (app, { deps }) => {
  app.get(
    '/image',
    {
      schema: {
        tags: ['image'],
        summary: 'Launchable images, optionally of one session type',
        description:
          'Each image is `{id, types, digest}` in that order, as skaha answers. `detail=description` adds the ' +
          "image's OCI `title` and `description` labels where it has them (the portal's picker shows them).",
        querystring: Type.Object({
          type: Type.Optional(Type.String({ enum: [...SESSION_TYPES] })),
          detail: Type.Optional(Type.String({ enum: ['description'] })),
        }),
        response: { 200: Type.Array(ImageObject), ...errorResponses },
      },
    },
    async (req, reply) => {
      principalOf(req); // users and desktop callback tokens alike (spec §6.5)
      const type = Params.from(req).first('type');
      // Exact, case-sensitive membership (spec §3.10).
      if (type !== undefined && !(SESSION_TYPES as readonly string[]).includes(type)) throw badRequest(`unknown type: ${type}`);
      const detail = Params.from(req).first('detail');
      if (detail !== undefined && detail !== 'description') throw badRequest(`unknown detail: ${detail} (only 'description')`);
      const rendered = detail
        ? deps.catalog.rendered(`${type ?? ''}+description`, type, (images) => gson(images.map(described)))
        : deps.catalog.rendered(type ?? '', type, (images) => gson(images.map(({ id, types, digest }) => ({ id, types, digest }))));
      reply.type('application/json').header('vary', 'accept-encoding');
      // Thousands of images are ~150 bytes each: gzip (made once per catalog change) cuts 90%.
      if (rendered.body.length > GZIP_FROM_BYTES && /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''))) {
        return reply.header('content-encoding', 'gzip').send(rendered.gzipped());
      }
      return reply.send(rendered.body);
    },
  );

  app.get(
    '/context',
    {
      schema: {
        tags: ['context'],
        summary: 'Cores, RAM and GPU options and defaults',
        response: { 200: Type.Object({}, { additionalProperties: true }), ...errorResponses },
      },
    },
    async (req, reply) => {
      principalOf(req); // users and desktop callback tokens alike (spec §6.5)
      return sendJson(reply, deps.context());
    },
  );

  app.get(
    '/repository',
    {
      schema: { tags: ['repository'], summary: 'Configured registry hosts', response: { 200: Type.Array(Type.String()), ...errorResponses } },
    },
    async (_req, reply) => sendJson(reply, deps.registryHosts),
  );
};
