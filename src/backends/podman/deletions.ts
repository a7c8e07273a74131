import fs from 'node:fs';
import path from 'node:path';
import { removeDurably, writeDurably } from '../../common/durable.js';

/** One acknowledged deletion, as written down before DELETE answers. */
interface Deletion {
  /** The record deleted: `<sessionId>` (a session and every desktop-app of it) or `<sessionId>/<appId>`. */
  key: string;
  /** When the deletion was asked for (ISO 8601): the grace between SIGTERM and SIGKILL runs from here. */
  at: string;
}

/**
 * Deletions the server acknowledged, one file each under `<stateDir>/deletions`, written
 * durably before DELETE answers and removed once the containers are gone. A server killed in
 * between finds them at start and finishes them (issue 16: a deleted session never comes back).
 * While an entry exists, any container of its key (one whose creation was under way when the
 * deletion came) is removed on sight.
 */
export class DeletionJournal {
  private readonly entries = new Map<string, Deletion>();

  constructor(private readonly dir: string) {
    if (!fs.existsSync(dir)) return;
    for (const name of fs.readdirSync(dir)) {
      if (name.startsWith('.')) {
        // A temporary file of a write that a crash cut short: the deletion was not acknowledged.
        fs.rmSync(path.join(dir, name), { force: true });
        continue;
      }
      try {
        const entry = JSON.parse(fs.readFileSync(path.join(dir, name), 'utf8')) as Deletion;
        if (typeof entry.key === 'string' && typeof entry.at === 'string') this.entries.set(entry.key, entry);
      } catch {
        // unreadable: never written by writeDurably; nothing was acknowledged with it
      }
    }
  }

  /** Write the deletion down (durably). Throws when it cannot be written: nothing may be acknowledged then. */
  record(key: string, at = new Date()): Deletion {
    const entry = this.entries.get(key) ?? { key, at: at.toISOString() };
    writeDurably(this.file(key), JSON.stringify(entry));
    this.entries.set(key, entry);
    return entry;
  }

  /** The deletion is finished: its containers are gone. */
  remove(key: string): void {
    removeDurably(this.file(key));
    this.entries.delete(key);
  }

  all(): Deletion[] {
    return [...this.entries.values()];
  }

  /** The deletion that covers a record: its own, or its desktop's. */
  covering(key: string): Deletion | undefined {
    return this.entries.get(key) ?? this.entries.get(key.split('/')[0]!);
  }

  get size(): number {
    return this.entries.size;
  }

  private file(key: string): string {
    return path.join(this.dir, `${key.replace('/', '-')}.json`);
  }
}
