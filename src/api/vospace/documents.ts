import { XMLParser } from 'fast-xml-parser';
import { badRequest } from '../../common/errors.js';
import type { StorageNode } from '../../storage/files.js';
import { xmlEscape } from '../xml.js';

/**
 * The VOSpace 2.1 documents the storage service reads and writes (IVOA VOSpace 2.1, as cavern
 * serves them and the `vos` client parses them): nodes, transfers and UWS jobs.
 */

const VOS_NS = 'http://www.ivoa.net/xml/VOSpace/v2.0';
const CORE = 'ivo://ivoa.net/vospace/core';
/** How node URIs name this service: the authority `vos` derives from `arc:` paths (resource ivo://cadc.nrc.ca/arc). */
const NODE_AUTHORITY = 'cadc.nrc.ca~arc';
/** The group URI form of CADC's group service, which `vos` shows and `vchmod` sends. */
const GROUP_URI = 'ivo://cadc.nrc.ca/gms?';

export const PROTOCOL = { get: `${CORE}#httpsget`, put: `${CORE}#httpsput`, httpGet: `${CORE}#httpget`, httpPut: `${CORE}#httpput` } as const;

function nodeUri(path: string): string {
  return `vos://${NODE_AUTHORITY}${path === '/' ? '' : path}`;
}

/**
 * The node path of a `vos://authority/path` URI (any authority: `!` and `~` forms alike). Paths
 * travel in node URIs as they are, not percent-encoded: that is how `vos` writes and reads them
 * (a file named `a%41` stays `a%41`).
 */
export function pathOfUri(uri: string): string {
  const match = /^vos:\/\/[^/]+(\/.*)?$/.exec(uri.trim());
  if (!match) throw badRequest(`invalid node URI: ${uri}`);
  return match[1] ?? '/';
}

/** VOSpace's date form: UTC without a zone letter, milliseconds kept. */
function vosDate(date: Date): string {
  return date.toISOString().replace(/Z$/, '');
}

function properties(node: StorageNode): string[] {
  const props: [string, string][] = [
    ['date', vosDate(node.modified)],
    ['length', String(node.size)],
    ['ispublic', 'false'],
  ];
  if (node.md5) props.push(['MD5', node.md5]);
  if (node.quota !== undefined) props.push(['quota', String(node.quota)]);
  if (node.owner) props.push(['creator', `CN=${node.owner}`]);
  if (node.group) {
    props.push(['groupread', `${GROUP_URI}${node.group}`]);
    props.push(['groupwrite', `${GROUP_URI}${node.group}`]);
  }
  return props.map(
    ([key, value]) =>
      `<vos:property uri="${CORE}#${key}" readOnly="${key !== 'ispublic' && key !== 'groupread' && key !== 'groupwrite'}">${xmlEscape(value)}</vos:property>`,
  );
}

const TYPE = { container: 'vos:ContainerNode', data: 'vos:DataNode', link: 'vos:LinkNode' } as const;

function nodeElement(node: StorageNode, children: StorageNode[] | undefined, root: boolean): string {
  const ns = root ? ` xmlns:vos="${VOS_NS}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"` : '';
  const busy = node.type === 'data' ? ' busy="false"' : '';
  const parts = [
    `<vos:node${ns} uri="${xmlEscape(nodeUri(node.path))}" xsi:type="${TYPE[node.type]}"${busy}>`,
    `<vos:properties>${properties(node).join('')}</vos:properties>`,
  ];
  if (node.type === 'link') parts.push(`<vos:target>${xmlEscape(node.target ?? '')}</vos:target>`);
  parts.push('<vos:accepts/><vos:provides/>');
  if (node.type === 'container' && children) parts.push(`<vos:nodes>${children.map((c) => nodeElement(c, undefined, false)).join('')}</vos:nodes>`);
  parts.push('</vos:node>');
  return parts.join('');
}

