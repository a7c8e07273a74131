/**
 * Shared pieces of the benchmarks (bench/README.md): a skaha server in its own process on a free
 * loopback port with a temporary data directory, a small API client, statistics, tables, and a
 * cleanup list that also runs on Ctrl-C, SIGTERM, errors and the time limit.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import Docker from 'dockerode';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const SOCKET = process.env.BENCH_PODMAN_SOCKET || '/run/skaha/podman.sock';
export const CONTAINERS_CONF = process.env.CONTAINERS_CONF || path.join(REPO, 'deploy', 'podman', 'containers.conf');
export const HEADLESS_IMAGE = 'images.canfar.net/skaha/headless:1.0';
export const WEB_IMAGE = 'images.canfar.net/skaha/webapp:1.0';

/** Every temporary directory a benchmark makes starts with this; nothing else is ever removed. */
const TMP_PREFIX = 'skaha-bench-';
const SKAHA_BIN = path.join(REPO, 'bin', 'skaha.js');
const SKAHA_BUILT = path.join(REPO, 'dist', 'cli', 'main.js');

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
export const randomHex = (bytes: number) => crypto.randomBytes(bytes).toString('hex');
export const now = () => performance.now();

/** An integer from the environment, within [min, max]; a bad value stops the benchmark. */
export function envInt(name: string, fallback: number, min: number, max: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${name}=${raw}: want an integer from ${min} to ${max}`);
  return n;
}

export function errorMessage(err: unknown): string {
  const json = (err as { json?: { message?: string } } | undefined)?.json;
  return json?.message ?? (err instanceof Error ? err.message : String(err));
}

// --- statistics -----------------------------------------------------------------------------

export interface Summary {
  n: number;
  min: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

/** Nearest-rank percentile of sorted samples: the smallest value with at least p% at or below it. */
function percentile(sorted: number[], p: number): number {
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1] ?? Number.NaN;
}

export function summarize(samples: number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  const n = sorted.length;
  return {
    n,
    min: sorted[0] ?? Number.NaN,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    max: sorted[n - 1] ?? Number.NaN,
    mean: n ? sorted.reduce((s, x) => s + x, 0) / n : Number.NaN,
  };
}

/** Milliseconds with `digits` decimals. */
export const ms = (x: number, digits = 1) => (Number.isFinite(x) ? x.toFixed(digits) : '-');
export const ratio = (a: number, b: number) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}×` : '-');

// --- tables ---------------------------------------------------------------------------------

/** Columns after the first are right-aligned (numbers). */
export function textTable(headers: string[], rows: string[][]): string {
  const all = [headers, ...rows];
  const widths = headers.map((_, c) => Math.max(...all.map((r) => (r[c] ?? '').length)));
  const line = (r: string[]) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c] ?? 0) : cell.padStart(widths[c] ?? 0))).join('  ');
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

export function markdownTable(headers: string[], rows: string[][]): string {
  const line = (r: string[]) => `| ${r.join(' | ')} |`;
  return [line(headers), `|${headers.map((_, c) => (c === 0 ? ' --- ' : ' ---: ')).join('|')}|`, ...rows.map(line)].join('\n');
}

// --- machine --------------------------------------------------------------------------------

export interface Machine {
  nproc: number;
  cpuModel: string;
  memoryGiB: string;
  kernel: string;
  podman: string;
  node: string;
}

export function machine(): Machine {
  let podman = 'unknown';
  try {
    podman = execFileSync('podman', ['--version'], { encoding: 'utf8' }).trim();
  } catch {
    /* reported as unknown */
  }
  return {
    nproc: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
    memoryGiB: (os.totalmem() / 2 ** 30).toFixed(1),
    kernel: `${os.type()} ${os.release()}`,
    podman,
    node: process.version,
  };
}

export function machineLine(m: Machine): string {
  return `${m.nproc} CPUs (${m.cpuModel}), ${m.memoryGiB} GiB RAM, ${m.kernel}, ${m.podman}, node ${m.node}`;
}

/** Clock ticks per second of /proc's CPU times. */
export const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** A process's parent and the CPU ticks (user + system, all its threads) it has used so far. */
export function procStat(pid: number): { ppid: number; ticks: number } | undefined {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(rest[1]), ticks: Number(rest[11]) + Number(rest[12]) };
  } catch {
    return undefined;
  }
}

/** The Debian package that brings each tool a benchmark runs as its peer or its load. */
const TOOL_PACKAGES: Record<string, string> = { cc: 'gcc libssl-dev', nginx: 'nginx-light', taskset: 'util-linux', wrk: 'wrk', curl: 'curl' };

/** Fail at once, saying what to install, when a tool a benchmark needs is not on this machine. */
export function requireTools(tools: string[]): void {
  for (const tool of tools) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    } catch {
      throw new Error(`${tool} is missing: apt-get install -y ${TOOL_PACKAGES[tool] ?? tool}`);
    }
  }
}

