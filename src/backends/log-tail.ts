import type { Readable } from 'node:stream';

/**
 * The last `maxBytes` of a container's log, read as a stream so that a log of any size costs the
 * server `maxBytes` of memory, not the whole log (issue 16 point 4: a 150 MB log took the server
 * to 1 GB). Docker's multiplexed framing (an 8-byte header per chunk: stream, 0, 0, 0, size) is
 * taken apart on the way; a stream without it (a TTY) passes through as it is.
 */
export class LogTail {
  private readonly chunks: Buffer[] = [];
  private kept = 0;
  private dropped = false;
  /** Bytes of a frame header or body not complete yet. */
  private pending = Buffer.alloc(0);
  private frameLeft = 0;
  private framed: boolean | undefined;

  constructor(private readonly maxBytes: number) {}

  /** Feed bytes as they arrive from the engine. */
  write(chunk: Buffer): void {
    if (this.framed === undefined) {
      this.pending = Buffer.concat([this.pending, chunk]);
      if (this.pending.length < 8) return;
      this.framed = looksFramed(this.pending);
      chunk = this.pending;
      this.pending = Buffer.alloc(0);
    }
    if (!this.framed) return this.keep(chunk);
    let data = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = Buffer.alloc(0);
    while (data.length) {
      if (this.frameLeft > 0) {
        const body = data.subarray(0, this.frameLeft);
        this.keep(body);
        this.frameLeft -= body.length;
        data = data.subarray(body.length);
        continue;
      }
      if (data.length < 8) {
        this.pending = Buffer.from(data);
        return;
      }
      this.frameLeft = data.readUInt32BE(4);
      data = data.subarray(8);
    }
  }

  /** The text kept, with a first line saying how much was left out when the log was longer. */
  text(): string {
    if (this.framed === undefined && this.pending.length) {
      this.keep(this.pending);
      this.pending = Buffer.alloc(0);
    }
    let tail = Buffer.concat(this.chunks);
    if (tail.length > this.maxBytes) {
      tail = tail.subarray(tail.length - this.maxBytes);
      this.dropped = true;
    }
    if (!this.dropped) return tail.toString('utf8');
    // Start at a line boundary when one is near, and never inside a UTF-8 character.
    const newline = tail.subarray(0, 4096).indexOf(0x0a);
    let start = newline >= 0 ? newline + 1 : 0;
    while (start < tail.length && (tail[start]! & 0xc0) === 0x80) start++;
    return `[earlier output left out: only the last ${this.maxBytes} bytes of this log are shown]\n${tail.subarray(start).toString('utf8')}`;
  }

  private keep(bytes: Buffer): void {
    if (!bytes.length) return;
    this.chunks.push(Buffer.from(bytes));
    this.kept += bytes.length;
    // Drop whole chunks from the front while what is left still covers maxBytes.
    while (this.chunks.length > 1 && this.kept - this.chunks[0]!.length >= this.maxBytes) {
      this.kept -= this.chunks.shift()!.length;
      this.dropped = true;
    }
  }
}

function looksFramed(head: Buffer): boolean {
  return head[0]! <= 2 && head[1] === 0 && head[2] === 0 && head[3] === 0;
}

/** A whole log already read (a short one: an image check's output), taken out of its framing. */
export function demuxLogs(buffer: Buffer): string {
  const all = new LogTail(Number.POSITIVE_INFINITY);
  all.write(buffer);
  return all.text();
}

/** Read a log stream to its end, keeping its last `maxBytes`. */
export async function tailOf(stream: Readable, maxBytes: number): Promise<string> {
  const tail = new LogTail(maxBytes);
  for await (const chunk of stream) tail.write(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
  return tail.text();
}
