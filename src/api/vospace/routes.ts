import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { Readable } from 'node:stream';
import { badRequest, SkahaError } from '../../common/errors.js';
import type { StorageNode, UserFiles } from '../../storage/files.js';
import type { User } from '../../store/store.js';
import { requireUser } from '../deps.js';
import { requestBase } from '../vosi/routes.js';
import { availabilityDocument, capabilitiesDocument, capability, SECURITY_METHODS } from '../xml.js';
import {
  jobDocument,
  nodeDocument,
  parseNodeDocument,
  parseNodeProperties,
  parseTransfer,
  pathOfUri,
  PROTOCOL,
  transferDocument,
  type TransferRequest,
} from './documents.js';
import { TransferJobs, type TransferJob } from './jobs.js';

/** Where the storage service lives, and the resource IDs `vos` looks it up by in the registry. */
const ARC = '/arc';
const RESOURCE_IDS = ['ivo://cadc.nrc.ca/arc', 'ivo://opencadc.org/arc', 'ivo://canfar.net/cavern'];
const TEXT_LIMIT = 1024 * 1024;
const DEFAULT_PAGE = 10_000;
/**
 * A download reads 4 MiB at a time: against 1 MiB, a cold 1 GiB file came down about a tenth
 * faster (the disk reads further ahead of the socket), for 4 MiB of memory per download.
 */
const READ_CHUNK = 4 * 1024 * 1024;