// --- cleanup --------------------------------------------------------------------------------

export class Aborted extends Error {
  constructor() {
    super('aborted');
  }
}

/**
 * Undo steps, run once, last registered first, whatever happens: normal end, error, Ctrl-C,
 * SIGTERM or the time limit. Operations in flight are awaited (bounded) before undoing.
 */
export class Cleanup {
  aborted = false;
  private readonly steps: Array<{ name: string; fn: () => Promise<void> | void }> = [];
  private readonly inflight = new Set<Promise<unknown>>();
  private running: Promise<void> | undefined;
  private signalled = false;

  add(name: string, fn: () => Promise<void> | void): void {
    this.steps.push({ name, fn });
  }

  /** Throws Aborted once cleanup started: long loops call this between steps. */
  check(): void {
    if (this.aborted) throw new Aborted();
  }

  /** Track an operation (a launch) so cleanup waits for it and sees what it created. */
  track<T>(p: Promise<T>): Promise<T> {
    this.inflight.add(p);
    const done = () => void this.inflight.delete(p);
    p.then(done, done);
    return p;
  }

  run(): Promise<void> {
    this.aborted = true;
    this.running ??= (async () => {
      if (this.inflight.size) {
        await Promise.race([Promise.allSettled([...this.inflight]), sleep(60_000)]);
      }
      for (const step of [...this.steps].reverse()) {
        try {
          await step.fn();
        } catch (err) {
          console.error(`cleanup: ${step.name}: ${errorMessage(err)}`);
        }
      }
    })();
    return this.running;
  }

  /** Ctrl-C / SIGTERM: clean up, then exit 130; a second signal exits at once. */
  installSignalHandlers(): void {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.on(signal, () => {
        if (this.signalled) {
          console.error(`${signal} again: exiting without finishing cleanup (see bench/README.md, "leftovers")`);
          process.exit(130);
        }
        this.signalled = true;
        console.error(`\n${signal}: deleting this run's sessions and stopping its server (again to force)`);
        void this.run().finally(() => process.exit(130));
      });
    }
  }

  /** Stop the whole benchmark after `seconds`, cleaning up first. */
  timeLimit(seconds: number): void {
    const timer = setTimeout(() => {
      console.error(`time limit of ${seconds} s reached (BENCH_TIMEOUT_S): cleaning up`);
      void this.run().finally(() => process.exit(1));
    }, seconds * 1000);
    timer.unref();
  }
}

/** Remove a directory this module made, and only such a directory. */
function removeTempDir(dir: string): void {
  const resolved = path.resolve(dir);
  const base = path.basename(resolved);
  if (path.dirname(resolved) !== path.resolve(os.tmpdir()) || !base.startsWith(TMP_PREFIX) || base.length <= TMP_PREFIX.length) {
    throw new Error(`refusing to remove ${JSON.stringify(dir)}: not a ${TMP_PREFIX}* directory in ${os.tmpdir()}`);
  }
  fs.rmSync(resolved, { recursive: true, force: true });
}

// --- the server -----------------------------------------------------------------------------

export interface Server {
  base: string;
  token: string;
  username: string;
  workDir: string;
  logFile: string;
  pid: number | undefined;
  api: Api;
  /** SIGTERM and wait (the data directory stays: `startServer(..., { workDir })` starts it again). */
  stop(): Promise<void>;
  /** Another user of this server (`skaha admin token create`, beside the running server). */
  newUser(): { username: string; api: Api };
  /** Give `username` a password for the portal's login form (`skaha admin user passwd`). */
  setPassword(username: string, password: string): void;
}

function logTail(file: string, lines = 20): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const clean = await Promise.race([exited.then(() => true), sleep(15_000).then(() => false)]);
  if (!clean) {
    child.kill('SIGKILL');
    await Promise.race([exited, sleep(5_000)]);
  }
}

/**
 * `node bin/skaha.js serve --port 0` (any free loopback port) with a fresh data directory under
 * the system temp dir (or the one of an earlier server: `workDir`, to measure a restart), a fresh
 * user and an API token made with `admin token create`. Its request log goes to a file (printed
 * on failure). Stopped and removed by `cleanup`; the caller must register the deletion of its
 * sessions after this (cleanup runs in reverse).
 */
