import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { SessionBackend } from '../../backends/backend.js';
import type { CachedCatalog } from '../../catalog/catalog.js';

function xmlEscape(text: string): string {
  return text.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/** Base URL of this request as the client sees it (keeps the port, unlike skaha: spec §11.25). */
function requestBase(req: FastifyRequest): string {
  return `${req.protocol}://${req.host}`;
}

const SECURITY = ['ivo://ivoa.net/sso#cookie', 'ivo://ivoa.net/sso#tls-with-certificate', 'ivo://ivoa.net/sso#token'];

function capability(standardID: string, accessURL: string, secured: boolean): string {
  const interfaces = (secured ? SECURITY : [undefined]).map((method) =>
    [
      '    <interface xmlns:vs="http://www.ivoa.net/xml/VODataService/v1.1" xsi:type="vs:ParamHTTP" role="std">',
      `      <accessURL use="base">${xmlEscape(accessURL)}</accessURL>`,
      ...(method ? [`      <securityMethod standardID="${method}"/>`] : []),
      '    </interface>',
    ].join('\n'),
  );
  return `  <capability standardID="${standardID}">\n${interfaces.join('\n')}\n  </capability>`;
}

function capabilitiesXml(base: string): string {
  const skaha = `${base}/skaha`;
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<vosi:capabilities xmlns:vosi="http://www.ivoa.net/xml/VOSICapabilities/v1.0" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">',
    capability('ivo://ivoa.net/std/VOSI#capabilities', `${skaha}/capabilities`, false),
    capability('ivo://ivoa.net/std/VOSI#availability', `${skaha}/availability`, false),
    capability('vos://cadc.nrc.ca~vospace/CADC/std/Logging#control-1.0', `${skaha}/logControl`, true),
    capability('vos://cadc.nrc.ca~vospace/CADC/std/Proc#sessions-1.0', `${skaha}/v0`, true),
    capability('http://www.opencadc.org/std/platform#session-1', `${skaha}/v1/session`, true),
    capability('http://www.opencadc.org/std/platform#context-1', `${skaha}/v1/context`, true),
    capability('http://www.opencadc.org/std/platform#image-1', `${skaha}/v1/image`, true),
    capability('http://www.opencadc.org/std/platform#repository-1', `${skaha}/v1/repository`, true),
    '</vosi:capabilities>',
    '',
  ].join('\n');
}

function availabilityXml(available: boolean, note: string): string {
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<vosi:availability xmlns:vosi="http://www.ivoa.net/xml/VOSIAvailability/v1.0">',
    `  <vosi:available>${available}</vosi:available>`,
    `  <vosi:note>${xmlEscape(note)}</vosi:note>`,
    '</vosi:availability>',
    '',
  ].join('\n');
}

/** Unauthenticated service endpoints (spec §3.13) and health. */
export const vosiRoutes: FastifyPluginAsync<{ backend: SessionBackend; catalog: CachedCatalog; readiness?: () => Promise<string | undefined> }> = async (
  app,
  { backend, catalog, readiness },
) => {
  app.get('/skaha/capabilities', { schema: { tags: ['vosi'], summary: 'VOSI capabilities (XML)' } }, async (req, reply) =>
    reply.type('text/xml').send(capabilitiesXml(requestBase(req))),
  );

  app.get('/skaha/availability', { schema: { tags: ['vosi'], summary: 'VOSI availability (XML)' } }, async (_req, reply) => {
    const engine = await backend.availability();
    const catalogProblem = catalog.problem();
    const note = engine.available && catalogProblem ? `${engine.note} Image catalog: ${catalogProblem}` : engine.note;
    return reply.type('text/xml').send(availabilityXml(engine.available, note));
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
      const engine = await backend.availability();
      const problem = engine.available ? await readiness?.() : engine.note;
      return reply
        .code(problem ? 503 : 200)
        .type('text/plain')
        .send(problem ? `not ready: ${problem}\n` : 'ready\n');
    },
  );
};
