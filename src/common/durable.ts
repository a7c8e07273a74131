import fs from 'node:fs';
import path from 'node:path';

/**
 * Write `content` to `file` so that a `kill -9` (or a power cut) at any instant leaves either
 * the old file or the new one, never a torn one: a temporary file, fsync'd, renamed over the
 * old, then the directory fsync'd so the rename itself is on disk.
 */
export function writeDurably(file: string, content: string, mode = 0o600): void {
  const dir = path.dirname(file);
  fs.mkdirSync(dir, { recursive: true });
  const temp = path.join(dir, `.${path.basename(file)}.${process.pid}.tmp`);
  const fd = fs.openSync(temp, 'w', mode);
  try {
    fs.writeSync(fd, content);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(temp, file);
  syncDir(dir);
}

/** Remove `file` and make the removal durable (fsync of its directory). */
export function removeDurably(file: string): void {
  try {
    fs.unlinkSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  syncDir(path.dirname(file));
}

function syncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
