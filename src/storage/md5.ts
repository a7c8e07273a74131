import { Worker } from 'node:worker_threads';

/**
 * MD5 digests computed on a thread of their own. Hashing on the event loop took half of an
 * upload's time (about 550 MiB/s of MD5 on this class of machine, the event loop's only other
 * work being the socket and the disk). MD5 is sequential, so on one upload this thread is the
 * slowest stage: it must never wait for the event loop. Bytes reach it through a small ring of
 * shared slots per digest: the event loop copies the next bytes into a free slot while the thread
 * hashes the ones before, and waits only when every slot is full (docs/benchmarks.md, storage).
 * Memory stays bounded whatever the size of the file.
 */
const WORKER = `
const { parentPort } = require('node:worker_threads');
const crypto = require('node:crypto');
const digests = new Map();
parentPort.on('message', (m) => {
  if (m.shared) {
    digests.set(m.id, { hash: crypto.createHash('md5'), ring: new Uint8Array(m.shared) });
    return;
  }
  const d = digests.get(m.id);
  if (!d) return;
  if (m.length !== undefined) {
    d.hash.update(d.ring.subarray(m.offset, m.offset + m.length));
    parentPort.postMessage({ id: m.id, freed: m.offset });
  } else if (m.done) {
    digests.delete(m.id);
    parentPort.postMessage({ id: m.id, md5: d.hash.digest('hex') });
  } else if (m.abort) {
    digests.delete(m.id);
  }
});
`;

/** Bytes handed to the thread at a time. */
const SLOT = 1024 * 1024;
/** Slots per digest: enough that the thread always has the next one while the last is refilled. */
const SLOTS = 4;

interface Digest {
  /** Queue these bytes for hashing; resolves once they are copied (the caller may then reuse them). */
  update(chunks: Buffer[]): Promise<void>;
  digest(): Promise<string>;
  abort(): void;
}

type Answer = { freed?: number; md5?: string; error?: Error };

export class Md5Thread {
  private worker: Worker | undefined;
  private next = 0;
  /** The digests in progress, by id: where the thread's answers about each go. */
  private readonly listeners = new Map<number, (answer: Answer) => void>();

  /** Started with the server, so its few MiB are part of the server's footprint from the start. */
  constructor() {
    this.thread();
  }

  private thread(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(WORKER, { eval: true });
    worker.unref();
    worker.on('message', (m: Answer & { id: number }) => this.listeners.get(m.id)?.(m));
    // A thread that dies fails the digests it had; the next digest starts a new one.
    const lost = (error: Error) => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      for (const listener of [...this.listeners.values()]) listener({ error });
    };
    worker.on('error', lost);
    worker.on('exit', (code) => lost(new Error(`the MD5 thread exited (${code})`)));
    this.worker = worker;
    return worker;
  }

  private listen(id: number, listener: (answer: Answer) => void): Worker {
    const worker = this.thread();
    this.listeners.set(id, listener);
    worker.ref();
    return worker;
  }

  private forget(id: number): void {
    this.listeners.delete(id);
    if (this.listeners.size === 0) this.worker?.unref();
  }

  start(): Digest {
    const id = this.next++;
    const shared = new SharedArrayBuffer(SLOT * SLOTS);
    const ring = Buffer.from(shared);
    const free = Array.from({ length: SLOTS }, (_, i) => i * SLOT);
    let slotFreed: { resolve: () => void; reject: (err: Error) => void } | undefined;
    let finished: { resolve: (md5: string) => void; reject: (err: Error) => void } | undefined;
    let failed: Error | undefined;
    const worker = this.listen(id, (answer) => {
      if (answer.error) {
        failed = answer.error;
        this.forget(id);
        slotFreed?.reject(failed);
        finished?.reject(failed);
      } else if (answer.freed !== undefined) {
        free.push(answer.freed);
        slotFreed?.resolve();
        slotFreed = undefined;
      } else if (answer.md5 !== undefined) {
        this.forget(id);
        finished?.resolve(answer.md5);
      }
    });
    // The ring is shared once; each message after that names only a slot (posting the
    // SharedArrayBuffer itself with every slot cost ~0.3 ms a message on the event loop).
    worker.postMessage({ id, shared });
    let slot: number | undefined;
    let filled = 0;
    const send = () => {
      worker.postMessage({ id, offset: slot, length: filled });
      slot = undefined;
      filled = 0;
    };
    return {
      update: async (chunks) => {
        for (const chunk of chunks) {
          for (let offset = 0; offset < chunk.length;) {
            if (slot === undefined) {
              while (free.length === 0) {
                if (failed) throw failed;
                await new Promise<void>((resolve, reject) => (slotFreed = { resolve, reject }));
              }
              slot = free.shift()!;
            }
            const n = chunk.copy(ring, slot + filled, offset, offset + Math.min(chunk.length - offset, SLOT - filled));
            filled += n;
            offset += n;
            if (filled === SLOT) send();
          }
        }
      },
      digest: () =>
        new Promise<string>((resolve, reject) => {
          if (failed) return reject(failed);
          finished = { resolve, reject };
          if (filled > 0) send();
          worker.postMessage({ id, done: true });
        }),
      abort: () => {
        this.forget(id);
        worker.postMessage({ id, abort: true });
      },
    };
  }

  close(): Promise<number> | undefined {
    return this.worker?.terminate();
  }
}
