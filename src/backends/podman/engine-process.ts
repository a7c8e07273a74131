import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import Docker from 'dockerode';
import { DEFAULT_ENGINE_HOME } from '../../server/paths.js';

async function answers(docker: Docker, timeoutMs: number): Promise<boolean> {
  try {
    await Promise.race([
      docker.ping(),
      new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), timeoutMs)),
    ]);
    return true;
  } catch {
    return false;
  }
}

export interface EngineProcessOptions {
  socketPath: string;
  containersConf: string;
  startService: boolean;
  /** HOME of the service: where it finds per-registry authorities (certs.d). Default DEFAULT_ENGINE_HOME. */
  home?: string;
  /** Where the Podman service writes its own log. */
  logFile: string;
  log?: (message: string) => void;
}

/**
 * A client for the engine on `socketPath`; when nothing answers there and we may, start
 * `podman system service` on it, detached, so it outlives this process (sessions keep running and
 * stay reachable across restarts of `skaha serve`).
 */
export async function connectEngine(opts: EngineProcessOptions): Promise<Docker> {
  const docker = new Docker({ socketPath: opts.socketPath, timeout: 120_000 });
  if (await answers(docker, 3000)) return docker;
  if (!opts.startService) {
    throw new Error(`no container engine answers on ${opts.socketPath} (podman.startService is off)`);
  }
  fs.mkdirSync(path.dirname(opts.socketPath), { recursive: true, mode: 0o700 });
  fs.rmSync(opts.socketPath, { force: true });
  fs.mkdirSync(path.dirname(opts.logFile), { recursive: true });
  const home = opts.home ?? DEFAULT_ENGINE_HOME;
  fs.mkdirSync(home, { recursive: true, mode: 0o700 });
  const logFd = fs.openSync(opts.logFile, 'a');
  opts.log?.(`starting podman system service on ${opts.socketPath}`);
  const child = spawn('podman', ['system', 'service', '--time=0', `unix://${opts.socketPath}`], {
    detached: true,
    stdio: ['ignore', logFd, logFd],
    env: { ...process.env, CONTAINERS_CONF: opts.containersConf, HOME: home },
  });
  const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
  child.unref();
  fs.closeSync(logFd);
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const failed = await Promise.race([spawnError, new Promise<undefined>((r) => setTimeout(r, 200, undefined))]);
    if (failed) {
      throw new Error(
        (failed as NodeJS.ErrnoException).code === 'ENOENT'
          ? 'podman is not installed: run scripts/setup.sh (it installs podman and runc)'
          : `cannot start podman: ${failed.message}`,
      );
    }
    if (await answers(docker, 1000)) return docker;
  }
  throw new Error(`podman system service did not answer on ${opts.socketPath} within 30 s; see ${opts.logFile}`);
}
