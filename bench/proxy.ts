/**
 * The authenticated session proxy against its peers (bench/README.md), in one run, on the same
 * upstream and machine:
 *
 *   ours     skaha's SessionProxy in its own process, wired as `skaha serve` wires it
 *            (bench/proxy/ours.ts): every request carries `Authorization: Bearer <token>` and
 *            goes to /session/contrib/<id>/..., one contributed session of the token's user
 *   CHP      configurable-http-proxy (the npm devDependency), no authentication
 *   nginx    Debian's nginx, worker_processes 1 (and `auto`, not pinned), keep-alive upstream
 *
 * HTTP: wrk (1 thread, keep-alive) against each proxy and the upstream itself (an nginx serving
 * /small, 100 bytes, and /64k, a 64 KiB file): req/s and p50/p99. WebSocket: 1,000 sockets
 * through each proxy to a `ws` echo server, rounds of one message per socket (a burst, and
 * paced over a second), round-trip p50/p99. Idle: 10,000 idle WebSockets (fewer if the fd limit
 * allows fewer) through a fresh instance of ours and of CHP, and the proxy's RSS.
 *
 *   node --import tsx bench/proxy.ts
 *
 * With two or more CPUs, the proxy under test is pinned to the last CPU and everything else
 * (wrk, the upstreams, the WebSocket client) to the others, with taskset (BENCH_PIN=0: no
 * pinning). Ours runs from dist/ (`npm run -s build`; BENCH_PROXY_CODE=src: the sources through
 * tsx). Environment: BENCH_DURATION_S (10), BENCH_WARMUP_S (2), BENCH_CONNECTIONS (64),
 * BENCH_ROUNDS (3), BENCH_TARGETS (all), BENCH_WS_SOCKETS (1000), BENCH_WS_ROUNDS (10),
 * BENCH_WS_SPREAD_MS (1000), BENCH_IDLE_SOCKETS (10000), BENCH_IDLE_CHP (1), BENCH_NGINX_AUTO
 * (1), BENCH_PROFILE (0), BENCH_PROFILE_PATH (/small or /64k), BENCH_PROFILE_OUT, BENCH_TIMEOUT_S (1800); see bench/README.md. Every
 * process and the temporary directory are removed at the end, also on errors, Ctrl-C and the
 * time limit.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import ts from 'typescript';
import WebSocket from 'ws';
import {
  CLOCK_TICKS,
  Cleanup,
  envInt,
  errorMessage,
  machine,
  machineLine,
  markdownTable,
  ms,
  now,
  procStat,
  randomHex,
  ratio,
  REPO,
  requireTools,
  sleep,
  summarize,
  textTable,
  type Summary,
} from './lib.js';
import { profileReport } from './proxy/profile.js';

const NPROC = os.availableParallelism();
const DURATION_S = envInt('BENCH_DURATION_S', 10, 1, 300);
const WARMUP_S = envInt('BENCH_WARMUP_S', 2, 0, 60);
const CONNECTIONS = envInt('BENCH_CONNECTIONS', 64, 1, 4096);
const ROUNDS = envInt('BENCH_ROUNDS', 3, 1, 20);
const WS_SOCKETS = envInt('BENCH_WS_SOCKETS', 1000, 1, 9000);
const WS_ROUNDS = envInt('BENCH_WS_ROUNDS', 10, 1, 1000);
const WS_SPREAD_MS = envInt('BENCH_WS_SPREAD_MS', 1000, 1, 60_000);
const IDLE_SOCKETS = envInt('BENCH_IDLE_SOCKETS', 10_000, 0, 100_000);
const IDLE_CHP = envInt('BENCH_IDLE_CHP', 1, 0, 1) === 1;
const NGINX_AUTO = envInt('BENCH_NGINX_AUTO', 1, 0, 1) === 1;
const PROFILE = envInt('BENCH_PROFILE', 0, 0, 1) === 1;
const PROFILE_PATH: UrlPath = process.env.BENCH_PROFILE_PATH === '/64k' ? '/64k' : '/small';
const PIN = envInt('BENCH_PIN', NPROC >= 2 ? 1 : 0, 0, 1) === 1 && NPROC >= 2;
const TIMEOUT_S = envInt('BENCH_TIMEOUT_S', 1800, 60, 7200);
const PROXY_CODE = process.env.BENCH_PROXY_CODE === 'src' ? 'src' : 'dist';

const PROXY_CPU = String(NPROC - 1);
const LOAD_CPUS = NPROC > 2 ? `0-${NPROC - 2}` : '0';
const SMALL_BODY = 'skaha session proxy benchmark: the small response, served by nginx with `return 200`.'.padEnd(100, '.');
const BIG_BYTES = 64 * 1024;
const PATHS = ['/small', '/64k'] as const;
type UrlPath = (typeof PATHS)[number];

const GOAL_VS_CHP = 3;
const GOAL_VS_NGINX = 0.5;
const GOAL_WS_P99_MS = 5;
const GOAL_IDLE_MIB = 500;

/** Every temporary directory of the benchmarks starts with this (bench/lib.ts); nothing else is removed. */
const TMP_PREFIX = 'skaha-bench-';
const CHP_SCRIPT = path.join(REPO, 'node_modules', 'configurable-http-proxy', 'bin', 'configurable-http-proxy');

// --- processes ------------------------------------------------------------------------------

interface Proc {
  name: string;
  child: ChildProcess;
  pid: number;
  logFile: string;
  /** The command as run, for the report. */
  command: string;
}

let workDir = '';
/** What a command line shows: the temp dir as $DIR, the token as $TOKEN. */
const secrets: Array<[string, string]> = [];
const shown = (s: string) =>
  secrets.reduce((acc, [secret, name]) => (secret ? acc.split(secret).join(name) : acc), workDir ? s.split(workDir).join('$DIR') : s);
const quote = (a: string) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);

function pinned(cpus: string | undefined, cmd: string, args: string[]): [string, string[]] {
  return PIN && cpus ? ['taskset', ['-c', cpus, cmd, ...args]] : [cmd, args];
}

/** Our child processes inherit a copy of our environment without SKAHA_* settings. */
function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  for (const key of Object.keys(env)) if (key.startsWith('SKAHA_')) delete env[key];
  return env;
}

