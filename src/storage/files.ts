import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { badRequest, forbidden, notFound, SkahaError } from '../common/errors.js';
import type { User } from '../store/store.js';
import type { DigestStore } from './digests.js';
import { Md5Thread } from './md5.js';
import { ensureUserHome } from './homes.js';

/**
 * The user storage that sessions mount (`<hostDir>/home/<user>`, `<hostDir>/projects/<project>`),
 * served outside sessions (issue 19: the storage API, the CLI, the portal). The server runs as
 * root, so it applies the platform's rules itself: a home is its owner's alone (another user's
 * is not found), a project directory is its group's members'; nothing outside those trees is ever
 * read or written, whatever symlinks a session left behind or swaps in during a request (every
 * opened file is checked by where its descriptor really points). Files written here are owned by
 * the user's uid and the area's gid, as a session would write them.
 */
export interface StorageNode {
  /** The node's path in the VOSpace tree: `/`, `/home`, `/home/alice/notes.txt`, ... */
  path: string;
  type: 'container' | 'data' | 'link';
  size: number;
  modified: Date;
  /** The owner's username when it is the caller (others' uids are not named). */
  owner?: string;
  /** The project group that may read and write it (projects only). */
  group?: string;
  md5?: string;
  /** A link's target, as stored (never followed by the service). */
  target?: string;
  /** A home's quota in bytes (its `size` is then what it holds), when one is configured. */
  quota?: number;
}

interface Area {
  kind: 'home' | 'project';
  /** The real directory of the home or project: every path must stay under it. */
  root: string;
  gid: number;
  group?: string;
}

interface Located {
  vpath: string;
  /** Undefined for the virtual containers `/`, `/home` and `/projects`. */
  area?: Area;
  host: string;
}

const MAX_SEGMENT = 255;
const USAGE_TTL_MS = 5_000;
/** Bytes gathered before a write to disk. */
const WRITE_BATCH = 1024 * 1024;
/** Bytes of an upload that may wait for the disk, or for the MD5 thread, before its body pauses. */
const WRITE_AHEAD = 2 * WRITE_BATCH;
/** Bytes written between two background flushes of an upload. */
const FLUSH_EVERY = 32 * 1024 * 1024;
const MAX_DEPTH = 64;
const FILE_MODE = { home: 0o644, project: 0o664 } as const;
const DIR_MODE = { home: 0o755, project: 0o2775 } as const;

const conflict = (message: string) => new SkahaError('SKAHA_ERR_CONFLICT', message);
const overQuota = (vpath: string, quota: number) =>
  new SkahaError('SKAHA_ERR_INSUFFICIENT_STORAGE', `${vpath}: the home directory's quota of ${formatSize(quota)} would be exceeded; nothing was written`);
