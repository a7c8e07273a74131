import { Worker } from 'node:worker_threads';

/**
 * MD5 digests computed on a thread of their own. Hashing on the event loop took half of an
 * upload's time (about 550 MiB/s of MD5 on this class of machine, the event loop's only other
 * work being the socket and the disk); on its own thread the digest of one batch is computed
 * while the next bytes arrive (docs/benchmarks.md, storage). Bytes reach the thread through one
 * shared buffer per digest, so memory stays bounded whatever the size of the file.
 */
const WORKER = `
const { parentPort } = require('node:worker_threads');
const crypto = require('node:crypto');
const hashes = new Map();
parentPort.on('message', (m) => {
  let hash = hashes.get(m.id);
  if (!hash) hashes.set(m.id, (hash = crypto.createHash('md5')));
  if (m.shared) {
    hash.update(new Uint8Array(m.shared, 0, m.length));
    parentPort.postMessage({ id: m.id, hashed: true });
  } else if (m.done) {
    hashes.delete(m.id);
    parentPort.postMessage({ id: m.id, md5: hash.digest('hex') });
  } else if (m.abort) {
    hashes.delete(m.id);
  }
});
`;

/** Bytes handed to the thread at a time (each digest has one such buffer). */
const SLOT = 1024 * 1024;

interface Digest {
  /** Hash these bytes next; resolves once they are hashed (the caller may then reuse them). */
  update(chunks: Buffer[]): Promise<void>;
  digest(): Promise<string>;
  abort(): void;
}

export class Md5Thread {
  private worker: Worker | undefined;
  private next = 0;
  private readonly answers = new Map<number, (md5?: string) => void>();

  /** Started with the server, so its few MiB are part of the server's footprint from the start. */
  constructor() {
    this.thread();
  }

  private thread(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(WORKER, { eval: true });
    worker.unref();
    worker.on('message', (m: { id: number; md5?: string }) => {
      const answer = this.answers.get(m.id);
      this.answers.delete(m.id);
      answer?.(m.md5);
    });
    worker.on('error', () => (this.worker = undefined));
    this.worker = worker;
    return worker;
  }

  /** Send one message about digest `id` and wait for the thread's answer. */
  private ask(id: number, message: object): Promise<string | undefined> {
    const worker = this.thread();
    return new Promise<string | undefined>((resolve) => {
      this.answers.set(id, resolve);
      worker.ref();
      worker.postMessage({ id, ...message });
    }).finally(() => {
      if (this.answers.size === 0) worker.unref();
    });
  }

  start(): Digest {
    const id = this.next++;
    const shared = new SharedArrayBuffer(SLOT);
    const slot = Buffer.from(shared);
    return {
      update: async (chunks) => {
        let filled = 0;
        for (const chunk of chunks) {
          for (let offset = 0; offset < chunk.length;) {
            const n = chunk.copy(slot, filled, offset);
            filled += n;
            offset += n;
            if (filled === SLOT) {
              await this.ask(id, { shared, length: filled });
              filled = 0;
            }
          }
        }
        if (filled > 0) await this.ask(id, { shared, length: filled });
      },
      digest: async () => (await this.ask(id, { done: true }))!,
      abort: () => this.worker?.postMessage({ id, abort: true }),
    };
  }

  close(): Promise<number> | undefined {
    return this.worker?.terminate();
  }
}
