import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { cleanupList, startPlatform, type TestPlatform } from '../../helpers/platform.js';

const BIN = path.resolve('bin/skaha.js');

/** `skaha storage` against a real platform: put, ls, get, du, mkdir, rm, and their refusals. */
describe('skaha storage', () => {
  const cleanups = cleanupList();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'skaha-cli-storage-'));
  let tp: TestPlatform;
  let user: { username: string; token: string };
  before(async () => {
    tp = await startPlatform(cleanups.add, { storage: { homeQuotaGiB: 0.01 } });
    user = await tp.newUser('store');
  });
  after(async () => {
    await cleanups.run();
    fs.rmSync(work, { recursive: true, force: true });
  });

  async function skaha(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    const env = { ...process.env, XDG_CONFIG_HOME: work, SKAHA_URL: `${tp.base}/skaha/v0`, SKAHA_TOKEN: user.token, NO_COLOR: '1' };
    try {
      const { stdout, stderr } = await promisify(execFile)(process.execPath, [BIN, ...args], { env, cwd: work, timeout: 120_000 });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  }

  it('puts, lists, gets and removes files in the home, with --json figures', async () => {
    const data = crypto.randomBytes(3 * 1024 * 1024);
    fs.writeFileSync(path.join(work, 'cube.fits'), data);
    fs.writeFileSync(path.join(work, 'notes.txt'), 'notes\n');
    assert.equal((await skaha(['storage', 'mkdir', 'obs'])).code, 0);
    const put = await skaha(['storage', 'put', 'cube.fits', 'notes.txt', 'obs', '--json']);
    assert.equal(put.code, 0, put.stderr);
    const sent = JSON.parse(put.stdout) as { path: string; bytes: number; md5: string }[];
    assert.deepEqual(
      sent.map((s) => [s.path, s.bytes]),
      [
        [`/home/${user.username}/obs/cube.fits`, data.length],
        [`/home/${user.username}/obs/notes.txt`, 6],
      ],
    );
    assert.equal(sent[0]!.md5, crypto.createHash('md5').update(data).digest('hex'));

    const listed = JSON.parse((await skaha(['storage', 'ls', 'obs', '--json'])).stdout) as { name: string; size: number; owner: string; md5?: string }[];
    assert.deepEqual(
      listed.map((e) => [e.name, e.size, e.owner]),
      [
        ['cube.fits', data.length, user.username],
        ['notes.txt', 6, user.username],
      ],
    );
    assert.equal(listed[0]!.md5, sent[0]!.md5, 'the digest the server keeps');
    assert.match((await skaha(['storage', 'ls', '-l', `/home/${user.username}/obs`])).stdout, /file\s+3\.0 MiB\s+\S+\s+store\S*\s+-\s+cube\.fits/);

    fs.mkdirSync(path.join(work, 'back'));
    const got = await skaha(['storage', 'get', `arc:home/${user.username}/obs/cube.fits`, 'back']);
    assert.equal(got.code, 0, got.stderr);
    assert.ok(fs.readFileSync(path.join(work, 'back', 'cube.fits')).equals(data));

    const du = JSON.parse((await skaha(['storage', 'du', '--json'])).stdout) as { bytes: number; files: number; quota: number };
    assert.deepEqual([du.bytes, du.files, du.quota], [data.length + 6, 2, Math.round(0.01 * 2 ** 30)]);

    const refused = await skaha(['storage', 'rm', 'obs']);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /is a directory: add -r/);
    assert.equal((await skaha(['storage', 'rm', '-r', 'obs'])).code, 0);
    assert.equal((await skaha(['storage', 'ls'])).stdout.trim(), '(empty)');
  });

  it("says the server's refusal in one line: another user's home, the quota", async () => {
    const other = await skaha(['storage', 'ls', '/home/somebody-else']);
    assert.equal(other.code, 1);
    assert.match(other.stderr, /^skaha: not found: \/home\/somebody-else\n$/);
    fs.writeFileSync(path.join(work, 'huge.bin'), Buffer.alloc(12 * 1024 * 1024));
    const over = await skaha(['storage', 'put', 'huge.bin', '']);
    assert.equal(over.code, 1);
    assert.match(over.stderr, /quota of 10\.2 MiB would be exceeded; nothing was written/);
  });
});