/**
 * Start a process in its own process group (a terminal Ctrl-C reaches only us), its stderr (and
 * stdout unless `stdout: 'pipe'`) in `<name>.log`; stopped by `cleanup`. Node children get a
 * stdin pipe and exit when it closes, so not even a `kill -9` of the benchmark leaves them.
 */
function launch(cleanup: Cleanup, name: string, cmd: string, args: string[], opts: { cpus?: string; env?: NodeJS.ProcessEnv; stdout?: 'pipe' } = {}): Proc {
  const [file, argv] = pinned(opts.cpus, cmd, args);
  const logFile = path.join(workDir, `${name}.log`);
  const logFd = fs.openSync(logFile, 'a');
  const child = spawn(file, argv, { cwd: REPO, env: opts.env ?? childEnv(), detached: true, stdio: ['pipe', opts.stdout === 'pipe' ? 'pipe' : logFd, logFd] });
  fs.closeSync(logFd);
  child.on('error', (err) => fs.appendFileSync(logFile, `spawn error: ${err.message}\n`));
  if (child.pid === undefined) throw new Error(`cannot start ${name} (${file})`);
  const display = [file, ...argv].map((a) => (a === process.execPath ? 'node' : a === CHP_SCRIPT ? 'configurable-http-proxy' : a));
  const proc: Proc = { name, child, pid: child.pid, logFile, command: display.map(quote).join(' ') };
  cleanup.add(`stop ${name} (pid ${child.pid})`, () => stopProc(proc));
  return proc;
}

const running = (p: Proc) => p.child.exitCode === null && p.child.signalCode === null;