export async function startServer(cleanup: Cleanup, opts: { config?: Record<string, unknown>; workDir?: string } = {}): Promise<Server> {
  if (!fs.existsSync(SKAHA_BUILT)) throw new Error('dist/ is missing: run `npm run -s build` first');
  const workDir = opts.workDir ?? fs.mkdtempSync(path.join(os.tmpdir(), TMP_PREFIX));
  if (!opts.workDir) cleanup.add(`remove ${workDir}`, () => removeTempDir(workDir));
  const dataDir = path.join(workDir, 'data');
  const logFile = path.join(workDir, 'server.log');
  // A network name and uid range of its own: servers sharing the engine (the one setup.sh
  // started, the tests') refuse to start on another's (src/backends/podman/claim.ts).
  const network = `bench${randomHex(4)}`;
  const uidMin = 20_000_000 + crypto.randomInt(10_000) * 1000;
  const config = {
    ...opts.config,
    podman: { network, ...(opts.config?.podman as object) },
    identity: { uidMin, uidMax: uidMin + 999, ...(opts.config?.identity as object) },
  };
  const configFile = path.join(workDir, 'config.json');
  fs.writeFileSync(configFile, JSON.stringify(config, null, 2));
  const configArgs = ['--config', configFile];
  cleanup.add(`remove networks ${network}*`, () => removeNetworks(network));
  // Settings must come from our flags only, not from a SKAHA_* variable of the caller's shell.
  const env: NodeJS.ProcessEnv = { ...process.env, CONTAINERS_CONF };
  for (const key of Object.keys(env)) if (key.startsWith('SKAHA_')) delete env[key];

  const createToken = (name: string): string => {
    const created = execFileSync(process.execPath, [SKAHA_BIN, 'admin', 'token', 'create', name, '--data-dir', dataDir, ...configArgs], {
      cwd: REPO,
      env,
      encoding: 'utf8',
    });
    const minted = created.trim().split('\n').pop()?.trim() ?? '';
    if (!minted) throw new Error(`admin token create printed no token: ${created}`);
    return minted;
  };
  const username = `bench${randomHex(4)}`;
  const token = createToken(username);

  // A restarted server appends to the log: look for its address after what is there already.
  const logStart = fs.existsSync(logFile) ? fs.statSync(logFile).size : 0;
  const logFd = fs.openSync(logFile, 'a');
  // detached: its own process group, so a Ctrl-C in the terminal reaches only us, and we can
  // still delete sessions through it before stopping it.
  const child = spawn(process.execPath, [SKAHA_BIN, 'serve', '--port', '0', '--data-dir', dataDir, ...configArgs], {
    cwd: REPO,
    env,
    detached: true,
    stdio: ['ignore', logFd, logFd],
  });
  fs.closeSync(logFd);
  cleanup.add(`stop server (pid ${child.pid})`, () => stopProcess(child));

  const deadline = Date.now() + 60_000;
  let base: string | undefined;
  while (!base) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`the server exited (${child.exitCode ?? child.signalCode}); its log:\n${logTail(logFile)}`);
    }
    if (Date.now() > deadline) throw new Error(`the server did not listen within 60 s; its log:\n${logTail(logFile)}`);
    const m = /skaha serving (http:\/\/\S+?)\/skaha\/v0/.exec(fs.readFileSync(logFile).subarray(logStart).toString('utf8'));
    if (m?.[1]) base = m[1];
    else await sleep(100);
  }
  const newUser = () => {
    const name = `bench${randomHex(4)}`;
    return { username: name, api: new Api(base, createToken(name)) };
  };
  const setPassword = (name: string, password: string) =>
    void execFileSync(process.execPath, [SKAHA_BIN, 'admin', 'user', 'passwd', name, '--data-dir', dataDir, ...configArgs], {
      cwd: REPO,
      env,
      input: password,
    });
  return { base, token, username, workDir, logFile, pid: child.pid, api: new Api(base, token), stop: () => stopProcess(child), newUser, setPassword };
}

export function serverLogTail(server: Server, lines = 20): string {
  return logTail(server.logFile, lines);
}