const formatSize = (bytes: number) => (bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(1)} GiB` : `${(bytes / 2 ** 20).toFixed(1)} MiB`);

/** Parse a node path as a client sent it; refuses anything that is not a plain path under `/`. */
export function parseNodePath(raw: string): string[] {
  if (!raw.startsWith('/')) raw = `/${raw}`;
  if (raw.includes('\0')) throw badRequest('invalid path: NUL byte');
  const segments = raw.split('/').slice(1);
  if (segments.at(-1) === '') segments.pop();
  if (segments.length > MAX_DEPTH) throw badRequest(`invalid path: more than ${MAX_DEPTH} levels`);
  for (const s of segments) {
    if (s === '' || s === '.' || s === '..') throw badRequest(`invalid path: '${raw}' (empty, . and .. segments are not allowed)`);
    if (Buffer.byteLength(s) > MAX_SEGMENT) throw badRequest(`invalid path: a name longer than ${MAX_SEGMENT} bytes`);
  }
  return segments;
}

export class UserFiles {
  /** Uploads under way, by host path: a second one to the same file is refused, not interleaved. */
  private readonly uploading = new Set<string>();
  private readonly usageCache = new Map<string, { bytes: number; at: number }>();
  private readonly md5s = new Md5Thread();

  constructor(
    private readonly hostDir: string,
    private readonly digests: DigestStore,
    /** Bytes a home may hold through uploads; 0: no quota. */
    private readonly homeQuotaBytes = 0,
  ) {}

  /** The node at a path, without children. */
  async stat(user: User, vpath: string): Promise<StorageNode> {
    const at = this.locate(user, vpath);
    if (!at.area) return this.virtualNode(at.vpath);
    const st = await this.lstatInside(at);
    const node = this.nodeOf(user, at, st);
    if (at.area.kind === 'home' && at.host === at.area.root) {
      // A home's node says what it holds, and its quota: what `skaha storage du` and the portal show.
      node.size = await this.usage(user);
      if (this.homeQuotaBytes > 0) node.quota = this.homeQuotaBytes;
    }
    return node;
  }

  /**
   * A container's children, sorted by name: at most `limit`, after the child named `after`
   * (VOSpace paging by the last child's URI).
   */
  async list(user: User, vpath: string, opts: { limit?: number; after?: string } = {}): Promise<StorageNode[]> {
    const at = this.locate(user, vpath);
    const page = (names: string[]) => {
      const after = opts.after === undefined ? names : names.filter((n) => n > opts.after!);
      return opts.limit === undefined ? after : after.slice(0, opts.limit);
    };
    if (!at.area) {
      const children: StorageNode[] = [];
      for (const name of page(await this.virtualChildren(user, at.vpath))) {
        children.push(await this.stat(user, `${at.vpath === '/' ? '' : at.vpath}/${name}`));
      }
      return children;
    }
    // The directory is opened once and checked by where its descriptor is; its children are read
    // through that descriptor, so a directory swapped for a symlink meanwhile changes nothing.
    const area = at.area;
    let handle: fs.promises.FileHandle;
    try {
      handle = await fs.promises.open(at.host, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw code === 'ENOTDIR' || code === 'ELOOP' ? badRequest(`not a container: ${at.vpath}`) : this.fsError(err, at.vpath);
    }
    try {
      this.insideOrRefuse(await fs.promises.readlink(`/proc/self/fd/${handle.fd}`), area, at.vpath, true);
      const dir = `/proc/self/fd/${handle.fd}`;
      const children: StorageNode[] = [];
      for (const name of page((await fs.promises.readdir(dir)).sort())) {
        // A child removed while listing is left out.
        const st = await fs.promises.lstat(`${dir}/${name}`).catch(() => undefined);
        if (!st) continue;
        const target = st.isSymbolicLink() ? await fs.promises.readlink(`${dir}/${name}`).catch(() => '') : undefined;
        children.push(this.nodeOf(user, { vpath: `${at.vpath}/${name}`, area, host: path.join(at.host, name) }, st, undefined, target));
      }
      return children;
    } finally {
      await handle.close();
    }
  }

  /** Create a container; its parent must exist. */
  async mkdir(user: User, vpath: string): Promise<StorageNode> {
    const at = this.locate(user, vpath, { create: true });
    const area = this.requireArea(at);
    await this.checkParent(at, user);
    try {
      await fs.promises.mkdir(at.host, { mode: DIR_MODE[area.kind] });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw conflict(`already exists: ${at.vpath}`);
      throw err;
    }
    await this.own(at.host, user, area, DIR_MODE[area.kind]);
    return this.stat(user, at.vpath);
  }

  /** Remove a node; a container with everything in it. */
  async remove(user: User, vpath: string): Promise<void> {
    const at = this.locate(user, vpath);
    const area = this.requireArea(at);
    if (at.host === area.root) throw forbidden(`${at.vpath} itself cannot be deleted`);
    const st = await this.lstatInside(at);
    // rm does not follow symlinks: a link is removed, never what it points to.
    await fs.promises.rm(at.host, { recursive: st.isDirectory(), force: false });
    this.digests.forget(at.host);
    this.usageCache.delete(user.username);
  }

  /** Move (rename) a node within the caller's reach; into `to` when it is a container. */
  async move(user: User, from: string, to: string): Promise<StorageNode> {
    const source = this.locate(user, from);
    const sourceArea = this.requireArea(source);
    if (source.host === sourceArea.root) throw forbidden(`${source.vpath} itself cannot be moved`);
    await this.lstatInside(source);
    let target = this.locate(user, to, { create: true });
    const existing = await fs.promises.lstat(target.host).catch(() => undefined);
    if (existing?.isDirectory()) target = this.locate(user, `${target.vpath}/${path.posix.basename(source.vpath)}`, { create: true });
    const targetArea = this.requireArea(target);
    await this.checkParent(target, user);
    if (`${target.host}/`.startsWith(`${source.host}/`)) throw badRequest(`cannot move ${source.vpath} into itself`);
    if (fs.existsSync(target.host)) throw conflict(`already exists: ${target.vpath}`);
    await fs.promises.rename(source.host, target.host);
    this.digests.forget(source.host);
    if (targetArea.kind !== sourceArea.kind || targetArea.gid !== sourceArea.gid) await this.ownTree(target.host, user, targetArea);
    return this.stat(user, target.vpath);
  }

  /** An open file to stream (with its node), never through a symlink. */
  async read(user: User, vpath: string): Promise<{ node: StorageNode; handle: fs.promises.FileHandle }> {
    const at = this.locate(user, vpath);
    this.requireArea(at);
    let handle: fs.promises.FileHandle;
    try {
      handle = await fs.promises.open(at.host, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    } catch (err) {
      throw this.fsError(err, at.vpath);
    }
    try {
      await this.checkOpened(handle, at);
      const st = await handle.stat();
      if (!st.isFile()) throw badRequest(`not a file: ${at.vpath}`);
      return { node: this.nodeOf(user, at, st), handle };
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  /**
   * Write a file whole from a stream: into a temporary file beside it, then renamed over the
   * old one, so readers see the old file or the new one, never a part. With `md5` (hex) given,
   * a body whose digest differs is refused (412) and nothing is left behind; with `length`
   * given, a body of another length is refused the same way.
   */
  async write(user: User, vpath: string, body: Readable, expect: { md5?: string; length?: number } = {}): Promise<{ node: StorageNode; md5: string }> {
    const at = this.locate(user, vpath, { create: true });
    const area = this.requireArea(at);
    await this.checkParent(at, user);
    if (this.uploading.has(at.host)) throw conflict(`another upload to ${at.vpath} is in progress; try again when it ends`);
    this.uploading.add(at.host);
    try {
      return await this.writeWhole(user, at, area, body, expect);
    } finally {
      this.uploading.delete(at.host);
    }
  }

  private async writeWhole(
    user: User,
    at: Located,
    area: Area,
    body: Readable,
    expect: { md5?: string; length?: number },
  ): Promise<{ node: StorageNode; md5: string }> {
    const existing = await fs.promises.lstat(at.host).catch(() => undefined);
    if (existing?.isDirectory()) throw conflict(`a container exists at ${at.vpath}`);
    // What the upload may add before the home is over its quota (the file it replaces is freed).
    let room = Infinity;
    if (area.kind === 'home' && this.homeQuotaBytes > 0) {
      room = this.homeQuotaBytes - (await this.usage(user)) + (existing?.isFile() ? existing.size : 0);
      if (expect.length !== undefined && expect.length > room) throw overQuota(at.vpath, this.homeQuotaBytes);
    }
    const temp = path.join(path.dirname(at.host), `.${path.basename(at.host)}.upload-${crypto.randomBytes(6).toString('hex')}`);
    const handle = await fs.promises.open(temp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o600);
    let renamed = false;
    try {
      await this.checkOpened(handle, { ...at, host: temp });
      const { size, md5 } = await receiveInto(handle, body, room, () => overQuota(at.vpath, this.homeQuotaBytes), this.md5s);
      if (expect.length !== undefined && size !== expect.length) throw badRequest(`upload incomplete: ${size} of ${expect.length} bytes arrived`);
      if (expect.md5 && expect.md5 !== md5)
        throw new SkahaError('SKAHA_ERR_PRECONDITION_FAILED', `upload corrupted: MD5 ${md5}, the client said ${expect.md5}`);
      await handle.sync();
      await handle.chown(user.uid, area.gid);
      await handle.chmod(FILE_MODE[area.kind]);
      await fs.promises.rename(temp, at.host);
      renamed = true;
      // The directory may have been swapped for a symlink while the bytes arrived: the file must
      // still be where the rules allow, or it is removed.
      await this.checkOpened(handle, at);
      const st = await handle.stat();
      this.digests.remember(at.host, st, md5);
      this.usageCache.delete(user.username);
      return { node: this.nodeOf(user, at, st, md5), md5 };
    } catch (err) {
      await fs.promises.rm(renamed ? at.host : temp, { force: true }).catch(() => undefined);
      throw err;
    } finally {
      await handle.close();
    }
  }

  /** Stop the digest thread (the server is closing). */
  close(): void {
    void this.md5s.close();
  }

  /**
   * Bytes the user's home holds (what a quota counts): a walk of the tree, remembered for a few
   * seconds so a burst of uploads or listings walks it once.
   */
  async usage(user: User): Promise<number> {
    const known = this.usageCache.get(user.username);
    if (known && Date.now() - known.at < USAGE_TTL_MS) return known.bytes;
    const bytes = await treeSize(path.join(this.hostDir, 'home', user.username));
    this.usageCache.set(user.username, { bytes, at: Date.now() });
    return bytes;
  }

  // ---- locating paths ----

  private locate(user: User, vpath: string, opts: { create?: boolean } = {}): Located {
    const segments = parseNodePath(vpath);
    const clean = `/${segments.join('/')}`;
    const [top, name, ...rest] = segments;
    if (top === undefined) return { vpath: '/', host: this.hostDir };
    if (top !== 'home' && top !== 'projects') throw notFound(`not found: ${clean}`);
    if (name === undefined) return { vpath: clean, host: path.join(this.hostDir, top) };
    let area: Area;
    if (top === 'home') {
      // Another user's home does not exist as far as this caller can tell.
      if (name !== user.username) throw notFound(`not found: ${clean}`);
      area = { kind: 'home', root: path.join(this.hostDir, 'home', name), gid: user.gid };
    } else {
      const group = user.groups.find((g) => g.name === name);
      if (!group) throw forbidden(`not a member of project ${name}: ${clean}`);
      area = { kind: 'project', root: path.join(this.hostDir, 'projects', name), gid: group.gid, group: name };
    }
    if (!opts.create && rest.length === 0 && !fs.existsSync(area.root)) throw notFound(`not found: ${clean}`);
    return { vpath: clean, area, host: path.join(area.root, ...rest) };
  }

  private requireArea(at: Located): Area {
    if (!at.area) throw forbidden(`${at.vpath} is the platform's, not writable`);
    return at.area;
  }

  /** lstat of a node whose every directory above is checked to stay inside its area. */
  private async lstatInside(at: Located): Promise<fs.Stats> {
    const area = this.requireArea(at);
    try {
      const realParent = await fs.promises.realpath(path.dirname(at.host));
      if (at.host !== area.root) this.insideOrRefuse(realParent, area, at.vpath, true);
      return await fs.promises.lstat(at.host);
    } catch (err) {
      throw this.fsError(err, at.vpath);
    }
  }

  /** The parent of a node to be created must exist as a real directory inside the area. */
  private async checkParent(at: Located, user: User): Promise<void> {
    const area = this.requireArea(at);
    if (at.host === area.root) {
      // A project's own directory: its members may create it; a home is made by the platform.
      if (area.kind === 'home') throw conflict(`${at.vpath} exists`);
      await fs.promises.mkdir(path.dirname(at.host), { recursive: true, mode: 0o755 });
      return;
    }
    if (area.kind === 'home') ensureUserHome(area.root, user);
    let real: string;
    try {
      real = await fs.promises.realpath(path.dirname(at.host));
    } catch (err) {
      throw this.fsError(err, path.posix.dirname(at.vpath));
    }
    this.insideOrRefuse(real, area, at.vpath, true);
    const st = await fs.promises.stat(real);
    if (!st.isDirectory()) throw badRequest(`not a container: ${path.posix.dirname(at.vpath)}`);
  }

  /** Where an open descriptor really is (the kernel's answer, not the path we asked for). */
  private async checkOpened(handle: fs.promises.FileHandle, at: Located): Promise<void> {
    const real = await fs.promises.readlink(`/proc/self/fd/${handle.fd}`);
    this.insideOrRefuse(real, this.requireArea(at), at.vpath, false);
  }

  private insideOrRefuse(real: string, area: Area, vpath: string, orEqual: boolean): void {
    const inside = real.startsWith(`${area.root}/`) || (orEqual && real === area.root);
    if (!inside) throw forbidden(`${vpath} leads outside ${area.kind === 'home' ? 'the home directory' : 'the project'} (a symlink); refused`);
  }

  private fsError(err: unknown, vpath: string): Error {
    const code = (err as NodeJS.ErrnoException).code;
    if (err instanceof SkahaError) return err;
    if (code === 'ENOENT' || code === 'ENOTDIR') return notFound(`not found: ${vpath}`);
    if (code === 'ELOOP') return forbidden(`${vpath} is a link; links are not followed`);
    if (code === 'EISDIR') return badRequest(`not a file: ${vpath}`);
    return err as Error;
  }

  // ---- nodes ----

  private nodeOf(user: User, at: Located, st: fs.Stats, md5?: string, target?: string): StorageNode {
    const type = st.isDirectory() ? 'container' : st.isSymbolicLink() ? 'link' : 'data';
    const node: StorageNode = { path: at.vpath, type, size: type === 'data' ? st.size : 0, modified: st.mtime };
    if (st.uid === user.uid) node.owner = user.username;
    if (at.area?.group) node.group = at.area.group;
    const digest = type === 'data' ? (md5 ?? this.digests.lookup(at.host, st)) : undefined;
    if (digest) node.md5 = digest;
    if (type === 'link') node.target = target ?? fs.readlinkSync(at.host);
    return node;
  }

  private virtualNode(vpath: string): StorageNode {
    return { path: vpath, type: 'container', size: 0, modified: new Date(fs.statSync(this.hostDir, { throwIfNoEntry: false })?.mtimeMs ?? Date.now()) };
  }

  private async virtualChildren(user: User, vpath: string): Promise<string[]> {
    if (vpath === '/') return ['home', 'projects'];
    if (vpath === '/home') return fs.existsSync(path.join(this.hostDir, 'home', user.username)) ? [user.username] : [];
    return user.groups.map((g) => g.name).filter((name) => fs.existsSync(path.join(this.hostDir, 'projects', name)));
  }

  private async own(host: string, user: User, area: Area, mode: number): Promise<void> {
    await fs.promises.lchown(host, user.uid, area.gid);
    await fs.promises.chmod(host, mode);
  }

  /** After a move between areas: the tree takes the new area's group, as a copy there would. */
  private async ownTree(host: string, user: User, area: Area): Promise<void> {
    const st = await fs.promises.lstat(host);
    await fs.promises.lchown(host, st.uid, area.gid);
    if (st.isDirectory()) for (const name of await fs.promises.readdir(host)) await this.ownTree(path.join(host, name), user, area);
  }
}

