/**
 * Soak (issue 16): launch/delete cycles of headless jobs and contributed web apps by several
 * users, against one server, counting what a long-running platform could leak.
 *
 *   npm run -s build && node --import tsx bench/soak.ts
 *
 * Each cycle: POST /skaha/v0/session (alternately a headless `true` job and a web app), wait for
 * Succeeded / Running, DELETE, wait for 404. BENCH_CONCURRENCY cycles run at once, each as one of
 * BENCH_USERS users. Before and after: the server's containers, networks, files under its data
 * directory and open file descriptors, and the engine's volumes and published ports; the server's
 * RSS every BENCH_CYCLES/20 cycles (slope by least squares); launch p50 (POST → Running or
 * Succeeded) of the first and last 100 cycles.
 *
 * Environment: BENCH_CYCLES (1000), BENCH_USERS (4), BENCH_CONCURRENCY (3), BENCH_TIMEOUT_S (3600).
 */
import fs from 'node:fs';
import path from 'node:path';
import {
  Cleanup,
  engine,
  envInt,
  errorMessage,
  HEADLESS_IMAGE,
  machine,
  machineLine,
  markdownTable,
  ms,
  now,
  pool,
  serverLogTail,
  serverRssMiB,
  sleep,
  startServer,
  summarize,
  WEB_IMAGE,
  type Api,
  type Server,
} from './lib.js';

const CYCLES = envInt('BENCH_CYCLES', 1000, 10, 100_000);
const USERS = envInt('BENCH_USERS', 4, 1, 100);
const CONCURRENCY = envInt('BENCH_CONCURRENCY', 3, 1, 32);
const TIMEOUT_S = envInt('BENCH_TIMEOUT_S', 3600, 60, 86_400);
const STEP_TIMEOUT_MS = 120_000;
const POLL_MS = 50;

interface Counts {
  containers: number;
  networks: number;
  volumes: number;
  publishedPorts: number;
  dataFiles: number;
  fds: number;
}

function filesUnder(dir: string): number {
  let n = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    n += entry.isDirectory() ? filesUnder(path.join(dir, entry.name)) : 1;
  }
  return n;
}

async function counts(server: Server, network: string): Promise<Counts> {
  const docker = engine();
  const containers = await docker.listContainers({ all: true, filters: { label: [`canfar.net/instance=${network}`] } });
  const networks = (await docker.listNetworks({ filters: { name: [network] } })).filter((n) => n.Name === network || n.Name.startsWith(`${network}-u`));
  const volumes = (await docker.listVolumes()).Volumes ?? [];
  // Published host ports of every container on the engine (ours publish on loopback).
  const published = (await docker.listContainers({ all: true })).reduce((sum, c) => sum + (c.Ports ?? []).filter((p) => p.PublicPort).length, 0);
  // Session files and the like; the log and the database grow by design and are not counted.
  const dataDir = path.join(server.workDir, 'data');
  const dataFiles = ['sessions', 'podman']
    .map((d) => path.join(dataDir, d))
    .filter((d) => fs.existsSync(d))
    .reduce((sum, d) => sum + filesUnder(d), 0);
  const fds = fs.readdirSync(`/proc/${server.pid}/fd`).length;
  return { containers: containers.length, networks: networks.length, volumes: volumes.length, publishedPorts: published, dataFiles, fds };
}

/** Least-squares slope of y over x. */
function slope(points: Array<[number, number]>): number {
  const n = points.length;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  const num = points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0);
  const den = points.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  return den ? num / den : Number.NaN;
}