/** A node document; a container's with the children given. */
export function nodeDocument(node: StorageNode, children?: StorageNode[]): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n${nodeElement(node, children ?? [], true)}\n`;
}

const parser = new XMLParser({ ignoreAttributes: false, removeNSPrefix: true, attributeNamePrefix: '@', parseTagValue: false, processEntities: true });

function parse(xml: string, what: string): Record<string, unknown> {
  try {
    return parser.parse(xml) as Record<string, unknown>;
  } catch (err) {
    throw badRequest(`invalid ${what} document: ${(err as Error).message.split('\n')[0]}`);
  }
}

/** What a client asks for in a node document it PUTs: the node's type (and a link's target). */
export function parseNodeDocument(xml: string): { type: 'container' | 'data' | 'link'; target?: string } {
  const node = parse(xml, 'node').node as Record<string, unknown> | undefined;
  if (!node) throw badRequest('invalid node document: no <vos:node>');
  const type = String(node['@type'] ?? '').replace(/^.*:/, '');
  if (type === 'ContainerNode') return { type: 'container' };
  if (type === 'DataNode' || type === '') return { type: 'data' };
  if (type === 'LinkNode') return { type: 'link', target: String(node.target ?? '') };
  throw badRequest(`unsupported node type: ${type}`);
}

/** The properties a node document sets, by their short name (`ivo://ivoa.net/vospace/core#groupread` → `groupread`). */
export function parseNodeProperties(xml: string): Record<string, string> {
  if (!xml.trim()) return {};
  const node = parse(xml, 'node').node as Record<string, unknown> | undefined;
  const list = ([] as unknown[]).concat((node?.properties as Record<string, unknown> | undefined)?.property ?? []);
  const props: Record<string, string> = {};
  for (const p of list as Record<string, unknown>[]) {
    const uri = String(p['@uri'] ?? '');
    if (uri.startsWith(`${CORE}#`)) props[uri.slice(CORE.length + 1)] = String(p['#text'] ?? '');
  }
  return props;
}

export interface TransferRequest {
  target: string;
  /** pushToVoSpace, pullFromVoSpace, or a node URI (move). */
  direction: string;
  keepBytes: boolean;
  protocols: string[];
}

export function parseTransfer(xml: string): TransferRequest {
  const transfer = parse(xml, 'transfer').transfer as Record<string, unknown> | undefined;
  if (!transfer || typeof transfer.target !== 'string' || typeof transfer.direction !== 'string') {
    throw badRequest('invalid transfer document: <vos:target> and <vos:direction> are required');
  }
  const protocols = ([] as unknown[]).concat(transfer.protocol ?? []).map((p) => String((p as Record<string, unknown>)['@uri'] ?? ''));
  return { target: transfer.target, direction: transfer.direction, keepBytes: String(transfer.keepBytes ?? 'true') !== 'false', protocols };
}

/** A transfer's result: where to send or fetch the bytes, one endpoint per protocol. */
export function transferDocument(request: TransferRequest, endpoints: { protocol: string; endpoint: string; securityMethod?: string }[]): string {
  const protocols = endpoints.map(
    (e) =>
      `<vos:protocol uri="${e.protocol}"><vos:endpoint>${xmlEscape(e.endpoint)}</vos:endpoint>${e.securityMethod ? `<vos:securityMethod uri="${e.securityMethod}"/>` : ''}</vos:protocol>`,
  );
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<vos:transfer xmlns:vos="${VOS_NS}" version="2.1">`,
    `<vos:target>${xmlEscape(request.target)}</vos:target>`,
    `<vos:direction>${xmlEscape(request.direction)}</vos:direction>`,
    ...protocols,
    '</vos:transfer>',
    '',
  ].join('\n');
}

export type Phase = 'PENDING' | 'EXECUTING' | 'COMPLETED' | 'ERROR';

/** A UWS job document for a transfer. */
export function jobDocument(job: { id: string; owner: string; phase: Phase; created: Date; ended?: Date; error?: string; request: TransferRequest }): string {
  const time = (d: Date | undefined, name: string) => (d ? `<uws:${name}>${d.toISOString()}</uws:${name}>` : `<uws:${name} xsi:nil="true"/>`);
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<uws:job xmlns:uws="http://www.ivoa.net/xml/UWS/v1.0" xmlns:xlink="http://www.w3.org/1999/xlink" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" version="1.1">',
    `<uws:jobId>${job.id}</uws:jobId>`,
    `<uws:ownerId>${xmlEscape(job.owner)}</uws:ownerId>`,
    `<uws:phase>${job.phase}</uws:phase>`,
    `<uws:creationTime>${job.created.toISOString()}</uws:creationTime>`,
    time(job.phase === 'PENDING' ? undefined : job.created, 'startTime'),
    time(job.ended, 'endTime'),
    '<uws:executionDuration>0</uws:executionDuration>',
    '<uws:parameters/>',
    '<uws:results/>',
    ...(job.error ? [`<uws:errorSummary type="fatal" hasDetail="true"><uws:message>${xmlEscape(job.error)}</uws:message></uws:errorSummary>`] : []),
    `<uws:jobInfo>${transferDocument(job.request, []).replace(/^<\?xml[^>]*>\n/, '')}</uws:jobInfo>`,
    '</uws:job>',
    '',
  ].join('\n');
}
