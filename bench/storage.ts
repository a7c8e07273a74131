/**
 * Storage throughput (issue 19): a 1 GiB file uploaded to and downloaded from the storage
 * service (`PUT`/`GET /arc/files/...` through `skaha serve`, bearer token, loopback, curl as the
 * client), side by side
 * in one run with a plain copy on the same disk (`cp`, then fsync, as the service fsyncs) and
 * with Debian's nginx storing (`dav_methods PUT`) and serving (sendfile) the same file. Every
 * transfer is a copy from one file to another on this disk (a download is written to a local
 * file and fsync'd), and the page cache is dropped before each, so each one reads from disk.
 *
 * More figures say what bounds the transfers on this machine rather than in the platform: a
 * download read by curl into /dev/null (the server's side of a download alone, next to the disk
 * read alone); the MD5 rate of one core, which no upload can exceed (an upload's digest is
 * sequential, computed as the bytes arrive); and the floor of an upload, the same copy done by a
 * small C program (storage-floor.c) that only copies and hashes, with no network (and once more
 * without the hash: what the digest alone costs here).
 *
 *   npm run -s build && node --import tsx bench/storage.ts
 *
 * Needs nginx, curl, a C compiler and OpenSSL's headers (the benchmark says what to install).
 * Environment: BENCH_STORAGE_MIB (1024), BENCH_REPEAT (5 rounds, each running every transfer once; the median is reported).
 */
