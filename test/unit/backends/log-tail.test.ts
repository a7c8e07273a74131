import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { demuxLogs, LogTail, tailOf } from '../../../src/backends/log-tail.js';

/** Docker's multiplexed log framing: stream (1 stdout, 2 stderr), 0, 0, 0, size, payload. */
const frame = (stream: number, text: string) => {
  const body = Buffer.from(text);
  const head = Buffer.alloc(8);
  head[0] = stream;
  head.writeUInt32BE(body.length, 4);
  return Buffer.concat([head, body]);
};

describe('LogTail', () => {
  it('takes the framing apart whatever the chunk boundaries', () => {
    const bytes = Buffer.concat([frame(1, 'out one\n'), frame(2, 'err two\n'), frame(1, 'out three\n')]);
    for (const size of [1, 3, 7, 8, 9, 13, bytes.length]) {
      const tail = new LogTail(1024);
      for (let i = 0; i < bytes.length; i += size) tail.write(bytes.subarray(i, i + size));
      assert.equal(tail.text(), 'out one\nerr two\nout three\n', `chunks of ${size}`);
    }
  });

  it('reads a whole short log (demuxLogs), framed or not, empty too', () => {
    assert.equal(demuxLogs(Buffer.concat([frame(1, 'out\n'), frame(2, 'err\n'), frame(1, 'more\n')])), 'out\nerr\nmore\n');
    assert.equal(demuxLogs(Buffer.from('plain tty output\n')), 'plain tty output\n');
    assert.equal(demuxLogs(Buffer.alloc(0)), '');
  });

  it('passes an unframed (TTY) log through, short ones included', () => {
    const tail = new LogTail(1024);
    tail.write(Buffer.from('plain text\n'));
    assert.equal(tail.text(), 'plain text\n');
    const short = new LogTail(1024);
    short.write(Buffer.from('hi\n'));
    assert.equal(short.text(), 'hi\n');
  });

  it('keeps the last maxBytes from a whole line, says what was left out, never splits a character', async () => {
    const lines = Array.from({ length: 2000 }, (_, i) => `line ${i} ${'é'.repeat(20)}\n`);
    const text = await tailOf(Readable.from(lines.map((l) => frame(1, l))), 4096);
    const [first, ...rest] = text.split('\n');
    assert.equal(first, '[earlier output left out: only the last 4096 bytes of this log are shown]');
    assert.match(rest[0]!, /^line \d+ (é){20}$/, 'starts at a line boundary, whole characters');
    assert.equal(rest.at(-2), `line 1999 ${'é'.repeat(20)}`);
    assert.ok(Buffer.byteLength(rest.join('\n')) <= 4096);
  });

  it('holds about maxBytes however long the log is', () => {
    const tail = new LogTail(1000);
    for (let i = 0; i < 10_000; i++) tail.write(frame(1, `${String(i).padStart(9, '0')}\n`));
    const kept = (tail as unknown as { chunks: Buffer[] }).chunks.reduce((n, c) => n + c.length, 0);
    assert.ok(kept < 1000 + 100, `${kept} bytes held`);
    assert.match(tail.text(), /000009999\n$/);
  });
});