/** A request body (this plugin keeps bodies as streams), as text: node and transfer documents. */
async function bodyText(req: FastifyRequest): Promise<string> {
  const stream = (req.body as Readable | undefined) ?? req.raw;
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of stream) {
    size += (chunk as Buffer).length;
    if (size > TEXT_LIMIT) throw new SkahaError('SKAHA_ERR_PAYLOAD_TOO_LARGE', `request body larger than ${TEXT_LIMIT} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The node path of a route's wildcard. An encoded `/` or `\` would hide a segment from the checks: refused. */
function nodePath(req: FastifyRequest): string {
  const raw = req.url.split('?')[0] ?? '';
  if (/%2f|%5c|%00/i.test(raw)) throw badRequest('invalid path: encoded slashes and NUL bytes are not allowed');
  return `/${(req.params as { '*'?: string })['*'] ?? ''}`;
}

function filesUrl(req: FastifyRequest, path: string): string {
  return `${requestBase(req)}${ARC}/files${path.split('/').map(encodeURIComponent).join('/')}`;
}

/** The `Digest: md5=<base64>` header value of a hex MD5, and back. */
const digestHeader = (md5: string) => `md5=${Buffer.from(md5, 'hex').toString('base64')}`;
function md5OfDigest(header: string | string[] | undefined): string | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  const match = value && /(?:^|,)\s*md5=([A-Za-z0-9+/=]+)/i.exec(value);
  if (!match) return undefined;
  const bytes = Buffer.from(match[1]!, 'base64');
  return bytes.length === 16 ? bytes.toString('hex') : undefined;
}

/** The one byte range of a `Range: bytes=a-b` header, or undefined for the whole file; 416 when unsatisfiable. */
function byteRange(header: string | undefined, size: number): { start: number; end: number } | 'unsatisfiable' | undefined {
  const match = header && /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match || (match[1] === '' && match[2] === '')) return undefined;
  let start: number;
  let end: number;
  if (match[1] === '') {
    start = Math.max(0, size - Number(match[2]));
    end = size - 1;
  } else {
    start = Number(match[1]);
    end = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
  }
  return start > end || start >= size ? 'unsatisfiable' : { start, end };
}

/** The group URI a node's access properties name: its project's group, or none. */
function accessGroup(node: StorageNode): string {
  return node.group ? `ivo://cadc.nrc.ca/gms?${node.group}` : '';
}

/** Empty, `NONE` and absent all mean no group (vos writes `NONE`). */
const normalised = (value: string) => (value.trim().toUpperCase() === 'NONE' ? '' : value.trim());

function fault(err: unknown): string {
  if (!(err instanceof SkahaError)) return 'InternalFault';
  // The fault words `vos` maps to errno (cadcutils netutils.check_job_error).
  if (err.statusCode === 404) return 'NodeNotFound';
  if (err.statusCode === 403) return 'PermissionDenied';
  if (err.statusCode === 409) return 'DuplicateNode.';
  return `InvalidArgument: ${err.message}`;
}

/**
 * The storage service (issue 19): the IVOA VOSpace 2.1 REST binding as cavern serves it, over
 * the tree sessions mount, for CADC's `vos` tools, `canfar data` and the platform's own CLI and
 * portal. Bodies stay streams here (uploads may be gigabytes); documents are read with a cap.
 */
export const vospaceRoutes: FastifyPluginAsync<{ files: UserFiles }> = async (app, { files }) => {
  const jobs = new TransferJobs();
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_req, payload, done) => done(null, payload));

  const userOf = (req: FastifyRequest): User => requireUser(req).user;
  const anonymous = { config: { anonymous: true } };
  const hidden = { schema: { hide: true } };

  // The registry `vos` reads (VOSPACE_WEBSERVICE=<host:port>): resource ID = capabilities URL.
  app.get('/reg/resource-caps', hidden, async (req, reply) => {
    const caps = `${requestBase(req)}${ARC}/capabilities`;
    const skaha = `${requestBase(req)}/skaha/capabilities`;
    const lines = [...RESOURCE_IDS.map((id) => `${id} = ${caps}`), `ivo://cadc.nrc.ca/skaha = ${skaha}`, `ivo://canfar.net/skaha = ${skaha}`];
    return reply.type('text/plain').send(`# resource ID = capabilities URL (this skaha platform)\n${lines.join('\n')}\n`);
  });

  app.get(`${ARC}/capabilities`, { ...anonymous, ...hidden }, async (req, reply) => {
    const base = `${requestBase(req)}${ARC}`;
    const document = capabilitiesDocument([
      capability('ivo://ivoa.net/std/VOSI#capabilities', `${base}/capabilities`, []),
      capability('ivo://ivoa.net/std/VOSI#availability', `${base}/availability`, []),
      capability('ivo://ivoa.net/std/VOSpace/v2.0#nodes', `${base}/nodes`, SECURITY_METHODS, '2.1'),
      capability('ivo://ivoa.net/std/VOSpace#sync-2.1', `${base}/synctrans`, SECURITY_METHODS, '2.1'),
      capability('ivo://ivoa.net/std/VOSpace/v2.0#transfers', `${base}/transfers`, SECURITY_METHODS, '2.1'),
      capability('ivo://ivoa.net/std/VOSpace#files-proto', `${base}/files`, SECURITY_METHODS, '2.1'),
    ]);
    return reply.type('text/xml').send(document);
  });

  app.get(`${ARC}/availability`, { ...anonymous, ...hidden }, async (_req, reply) =>
    reply.type('text/xml').send(availabilityDocument(true, 'the storage service is accepting requests')),
  );

  // ---- nodes ----

  const sendNode = async (reply: FastifyReply, user: User, node: StorageNode, status = 200, limit?: number, after?: string) => {
    const children =
      node.type === 'container' && limit !== 0 ? await files.list(user, node.path, { limit: limit ?? DEFAULT_PAGE, ...(after ? { after } : {}) }) : undefined;
    return reply.code(status).type('text/xml').send(nodeDocument(node, children));
  };

  for (const route of [`${ARC}/nodes`, `${ARC}/nodes/*`]) {
    app.get(route, hidden, async (req, reply) => {
      const user = userOf(req);
      const query = req.query as { limit?: string; uri?: string };
      const limit = query.limit === undefined ? undefined : Number(query.limit);
      if (limit !== undefined && (!Number.isInteger(limit) || limit < 0)) throw badRequest(`invalid limit: ${query.limit}`);
      const after = query.uri ? pathOfUri(query.uri).split('/').pop() : undefined;
      return sendNode(reply, user, await files.stat(user, nodePath(req)), 200, limit, after);
    });

    app.put(route, hidden, async (req, reply) => {
      const user = userOf(req);
      const path = nodePath(req);
      const wanted = parseNodeDocument(await bodyText(req));
      if (wanted.type === 'link') throw badRequest('link nodes are not supported: use a symlink inside a session');
      const node = wanted.type === 'container' ? await files.mkdir(user, path) : (await files.write(user, path, Readable.from([]))).node;
      return sendNode(reply, user, node, 201, 0);
    });

    // Access follows the files' POSIX owner, group and mode, which sessions see: an update that
    // restates the node (vcp posts one to touch an identical file) is answered with the node; one
    // that would change who may read or write it (vchmod) is refused, not silently ignored.
    app.post(route, hidden, async (req, reply) => {
      const user = userOf(req);
      const wanted = parseNodeProperties(await bodyText(req));
      const node = await files.stat(user, nodePath(req));
      const current: Record<string, string> = { ispublic: 'false', groupread: accessGroup(node), groupwrite: accessGroup(node) };
      for (const [key, value] of Object.entries(wanted)) {
        if (key in current && normalised(value) !== normalised(current[key]!)) {
          throw badRequest(`${key} cannot be changed here: a home is its owner's, a project its group's (change modes inside a session with chmod)`);
        }
      }
      return sendNode(reply, user, node, 200, 0);
    });

    app.delete(route, hidden, async (req, reply) => {
      await files.remove(userOf(req), nodePath(req));
      return reply.code(204).send();
    });
  }

  // ---- bytes ----

  const sendFile = async (req: FastifyRequest, reply: FastifyReply, head: boolean) => {
    const { node, handle } = await files.read(userOf(req), nodePath(req));
    const range = byteRange(req.headers.range, node.size);
    void reply
      .header('accept-ranges', 'bytes')
      .header('last-modified', node.modified.toUTCString())
      .header('content-disposition', `inline; filename="${encodeURIComponent(node.path.split('/').pop() ?? 'file')}"`)
      .type('application/octet-stream');
    if (node.md5) void reply.header('digest', digestHeader(node.md5));
    if (range === 'unsatisfiable') {
      await handle.close();
      return reply.code(416).header('content-range', `bytes */${node.size}`).send();
    }
    const { start, end } = range ?? { start: 0, end: node.size - 1 };
    void reply.header('content-length', String(Math.max(0, end - start + 1)));
    if (range) void reply.code(206).header('content-range', `bytes ${start}-${end}/${node.size}`);
    if (head || node.size === 0) {
      await handle.close();
      return reply.send();
    }
    return reply.send(handle.createReadStream({ start, end, highWaterMark: READ_CHUNK }));
  };

  app.get(`${ARC}/files/*`, { ...hidden, exposeHeadRoute: false }, (req, reply) => sendFile(req, reply, false));
  app.head(`${ARC}/files/*`, hidden, (req, reply) => sendFile(req, reply, true));

  app.put(`${ARC}/files/*`, hidden, async (req, reply) => {
    const user = userOf(req);
    const path = nodePath(req);
    const length = req.headers['content-length'] === undefined ? undefined : Number(req.headers['content-length']);
    // cadcutils opens a put transaction for files over 5 GiB with an empty PUT; without a
    // transaction id in the answer it sends the whole file in one PUT next: change nothing now.
    if (req.headers['x-put-txn-op'] === 'start' && length === 0 && req.headers['x-total-length']) return reply.code(204).send();
    const md5 = md5OfDigest(req.headers.digest);
    const body = (req.body as Readable | undefined) ?? req.raw;
    const { md5: written } = await files.write(user, path, body, { ...(md5 ? { md5 } : {}), ...(length !== undefined ? { length } : {}) });
    return reply.code(201).header('digest', digestHeader(written)).send();
  });

  // ---- transfers ----

  /** Negotiate a synchronous transfer: where the bytes go or come from, as a job to read back. */
  const negotiate = async (req: FastifyRequest, user: User, request: TransferRequest): Promise<TransferJob> => {
    const path = pathOfUri(request.target);
    const push = request.direction === 'pushToVoSpace';
    if (!push && request.direction !== 'pullFromVoSpace')
      return jobs.create(user.username, request, { phase: 'ERROR', error: `InvalidArgument: direction ${request.direction}` });
    try {
      if (push) {
        const parent = path.split('/').slice(0, -1).join('/') || '/';
        const container = await files.stat(user, parent);
        if (container.type !== 'container') throw badRequest(`not a container: ${parent}`);
      } else {
        const node = await files.stat(user, path);
        if (node.type !== 'data') throw badRequest(`not a file: ${path}`);
      }
    } catch (err) {
      if (err instanceof SkahaError && err.statusCode < 500) return jobs.create(user.username, request, { phase: 'ERROR', error: fault(err) });
      throw err;
    }
    const wanted = request.protocols.length > 0 ? request.protocols : [push ? PROTOCOL.put : PROTOCOL.get];
    const offered = new Set<string>(push ? [PROTOCOL.put, PROTOCOL.httpPut] : [PROTOCOL.get, PROTOCOL.httpGet]);
    const endpoints = [...new Set(wanted)].filter((p) => offered.has(p)).map((protocol) => ({ protocol, endpoint: filesUrl(req, path) }));
    if (endpoints.length === 0) return jobs.create(user.username, request, { phase: 'ERROR', error: 'ProtocolNotSupported' });
    return jobs.create(user.username, request, { phase: 'EXECUTING', endpoints });
  };

  app.post(`${ARC}/synctrans`, hidden, async (req, reply) => {
    const user = userOf(req);
    const job = await negotiate(req, user, parseTransfer(await bodyText(req)));
    return reply
      .code(303)
      .header('location', `${requestBase(req)}${ARC}/synctrans/${job.id}/results/transferDetails`)
      .send();
  });

  app.post(`${ARC}/transfers`, hidden, async (req, reply) => {
    const user = userOf(req);
    const request = parseTransfer(await bodyText(req));
    const job = request.direction.startsWith('vos://') ? jobs.create(user.username, request) : await negotiate(req, user, request);
    return reply
      .code(303)
      .header('location', `${requestBase(req)}${ARC}/transfers/${job.id}`)
      .send();
  });

  for (const kind of ['synctrans', 'transfers'] as const) {
    const base = `${ARC}/${kind}/:id`;
    const jobOf = (req: FastifyRequest) => jobs.get(userOf(req).username, (req.params as { id: string }).id);
    app.get(base, hidden, async (req, reply) => reply.type('text/xml').send(jobDocument(jobOf(req))));
    app.get(`${base}/phase`, hidden, async (req, reply) => reply.type('text/plain').send(jobOf(req).phase));
    app.get(`${base}/error`, hidden, async (req, reply) => reply.type('text/plain').send(jobOf(req).error ?? ''));
    app.get(`${base}/results/transferDetails`, hidden, async (req, reply) => {
      const job = jobOf(req);
      return reply.type('text/xml').send(transferDocument(job.request, job.endpoints));
    });
    // PHASE=RUN starts a move (the only asynchronous transfer here); it is one rename, done at once.
    app.post(`${base}/phase`, hidden, async (req, reply) => {
      const user = userOf(req);
      const job = jobOf(req);
      const phase = new URLSearchParams(await bodyText(req)).get('PHASE')?.toUpperCase();
      if (phase === 'RUN' && job.phase === 'PENDING') {
        job.phase = 'EXECUTING';
        try {
          if (job.request.keepBytes) throw badRequest('copying nodes is not supported; move them (keepBytes=false)');
          await files.move(user, pathOfUri(job.request.target), pathOfUri(job.request.direction));
          jobs.finish(job);
        } catch (err) {
          if (!(err instanceof SkahaError) || err.statusCode >= 500) throw err;
          jobs.finish(job, fault(err));
        }
      } else if (phase === 'ABORT' && job.phase === 'PENDING') {
        jobs.finish(job, 'aborted');
      }
      return reply
        .code(303)
        .header('location', `${requestBase(req)}${ARC}/${kind}/${job.id}`)
        .send();
    });
  }
};