/** Resident memory of the server process in MiB (Linux /proc), or NaN. */
export function serverRssMiB(server: Server): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${server.pid}/status`, 'utf8'));
    return m?.[1] ? Number(m[1]) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

// --- the API --------------------------------------------------------------------------------

export interface Reply {
  status: number;
  body: string;
  /** From just before the request to the end of the body. */
  ms: number;
}

export interface SessionJson {
  id: string;
  userid: string;
  type: string;
  status: string;
}

/** fetch (undici, keep-alive) with the bearer token; urlencoded forms as skaha clients send. */
export class Api {
  constructor(
    readonly base: string,
    private readonly token: string,
  ) {}

  async request(method: string, urlPath: string, form?: Record<string, string>): Promise<Reply> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.token}` };
    let body: string | undefined;
    if (form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(form).toString();
    }
    const t0 = now();
    const res = await fetch(`${this.base}${urlPath}`, { method, headers, ...(body !== undefined ? { body } : {}), signal: AbortSignal.timeout(120_000) });
    const text = await res.text();
    return { status: res.status, body: text, ms: now() - t0 };
  }

  /** POST /session; returns the ID and the time the POST took. */
  async launch(form: Record<string, string>): Promise<{ id: string; ms: number }> {
    const r = await this.request('POST', '/skaha/v0/session', form);
    if (r.status !== 200) throw new Error(`POST /skaha/v0/session -> ${r.status} ${r.body.trim()}`);
    return { id: r.body.trim(), ms: r.ms };
  }

  async sessions(): Promise<SessionJson[]> {
    const r = await this.request('GET', '/skaha/v0/session');
    if (r.status !== 200) throw new Error(`GET /skaha/v0/session -> ${r.status} ${r.body.trim()}`);
    return JSON.parse(r.body) as SessionJson[];
  }

  /** The session's status, or undefined once it is gone (404). */
  async status(id: string): Promise<string | undefined> {
    const r = await this.request('GET', `/skaha/v0/session/${id}`);
    if (r.status === 404) return undefined;
    if (r.status !== 200) throw new Error(`GET /skaha/v0/session/${id} -> ${r.status} ${r.body.trim()}`);
    return (JSON.parse(r.body) as SessionJson).status;
  }
}

/** Run `fn` over `items`, at most `concurrency` at a time; stops starting new ones once aborted. */
export async function pool<T>(items: T[], concurrency: number, fn: (item: T, index: number) => Promise<void>, cleanup?: Cleanup): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      cleanup?.check();
      const i = next++;
      await fn(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}

// --- the engine -----------------------------------------------------------------------------

export function engine(): Docker {
  return new Docker({ socketPath: SOCKET, timeout: 120_000 });
}

const execFileP = promisify(execFile);

/** The podman CLI, rootful, with skaha's containers.conf. */
export async function podman(args: string[]): Promise<string> {
  const { stdout } = await execFileP('podman', args, { env: { ...process.env, CONTAINERS_CONF }, maxBuffer: 16 * 2 ** 20 });
  return stdout.trim();
}

/**
 * Delete every session of `username`: through the API (DELETE each, then wait until the list is
 * empty), then, for whatever is still there (server down, timeout), straight on the engine by
 * the username label (benchmark users have random names, so this touches nothing else).
 */
export async function deleteSessionsOf(
  server: Server,
  known: Iterable<string>,
  opts: { concurrency?: number; timeoutMs?: number; log?: (m: string) => void } = {},
): Promise<{ deleted: number; seconds: number; forced: number }> {
  const log = opts.log ?? ((m: string) => console.log(m));
  const t0 = now();
  const ids = new Set(known);
  try {
    for (const s of await server.api.sessions()) ids.add(s.id);
  } catch (err) {
    log(`cleanup: cannot list sessions through the API (${errorMessage(err)}); using the ${ids.size} known IDs`);
  }
  let deleted = 0;
  if (ids.size) {
    log(`cleanup: deleting ${ids.size} session(s) of ${server.username} through the API`);
    await pool([...ids], opts.concurrency ?? 8, async (id) => {
      try {
        const r = await server.api.request('DELETE', `/skaha/v0/session/${id}`);
        if (r.status === 200) deleted++;
        else if (r.status !== 404) log(`cleanup: DELETE ${id} -> ${r.status} ${r.body.trim()}`);
      } catch (err) {
        log(`cleanup: DELETE ${id}: ${errorMessage(err)}`);
      }
    });
    const deadline = Date.now() + (opts.timeoutMs ?? 300_000);
    for (;;) {
      let left: number;
      try {
        left = (await server.api.sessions()).length;
      } catch {
        break;
      }
      if (left === 0 || Date.now() > deadline) break;
      await sleep(250);
    }
  }
  // Belt and braces: anything of this user still on the engine is removed directly.
  let forced = 0;
  try {
    const docker = engine();
    const left = await docker.listContainers({ all: true, filters: { label: [`canfar.net/username=${server.username}`] } });
    for (const c of left) {
      await docker
        .getContainer(c.Id)
        .remove({ force: true, v: true })
        .catch(() => undefined);
      forced++;
    }
    if (forced) log(`cleanup: removed ${forced} leftover container(s) of ${server.username} directly on the engine`);
  } catch (err) {
    log(`cleanup: cannot check the engine for leftovers: ${errorMessage(err)}`);
  }
  return { deleted, seconds: (now() - t0) / 1000, forced };
}

/** A server's session networks (`<network>`, `<network>-u<uid>`), once its sessions are gone. */
async function removeNetworks(network: string): Promise<void> {
  const docker = engine();
  for (const n of await docker.listNetworks({ filters: { name: [network] } })) {
    if (n.Name === network || n.Name.startsWith(`${network}-u`))
      await docker
        .getNetwork(n.Name)
        .remove()
        .catch(() => undefined);
  }
}
