import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { SESSION_LABEL } from '../../../src/backends/labels.js';
import { cleanupList, engine, HEADLESS_IMAGE, launch, startPlatform, type TestPlatform } from '../../helpers/platform.js';

const notRoot = process.getuid?.() !== 0 && 'mounting a small filesystem needs root';

/** Write zeros to `file` until the filesystem says it is full. */
function fill(file: string): void {
  const fd = fs.openSync(file, 'w');
  const block = Buffer.alloc(1024 * 1024);
  try {
    for (;;) fs.writeSync(fd, block);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    fs.closeSync(fd);
  }
  // The last few blocks the filesystem keeps: take them too.
  const small = fs.openSync(`${file}.tail`, 'w');
  try {
    for (;;) fs.writeSync(small, Buffer.alloc(512));
  } catch {
    // full
  } finally {
    fs.closeSync(small);
  }
}

/**
 * Issue 16, "disk full": the server's data directory on a 24 MiB tmpfs that fills up. Requests
 * that must write answer 503 with one clear line (and Retry-After), nothing is half-made, reads
 * go on; the identity database is intact; once space is freed, everything works again without a
 * restart.
 */
describe('the data directory fills up', { skip: notRoot }, () => {
  let tp: TestPlatform;
  const cleanups = cleanupList();
  const mount = fs.mkdtempSync(path.join(os.tmpdir(), 'skaha-full-'));
  const filler = path.join(mount, 'filler');
  before(async () => {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=24m,mode=0755', 'tmpfs', mount]);
    tp = await startPlatform(cleanups.add, {}, { dataDir: path.join(mount, 'data') });
  });
  after(async () => {
    fs.rmSync(filler, { force: true });
    fs.rmSync(`${filler}.tail`, { force: true });
    await cleanups.run();
    execFileSync('umount', [mount]);
    fs.rmSync(mount, { recursive: true, force: true });
  });

  it('refuses what must be written with 503 and one line, keeps reading, and recovers once space is freed', async () => {
    const { username, token } = await tp.newUser('full');
    const running = await launch(tp, token, { name: 'before', image: HEADLESS_IMAGE, type: 'headless', cmd: 'sleep', args: '600' });
    assert.equal(await tp.waitStatus(token, running, ['Running']), 'Running');
    const containersOf = async () => (await engine().listContainers({ all: true, filters: { label: [`${SESSION_LABEL.username}=${username}`] } })).length;

    fill(filler);
    const refusals = {
      launch: await tp.request('POST', '/skaha/v0/session', { token, form: { name: 'during', image: HEADLESS_IMAGE, type: 'headless', cmd: 'true' } }),
      token: await tp.request('POST', '/auth/tokens', { token, query: { name: 'during' } }),
      delete: await tp.request('DELETE', `/skaha/v0/session/${running}`, { token }),
    };
    for (const [what, r] of Object.entries(refusals)) {
      assert.equal(r.status, 503, `${what}: ${r.status} ${r.body}`);
      assert.equal(r.body, "temporarily unavailable: the server's data directory is full; try again once space is freed\n", what);
      assert.ok(Number(r.headers.get('retry-after')) > 0, `${what}: Retry-After`);
    }
    // Nothing half-made, nothing lost: the job still runs, no second container, reads work.
    assert.equal(await containersOf(), 1);
    const listed = await tp.request('GET', '/skaha/v0/session', { token });
    assert.equal(listed.status, 200);
    assert.deepEqual(
      (JSON.parse(listed.body) as Array<{ id: string; status: string }>).map((s) => [s.id, s.status]),
      [[running, 'Running']],
    );
    assert.equal((await tp.request('GET', '/skaha/v0/context', { token })).status, 200);

    // The identity database is intact.
    const db = new Database(path.join(tp.dataDir, 'skaha.db'), { readonly: true, fileMustExist: true });
    try {
      assert.equal(db.pragma('integrity_check', { simple: true }) as string, 'ok');
    } finally {
      db.close();
    }

    // Space again: everything works, without a restart.
    fs.rmSync(filler);
    fs.rmSync(`${filler}.tail`);
    const minted = await tp.request('POST', '/auth/tokens', { token, query: { name: 'after' } });
    assert.equal(minted.status, 200, minted.body);
    const after = await launch(tp, token, { name: 'after', image: HEADLESS_IMAGE, type: 'headless', cmd: 'true' });
    assert.equal(await tp.waitStatus(token, after, ['Succeeded', 'Failed']), 'Succeeded');
    assert.equal((await tp.request('DELETE', `/skaha/v0/session/${running}`, { token })).status, 200);
  });
});
