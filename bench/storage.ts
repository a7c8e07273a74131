/**
 * Storage throughput (issue 19): a 1 GiB file uploaded to and downloaded from the storage
 * service (`PUT`/`GET /arc/files/...` through `skaha serve`, bearer token, loopback, curl as the
 * client), side by side
 * in one run with a plain copy on the same disk (`cp`, then fsync, as the service fsyncs) and
 * with Debian's nginx storing (`dav_methods PUT`) and serving (sendfile) the same file. Every
 * transfer is a copy from one file to another on this disk (a download is written to a local
 * file and fsync'd), and the page cache is dropped before each, so each one reads from disk.
 *
 *   npm run -s build && node --import tsx bench/storage.ts
 *
 * Environment: BENCH_STORAGE_MIB (1024), BENCH_REPEAT (5 rounds, each running every transfer once; the median is reported).
 */
import { execFileSync, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Cleanup, envInt, errorMessage, machine, machineLine, markdownTable, now, ratio, sleep, startServer, summarize, type Server } from './lib.js';
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

/**
 * PUT a file's bytes with curl (a client that costs little CPU, as on a user's own machine: on
 * two cores a Node client would take the server's share); returns the status.
 */
function upload(url: string, headers: Record<string, string>, file: string): number {
  const args = ['-s', '-o', '/dev/null', '-w', '%{http_code}', '-T', file, ...Object.entries(headers).flatMap(([k, v]) => ['-H', `${k}: ${v}`]), url];
  return Number(execFileSync('curl', args, { encoding: 'utf8' }));
}

/** GET a file with curl into a local file, fsync'd: a download as a copy to the same disk. */
function download(url: string, headers: Record<string, string>, file: string): void {
  const args = ['-s', '-f', '-o', file, ...Object.entries(headers).flatMap(([k, v]) => ['-H', `${k}: ${v}`]), url];
  execFileSync('curl', args);
  if (fs.statSync(file).size !== SIZE) throw new Error(`GET ${url}: ${fs.statSync(file).size} of ${SIZE} bytes`);
  fsyncFile(file);
}

/** One contender: a name and a cold transfer of the whole file. */
interface Contender {
  name: string;
  run: () => Promise<void> | void;
}

/**
 * MiB/s of each contender, the median of REPEAT cold runs. The contenders take turns within each
 * round (not REPEAT runs of one, then of the next), so a slow spell of this VM's disk falls on all
 * of them alike instead of on whichever happened to run then.
 */
async function measureRounds(contenders: Contender[]): Promise<Map<string, number>> {
  const rates = new Map<string, number[]>(contenders.map((c) => [c.name, []]));
  for (let round = 0; round < REPEAT; round++) {
    for (const c of contenders) {
      dropCaches();
      const t0 = now();
      await c.run();
      rates.get(c.name)!.push(MIB / ((now() - t0) / 1000));
    }
  }
  const medians = new Map<string, number>();
  for (const [name, list] of rates) {
    medians.set(name, summarize(list).p50);
    console.log(`  ${name}: ${list.map((r) => r.toFixed(0)).join(', ')} MiB/s (median ${summarize(list).p50.toFixed(0)})`);
  }
  return medians;
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

    const auth = { authorization: `Bearer ${server.token}` };
    const platform = `${server.base}/arc/files/home/${server.username}`;
    const nginxBase = `http://127.0.0.1:${nginxPort}`;
    console.log(`${MIB} MiB, ${REPEAT} runs each, caches dropped before each`);
    const downloaded = path.join(work, 'down.bin');
    const r = await measureRounds([
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
    ]);
    const [copy, putPlatform, putNginx, getPlatform, getNginx] = [...r.values()] as [number, number, number, number, number];
    const up = { copy, platform: putPlatform, nginx: putNginx };
    const down = { platform: getPlatform, nginx: getNginx };

    console.log('--- markdown ---');
    console.log(`Storage throughput: ${MIB} MiB, median of ${REPEAT} cold runs (page cache dropped), loopback; ${machineLine(machine())}.`);
    console.log(
      markdownTable(
        ['transfer', 'platform (MiB/s)', 'plain (MiB/s)', 'nginx (MiB/s)', 'platform / plain', 'platform / nginx'],
        [
          ['upload', up.platform.toFixed(0), up.copy.toFixed(0), up.nginx.toFixed(0), ratio(up.platform, up.copy), ratio(up.platform, up.nginx)],
          ['download', down.platform.toFixed(0), up.copy.toFixed(0), down.nginx.toFixed(0), ratio(down.platform, up.copy), ratio(down.platform, down.nginx)],
        ],
      ),
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
