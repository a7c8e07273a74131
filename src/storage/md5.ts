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
const rings = new Map();
const digests = new Map();
parentPort.on('message', (m) => {
  if (m.shared) return void rings.set(m.ring, new Uint8Array(m.shared));
  if (m.release !== undefined) return void rings.delete(m.release);
  if (m.start) return void digests.set(m.id, { hash: crypto.createHash('md5'), ring: rings.get(m.ring) });
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
/** Rings kept for the next uploads; more (after many at once) are given back. */
const IDLE_RINGS = 2;

/**
 * A digest's slots, reused from one upload to the next: the thread holds each ring from when it
 * is first shared with it, so a ring per upload would pile up there until that isolate collects
 * (the server grew ~4 MiB per upload).
 */
interface Ring {
  index: number;
  shared: SharedArrayBuffer;
  bytes: Buffer;
  /** The thread it was shared with (a restarted thread gets it again). */
  worker?: Worker;
}

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
  private rings = 0;
  private readonly idle: Ring[] = [];
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

  /** A ring shared with the thread, from those idle or a new one. */
  private takeRing(worker: Worker): Ring {
    const ring = this.idle.pop() ?? this.newRing();
    if (ring.worker !== worker) {
      worker.postMessage({ ring: ring.index, shared: ring.shared });
      ring.worker = worker;
    }
    return ring;
  }

  private newRing(): Ring {
    const shared = new SharedArrayBuffer(SLOT * SLOTS);
    return { index: this.rings++, shared, bytes: Buffer.from(shared) };
  }

  /** The thread only reads a ring, so it may be reused at once, even with slots still queued there. */
  private giveBack(ring: Ring): void {
    if (this.idle.length < IDLE_RINGS) this.idle.push(ring);
    else ring.worker?.postMessage({ release: ring.index });
  }

  start(): Digest {
    const id = this.next++;
    const free = Array.from({ length: SLOTS }, (_, i) => i * SLOT);
    let slotFreed: { resolve: () => void; reject: (err: Error) => void } | undefined;
    let finished: { resolve: (md5: string) => void; reject: (err: Error) => void } | undefined;
    let failed: Error | undefined;
    let ring: Ring | undefined;
    const done = () => {
      this.forget(id);
      if (ring) this.giveBack(ring);
      ring = undefined;
    };
    const worker = this.listen(id, (answer) => {
      if (answer.error) {
        failed = answer.error;
        done();
        slotFreed?.reject(failed);
        finished?.reject(failed);
      } else if (answer.freed !== undefined) {
        free.push(answer.freed);
        slotFreed?.resolve();
        slotFreed = undefined;
      } else if (answer.md5 !== undefined) {
        done();
        finished?.resolve(answer.md5);
      }
    });
    // The ring is shared once; each message after that names only a slot (posting the
    // SharedArrayBuffer itself with every slot cost ~0.3 ms a message on the event loop).
    ring = this.takeRing(worker);
    const bytes = ring.bytes;
    worker.postMessage({ id, start: true, ring: ring.index });
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
            const n = chunk.copy(bytes, slot + filled, offset, offset + Math.min(chunk.length - offset, SLOT - filled));
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
        worker.postMessage({ id, abort: true });
        done();
      },
    };
  }

  close(): Promise<number> | undefined {
    return this.worker?.terminate();
  }
}