/**
 * Receive a body into an open file, hashing it on the way. Chunks are gathered into batches, and
 * each batch goes to two stages that run at once and wait for nothing but their own queue: the
 * disk (one writev at a time, in order) and the MD5 thread (Md5Thread: its own ring of slots).
 * The body is paused only while a stage has more than WRITE_AHEAD bytes waiting, so memory stays
 * bounded. More than `limit` bytes fail with `tooBig()`; a body cut off before its end fails too.
 */
function receiveInto(
  handle: fs.promises.FileHandle,
  body: Readable,
  limit: number,
  tooBig: () => Error,
  md5s: Md5Thread,
): Promise<{ size: number; md5: string }> {
  return new Promise((resolve, reject) => {
    const hash = md5s.start();
    let size = 0;
    let batch: Buffer[] = [];
    let batchBytes = 0;
    // Each stage's queue: a promise chain, and the bytes not yet through it.
    let writes = Promise.resolve();
    let hashes = Promise.resolve();
    let toWrite = 0;
    let toHash = 0;
    let flushing = false;
    let unflushed = 0;
    let ended = false;
    let settled = false;
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      hash.abort();
      body.destroy();
      reject(err);
    };
    const resumeIfRoom = () => {
      if (!settled && body.isPaused() && toWrite <= WRITE_AHEAD && toHash <= WRITE_AHEAD) body.resume();
    };
    const afterWrite = (bytes: number) => {
      toWrite -= bytes;
      unflushed += bytes;
      if (unflushed >= FLUSH_EVERY && !flushing && !settled) {
        // The disk writes what has arrived while the rest arrives, instead of all of it at the
        // final fsync (the kernel would otherwise hold gigabytes dirty before writing any).
        unflushed = 0;
        flushing = true;
        handle.datasync().then(
          () => (flushing = false),
          () => (flushing = false),
        );
      }
      resumeIfRoom();
    };
    const dispatch = () => {
      if (batch.length === 0) return;
      const buffers = batch;
      const bytes = batchBytes;
      batch = [];
      batchBytes = 0;
      toWrite += bytes;
      toHash += bytes;
      // Once the upload has failed, what is still queued is dropped, not written.
      writes = writes.then(() => (settled ? undefined : writeAll(handle, buffers))).then(() => afterWrite(bytes));
      hashes = hashes
        .then(() => (settled ? undefined : hash.update(buffers)))
        .then(() => {
          toHash -= bytes;
          resumeIfRoom();
        });
      writes.catch(fail);
      hashes.catch(fail);
      if (toWrite > WRITE_AHEAD || toHash > WRITE_AHEAD) body.pause();
    };
    body.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) return fail(tooBig());
      batch.push(chunk);
      batchBytes += chunk.length;
      if (batchBytes >= WRITE_BATCH) dispatch();
    });
    body.on('end', () => {
      ended = true;
      dispatch();
      Promise.all([writes, hashes])
        .then(() => (settled ? undefined : hash.digest()))
        .then((md5) => {
          if (settled || md5 === undefined) return;
          settled = true;
          resolve({ size, md5 });
        }, fail);
    });
    body.on('error', fail);
    body.on('close', () => {
      if (!ended) fail(badRequest(`upload cut off after ${size} bytes`));
    });
  });
}

/** Write every byte of the buffers, in order (a write may take less than it was given). */
async function writeAll(handle: fs.promises.FileHandle, buffers: Buffer[]): Promise<void> {
  let rest = buffers;
  while (rest.length > 0) {
    let { bytesWritten } = await handle.writev(rest);
    while (rest.length > 0 && bytesWritten >= rest[0]!.length) {
      bytesWritten -= rest[0]!.length;
      rest = rest.slice(1);
    }
    if (bytesWritten > 0) rest = [rest[0]!.subarray(bytesWritten), ...rest.slice(1)];
  }
}

async function treeSize(dir: string): Promise<number> {
  let total = 0;
  let entries: fs.Dirent[];
  try {
    entries = await fs.promises.readdir(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) total += await treeSize(p);
    else if (e.isFile()) total += (await fs.promises.lstat(p)).size;
  }
  return total;
}
