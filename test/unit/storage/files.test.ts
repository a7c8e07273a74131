import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { DigestStore } from '../../../src/storage/digests.js';
import { parseNodePath, UserFiles } from '../../../src/storage/files.js';
import type { User } from '../../../src/store/store.js';

const alice: User = { username: 'alice', uid: 4_100_001, gid: 4_100_001, groups: [{ name: 'survey', gid: 4_200_001 }] };
const bob: User = { username: 'bob', uid: 4_100_002, gid: 4_100_002, groups: [] };
const md5 = (data: Buffer | string) => crypto.createHash('md5').update(data).digest('hex');
const body = (data: Buffer | string) => Readable.from([Buffer.from(data)]);

/** What the storage service lets a user do, on a real directory tree (the server runs as root). */
describe('user storage (the rules of /arc)', () => {
  let dir: string;
  let files: UserFiles;
  let digests: DigestStore;
  let arc: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'skaha-files-'));
    arc = path.join(dir, 'arc');
    digests = new DigestStore(dir);
    files = new UserFiles(arc, digests, 1024 * 1024);
  });
  after(() => {
    digests.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('refuses paths that are not plain: .., empty segments, NUL', () => {
    assert.deepEqual(parseNodePath('/home/alice/a.txt'), ['home', 'alice', 'a.txt']);
    assert.deepEqual(parseNodePath('/home/alice/'), ['home', 'alice']);
    for (const bad of ['/home/alice/../bob', '/home//alice', '/home/./alice', '/home/alice/a\0b', `/home/${'x'.repeat(256)}`]) {
      assert.throws(() => parseNodePath(bad), /invalid path/, bad);
    }
  });

  it("writes a user's file as their uid, with its MD5, and makes their home on first use", async () => {
    const { node, md5: written } = await files.write(alice, '/home/alice/notes.txt', body('hello'));
    assert.equal(written, md5('hello'));
    assert.equal(node.md5, md5('hello'));
    const st = fs.statSync(path.join(arc, 'home/alice/notes.txt'));
    assert.deepEqual([st.uid, st.gid, st.mode & 0o777], [alice.uid, alice.gid, 0o644]);
    const home = fs.statSync(path.join(arc, 'home/alice'));
    assert.deepEqual([home.uid, home.mode & 0o777], [alice.uid, 0o700]);
    assert.equal((await files.stat(alice, '/home/alice/notes.txt')).md5, md5('hello'), 'the digest is remembered');
    // Changed behind the service's back (inside a session): the old digest no longer counts.
    fs.appendFileSync(path.join(arc, 'home/alice/notes.txt'), '!');
    assert.equal((await files.stat(alice, '/home/alice/notes.txt')).md5, undefined);
  });

  it("hides another user's home on every operation", async () => {
    await files.write(alice, '/home/alice/private.txt', body('secret'));
    const notFound = /not found: \/home\/alice/;
    await assert.rejects(files.stat(bob, '/home/alice'), notFound);
    await assert.rejects(files.stat(bob, '/home/alice/private.txt'), notFound);
    await assert.rejects(files.list(bob, '/home/alice'), notFound);
    await assert.rejects(files.read(bob, '/home/alice/private.txt'), notFound);
    await assert.rejects(files.write(bob, '/home/alice/x.txt', body('x')), notFound);
    await assert.rejects(files.mkdir(bob, '/home/alice/d'), notFound);
    await assert.rejects(files.remove(bob, '/home/alice/private.txt'), notFound);
    await assert.rejects(files.move(bob, '/home/alice/private.txt', '/home/bob/stolen.txt'), notFound);
    assert.deepEqual(
      (await files.list(bob, '/home')).map((n) => n.path),
      [],
      'only their own home is listed (bob has none yet)',
    );
    assert.ok(fs.existsSync(path.join(arc, 'home/alice/private.txt')));
  });

  it('lets project members, and only them, read and write the project with its group', async () => {
    const dirNode = await files.mkdir(alice, '/projects/survey');
    assert.equal(dirNode.group, 'survey');
    const { node } = await files.write(alice, '/projects/survey/cat.csv', body('ra,dec'));
    assert.equal(node.group, 'survey');
    const st = fs.statSync(path.join(arc, 'projects/survey/cat.csv'));
    assert.deepEqual([st.uid, st.gid, st.mode & 0o777], [alice.uid, 4_200_001, 0o664]);
    assert.equal(fs.statSync(path.join(arc, 'projects/survey')).mode & 0o7777, 0o2775);
    await assert.rejects(files.read(bob, '/projects/survey/cat.csv'), /not a member of project survey/);
    await assert.rejects(files.write(bob, '/projects/survey/x', body('x')), /not a member of project survey/);
    assert.deepEqual(
      (await files.list(bob, '/projects')).map((n) => n.path),
      [],
    );
    assert.deepEqual(
      (await files.list(alice, '/projects')).map((n) => n.path),
      ['/projects/survey'],
    );
  });

  it('never follows a symlink out of the home, for reading, writing or listing', async () => {
    const home = path.join(arc, 'home/alice');
    const outside = path.join(dir, 'outside');
    fs.mkdirSync(outside, { recursive: true });
    fs.writeFileSync(path.join(outside, 'secret'), 'root only');
    fs.symlinkSync(outside, path.join(home, 'escape'));
    fs.symlinkSync(path.join(outside, 'secret'), path.join(home, 'secret-link'));
    await assert.rejects(files.read(alice, '/home/alice/escape/secret'), /leads outside the home directory/);
    await assert.rejects(files.read(alice, '/home/alice/secret-link'), /is a link; links are not followed/);
    await assert.rejects(files.write(alice, '/home/alice/escape/planted', body('x')), /leads outside the home directory/);
    await assert.rejects(files.list(alice, '/home/alice/escape'), /leads outside|not a container/);
    await assert.rejects(files.mkdir(alice, '/home/alice/escape/d'), /leads outside the home directory/);
    assert.deepEqual(fs.readdirSync(outside), ['secret'], 'nothing was written outside');
    // The link itself is listed as a link and may be removed; its target stays.
    assert.equal((await files.stat(alice, '/home/alice/secret-link')).type, 'link');
    await files.remove(alice, '/home/alice/escape');
    assert.ok(fs.existsSync(path.join(outside, 'secret')));
  });

  it('keeps nothing of an upload whose MD5 or length is wrong, or that is over the quota', async () => {
    const before = fs.readdirSync(path.join(arc, 'home/alice')).sort();
    await assert.rejects(files.write(alice, '/home/alice/bad.bin', body('abc'), { md5: md5('abd') }), /upload corrupted/);
    await assert.rejects(files.write(alice, '/home/alice/short.bin', body('abc'), { length: 10 }), /upload incomplete: 3 of 10 bytes/);
    await assert.rejects(files.write(alice, '/home/alice/huge.bin', body('x'), { length: 2 * 1024 * 1024 }), /quota of 1.0 MiB would be exceeded/);
    // A body longer than it said: refused once it passes the quota, mid-stream.
    await assert.rejects(files.write(alice, '/home/alice/liar.bin', Readable.from([Buffer.alloc(700_000), Buffer.alloc(700_000)])), /quota/);
    assert.deepEqual(fs.readdirSync(path.join(arc, 'home/alice')).sort(), before, 'no file and no temporary file left');
  });

  it('lets one of two concurrent uploads to a path win whole and refuses the other', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    async function* slow() {
      yield Buffer.from('first-');
      await gate;
      yield Buffer.from('whole');
    }
    const first = files.write(alice, '/home/alice/race.txt', Readable.from(slow()));
    await new Promise((r) => setTimeout(r, 50));
    await assert.rejects(files.write(alice, '/home/alice/race.txt', body('second')), /another upload to \/home\/alice\/race.txt is in progress/);
    release();
    await first;
    assert.equal(fs.readFileSync(path.join(arc, 'home/alice/race.txt'), 'utf8'), 'first-whole');
  });

  it('moves within and between areas, refusing a move into itself or onto an existing node', async () => {
    await files.mkdir(alice, '/home/alice/dir');
    await files.write(alice, '/home/alice/dir/a.txt', body('a'));
    await assert.rejects(files.move(alice, '/home/alice/dir', '/home/alice/dir/sub'), /into itself/);
    const moved = await files.move(alice, '/home/alice/dir', '/projects/survey');
    assert.equal(moved.path, '/projects/survey/dir');
    assert.equal(fs.statSync(path.join(arc, 'projects/survey/dir/a.txt')).gid, 4_200_001, 'it takes the project group');
    await files.write(alice, '/home/alice/b.txt', body('b'));
    await files.write(alice, '/home/alice/c.txt', body('c'));
    await assert.rejects(files.move(alice, '/home/alice/b.txt', '/home/alice/c.txt'), /already exists/);
    await assert.rejects(files.remove(alice, '/home/alice'), /cannot be deleted/);
  });
});
