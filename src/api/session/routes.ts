import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import { badRequest, notFound } from '../../common/errors.js';
import { requireAdmin, requireUser, requireUserOrDesktop, type VersionOptions } from '../deps.js';
import { Params } from '../params.js';
import { sendEmpty, sendJson, sendText } from '../replies.js';

/** A comment on an idle event stream this often, so that proxies and load balancers keep it open. */
const SSE_KEEPALIVE_MS = 25_000;
import { eventsTable, publicSessionView, sessionView, statsView } from './views.js';
import * as S from './schemas.js';

const REGISTRY_AUTH_HEADER = 'x-skaha-registry-auth';

/** Registry credentials for a private image (spec §7), for session and desktop-app launches. */
function registryAuthHeader(req: FastifyRequest): string | undefined {
  const value = req.headers[REGISTRY_AUTH_HEADER];
  return typeof value === 'string' ? value : undefined;
}

/** /session, /session/{id}, /session/{id}/app[/{appID}] (spec §2, §3.1-§3.9). */
export const sessionRoutes: FastifyPluginAsync<VersionOptions> = async (app, { version, deps }) => {
  const { service } = deps;
  const view = () => ({ sessionBase: deps.sessionBase, layout: deps.layout, version });
  // v1 hides desktop-apps from the list unless asked for them; v0 lists them (spec §3.1).
  const includeApps = version === 'v0';
  const tags = ['session'];

  // The portal's live list: the caller's sessions as server-sent events, sent again whenever the
  // session index changes (a launch, a status, a deletion; live usage rides along with the next
  // change), with a comment every 25 s to keep proxies from closing it. Not in the OpenAPI document: it never ends, and skaha's clients poll /session.
  app.get('/session/events', { schema: { hide: true } }, async (req, reply) => {
    const { user } = requireUser(req);
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
    let last = '';
    const send = () => {
      // One line of JSON: an event's data ends at the line's end (Gson's pretty printing would cut it).
      const text = JSON.stringify(service.list(user, {}, { includeApps }).map((s) => sessionView(s, view())));
      if (text === last) return;
      last = text;
      res.write(`event: sessions\ndata: ${text}\n\n`);
    };
    send();
    const stop = service.onSessionsChanged(send);
    const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), SSE_KEEPALIVE_MS);
    req.raw.socket.once('close', () => {
      stop();
      clearInterval(keepAlive);
    });
  });

  app.get(
    '/session',
    { schema: { tags, summary: "List the caller's sessions", querystring: S.ListQuery, response: { 200: Type.Array(S.SessionObject), ...S.errorResponses } } },
    async (req, reply) => {
      const { user } = requireUser(req);
      const p = Params.from(req);
      const filter = { type: p.first('type'), status: p.first('status') };
      const which = p.first('view');
      if (which === 'stats') {
        return sendJson(reply, statsView(service.listAll({}, { includeApps: true }), await service.capacity()));
      }
      if (which === 'all') {
        requireAdmin(req, deps.policy);
        return sendJson(
          reply,
          service.listAll(filter, { includeApps }).map((s) => publicSessionView(s, version)),
        );
      }
      if (which === 'interactive' && version === 'v1') {
        const sessions = service.list(user, { status: filter.status }, { includeApps: true }).filter((s) => s.type !== 'headless');
        return sendJson(
          reply,
          sessions.map((s) => sessionView(s, view())),
        );
      }
      return sendJson(
        reply,
        service.list(user, filter, { includeApps }).map((s) => sessionView(s, view())),
      );
    },
  );

  app.post(
    '/session',
    { schema: { tags, summary: 'Launch a session', querystring: S.LaunchQuery, response: { 200: S.PlainId, ...S.errorResponses } } },
    async (req, reply) => {
      const { user } = requireUser(req);
      const p = Params.from(req);
      const id = await service.launch(
        user,
        {
          name: p.first('name'),
          image: p.first('image'),
          type: p.first('type'),
          cores: p.first('cores'),
          ram: p.first('ram'),
          gpus: p.first('gpus'),
          cmd: p.first('cmd'),
          args: p.first('args'),
          env: p.all('env'),
          registryAuth: registryAuthHeader(req),
        },
        version,
      );
      return sendText(reply, `${id}\n`);
    },
  );

  app.delete('/session', { schema: { tags, summary: 'Refused: sessions are deleted one at a time', response: S.errorResponses } }, async () => {
    throw badRequest('Cannot kill all sessions.');
  });

  app.get<{ Params: { id: string } }>(
    '/session/:id',
    {
      schema: {
        tags,
        summary: 'One session, its logs or its events',
        params: S.SessionIdParams,
        querystring: S.GetQuery,
        response: {
          200: {
            description: 'The session (JSON); its logs or events (view=logs, view=events) as text.',
            content: { 'application/json': { schema: S.SessionObject }, 'text/plain': { schema: Type.String() } },
          },
          ...S.errorResponses,
        },
      },
    },
    async (req, reply) => {
      const { user } = requireUser(req);
      const { id } = req.params;
      const which = Params.from(req).first('view');
      if (which === 'logs') return sendText(reply, await service.logs(user, id));
      if (which === 'events') {
        const events = await service.events(user, id).catch((err) => {
          throw err?.statusCode === 404 ? notFound(`session ${id} not found.`) : err;
        });
        return sendText(reply, eventsTable(events));
      }
      // Any other view (the Python client sends `view=event`) gives the object (spec §11.8).
      return sendJson(reply, sessionView(service.get(user, id), view()));
    },
  );

  app.post<{ Params: { id: string } }>(
    '/session/:id',
    {
      schema: {
        tags,
        summary: 'Renew a session (action=renew)',
        params: S.SessionIdParams,
        querystring: S.RenewQuery,
        response: { 200: S.Empty, ...S.errorResponses },
      },
    },
    async (req, reply) => {
      const { user } = requireUser(req);
      const action = Params.from(req).first('action');
      if (action === undefined) throw badRequest('Cannot modify an existing session');
      if (action.toLowerCase() !== 'renew') throw badRequest('unrecognized action');
      await service.renew(user, req.params.id);
      return sendEmpty(reply);
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/session/:id',
    { schema: { tags, summary: 'Delete a session', params: S.SessionIdParams, response: { 200: S.Empty, ...S.errorResponses } } },
    async (req, reply) => {
      const { user } = requireUser(req);
      await service.delete(user, req.params.id);
      return sendEmpty(reply);
    },
  );

  // --- desktop-apps (spec §3.9) -----------------------------------------------------------
  const appTags = ['desktop-app'];

  app.get<{ Params: { id: string } }>(
    '/session/:id/app',
    {
      schema: {
        tags: appTags,
        summary: "List the caller's desktop-apps",
        params: S.SessionIdParams,
        response: { 200: Type.Array(S.SessionObject), ...S.errorResponses },
      },
    },
    async (req, reply) => {
      const { user } = requireUserOrDesktop(req, req.params.id);
      const p = Params.from(req);
      const apps = service.apps(user, { status: p.first('status') });
      if (p.first('view') === 'all') {
        requireAdmin(req, deps.policy);
        return sendJson(
          reply,
          service.listAll({ type: 'desktop-app', status: p.first('status') }, { includeApps: true }).map((s) => publicSessionView(s, version)),
        );
      }
      return sendJson(
        reply,
        apps.map((s) => sessionView(s, view())),
      );
    },
  );

  app.post<{ Params: { id: string } }>(
    '/session/:id/app',
    {
      schema: {
        tags: appTags,
        summary: 'Launch a desktop-app on a desktop',
        params: S.SessionIdParams,
        querystring: S.AppLaunchQuery,
        response: { 200: S.PlainId, ...S.errorResponses },
      },
    },
    async (req, reply) => {
      const { user } = requireUserOrDesktop(req, req.params.id);
      const p = Params.from(req);
      const appId = await service.launchApp(user, req.params.id, {
        image: p.first('image'),
        cores: p.first('cores'),
        ram: p.first('ram'),
        registryAuth: registryAuthHeader(req),
      });
      return sendText(reply, `${appId}\n`);
    },
  );

  app.delete(
    '/session/:id/app',
    { schema: { tags: appTags, summary: 'Refused: name the app', params: S.SessionIdParams, response: S.errorResponses } },
    async () => {
      throw badRequest('Missing app ID');
    },
  );

  app.get<{ Params: { id: string; appId: string } }>(
    '/session/:id/app/:appId',
    { schema: { tags: appTags, summary: 'One desktop-app', params: S.AppParams, response: { 200: S.SessionObject, ...S.errorResponses } } },
    async (req, reply) => {
      const { user } = requireUserOrDesktop(req, req.params.id);
      return sendJson(reply, sessionView(service.getApp(user, req.params.id, req.params.appId), view()));
    },
  );

  app.post(
    '/session/:id/app/:appId',
    { schema: { tags: appTags, summary: 'Refused: apps cannot be modified', params: S.AppParams, response: S.errorResponses } },
    async () => {
      throw badRequest('Cannot modify an existing app.');
    },
  );

  app.delete<{ Params: { id: string; appId: string } }>(
    '/session/:id/app/:appId',
    { schema: { tags: appTags, summary: 'Delete a desktop-app', params: S.AppParams, response: { 200: S.Empty, ...S.errorResponses } } },
    async (req, reply) => {
      const { user } = requireUserOrDesktop(req, req.params.id);
      await service.deleteApp(user, req.params.id, req.params.appId);
      return sendEmpty(reply);
    },
  );

  // Whatever else is under /session/: a trailing slash is a lookup of the empty ID (404,
  // spec §11.22); more than 3 segments is a bad request (spec §1.1).
  app.all('/session/*', { schema: { hide: true } }, async (req: FastifyRequest) => {
    requireUser(req);
    const rest = (req.params as { '*': string })['*'] ?? '';
    if (rest.split('/').length > 3) throw badRequest(`Invalid request: ${rest}`);
    throw notFound(`session ${rest.split('/')[0] ?? ''} not found`);
  });
};