import { execFileSync, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {
  CLOCK_TICKS,
  Cleanup,
  envInt,
  errorMessage,
  machine,
  machineLine,
  markdownTable,
  now,
  procStat,
  requireTools,
  sleep,
  startServer,
  summarize,
  type Server,
} from './lib.js';
import { freePort } from '../test/helpers/ports.js';

const MIB = envInt('BENCH_STORAGE_MIB', 1024, 16, 16_384);
const REPEAT = envInt('BENCH_REPEAT', 5, 1, 20);
const SIZE = MIB * 1024 * 1024;

/** Read from disk, not memory: every measured transfer starts cold. */
function dropCaches(): void {
  execFileSync('sync');
  fs.writeFileSync('/proc/sys/vm/drop_caches', '3\n');
}

function fsyncFile(file: string): void {
  const fd = fs.openSync(file, 'r+');
  fs.fsyncSync(fd);
  fs.closeSync(fd);
}

/** curl's `-H` arguments for these headers. */
const headerArgs = (headers: Record<string, string>) => Object.entries(headers).flatMap(([k, v]) => ['-H', `${k}: ${v}`]);

/**
 * PUT a file's bytes with curl (a client that costs little CPU, as on a user's own machine: on
 * two cores a Node client would take the server's share); returns the status.
 */
function upload(url: string, headers: Record<string, string>, file: string): number {
  const args = ['-s', '-o', '/dev/null', '-w', '%{http_code}', '-T', file, ...headerArgs(headers), url];
  return Number(execFileSync('curl', args, { encoding: 'utf8' }));
}

/** GET a file with curl into a local file, fsync'd: a download as a copy to the same disk. */
function download(url: string, headers: Record<string, string>, file: string): void {
  const args = ['-s', '-f', '-o', file, ...headerArgs(headers), url];
  execFileSync('curl', args);
  if (fs.statSync(file).size !== SIZE) throw new Error(`GET ${url}: ${fs.statSync(file).size} of ${SIZE} bytes`);
  fsyncFile(file);
}

/** GET a file with curl into /dev/null: the server's side of a download, without the client's disk. */
function downloadToNull(url: string, headers: Record<string, string>): void {
  const args = ['-s', '-f', '-o', '/dev/null', '-w', '%{size_download}', ...headerArgs(headers), url];
  const size = Number(execFileSync('curl', args, { encoding: 'utf8' }));
  if (size !== SIZE) throw new Error(`GET ${url}: ${size} of ${SIZE} bytes`);
}

/**
 * MiB/s of MD5 on one core, with nothing else to do (the OpenSSL the server hashes with): the
 * ceiling of any upload here, however little else it costs. The median of three passes over
 * 1 GiB of a 64 MiB buffer.
 */
function md5Rate(): number {
  const buffer = crypto.randomBytes(64 * 1024 * 1024);
  const rates: number[] = [];
  for (let pass = 0; pass < 3; pass++) {
    const hash = crypto.createHash('md5');
    const t0 = now();
    for (let i = 0; i < 16; i++) hash.update(buffer);
    hash.digest();
    rates.push(1024 / ((now() - t0) / 1000));
  }
  return summarize(rates).p50;
}

/**
 * storage-floor.c built into `dir`: a copy with its MD5 on a second thread and nothing else, the
 * floor of any upload that digests its bytes (cc and OpenSSL's headers; says what to install).
 */
function buildFloor(dir: string): string {
  const binary = path.join(dir, 'storage-floor');
  const source = path.join(import.meta.dirname, 'storage-floor.c');
  try {
    execFileSync('cc', ['-O2', '-o', binary, source, '-lcrypto', '-lpthread'], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    throw new Error(`could not build bench/storage-floor.c (apt-get install -y gcc libssl-dev): ${errorMessage(err)}`);
  }
  return binary;
}

/** One contender: a name and a cold transfer of the whole file. */
interface Contender {
  name: string;
  run: () => Promise<void> | void;
}

/**
 * MiB/s of each contender in each of REPEAT cold rounds. The contenders take turns within each
 * round (not REPEAT runs of one, then of the next), so a slow spell of this VM's disk falls on all
 * of them alike instead of on whichever happened to run then.
 */
async function measureRounds(contenders: Contender[], serverPid: number): Promise<Map<string, number[]>> {
  const rates = new Map<string, number[]>(contenders.map((c) => [c.name, []]));
  const cpu = new Map<string, number[]>(contenders.map((c) => [c.name, []]));
  for (let round = 0; round < REPEAT; round++) {
    for (const c of contenders) {
      dropCaches();
      const cpu0 = cpuSeconds(serverPid);
      const t0 = now();
      await c.run();
      rates.get(c.name)!.push(MIB / ((now() - t0) / 1000));
      cpu.get(c.name)!.push(cpuSeconds(serverPid) - cpu0);
    }
  }
  for (const [name, list] of rates) {
    const serverCpu = median(cpu.get(name)!);
    console.log(
      `  ${name}: ${list.map((r) => r.toFixed(0)).join(', ')} MiB/s (median ${median(list).toFixed(0)})${serverCpu >= 0.05 ? `; skaha server ${serverCpu.toFixed(2)} CPU-s` : ''}`,
    );
  }
  return rates;
}

/** CPU seconds a process has used so far, all its threads (user + system). */
const cpuSeconds = (pid: number) => (procStat(pid)?.ticks ?? Number.NaN) / CLOCK_TICKS;

const median = (list: number[]) => summarize(list).p50;

/**
 * The median over rounds of a/b within each round: the disk's mood of the moment is shared by
 * both sides of each ratio, so this is steadier than a ratio of medians taken in different rounds.
 */
function pairedRatio(a: number[], b: number[]): string {
  return `${median(a.map((x, i) => x / b[i]!)).toFixed(2)}×`;
}

function nginxConf(dir: string, port: number): string {
  return `daemon off;
user www-data;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/nginx.error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  client_max_body_size 0;
  client_body_temp_path ${dir}/www/.tmp;
  server {
    listen 127.0.0.1:${port};
    root ${dir}/www;
    location / { dav_methods PUT; create_full_put_path on; }
  }
}
`;
}

async function main(): Promise<void> {
  const cleanup = new Cleanup();
  cleanup.installSignalHandlers();
  let server: Server | undefined;
  try {
    requireTools(['nginx', 'curl', 'cc']);
    server = await startServer(cleanup);
    const work = server.workDir;
    const source = path.join(work, 'source.bin');
    console.log(`writing a ${MIB} MiB source file`);
    const block = crypto.randomBytes(1024 * 1024);
    const fd = fs.openSync(source, 'w');
    for (let i = 0; i < MIB; i++) fs.writeSync(fd, block);
    fs.closeSync(fd);

    // nginx, as www-data, storing into and serving from a directory of its own.
    const www = path.join(work, 'www');
    fs.mkdirSync(path.join(www, '.tmp'), { recursive: true });
    execFileSync('chown', ['-R', 'www-data:www-data', www]);
    fs.chmodSync(work, 0o755);
    const nginxPort = await freePort();
    fs.writeFileSync(path.join(work, 'nginx.conf'), nginxConf(work, nginxPort));
    const nginx = spawn('nginx', ['-c', path.join(work, 'nginx.conf'), '-p', work], { stdio: 'ignore', detached: true });
    cleanup.add('stop nginx', () => void process.kill(-nginx.pid!, 'SIGKILL'));
    await sleep(500);

    const floor = buildFloor(work);

    const auth = { authorization: `Bearer ${server.token}` };
    const platform = `${server.base}/arc/files/home/${server.username}`;
    const nginxBase = `http://127.0.0.1:${nginxPort}`;
    console.log('MD5 on one core (the ceiling of an upload here)');
    const md5 = md5Rate();
    console.log(`  ${md5.toFixed(0)} MiB/s`);
    console.log(`${MIB} MiB, ${REPEAT} runs each, caches dropped before each`);
    const downloaded = path.join(work, 'down.bin');
    const r = await measureRounds(
      [
        {
          name: 'plain copy (cp + fsync)',
          run: () => {
            const target = path.join(work, 'copy.bin');
            execFileSync('cp', [source, target]);
            fsyncFile(target);
          },
        },
        {
          name: 'platform PUT /arc/files',
          run: () => {
            const status = upload(`${platform}/up.bin`, auth, source);
            if (status !== 201) throw new Error(`PUT answered ${status}`);
          },
        },
        {
          name: 'nginx PUT (dav_methods)',
          run: () => {
            const status = upload(`${nginxBase}/up.bin`, {}, source);
            if (status !== 201 && status !== 204) throw new Error(`nginx PUT answered ${status}`);
          },
        },
        { name: 'platform GET /arc/files (to a file, fsync)', run: () => download(`${platform}/up.bin`, auth, downloaded) },
        { name: 'nginx GET (sendfile; to a file, fsync)', run: () => download(`${nginxBase}/up.bin`, {}, downloaded) },
        { name: 'disk read alone (cat > /dev/null)', run: () => void execFileSync('sh', ['-c', 'cat "$1" > /dev/null', 'sh', source]) },
        { name: 'platform GET /arc/files (to /dev/null)', run: () => downloadToNull(`${platform}/up.bin`, auth) },
        { name: 'nginx GET (sendfile; to /dev/null)', run: () => downloadToNull(`${nginxBase}/up.bin`, {}) },
        {
          name: 'copy + MD5 in C (storage-floor, no network)',
          run: () => {
            const md5 = execFileSync(floor, [source, path.join(work, 'floor.bin')], { encoding: 'utf8' }).trim();
            if (!/^[0-9a-f]{32}$/.test(md5)) throw new Error(`storage-floor printed ${md5}`);
          },
        },
        { name: 'the same C copy without MD5', run: () => void execFileSync(floor, [source, path.join(work, 'floor.bin'), '--no-md5']) },
      ],
      server.pid!,
    );
    const [copy, putPlatform, putNginx, getPlatform, getNginx, diskRead, nullPlatform, nullNginx, floorMd5, floorBare] = [...r.values()] as number[][] as [
      number[],
      number[],
      number[],
      number[],
      number[],
      number[],
      number[],
      number[],
      number[],
      number[],
    ];
    const row = (name: string, platform: number[], plain: number[], nginx: number[]) => [
      name,
      median(platform).toFixed(0),
      median(plain).toFixed(0),
      median(nginx).toFixed(0),
      pairedRatio(platform, plain),
      pairedRatio(platform, nginx),
    ];

    console.log('--- markdown ---');
    console.log(
      `Storage throughput: ${MIB} MiB, median of ${REPEAT} cold rounds (page cache dropped before each transfer), loopback; ratios are the median of each round's ratio; ${machineLine(machine())}.`,
    );
    console.log(
      markdownTable(
        ['transfer', 'platform (MiB/s)', 'plain (MiB/s)', 'nginx (MiB/s)', 'platform / plain', 'platform / nginx'],
        [
          row('upload (curl -T, cold source)', putPlatform, copy, putNginx),
          row('download (curl -o, to a file, fsync)', getPlatform, copy, getNginx),
          row('download, server side (curl to /dev/null; plain: the disk read alone)', nullPlatform, diskRead, nullNginx),
        ],
      ),
    );
    const goal = 0.8 * median(copy);
    console.log(
      `\nMD5 on one core: ${md5.toFixed(0)} MiB/s; 0.8 × the plain copy: ${goal.toFixed(0)} MiB/s${goal > md5 ? ' (above what MD5 alone allows an upload here)' : ''}; upload / MD5 alone: ${(median(putPlatform) / md5).toFixed(2)}×.`,
    );
    console.log(
      `The floor of an upload, a copy with its MD5 in C and no network: ${median(floorMd5).toFixed(0)} MiB/s = ${pairedRatio(floorMd5, copy)} the plain copy (without the MD5: ${pairedRatio(floorBare, copy)}); the platform's upload / that floor: ${pairedRatio(putPlatform, floorMd5)}.`,
    );
    console.log('--- end ---');
  } catch (err) {
    console.error(`storage benchmark failed: ${errorMessage(err)}`);
    process.exitCode = 1;
  } finally {
    await cleanup.run();
  }
}

await main();
