import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import Docker from 'dockerode';
import { DEFAULT_ENGINE_HOME } from '../common/paths.js';

async function answers(docker: Docker, timeoutMs: number): Promise<boolean> {
  try {
    await Promise.race([docker.ping(), new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), timeoutMs))]);
    return true;
  } catch {
    return false;
  }
}

/** Whether a process accepts connections on the socket: a busy engine is slow to answer, not absent. */
function accepting(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(socketPath);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function waitForAnswer(docker: Docker, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) if (await answers(docker, 2000)) return true;
  return false;
}

/** How long a start of the service may take before another process may try again. */
const START_LOCK_STALE_MS = 60_000;

interface EngineProcessOptions {
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
  // Something listens but is slow (a loaded machine): wait for it. Replacing its socket would cut
  // off every server, session and test already using that engine.
  if (await accepting(opts.socketPath)) {
    if (await waitForAnswer(docker, 60_000)) return docker;
    throw new Error(`the container engine on ${opts.socketPath} accepts connections but does not answer; see ${opts.logFile}`);
  }
  if (!opts.startService) {
    throw new Error(`no container engine answers on ${opts.socketPath} (podman.startService is off)`);
  }
  fs.mkdirSync(path.dirname(opts.socketPath), { recursive: true, mode: 0o700 });
  // One process starts the service; others arriving meanwhile wait for it to answer.
  const lock = `${opts.socketPath}.starting`;
  try {
    fs.closeSync(fs.openSync(lock, 'wx', 0o600));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    const age = Date.now() - (fs.statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? 0);
    if (age < START_LOCK_STALE_MS && (await waitForAnswer(docker, START_LOCK_STALE_MS - age))) return docker;
    fs.rmSync(lock, { force: true });
    return connectEngine(opts);
  }
  try {
    return await startService(docker, opts);
  } finally {
    fs.rmSync(lock, { force: true });
  }
}

async function startService(docker: Docker, opts: EngineProcessOptions): Promise<Docker> {
  fs.rmSync(opts.socketPath, { force: true });
  fs.mkdirSync(path.dirname(opts.logFile), { recursive: true });
  const home = opts.home ?? DEFAULT_ENGINE_HOME;
  fs.mkdirSync(home, { recursive: true, mode: 0o700 });
  const logFd = fs.openSync(opts.logFile, 'a');
  opts.log?.(`starting podman system service on ${opts.socketPath}`);
  const child = spawn('podman', ['system', 'service', '--time=0', `unix://${opts.socketPath}`], {
    detached: true,
    // Not the caller's directory: the service outlives it, and conmon (started from the
    // service's directory) fails every container once that checkout is moved or deleted.
    cwd: home,
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
