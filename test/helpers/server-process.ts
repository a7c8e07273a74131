import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import path from 'node:path';

const BIN = path.resolve('bin/skaha.js');

export interface ServerProcess {
  child: ChildProcess;
  url: string;
  /** SIGKILL, and wait for the exit. */
  kill9(): Promise<void>;
  /** SIGTERM, and wait for the exit. */
  stop(): Promise<void>;
}

const exited = (child: ChildProcess) =>
  child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise<void>((r) => child.once('exit', () => r()));

/**
 * `skaha serve --port 0` of the built command (dist/), as an operator runs it, with `env`
 * (SKAHA_CONFIG: the test server's own network and uid range). Resolves once it prints its URL.
 */
export function serveProcess(dataDir: string, env: NodeJS.ProcessEnv): Promise<ServerProcess> {
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--data-dir', dataDir], { stdio: ['ignore', 'pipe', 'pipe'], env });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`serve did not start: ${out}`)), 60_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /skaha serving (http:\/\/[^/\s]+)/.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve({
          child,
          url: match[1]!,
          kill9: async () => void (child.kill('SIGKILL'), await exited(child)),
          stop: async () => void (child.kill('SIGTERM'), await exited(child)),
        });
      }
    });
    child.stderr!.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.on('exit', (code) => reject(new Error(`serve exited ${code}: ${out}`)));
  });
}

/** `skaha admin token create <username>`: the token (its output's last line). */
export function adminToken(dataDir: string, env: NodeJS.ProcessEnv, username: string): string {
  const r = spawnSync(process.execPath, [BIN, 'admin', 'token', 'create', username, '--data-dir', dataDir], { encoding: 'utf8', env });
  if (r.status !== 0) throw new Error(`admin token create ${username}: ${r.stderr}`);
  return r.stdout.trim().split('\n').pop()!;
}
