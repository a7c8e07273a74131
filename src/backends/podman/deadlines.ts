import fs from 'node:fs';
import path from 'node:path';
import { writeDurably } from '../../common/durable.js';

/**
 * Renewed expiries, one file per session record under `<stateDir>/deadlines`: a container's
 * labels are fixed at creation, so a renew is kept here, written durably before it is
 * acknowledged, and a restart keeps the new expiry.
 */
export class DeadlineStore {
  private readonly deadlines = new Map<string, number>();

  constructor(private readonly dir: string) {}

  /** Read what earlier runs wrote. */
  load(): void {
    fs.mkdirSync(this.dir, { recursive: true });
    for (const file of fs.readdirSync(this.dir)) {
      const value = Number(fs.readFileSync(path.join(this.dir, file), 'utf8'));
      if (value > 0) this.deadlines.set(file.replace('-', '/'), value);
    }
  }

  get(key: string): number | undefined {
    return this.deadlines.get(key);
  }

  set(key: string, deadlineSeconds: number): void {
    writeDurably(this.file(key), String(deadlineSeconds), 0o644);
    this.deadlines.set(key, deadlineSeconds);
  }

  delete(key: string): void {
    if (this.deadlines.delete(key)) fs.rmSync(this.file(key), { force: true });
  }

  private file(key: string): string {
    return path.join(this.dir, key.replace('/', '-'));
  }
}
