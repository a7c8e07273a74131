import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { SessionService } from '../../sessions/service.js';
import type { CachedCatalog } from '../../catalog/catalog.js';
import { availabilityDocument, capabilitiesDocument, capability, SECURITY_METHODS } from '../xml.js';

/** Base URL of this request as the client sees it (keeps the port, unlike skaha: spec §11.25). */
export function requestBase(req: FastifyRequest): string {
  return `${req.protocol}://${req.host}`;
}

function capabilitiesXml(base: string): string {
  const skaha = `${base}/skaha`;
  return capabilitiesDocument([
    capability('ivo://ivoa.net/std/VOSI#capabilities', `${skaha}/capabilities`, []),
    capability('ivo://ivoa.net/std/VOSI#availability', `${skaha}/availability`, []),
    capability('vos://cadc.nrc.ca~vospace/CADC/std/Logging#control-1.0', `${skaha}/logControl`, SECURITY_METHODS),
    capability('vos://cadc.nrc.ca~vospace/CADC/std/Proc#sessions-1.0', `${skaha}/v0`, SECURITY_METHODS),
    capability('http://www.opencadc.org/std/platform#session-1', `${skaha}/v1/session`, SECURITY_METHODS),
    capability('http://www.opencadc.org/std/platform#context-1', `${skaha}/v1/context`, SECURITY_METHODS),
    capability('http://www.opencadc.org/std/platform#image-1', `${skaha}/v1/image`, SECURITY_METHODS),
    capability('http://www.opencadc.org/std/platform#repository-1', `${skaha}/v1/repository`, SECURITY_METHODS),
  ]);
}

/** Unauthenticated service endpoints (spec §3.13) and health. */
export const vosiRoutes: FastifyPluginAsync<{
  service: Pick<SessionService, 'engineAvailability'>;
  catalog: CachedCatalog;
  readiness?: () => Promise<string | undefined>;
}> = async (app, { service, catalog, readiness }) => {
  app.get('/skaha/capabilities', { schema: { tags: ['vosi'], summary: 'VOSI capabilities (XML)' } }, async (req, reply) =>
    reply.type('text/xml').send(capabilitiesXml(requestBase(req))),
  );

  app.get('/skaha/availability', { schema: { tags: ['vosi'], summary: 'VOSI availability (XML)' } }, async (_req, reply) => {
    const engine = await service.engineAvailability();
    const catalogProblem = catalog.problem();
    const note = engine.available && catalogProblem ? `${engine.note} Image catalog: ${catalogProblem}` : engine.note;
    return reply.type('text/xml').send(availabilityDocument(engine.available, note));
  });

  // The Python CLI marks a server alive when HEAD/GET /skaha answers 200 (spec §3.13).
  app.get('/skaha', { schema: { hide: true } }, async (_req, reply) =>
    reply.type('text/plain').send('skaha: see /skaha/capabilities and /skaha/openapi.json\n'),
  );

  app.get('/healthz', { schema: { tags: ['vosi'], summary: 'Liveness: the process serves requests' } }, async (_req, reply) =>
    reply.type('text/plain').send('ok\n'),
  );

  // Readiness: the engine answers and the session index follows it (on Kubernetes, the watches
  // are live). A server whose watch is broken lists sessions as they were: a load balancer
  // should send requests to another one. 503 with the reason, for a probe's log.
  app.get(
    '/readyz',
    { schema: { tags: ['vosi'], summary: 'Readiness: the engine answers and the session list follows it (503 otherwise)' } },
    async (_req, reply) => {
      const engine = await service.engineAvailability();
      const problem = engine.available ? await readiness?.() : engine.note;
      return reply
        .code(problem ? 503 : 200)
        .type('text/plain')
        .send(problem ? `not ready: ${problem}\n` : 'ready\n');
    },
  );
};
