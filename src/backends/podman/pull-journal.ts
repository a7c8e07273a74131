import fs from 'node:fs';
import path from 'node:path';
import { recordKey, type LaunchSpec } from '../backend.js';

/**
 * A launch waiting for its image, as written down: the spec without its credentials (never
 * written anywhere), when it was made, and, once the launch failed, why.
 */
interface PullFile {
  spec: Omit<LaunchSpec, 'registryAuth'>;
  createdAt: string;
  /** `event`: the Failed event's message; files of earlier versions have the pull's `message` only. */
  failed?: { at: string; event?: string; message?: string };
  /** A headless job waiting for room on the machine (admission.ts), not for its image. */
  queued?: boolean;
}

/**
 * Launches without a container yet — waiting for their image, or (headless jobs) for room on the
 * machine — one file each under `<stateDir>/pulls`, so that a restarted server resumes their
 * pulls, keeps queued jobs in their places, and lists the failed ones (with their reason) until
 * they are reaped.
 */
export class PullJournal {
  constructor(private readonly dir: string) {}

  /** The launch waits for its image (or, `queued`, for room). */
  pending(spec: LaunchSpec, createdAt: Date, opts: { queued?: boolean } = {}): void {
    this.write(spec, { spec: withoutAuth(spec), createdAt: createdAt.toISOString(), ...(opts.queued ? { queued: true } : {}) });
  }

  /** The launch failed before its container ran: `event` says why. */
  failed(spec: LaunchSpec, createdAt: Date, at: Date, event: string): void {
    this.write(spec, { spec: withoutAuth(spec), createdAt: createdAt.toISOString(), failed: { at: at.toISOString(), event } });
  }

  remove(key: string): void {
    fs.rmSync(this.file(key), { force: true });
  }

  /** Every launch written down, by session key; unreadable files are skipped. */
  all(): Array<{ key: string; file: PullFile }> {
    if (!fs.existsSync(this.dir)) return [];
    return fs.readdirSync(this.dir).flatMap((name) => {
      try {
        const file = JSON.parse(fs.readFileSync(path.join(this.dir, name), 'utf8')) as PullFile;
        return [{ key: recordKey(file.spec.sessionId, file.spec.appId), file }];
      } catch {
        return [];
      }
    });
  }

  private write(spec: LaunchSpec, content: PullFile): void {
    fs.mkdirSync(this.dir, { recursive: true });
    fs.writeFileSync(this.file(recordKey(spec.sessionId, spec.appId)), JSON.stringify(content), { mode: 0o600 });
  }

  private file(key: string): string {
    return path.join(this.dir, `${key.replace('/', '-')}.json`);
  }
}

/** A spec as it may be written down: registry credentials go to the engine for one pull only. */
function withoutAuth(spec: LaunchSpec): Omit<LaunchSpec, 'registryAuth'> {
  const { registryAuth, ...rest } = spec;
  return rest;
}
