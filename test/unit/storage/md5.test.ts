import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, describe, it } from 'node:test';
import { Md5Thread } from '../../../src/storage/md5.js';

const md5 = (data: Buffer) => crypto.createHash('md5').update(data).digest('hex');

/** Chunks of uneven sizes, so slot boundaries fall inside chunks and a chunk spans slots. */
function chunksOf(data: Buffer, sizes: number[]): Buffer[] {
  const chunks: Buffer[] = [];
  for (let at = 0, i = 0; at < data.length; i++) {
    const n = sizes[i % sizes.length]!;
    chunks.push(data.subarray(at, at + n));
    at += n;
  }
  return chunks;
}

describe('Md5Thread (digests of uploads, on a thread of their own)', () => {
  const thread = new Md5Thread();
  after(() => thread.close());

  it('gives the MD5 of bytes that pass through its ring of slots many times over, in uneven batches', async () => {
    const data = crypto.randomBytes(11 * 1024 * 1024 + 12_345); // the 4 MiB ring, reused
    const digest = thread.start();
    const chunks = chunksOf(data, [65_536, 1, 3 * 1024 * 1024 + 7, 100_000]);
    for (let i = 0; i < chunks.length; i += 3) await digest.update(chunks.slice(i, i + 3));
    assert.equal(await digest.digest(), md5(data));
  });

  it('keeps digests in progress apart, and a batch may be reused once update resolves', async () => {
    const a = crypto.randomBytes(5 * 1024 * 1024 + 1);
    const b = crypto.randomBytes(3 * 1024 * 1024 + 2);
    const da = thread.start();
    const db = thread.start();
    const scratch = Buffer.alloc(512 * 1024);
    for (let at = 0; at < Math.max(a.length, b.length); at += scratch.length) {
      for (const [digest, data] of [
        [da, a],
        [db, b],
      ] as const) {
        if (at >= data.length) continue;
        const n = data.copy(scratch, 0, at, at + scratch.length);
        await digest.update([scratch.subarray(0, n)]);
        scratch.fill(0xff); // the thread must already have its own copy
      }
    }
    assert.deepEqual(await Promise.all([da.digest(), db.digest()]), [md5(a), md5(b)]);
  });

  it('forgets an aborted digest, and the next one is right', async () => {
    const aborted = thread.start();
    await aborted.update([crypto.randomBytes(2 * 1024 * 1024)]);
    aborted.abort();
    const data = crypto.randomBytes(1024 * 1024 + 3);
    const next = thread.start();
    await next.update([data]);
    assert.equal(await next.digest(), md5(data));
    assert.equal(md5(Buffer.alloc(0)), await thread.start().digest(), 'an empty body has the empty MD5');
  });

  it('fails the digests in progress when its thread ends, and starts a new thread for the next', async () => {
    const lost = thread.start();
    await lost.update([crypto.randomBytes(1024)]);
    await thread.close();
    await assert.rejects(lost.digest(), /MD5 thread exited/);
    const data = crypto.randomBytes(2048);
    const next = thread.start();
    await next.update([data]);
    assert.equal(await next.digest(), md5(data));
  });
});