async function cycle(api: Api, i: number): Promise<number> {
  const headless = i % 2 === 0;
  const form: Record<string, string> = headless
    ? { name: `soak${i}`, image: HEADLESS_IMAGE, type: 'headless', cmd: 'true', cores: '1', ram: '1' }
    : { name: `soak${i}`, image: WEB_IMAGE, type: 'contributed', cores: '1', ram: '1' };
  const t0 = now();
  const { id } = await api.launch(form);
  const want = headless ? ['Succeeded'] : ['Running'];
  for (;;) {
    const status = await api.status(id);
    if (status && want.includes(status)) break;
    if (status === 'Failed' || status === undefined) throw new Error(`session ${id} is ${status ?? 'gone'} (cycle ${i})`);
    if (now() - t0 > STEP_TIMEOUT_MS) throw new Error(`session ${id} still ${status} after ${STEP_TIMEOUT_MS} ms`);
    await sleep(POLL_MS);
  }
  const launched = now() - t0;
  const r = await api.request('DELETE', `/skaha/v0/session/${id}`);
  if (r.status !== 200) throw new Error(`DELETE ${id}: ${r.status} ${r.body.trim()}`);
  const td = now();
  while ((await api.status(id)) !== undefined) {
    if (now() - td > STEP_TIMEOUT_MS) throw new Error(`session ${id} still listed ${STEP_TIMEOUT_MS} ms after DELETE`);
    await sleep(POLL_MS);
  }
  return launched;
}

async function main(): Promise<void> {
  const cleanup = new Cleanup();
  cleanup.installSignalHandlers();
  cleanup.timeLimit(TIMEOUT_S);
  let server: Server | undefined;
  try {
    console.log(`soak: ${CYCLES} launch/delete cycles, ${USERS} users, ${CONCURRENCY} at a time; ${machineLine(machine())}`);
    server = await startServer(cleanup, { config: { sessions: { maxUserSessions: 100 }, podman: { headlessQuota: { cores: 100, ramGiB: 1000 } } } });
    const srv = server;
    const network = (JSON.parse(fs.readFileSync(path.join(srv.workDir, 'config.json'), 'utf8')) as { podman: { network: string } }).podman.network;
    const users = [srv.api, ...Array.from({ length: USERS - 1 }, () => srv.newUser().api)];
    // One warm-up cycle of each kind for every user: their networks exist before counting.
    for (const [u, api] of users.entries()) for (const k of [0, 1]) await cycle(api, u * 2 + k);
    await sleep(1000);
    const before = await counts(srv, network);
    const t0 = Date.now();
    const launches: number[] = new Array<number>(CYCLES);
    const rss: Array<[number, number]> = [[0, serverRssMiB(srv)]];
    let done = 0;
    const every = Math.max(1, Math.floor(CYCLES / 20));
    await pool(
      Array.from({ length: CYCLES }, (_, i) => i),
      CONCURRENCY,
      async (i) => {
        launches[i] = await cycle(users[i % users.length]!, i);
        done++;
        if (done % every === 0) {
          rss.push([done, serverRssMiB(srv)]);
          console.log(`  ${done} cycles, ${((Date.now() - t0) / 1000).toFixed(0)} s, RSS ${rss.at(-1)![1].toFixed(1)} MiB`);
        }
      },
      cleanup,
    );
    await sleep(2000);
    const after = await counts(srv, network);
    const first = summarize(launches.slice(0, 100));
    const last = summarize(launches.slice(-100));
    const rssSlope = slope(rss) * 100;
    const rows = (Object.keys(before) as Array<keyof Counts>).map((k) => [k, String(before[k]), String(after[k]), String(after[k] - before[k])]);
    console.log('--- markdown ---');
    console.log(
      `Soak: ${CYCLES} cycles (headless and contributed alternately), ${USERS} users, ${CONCURRENCY} at a time, ${((Date.now() - t0) / 1000).toFixed(0)} s; ${machineLine(machine())}.`,
    );
    console.log(markdownTable(['count', 'before', 'after', 'leaked'], rows));
    console.log(
      markdownTable(
        ['measure', 'value'],
        [
          ['launch p50, first 100 cycles (ms)', ms(first.p50)],
          ['launch p50, last 100 cycles (ms)', ms(last.p50)],
          ['last / first', (last.p50 / first.p50).toFixed(2) + '×'],
          ['server RSS at start / end (MiB)', `${rss[0]![1].toFixed(1)} / ${rss.at(-1)![1].toFixed(1)}`],
          ['RSS slope (MiB per 100 cycles, least squares)', rssSlope.toFixed(2)],
        ],
      ),
    );
    console.log('--- end ---');
  } catch (err) {
    console.error(`soak failed: ${errorMessage(err)}`);
    if (server) console.error(`server log (last lines):\n${serverLogTail(server)}`);
    process.exitCode = 1;
  } finally {
    await cleanup.run();
  }
}

await main();
