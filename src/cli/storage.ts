import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { XMLParser } from 'fast-xml-parser';
import { ClientError, type SkahaClient } from './client.js';

/** One entry of `skaha storage ls`: a VOSpace node as the storage service describes it. */
export interface StorageEntry {
  path: string;
  name: string;
  type: 'container' | 'data' | 'link';
  size: number;
  modified: string;
  owner?: string;
  group?: string;
  md5?: string;
  quota?: number;
}

const parser = new XMLParser({
  ignoreAttributes: false,
  removeNSPrefix: true,
  attributeNamePrefix: '@',
  parseTagValue: false,
  isArray: (name) => name === 'node' || name === 'property',
});

function entryOf(node: Record<string, unknown>): StorageEntry {
  const uri = String(node['@uri'] ?? '');
  const nodePath = uri.replace(/^vos:\/\/[^/]*/, '') || '/';
  const props = new Map<string, string>();
  const list = ((node.properties as Record<string, unknown> | undefined)?.property ?? []) as Record<string, unknown>[];
  for (const p of list) props.set(String(p['@uri']).replace(/^.*#/, ''), String(p['#text'] ?? ''));
  const type = String(node['@type'] ?? '').replace(/^.*:/, '');
  const entry: StorageEntry = {
    path: nodePath,
    name: nodePath.split('/').pop() || '/',
    type: type === 'ContainerNode' ? 'container' : type === 'LinkNode' ? 'link' : 'data',
    size: Number(props.get('length') ?? 0),
    modified: `${props.get('date') ?? ''}Z`,
  };
  const creator = props.get('creator');
  if (creator) entry.owner = creator.replace(/^CN=/, '');
  const group = props.get('groupread');
  if (group) entry.group = group.replace(/^.*\?/, '');
  if (props.get('MD5')) entry.md5 = props.get('MD5')!;
  if (props.get('quota')) entry.quota = Number(props.get('quota'));
  return entry;
}

function urlPath(nodePath: string): string {
  return nodePath.split('/').map(encodeURIComponent).join('/');
}

/** Progress of one transfer on a terminal (stderr), or nothing when stderr is not one. */
export class Progress {
  private done = 0;
  private last = 0;
  private readonly started = Date.now();
  private readonly enabled: boolean;

  constructor(
    private readonly label: string,
    private readonly total: number | undefined,
    enabled = process.stderr.isTTY === true,
  ) {
    this.enabled = enabled;
  }

  /** A pass-through stream that counts what flows. */
  counter(): Transform {
    return new Transform({
      transform: (chunk: Buffer, _encoding, next) => {
        this.add(chunk.length);
        next(null, chunk);
      },
    });
  }

  add(bytes: number): void {
    this.done += bytes;
    if (this.enabled && Date.now() - this.last > 200) this.draw();
  }

  finish(): void {
    if (this.enabled) {
      this.draw();
      process.stderr.write('\n');
    }
  }

  private draw(): void {
    this.last = Date.now();
    const seconds = Math.max(0.001, (Date.now() - this.started) / 1000);
    const rate = `${formatBytes(this.done / seconds)}/s`;
    const of = this.total ? ` / ${formatBytes(this.total)} ${Math.floor((100 * this.done) / Math.max(1, this.total))}%` : '';
    process.stderr.write(`\r${this.label}  ${formatBytes(this.done)}${of}  ${rate}   `);
  }
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/**
 * The platform's storage (/arc, the VOSpace binding of cavern) for the CLI: listing, transfers
 * with progress, containers. Remote paths are node paths (`/home/alice/x`); the command layer
 * turns what users type into them.
 */
export class StorageClient {
  constructor(private readonly client: SkahaClient) {}

  /** The node at a path and, for a container, its children. */
  async node(nodePath: string, withChildren = true): Promise<{ node: StorageEntry; children: StorageEntry[] }> {
    const res = await this.client.stream('GET', `arc/nodes${urlPath(nodePath)}${withChildren ? '' : '?limit=0'}`, { headers: { accept: 'text/xml' } });
    let xml = '';
    for await (const chunk of res) xml += (chunk as Buffer).toString('utf8');
    const doc = parser.parse(xml) as { node?: Record<string, unknown>[] };
    const root = doc.node?.[0];
    if (!root) throw new ClientError(`the server's answer for ${nodePath} is not a VOSpace node`, 0);
    const children = (((root.nodes as Record<string, unknown> | undefined)?.node ?? []) as Record<string, unknown>[]).map(entryOf);
    return { node: entryOf(root), children };
  }

  /** Download a file to `local` (a file, or a directory to put it in); returns where and how much. */
  async get(nodePath: string, local: string, progress?: (total: number | undefined) => Progress): Promise<{ file: string; bytes: number; md5: string }> {
    const target = fs.existsSync(local) && fs.statSync(local).isDirectory() ? path.join(local, path.posix.basename(nodePath)) : local;
    const res = await this.client.stream('GET', `arc/files${urlPath(nodePath)}`, { headers: { accept: 'application/octet-stream' } });
    const total = res.headers['content-length'] ? Number(res.headers['content-length']) : undefined;
    const bar = progress?.(total);
    const hash = crypto.createHash('md5');
    const temp = `${target}.part`;
    let bytes = 0;
    const count = new Transform({
      transform(chunk: Buffer, _encoding, next) {
        hash.update(chunk);
        bytes += chunk.length;
        bar?.add(chunk.length);
        next(null, chunk);
      },
    });
    try {
      await pipeline(res, count, fs.createWriteStream(temp));
      const md5 = hash.digest('hex');
      const expected = md5OfDigest(res.headers.digest);
      if (expected && expected !== md5) throw new ClientError(`download of ${nodePath} corrupted: MD5 ${md5}, the server said ${expected}`, 0);
      if (total !== undefined && bytes !== total) throw new ClientError(`download of ${nodePath} incomplete: ${bytes} of ${total} bytes`, 0);
      fs.renameSync(temp, target);
      bar?.finish();
      return { file: target, bytes, md5 };
    } catch (err) {
      fs.rmSync(temp, { force: true });
      throw err;
    }
  }

  /** Upload a local file whole; the server checks it against the MD5 computed here first. */
  async put(local: string, nodePath: string, progress?: (total: number) => Progress): Promise<{ path: string; bytes: number; md5: string }> {
    const size = fs.statSync(local).size;
    const md5 = await fileMd5(local);
    const bar = progress?.(size);
    const body = fs.createReadStream(local);
    const counted = bar ? body.pipe(bar.counter()) : body;
    const res = await this.client.stream('PUT', `arc/files${urlPath(nodePath)}`, {
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(size), digest: `md5=${Buffer.from(md5, 'hex').toString('base64')}` },
      body: counted,
    });
    res.resume();
    bar?.finish();
    return { path: nodePath, bytes: size, md5 };
  }

  async mkdir(nodePath: string): Promise<void> {
    const doc = `<vos:node xmlns:vos="http://www.ivoa.net/xml/VOSpace/v2.0" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" uri="vos://cadc.nrc.ca~arc${nodePath}" xsi:type="vos:ContainerNode"/>`;
    (await this.client.stream('PUT', `arc/nodes${urlPath(nodePath)}`, { headers: { 'content-type': 'text/xml' }, body: Readable.from([doc]) })).resume();
  }

  async remove(nodePath: string): Promise<void> {
    (await this.client.stream('DELETE', `arc/nodes${urlPath(nodePath)}`)).resume();
  }

  /** Bytes under a node: a container's tree walked through listings. */
  async size(nodePath: string): Promise<{ bytes: number; files: number }> {
    const { node, children } = await this.node(nodePath);
    if (node.type !== 'container') return { bytes: node.size, files: 1 };
    let bytes = 0;
    let files = 0;
    for (const child of children) {
      const inner = child.type === 'container' ? await this.size(child.path) : { bytes: child.size, files: 1 };
      bytes += inner.bytes;
      files += inner.files;
    }
    return { bytes, files };
  }
}

function md5OfDigest(header: string | string[] | undefined): string | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  const match = value && /md5=([A-Za-z0-9+/=]+)/i.exec(value);
  return match ? Buffer.from(match[1]!, 'base64').toString('hex') : undefined;
}

async function fileMd5(file: string): Promise<string> {
  const hash = crypto.createHash('md5');
  for await (const chunk of fs.createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