/** SIGTERM to the process group, SIGKILL after 10 s; then whatever is left of the group. */
async function stopProc(p: Proc): Promise<void> {
  if (running(p)) {
    const exited = new Promise<void>((resolve) => p.child.once('exit', () => resolve()));
    p.child.stdin?.end();
    try {
      process.kill(-p.pid, 'SIGTERM');
    } catch {
      /* already gone */
    }
    if (!(await Promise.race([exited.then(() => true), sleep(10_000).then(() => false)]))) {
      try {
        process.kill(-p.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
      await Promise.race([exited, sleep(5_000)]);
    }
  }
  try {
    process.kill(-p.pid, 0);
    process.kill(-p.pid, 'SIGKILL'); // e.g. nginx workers that outlived their master
  } catch {
    /* the group is gone */
  }
}

function logTail(p: Proc, lines = 15): string {
  try {
    return fs.readFileSync(p.logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** The next line the process prints on stdout, parsed as JSON. */
function jsonLine<T>(p: Proc, timeoutMs: number): Promise<T> {
  const stdout = p.child.stdout;
  if (!stdout) return Promise.reject(new Error(`${p.name}: no stdout pipe`));
  return new Promise<T>((resolve, reject) => {
    const rl = readline.createInterface({ input: stdout });
    const done = (err: Error | undefined, value?: T) => {
      clearTimeout(timer);
      rl.removeAllListeners('line');
      rl.close();
      p.child.off('exit', onExit);
      if (err) reject(err);
      else resolve(value as T);
    };
    const onExit = () => done(new Error(`${p.name} exited (${p.child.exitCode ?? p.child.signalCode}); its log:\n${logTail(p)}`));
    const timer = setTimeout(() => done(new Error(`${p.name}: no answer within ${timeoutMs / 1000} s; its log:\n${logTail(p)}`)), timeoutMs);
    p.child.once('exit', onExit);
    rl.once('line', (line) => {
      try {
        done(undefined, JSON.parse(line) as T);
      } catch {
        done(new Error(`${p.name} printed ${line.slice(0, 200)}`));
      }
    });
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** Poll until `url` answers (any status) or the process dies or 20 s pass. */
async function waitHttp(p: Proc, url: string, headers: Record<string, string> = {}): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (!running(p)) throw new Error(`${p.name} exited (${p.child.exitCode ?? p.child.signalCode}); its log:\n${logTail(p)}`);
    try {
      const r = await fetch(url, { headers, signal: AbortSignal.timeout(2000) });
      await r.arrayBuffer();
      return;
    } catch {
      if (Date.now() > deadline) throw new Error(`${p.name} does not answer at ${url}; its log:\n${logTail(p)}`);
      await sleep(100);
    }
  }
}

// --- /proc ----------------------------------------------------------------------------------

/** Busy and total jiffies per CPU (cpu0, cpu1, ...). */
function cpuTimes(): Array<{ busy: number; total: number }> {
  const rows: Array<{ busy: number; total: number }> = [];
  for (const line of fs.readFileSync('/proc/stat', 'utf8').split('\n')) {
    const m = /^cpu(\d+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const v = m[2]!.trim().split(/\s+/).map(Number);
    const total = v.slice(0, 8).reduce((s, x) => s + x, 0); // guest time is inside user time
    const idle = (v[3] ?? 0) + (v[4] ?? 0);
    rows[Number(m[1])] = { busy: total - idle, total };
  }
  return rows;
}

/** CPU ticks (user + system) of a process and all its descendants (nginx: master and workers). */
function treeTicks(pid: number): number {
  const children = new Map<number, number[]>();
  const ticks = new Map<number, number>();
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const st = procStat(Number(name));
    if (!st) continue;
    ticks.set(Number(name), st.ticks);
    const list = children.get(st.ppid) ?? [];
    list.push(Number(name));
    children.set(st.ppid, list);
  }
  let sum = 0;
  const stack = [pid];
  while (stack.length) {
    const p = stack.pop()!;
    sum += ticks.get(p) ?? 0;
    stack.push(...(children.get(p) ?? []));
  }
  return sum;
}

function rssMiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m?.[1] ? Number(m[1]) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

function fdCount(pid: number): number {
  try {
    return fs.readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return Number.NaN;
  }
}

/** This process's hard limit on open files (children inherit it). */
function fdLimit(): number {
  const m = /Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/.exec(fs.readFileSync('/proc/self/limits', 'utf8'));
  const hard = m?.[2] === 'unlimited' ? 1_048_576 : Number(m?.[2] ?? 1024);
  return hard;
}

/** CPU use while `fn` runs: per CPU (% busy) and of a process tree (% of one CPU). */
async function withCpu<T>(pid: number | undefined, fn: () => Promise<T>): Promise<{ value: T; cpus: number[]; procPct: number }> {
  const c0 = cpuTimes();
  const k0 = pid ? treeTicks(pid) : 0;
  const t0 = now();
  const value = await fn();
  const seconds = (now() - t0) / 1000;
  const k1 = pid ? treeTicks(pid) : 0;
  const c1 = cpuTimes();
  const cpus = c1.map((c, i) => {
    const d = c.total - (c0[i]?.total ?? 0);
    return d > 0 ? (100 * (c.busy - (c0[i]?.busy ?? 0))) / d : Number.NaN;
  });
  return { value, cpus, procPct: pid ? (100 * (k1 - k0)) / CLOCK_TICKS / seconds : Number.NaN };
}

// --- nginx ----------------------------------------------------------------------------------

function nginxHead(name: string, workers: string): string {
  return [
    `# ${name}: written by bench/proxy.ts`,
    `worker_processes ${workers};`,
    `worker_rlimit_nofile ${fdLimit()};`,
    'daemon off;',
    `pid ${workDir}/${name}.pid;`,
    `error_log ${workDir}/${name}.error.log warn;`,
    'events { worker_connections 16384; }',
    'http {',
    '  access_log off;',
    '  default_type application/octet-stream;',
    '  keepalive_timeout 75s;',
    '  keepalive_requests 1000000;',
    `  client_body_temp_path ${workDir}/${name}-temp/body;`,
    `  proxy_temp_path ${workDir}/${name}-temp/proxy;`,
    `  fastcgi_temp_path ${workDir}/${name}-temp/fastcgi;`,
    `  uwsgi_temp_path ${workDir}/${name}-temp/uwsgi;`,
    `  scgi_temp_path ${workDir}/${name}-temp/scgi;`,
  ].join('\n');
}

/** The upstream: /small (100 bytes from `return 200`) and /64k (a static file). */
function upstreamConf(port: number): string {
  return `${nginxHead('upstream', '1')}
  sendfile on;
  server {
    listen 127.0.0.1:${port} backlog=4096;
    location = /small { default_type text/plain; return 200 "${SMALL_BODY}"; }
    location = /64k { root ${workDir}/www; }
  }
}
`;
}

/** The peer proxy: keep-alive to the upstream, WebSocket upgrades under /ws/. */
function nginxProxyConf(name: string, workers: string, port: number, upstreamPort: number, echoPort: number): string {
  return `${nginxHead(name, workers)}
  upstream app { server 127.0.0.1:${upstreamPort}; keepalive 64; keepalive_requests 1000000; }
  upstream echo { server 127.0.0.1:${echoPort}; }
  server {
    listen 127.0.0.1:${port} backlog=4096;
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
    }
    location /ws/ {
      proxy_pass http://echo;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection "upgrade";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_read_timeout 3600s;
      proxy_send_timeout 3600s;
    }
  }
}
`;
}

function startNginx(cleanup: Cleanup, name: string, conf: string, cpus: string | undefined): Proc {
  const confFile = path.join(workDir, `${name}.conf`);
  fs.writeFileSync(confFile, conf);
  fs.mkdirSync(path.join(workDir, `${name}-temp`), { recursive: true });
  return launch(cleanup, name, 'nginx', ['-e', path.join(workDir, `${name}.error.log`), '-c', confFile, '-p', workDir], { cpus });
}

// --- wrk ------------------------------------------------------------------------------------

interface WrkResult {
  rps: number;
  p50: number;
  p99: number;
  requests: number;
  non2xx: number;
  socketErrors: number;
}

/** wrk's durations (`512.00us`, `1.23ms`, `2.00s`) in milliseconds. */
function wrkMs(text: string | undefined): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text ?? '');
  if (!m) return Number.NaN;
  const v = Number(m[1]);
  return m[2] === 'us' ? v / 1000 : m[2] === 'ms' ? v : m[2] === 's' ? v * 1000 : v * 60_000;
}

const wrkProcs = new Set<ChildProcess>();

function wrkArgs(url: string, seconds: number, headers: string[]): string[] {
  return ['-t1', `-c${CONNECTIONS}`, `-d${seconds}s`, '--latency', '--timeout', '5s', ...headers.flatMap((h) => ['-H', h]), url];
}

async function wrk(url: string, seconds: number, headers: string[] = []): Promise<WrkResult> {
  const [file, args] = pinned(LOAD_CPUS, 'wrk', wrkArgs(url, seconds, headers));
  const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  wrkProcs.add(child);
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const killer = setTimeout(() => child.kill('SIGKILL'), (seconds + 30) * 1000);
  const code = await new Promise<number | null>((resolve) => child.once('close', (c) => resolve(c)));
  clearTimeout(killer);
  wrkProcs.delete(child);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
  if (code !== 0 || !Number.isFinite(rps)) throw new Error(`wrk ${url} failed (${code}):\n${out}`);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  return {
    rps,
    p50: wrkMs(/^\s+50%\s+(\S+)/m.exec(out)?.[1]),
    p99: wrkMs(/^\s+99%\s+(\S+)/m.exec(out)?.[1]),
    requests: Number(/(\d+) requests in/.exec(out)?.[1]),
    non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0),
    socketErrors: sock ? sock.slice(1).reduce((s, x) => s + Number(x), 0) : 0,
  };
}

// --- WebSocket ------------------------------------------------------------------------------

/** One socket, one message, its echo: the route works. */
async function wsCheck(url: string, headers: Record<string, string>): Promise<void> {
  const ws = new WebSocket(url, { headers, perMessageDeflate: false, handshakeTimeout: 5000 });
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${url}: no echo within 5 s`)), 5000);
      ws.once('open', () => ws.send('ping'));
      ws.once('message', (data) => {
        clearTimeout(timer);
        if (String(data) === 'ping') resolve();
        else reject(new Error(`${url}: echo ${String(data).slice(0, 50)}`));
      });
      ws.once('unexpected-response', (_req, res) => reject(new Error(`${url}: handshake answered ${res.statusCode}`)));
      ws.once('error', reject);
    });
  } finally {
    ws.terminate();
  }
}

interface RttResult {
  opened: number;
  failed: number;
  openMs: number;
  lost: number;
  measuredMs: number;
  samples: number[];
}

function wsClient(cleanup: Cleanup, name: string, args: string[], authorization?: string): Proc {
  return launch(cleanup, name, process.execPath, ['--import', 'tsx', 'bench/proxy/ws-client.ts', ...args], {
    cpus: LOAD_CPUS,
    stdout: 'pipe',
    env: childEnv(authorization ? { BENCH_WS_AUTHORIZATION: authorization } : {}),
  });
}

// --- the run --------------------------------------------------------------------------------

interface Target {
  key: string;
  label: string;
  base: string;
  /** Where the HTTP paths go (ours: /session/contrib/<id>). */
  prefix: string;
  headers: string[];
  proc: Proc;
  /** WebSocket URL, when this target is in the WebSocket part. */
  ws?: string;
  wsHeaders?: Record<string, string>;
}

interface HttpRun {
  key: string;
  path: UrlPath;
  round: number;
  wrk: WrkResult;
  procPct: number;
  cpus: number[];
}

const median = (xs: number[]) => summarize(xs.filter(Number.isFinite)).p50;
const pct0 = (x: number) => (Number.isFinite(x) ? `${x.toFixed(0)}%` : '-');
const int = (x: number) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '-');

function tools(): string {
  // Both print their version on stderr (wrk -v also exits 1).
  const v = (cmd: string, args: string[]) => {
    const r = spawnSync(cmd, args, { encoding: 'utf8' });
    return `${r.stdout ?? ''}${r.stderr ?? ''}`;
  };
  const nginx = /nginx\/[\d.]+/.exec(v('nginx', ['-v']))?.[0] ?? 'nginx ?';
  const wrkV = /^wrk \S+/m.exec(v('wrk', ['-v']))?.[0] ?? 'wrk ?';
  const pkg = (name: string) => (JSON.parse(fs.readFileSync(path.join(REPO, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
  return `${nginx}, ${wrkV}, configurable-http-proxy ${pkg('configurable-http-proxy')}, ws ${pkg('ws')}`;
}

/** Sources under src/ whose dist/ counterpart is missing or older than they are. */
function staleDist(): string[] {
  const stale: string[] = [];
  const walk = (rel: string) => {
    for (const entry of fs.readdirSync(path.join(REPO, 'src', rel), { withFileTypes: true })) {
      const r = path.join(rel, entry.name);
      if (entry.isDirectory()) walk(r);
      else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) {
        const built = path.join(REPO, 'dist', r.replace(/\.ts$/, '.js'));
        try {
          if (fs.statSync(built).mtimeMs < fs.statSync(path.join(REPO, 'src', r)).mtimeMs) stale.push(`src/${r}`);
        } catch {
          stale.push(`src/${r}`);
        }
      }
    }
  };
  walk('');
  return stale;
}

/** bench/proxy/ours.ts as plain JavaScript (tsc's transpiler: types erased), to run with `node`. */
function compileOurs(outFile: string): void {
  const source = fs.readFileSync(path.join(REPO, 'bench', 'proxy', 'ours.ts'), 'utf8');
  const js = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText;
  fs.writeFileSync(outFile, js);
}

function removeWorkDir(dir: string): void {
  const resolved = path.resolve(dir);
  const base = path.basename(resolved);
  if (path.dirname(resolved) !== path.resolve(os.tmpdir()) || !base.startsWith(TMP_PREFIX) || base.length <= TMP_PREFIX.length) {
    throw new Error(`refusing to remove ${JSON.stringify(dir)}: not a ${TMP_PREFIX}* directory in ${os.tmpdir()}`);
  }
  fs.rmSync(resolved, { recursive: true, force: true });
}

async function main(): Promise<void> {
  const cleanup = new Cleanup();
  cleanup.installSignalHandlers();
  cleanup.timeLimit(TIMEOUT_S);
  let failed = false;
  try {
    requireTools(['nginx', 'wrk', ...(PIN ? ['taskset'] : [])]);
    if (!fs.existsSync(CHP_SCRIPT)) throw new Error('configurable-http-proxy is missing: npm install (it is a devDependency)');
    if (PROXY_CODE === 'dist') {
      const stale = staleDist();
      if (stale.length)
        throw new Error(
          `dist/ is older than ${stale.slice(0, 3).join(', ')}${stale.length > 3 ? ` and ${stale.length - 3} more` : ''}: run \`npm run -s build\` (or BENCH_PROXY_CODE=src to run the sources through tsx)`,
        );
    }
    const m = machine();
    const toolLine = tools();
    const limit = fdLimit();
    console.log(`Session proxy benchmark; ${machineLine(m)}; ${toolLine}; open files limit ${limit}`);
    console.log(PIN ? `pinning: the proxy under test on CPU ${PROXY_CPU}; wrk, upstreams and the WebSocket client on CPU ${LOAD_CPUS}` : 'no CPU pinning');

    workDir = fs.mkdtempSync(path.join(os.tmpdir(), TMP_PREFIX));
    const dir = workDir;
    cleanup.add(`remove ${dir}`, () => removeWorkDir(dir));
    // nginx workers run as www-data: they must reach the static file and their temp dirs.
    fs.chmodSync(dir, 0o711);
    fs.mkdirSync(path.join(dir, 'www'), { mode: 0o755 });
    fs.writeFileSync(path.join(dir, 'www', '64k'), crypto.randomBytes(BIG_BYTES), { mode: 0o644 });
    cleanup.add('stop wrk', () => {
      for (const c of wrkProcs) c.kill('SIGKILL');
    });
    console.log(`work dir ${dir}`);

    // --- upstreams ---------------------------------------------------------------------------
    const upPort = await freePort();
    const upstream = startNginx(cleanup, 'upstream', upstreamConf(upPort), LOAD_CPUS);
    await waitHttp(upstream, `http://127.0.0.1:${upPort}/small`);
    const echo = launch(cleanup, 'ws-echo', process.execPath, ['--import', 'tsx', 'bench/proxy/ws-echo.ts'], { cpus: LOAD_CPUS, stdout: 'pipe' });
    const echoPort = (await jsonLine<{ port: number }>(echo, 30_000)).port;

    // --- proxies -----------------------------------------------------------------------------
    const username = `bench${randomHex(4)}`;
    const httpId = `h${randomHex(4).slice(0, 7)}`;
    const wsId = `w${randomHex(4).slice(0, 7)}`;
    // As `skaha serve` runs: plain node on dist/ (BENCH_PROXY_CODE=src: the sources through tsx).
    const oursJs = path.join(dir, 'ours.mjs');
    if (PROXY_CODE === 'dist') compileOurs(oursJs);
    const oursEntry = PROXY_CODE === 'dist' ? [oursJs] : ['--import', 'tsx', 'bench/proxy/ours.ts'];
    const oursEnv: Record<string, string> = PROXY_CODE === 'dist' ? { BENCH_PROXY_ROOT: path.join(REPO, 'dist') } : {};
    const startOurs = (name: string, routes: string[], env: Record<string, string> = {}) => {
      const p = launch(cleanup, name, process.execPath, [...oursEntry, path.join(dir, `${name}-data`), username, ...routes], {
        cpus: PROXY_CPU,
        stdout: 'pipe',
        env: childEnv({ ...oursEnv, ...env }),
      });
      return jsonLine<{ port: number; token: string }>(p, 60_000).then((r) => ({ proc: p, ...r }));
    };
    const ours = await startOurs('ours', [`${httpId}=${upPort}`, `${wsId}=${echoPort}`]);
    secrets.push([ours.token, '$TOKEN']);
    const bearer = `Bearer ${ours.token}`;

    const chpPort = await freePort();
    const chpApiPort = await freePort();
    const chpToken = randomHex(16);
    secrets.push([chpToken, '$CONFIGPROXY_AUTH_TOKEN']);
    const startChp = (name: string, port: number, apiPort: number, target: number) =>
      launch(
        cleanup,
        name,
        process.execPath,
        [
          CHP_SCRIPT,
          '--ip',
          '127.0.0.1',
          '--port',
          String(port),
          '--api-ip',
          '127.0.0.1',
          '--api-port',
          String(apiPort),
          '--default-target',
          `http://127.0.0.1:${target}`,
          '--pid-file',
          path.join(dir, `${name}.pid`),
        ],
        {
          cpus: PROXY_CPU,
          env: childEnv({ CONFIGPROXY_AUTH_TOKEN: chpToken }),
        },
      );
    const chp = startChp('chp', chpPort, chpApiPort, upPort);
    await waitHttp(chp, `http://127.0.0.1:${chpApiPort}/api/routes`, { authorization: `token ${chpToken}` });
    const added = await fetch(`http://127.0.0.1:${chpApiPort}/api/routes/ws`, {
      method: 'POST',
      headers: { authorization: `token ${chpToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ target: `http://127.0.0.1:${echoPort}` }),
    });
    if (added.status !== 201) throw new Error(`CHP: adding the /ws route answered ${added.status}`);

    // The same HTTP stack as ours with none of its work: what Node itself costs (node-floor.ts).
    const floor = launch(cleanup, 'node-floor', process.execPath, ['--import', 'tsx', 'bench/proxy/node-floor.ts', String(upPort)], {
      cpus: PROXY_CPU,
      stdout: 'pipe',
    });
    const floorPort = (await jsonLine<{ port: number }>(floor, 30_000)).port;

    const nginxPort = await freePort();
    const nginx1 = startNginx(cleanup, 'nginx-1', nginxProxyConf('nginx-1', '1', nginxPort, upPort, echoPort), PROXY_CPU);
    await waitHttp(nginx1, `http://127.0.0.1:${nginxPort}/small`);
    let nginxAuto: Proc | undefined;
    let nginxAutoPort = 0;
    if (NGINX_AUTO) {
      nginxAutoPort = await freePort();
      nginxAuto = startNginx(cleanup, 'nginx-auto', nginxProxyConf('nginx-auto', 'auto', nginxAutoPort, upPort, echoPort), undefined);
      await waitHttp(nginxAuto, `http://127.0.0.1:${nginxAutoPort}/small`);
    }

    const targets: Target[] = [
      {
        key: 'upstream',
        label: 'upstream nginx, direct (ceiling)',
        base: `http://127.0.0.1:${upPort}`,
        prefix: '',
        headers: [],
        proc: upstream,
        ws: `ws://127.0.0.1:${echoPort}/`,
        wsHeaders: {},
      },
      {
        key: 'ours',
        label: 'skaha SessionProxy (bearer token)',
        base: `http://127.0.0.1:${ours.port}`,
        prefix: `/session/contrib/${httpId}`,
        headers: [`Authorization: ${bearer}`],
        proc: ours.proc,
        ws: `ws://127.0.0.1:${ours.port}/session/contrib/${wsId}/`,
        wsHeaders: { authorization: bearer },
      },
      {
        key: 'chp',
        label: 'configurable-http-proxy (no auth)',
        base: `http://127.0.0.1:${chpPort}`,
        prefix: '',
        headers: [],
        proc: chp,
        ws: `ws://127.0.0.1:${chpPort}/ws/`,
        wsHeaders: {},
      },
      { key: 'floor', label: 'Node.js floor: http server + undici, no auth', base: `http://127.0.0.1:${floorPort}`, prefix: '', headers: [], proc: floor },
      {
        key: 'nginx1',
        label: 'nginx, worker_processes 1',
        base: `http://127.0.0.1:${nginxPort}`,
        prefix: '',
        headers: [],
        proc: nginx1,
        ws: `ws://127.0.0.1:${nginxPort}/ws/`,
        wsHeaders: {},
      },
    ];
    if (nginxAuto)
      targets.push({
        key: 'nginxAuto',
        label: `nginx, worker_processes auto (${NPROC}), not pinned`,
        base: `http://127.0.0.1:${nginxAutoPort}`,
        prefix: '',
        headers: [],
        proc: nginxAuto,
      });
    // BENCH_TARGETS=ours,chp: measure only those (all are still started and checked).
    const only = (process.env.BENCH_TARGETS ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const measured = only.length ? targets.filter((t) => only.includes(t.key)) : targets;

    // --- every route works, and ours refuses a request without a token -----------------------
    for (const t of targets) {
      const headers = Object.fromEntries(t.headers.map((h) => [h.slice(0, h.indexOf(':')), h.slice(h.indexOf(':') + 1).trim()]));
      const small = await fetch(`${t.base}${t.prefix}/small`, { headers });
      const smallBody = await small.text();
      if (small.status !== 200 || smallBody !== SMALL_BODY) throw new Error(`${t.label}: GET /small -> ${small.status} ${smallBody.slice(0, 100)}`);
      const big = await fetch(`${t.base}${t.prefix}/64k`, { headers });
      const bigBody = Buffer.from(await big.arrayBuffer());
      if (big.status !== 200 || bigBody.length !== BIG_BYTES) throw new Error(`${t.label}: GET /64k -> ${big.status}, ${bigBody.length} bytes`);
      if (t.ws) await wsCheck(t.ws, t.wsHeaders ?? {});
    }
    const anonymous = await fetch(`http://127.0.0.1:${ours.port}/session/contrib/${httpId}/small`);
    await anonymous.text();
    if (anonymous.status !== 401) throw new Error(`ours without a token answered ${anonymous.status}, expected 401`);
    console.log('routes checked: every target serves /small, /64k and the WebSocket echo; ours answers 401 without the token');

    // --- HTTP ----------------------------------------------------------------------------------
    const runs: HttpRun[] = [];
    const t0 = now();
    for (let round = 0; round < ROUNDS; round++) {
      // A different order each round, so drift in the machine's load does not favour one.
      const order = measured.map((_, i) => measured[(i + round) % measured.length]!);
      for (const t of order) {
        for (const p of PATHS) {
          cleanup.check();
          const url = `${t.base}${t.prefix}${p}`;
          if (WARMUP_S) await wrk(url, WARMUP_S, t.headers);
          const { value, cpus, procPct } = await withCpu(t.proc.pid, () => wrk(url, DURATION_S, t.headers));
          runs.push({ key: t.key, path: p, round, wrk: value, procPct, cpus });
          const errs = value.non2xx || value.socketErrors ? `, ${value.non2xx} non-2xx, ${value.socketErrors} socket errors` : '';
          console.log(
            `round ${round + 1}/${ROUNDS} ${t.key.padEnd(9)} ${p.padEnd(6)} ${int(value.rps).padStart(7)} req/s  p50 ${ms(value.p50, 2)} ms  p99 ${ms(value.p99, 2)} ms  process CPU ${pct0(procPct)}  CPUs ${cpus.map(pct0).join(' ')}${errs}`,
          );
        }
      }
    }
    console.log(`HTTP part: ${((now() - t0) / 1000).toFixed(0)} s`);

    // --- WebSocket ---------------------------------------------------------------------------
    interface WsRun {
      key: string;
      pattern: string;
      summary: Summary;
      lost: number;
      opened: number;
      failed: number;
      procPct: number;
      cpus: number[];
      command: string;
    }
    const wsRuns: WsRun[] = [];
    const patterns = [
      { name: 'burst', spread: 0 },
      { name: 'paced', spread: WS_SPREAD_MS },
    ];
    for (const t of measured.filter((x) => x.ws)) {
      for (const pat of patterns) {
        cleanup.check();
        const args = ['rtt', t.ws!, String(WS_SOCKETS), String(WS_ROUNDS), String(pat.spread)];
        const client = wsClient(cleanup, `ws-${t.key}-${pat.name}`, args, t.wsHeaders?.authorization);
        // The direct row's "proxy" is the echo server itself.
        const { value, cpus, procPct } = await withCpu((t.key === 'upstream' ? echo : t.proc).pid, () =>
          jsonLine<RttResult>(client, 120_000 + WS_ROUNDS * (pat.spread + 31_000)),
        );
        await stopProc(client);
        const s = summarize(value.samples);
        wsRuns.push({
          key: t.key,
          pattern: pat.name,
          summary: s,
          lost: value.lost,
          opened: value.opened,
          failed: value.failed,
          procPct,
          cpus,
          command: client.command,
        });
        console.log(
          `WebSocket ${t.key.padEnd(9)} ${pat.name}: ${value.opened} sockets (${value.failed} failed, opened in ${ms(value.openMs, 0)} ms), ${s.n} echoes, RTT p50 ${ms(s.p50, 2)} ms p99 ${ms(s.p99, 2)} ms max ${ms(s.max, 1)} ms, lost ${value.lost}, process CPU ${pct0(procPct)}`,
        );
      }
    }

    // --- idle WebSockets, fresh proxies --------------------------------------------------------
    interface IdleRun {
      key: string;
      label: string;
      sockets: number;
      failed: number;
      openMs: number;
      before: number;
      withSockets: number;
      afterClose: number;
      fdsWith: number;
      lostWhileIdle: number;
      command: string;
    }
    const idleRuns: IdleRun[] = [];
    // Each proxied socket takes two descriptors in the proxy (client side and upstream side).
    const idleN = Math.min(IDLE_SOCKETS, Math.floor((limit - 100) / 2));
    if (IDLE_SOCKETS > 0) {
      if (idleN < IDLE_SOCKETS)
        console.log(`idle: ${idleN} sockets instead of ${IDLE_SOCKETS}: the open files limit is ${limit}, and a proxy needs two per socket`);
      const idleOne = async (key: string, label: string, proc: Proc, url: string, authorization?: string) => {
        await sleep(1000);
        const before = rssMiB(proc.pid);
        const client = wsClient(cleanup, `idle-${key}`, ['idle', url, String(idleN)], authorization);
        const opened = await jsonLine<{ opened: number; failed: number; openMs: number }>(client, 300_000);
        await sleep(3000);
        const withSockets = rssMiB(proc.pid);
        const fdsWith = fdCount(proc.pid);
        client.child.stdin!.write('close\n');
        const closed = await jsonLine<{ closed: number; closedByPeerWhileIdle: number }>(client, 60_000);
        await stopProc(client);
        await sleep(3000);
        const afterClose = rssMiB(proc.pid);
        idleRuns.push({
          key,
          label,
          sockets: opened.opened,
          failed: opened.failed,
          openMs: opened.openMs,
          before,
          withSockets,
          afterClose,
          fdsWith,
          lostWhileIdle: closed.closedByPeerWhileIdle,
          command: client.command,
        });
        console.log(
          `idle ${key}: ${opened.opened} sockets open (${opened.failed} failed, ${ms(opened.openMs / 1000, 1)} s), RSS ${ms(before, 0)} MiB before, ${ms(withSockets, 0)} MiB with them (${fdsWith} fds), ${ms(afterClose, 0)} MiB after closing; ${closed.closedByPeerWhileIdle} closed while idle`,
        );
        await stopProc(proc);
      };
      const fresh = await startOurs('ours-idle', [`${wsId}=${echoPort}`]);
      await idleOne('ours', 'skaha SessionProxy', fresh.proc, `ws://127.0.0.1:${fresh.port}/session/contrib/${wsId}/`, `Bearer ${fresh.token}`);
      if (IDLE_CHP) {
        const port = await freePort();
        const apiPort = await freePort();
        const freshChp = startChp('chp-idle', port, apiPort, echoPort);
        await waitHttp(freshChp, `http://127.0.0.1:${apiPort}/api/routes`, { authorization: `token ${chpToken}` });
        await idleOne('chp', 'configurable-http-proxy', freshChp, `ws://127.0.0.1:${port}/ws/`);
      }
    }

    // --- profile -------------------------------------------------------------------------------
    let profileText = '';
    if (PROFILE) {
      const file = path.join(dir, 'ours.cpuprofile');
      const prof = await startOurs('ours-profile', [`${httpId}=${upPort}`], { BENCH_CPU_PROFILE: file });
      const url = `http://127.0.0.1:${prof.port}/session/contrib/${httpId}${PROFILE_PATH}`;
      const headers = [`Authorization: Bearer ${prof.token}`];
      if (WARMUP_S) await wrk(url, WARMUP_S, headers);
      // The profile covers the measured run only (SIGUSR2 starts and stops it, bench/proxy/ours.ts).
      process.kill(prof.proc.pid, 'SIGUSR2');
      await sleep(200);
      const r = await wrk(url, DURATION_S, headers);
      const written = jsonLine<{ profile: string }>(prof.proc, 60_000);
      process.kill(prof.proc.pid, 'SIGUSR2');
      await written;
      await stopProc(prof.proc);
      if (process.env.BENCH_PROFILE_OUT) fs.copyFileSync(file, process.env.BENCH_PROFILE_OUT);
      profileText = `profile of ours (${PROXY_CODE === 'dist' ? 'dist/, positions mapped to src/ by its source maps' : 'src/ through tsx: generated positions'}) under wrk ${PROFILE_PATH} for ${DURATION_S} s: ${int(r.rps)} req/s while profiling\n${profileReport(file, REPO)}`;
    }

    // --- report --------------------------------------------------------------------------------
    const agg = (key: string, p: UrlPath) => {
      const rs = runs.filter((r) => r.key === key && r.path === p);
      const rps = rs.map((r) => r.wrk.rps);
      return {
        rps: median(rps),
        min: Math.min(...rps),
        max: Math.max(...rps),
        p50: median(rs.map((r) => r.wrk.p50)),
        p99: median(rs.map((r) => r.wrk.p99)),
        procPct: median(rs.map((r) => r.procPct)),
        // Requests per CPU-second of the proxy: fair also when the load side (wrk + upstream on
        // the other CPU) is what limits the rate, as it is for nginx here.
        perCpu: median(rs.map((r) => r.wrk.rps / (r.procPct / 100))),
        cpus: (rs[0]?.cpus ?? []).map((_, i) => median(rs.map((r) => r.cpus[i] ?? Number.NaN))),
        errors: rs.reduce((s, r) => s + r.wrk.non2xx + r.wrk.socketErrors, 0),
      };
    };
    const httpHeaders = [
      'proxy',
      'path',
      'req/s (median)',
      'req/s range',
      'p50 ms',
      'p99 ms',
      'proxy CPU',
      'req per proxy CPU-s',
      `busy CPU ${PIN ? `${LOAD_CPUS} / ${PROXY_CPU}` : ''}`.trim(),
      'errors',
    ];
    const httpRows: string[][] = [];
    for (const t of measured) {
      for (const p of PATHS) {
        const a = agg(t.key, p);
        httpRows.push([
          t.label,
          p,
          int(a.rps),
          `${int(a.min)}–${int(a.max)}`,
          ms(a.p50, 2),
          ms(a.p99, 2),
          pct0(a.procPct),
          int(a.perCpu),
          a.cpus.map(pct0).join(' / '),
          String(a.errors),
        ]);
      }
    }
    const ratioHeaders = [
      'path',
      'ours req/s',
      'ours / CHP',
      `ours / nginx (1 worker)`,
      ...(NGINX_AUTO ? ['ours / nginx (auto)'] : []),
      'ours / upstream',
      'ours / Node floor',
      'Node floor / nginx',
      'per CPU-s: ours / CHP',
      'per CPU-s: ours / nginx',
      'p99 ours / CHP',
      'p99 ours / nginx',
    ];
    const ratioRows: string[][] = [];
    const verdicts: string[] = [];
    for (const p of PATHS) {
      const o = agg('ours', p);
      const c = agg('chp', p);
      const n = agg('nginx1', p);
      const u = agg('upstream', p);
      const f = agg('floor', p);
      ratioRows.push([
        p,
        int(o.rps),
        ratio(o.rps, c.rps),
        ratio(o.rps, n.rps),
        ...(NGINX_AUTO ? [ratio(o.rps, agg('nginxAuto', p).rps)] : []),
        ratio(o.rps, u.rps),
        ratio(o.rps, f.rps),
        ratio(f.rps, n.rps),
        ratio(o.perCpu, c.perCpu),
        ratio(o.perCpu, n.perCpu),
        ratio(o.p99, c.p99),
        ratio(o.p99, n.p99),
      ]);
      verdicts.push(
        `${p}: ≥ ${GOAL_VS_CHP}× CHP's req/s: ${o.rps / c.rps >= GOAL_VS_CHP ? 'met' : 'NOT met'} (${ratio(o.rps, c.rps)}; per proxy CPU-second ${ratio(o.perCpu, c.perCpu)}); ≥ ${GOAL_VS_NGINX}× nginx's (1 worker): ${o.rps / n.rps >= GOAL_VS_NGINX ? 'met' : 'NOT met'} (${ratio(o.rps, n.rps)}; per proxy CPU-second ${ratio(o.perCpu, n.perCpu)})`,
      );
    }
    const wsHeaders = ['proxy', 'pattern', 'sockets', 'echoes', 'RTT p50 ms', 'RTT p99 ms', 'max ms', 'lost', 'proxy CPU'];
    const wsRows = wsRuns.map((w) => [
      targets.find((t) => t.key === w.key)!.label,
      w.pattern,
      String(w.opened),
      String(w.summary.n),
      ms(w.summary.p50, 2),
      ms(w.summary.p99, 2),
      ms(w.summary.max, 1),
      String(w.lost),
      pct0(w.procPct),
    ]);
    for (const pat of patterns) {
      const w = wsRuns.find((x) => x.key === 'ours' && x.pattern === pat.name);
      const direct = wsRuns.find((x) => x.key === 'upstream' && x.pattern === pat.name);
      if (w) {
        verdicts.push(
          `WebSocket ${pat.name}, ${w.opened} sockets: p99 < ${GOAL_WS_P99_MS} ms: ${w.summary.p99 < GOAL_WS_P99_MS && w.lost === 0 && w.opened === WS_SOCKETS ? 'met' : 'NOT met'} (p99 ${ms(w.summary.p99, 2)} ms, ${w.lost} lost${direct ? `; the same client straight to the echo server: p99 ${ms(direct.summary.p99, 2)} ms` : ''})`,
        );
      }
    }
    const idleHeaders = ['proxy', 'idle sockets', 'RSS before MiB', 'RSS with sockets MiB', 'KiB per socket', 'RSS after closing MiB', 'proxy fds'];
    const idleRows = idleRuns.map((r) => [
      r.label,
      String(r.sockets),
      ms(r.before, 0),
      ms(r.withSockets, 0),
      ms(((r.withSockets - r.before) * 1024) / Math.max(r.sockets, 1), 1),
      ms(r.afterClose, 0),
      String(r.fdsWith),
    ]);
    const idleOurs = idleRuns.find((r) => r.key === 'ours');
    if (idleOurs) {
      const at10k = idleOurs.before + ((idleOurs.withSockets - idleOurs.before) * 10_000) / Math.max(idleOurs.sockets, 1);
      verdicts.push(
        `${idleOurs.sockets} idle sockets < ${GOAL_IDLE_MIB} MB RSS: ${idleOurs.withSockets * 1.048576 < GOAL_IDLE_MIB && idleOurs.sockets === idleN ? 'met' : 'NOT met'} (${ms(idleOurs.withSockets, 0)} MiB${idleOurs.sockets < 10_000 ? `; ${ms(at10k, 0)} MiB at 10,000 by linear extrapolation` : ''})`,
      );
    }

    const commands = [
      `# upstream (HTTP): ${shown(upstream.command)}`,
      `# upstream (WebSocket): ${shown(echo.command)}`,
      `# ours (${PROXY_CODE === 'dist' ? `$DIR/ours.mjs is bench/proxy/ours.ts through tsc's transpileModule, BENCH_PROXY_ROOT=${path.join(REPO, 'dist')}` : 'the sources through tsx'}): ${shown(ours.proc.command)}`,
      `# CHP (CONFIGPROXY_AUTH_TOKEN set; route /ws -> the echo server added through its API): ${shown(chp.command)}`,
      `# Node.js floor: ${shown(floor.command)}`,
      `# nginx: ${shown(nginx1.command)}`,
      ...(nginxAuto ? [`# nginx auto: ${shown(nginxAuto.command)}`] : []),
      `# load, per proxy and path (after a ${WARMUP_S} s warm-up of the same): ${shown(
        pinned(LOAD_CPUS, 'wrk', wrkArgs(`${targets[1]!.base}${targets[1]!.prefix}/small`, DURATION_S, targets[1]!.headers))
          .flat()
          .map(quote)
          .join(' '),
      )}`,
      ...wsRuns.filter((w) => w.key === 'ours').map((w) => `# WebSocket ${w.pattern} (BENCH_WS_AUTHORIZATION='Bearer $TOKEN'): ${shown(w.command)}`),
      ...idleRuns.map((r) => `# idle, ${r.key}: ${shown(r.command)}`),
    ];
    const setting = `${ROUNDS} rounds of ${DURATION_S} s per proxy and path (median shown), wrk -t1 -c${CONNECTIONS}; WebSocket: ${WS_SOCKETS} sockets, ${WS_ROUNDS} rounds of one 32-byte message per socket after 1 warm-up round (burst: all at once; paced: spread over ${WS_SPREAD_MS} ms)`;

    console.log(`\n${setting}\n\n${textTable(httpHeaders, httpRows)}\n\n${textTable(ratioHeaders, ratioRows)}\n\n${textTable(wsHeaders, wsRows)}`);
    if (idleRows.length) console.log(`\n${textTable(idleHeaders, idleRows)}`);
    console.log(`\n${verdicts.join('\n')}`);
    console.log('\n--- markdown ---');
    console.log(
      `Session proxy, ${setting}; ${machineLine(m)}; ${toolLine}; ${PIN ? `proxy pinned to CPU ${PROXY_CPU}, wrk, upstreams and WebSocket client to CPU ${LOAD_CPUS} (taskset)` : 'no pinning'}.\n`,
    );
    console.log(markdownTable(httpHeaders, httpRows));
    console.log('');
    console.log(markdownTable(ratioHeaders, ratioRows));
    console.log('');
    console.log(markdownTable(wsHeaders, wsRows));
    if (idleRows.length) {
      console.log('');
      console.log(markdownTable(idleHeaders, idleRows));
    }
    console.log(`\n${verdicts.map((v) => `- ${v}`).join('\n')}\n\n\`\`\`sh\n${commands.join('\n')}\n\`\`\``);
    console.log('--- end ---\n');
    if (profileText) console.log(`${profileText}\n`);
  } catch (err) {
    failed = true;
    if (!cleanup.aborted) console.error(`proxy benchmark failed: ${errorMessage(err)}`);
  } finally {
    await cleanup.run();
  }
  process.exit(failed ? 1 : 0);
}

await main();
