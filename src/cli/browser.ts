import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/** The opener on PATH (xdg-open on Linux desktops, open on macOS), if any. */
function opener(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const names = process.platform === 'darwin' ? ['open'] : ['xdg-open'];
  for (const dir of (env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    for (const name of names) {
      const file = path.join(dir, name);
      try {
        fs.accessSync(file, fs.constants.X_OK);
        return file;
      } catch {
        // not here
      }
    }
  }
  return undefined;
}

/**
 * Ask the desktop to open `url`, without waiting for the browser. Returns false when there is
 * no opener, so the caller can say "open this URL" instead of pretending.
 */
export function openInBrowser(url: string): boolean {
  const command = opener();
  if (!command) return false;
  const child = spawn(command, [url], { stdio: 'ignore', detached: true });
  child.on('error', () => undefined);
  child.unref();
  return true;
}
