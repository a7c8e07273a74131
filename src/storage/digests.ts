import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';

/**
 * MD5 digests of files uploaded through the storage API (`<dataDir>/storage.db`), what cavern
 * keeps in extended attributes: a node's MD5 property and the `Digest` header of a download. A
 * digest counts only while the file keeps the size, mtime and inode it had when it was written:
 * a file changed inside a session simply has none until it is uploaded again.
 */
export class DigestStore {
  private readonly db: Database.Database;
  private readonly get: Database.Statement;
  private readonly put: Database.Statement;
  private readonly drop: Database.Statement;

  constructor(dataDir: string) {
    fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    this.db = new Database(path.join(dataDir, 'storage.db'));
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(
      'CREATE TABLE IF NOT EXISTS digests (path TEXT PRIMARY KEY, ino TEXT NOT NULL, size INTEGER NOT NULL, mtime_ms REAL NOT NULL, md5 TEXT NOT NULL)',
    );
    this.get = this.db.prepare('SELECT ino, size, mtime_ms, md5 FROM digests WHERE path = ?');
    this.put = this.db.prepare('INSERT OR REPLACE INTO digests (path, ino, size, mtime_ms, md5) VALUES (?, ?, ?, ?, ?)');
    this.drop = this.db.prepare("DELETE FROM digests WHERE path = ? OR path LIKE ? || '/%'");
  }

  remember(file: string, st: fs.Stats, md5: string): void {
    this.put.run(file, String(st.ino), st.size, st.mtimeMs, md5);
  }

  lookup(file: string, st: fs.Stats): string | undefined {
    const row = this.get.get(file) as { ino: string; size: number; mtime_ms: number; md5: string } | undefined;
    return row && row.ino === String(st.ino) && row.size === st.size && row.mtime_ms === st.mtimeMs ? row.md5 : undefined;
  }

  /** Forget a file, or everything under a directory. */
  forget(file: string): void {
    this.drop.run(file, file);
  }

  close(): void {
    this.db.close();
  }
}
