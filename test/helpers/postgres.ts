/**
 * A throwaway PostgreSQL cluster on loopback for the tests (issue 9: the identity store's
 * PostgreSQL option). Debian's `postgresql` package provides the binaries (scripts/lib/ensure.sh
 * installs it with the test packages); nothing is downloaded.
 *
 *   const pg = await startPostgres();          // ~2 s: initdb + pg_ctl start
 *   const url = await pg.createDatabase('t1'); // postgres://skaha@127.0.0.1:<port>/t1
 *   ... new PostgresDatabase({ url, password: pg.password }) ...
 *   await pg.stop();                           // also removes its directory
 *
 * The cluster runs as the `postgres` system user when the tests run as root (PostgreSQL refuses
 * to run as root), else as the current user. It listens on 127.0.0.1:<a free port> only, its
 * Unix socket in its own directory, with scram-sha-256 passwords over TCP (so the tests cover
 * password files) and trust on the socket (for the helper's own psql calls). fsync is off: the
 * data is thrown away.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './ports.js';

export interface PostgresCluster {
  port: number;
  /** The password of the `skaha` role (a superuser of this throwaway cluster). */
  password: string;
  user: string;
  /** Directory holding data/, the socket and server.log. */
  dir: string;
  /** A new empty database, and its URL (without the password). */
  createDatabase(name: string): Promise<string>;
  /** Stop the server (fast shutdown, connections cut) and keep the data: the database is "down". */
  pause(): void;
  /** Start it again on the same port. */
  resume(): void;
  /** Stop and remove everything. Safe to call twice. */
  stop(): Promise<void>;
}

/** The bin directory of the newest installed PostgreSQL, or undefined when there is none. */
function postgresBinDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!fs.existsSync(root)) return undefined;
  const versions = fs
    .readdirSync(root)
    .filter((v) => fs.existsSync(path.join(root, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] ? path.join(root, versions[0], 'bin') : undefined;
}

/** Why the PostgreSQL tests cannot run here, or false. For `describe(..., { skip })`. */
export function missingPostgres(): string | false {
  if (!postgresBinDir()) return 'needs PostgreSQL (Debian package postgresql; scripts/test.sh installs it)';
  if (process.getuid?.() === 0 && spawnSync('id', ['-u', 'postgres']).status !== 0) return 'needs the postgres system user (Debian package postgresql)';
  return false;
}

export async function startPostgres(): Promise<PostgresCluster> {
  const bin = postgresBinDir();
  if (!bin) throw new Error('PostgreSQL is not installed (apt-get install postgresql)');
  const asRoot = process.getuid?.() === 0;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'skaha-pg-'));
  const data = path.join(dir, 'data');
  const log = path.join(dir, 'server.log');
  const user = 'skaha';
  const password = crypto.randomBytes(12).toString('base64url');
  const pwfile = path.join(dir, 'pwfile');
  fs.writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
  if (asRoot) {
    const ids = execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim();
    const gid = execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim();
    fs.chownSync(dir, Number(ids), Number(gid));
    fs.chownSync(pwfile, Number(ids), Number(gid));
  }
  // As the postgres user when we are root; from a directory it can read (runuser keeps the cwd).
  const run = (tool: string, args: string[]) => {
    const command = asRoot ? 'runuser' : path.join(bin, tool);
    const argv = asRoot ? ['-u', 'postgres', '--', path.join(bin, tool), ...args] : args;
    const r = spawnSync(command, argv, { cwd: dir, encoding: 'utf8', timeout: 60_000 });
    if (r.status !== 0) {
      const serverLog = fs.existsSync(log) ? fs.readFileSync(log, 'utf8').split('\n').slice(-20).join('\n') : '';
      throw new Error(`${tool} ${args.join(' ')} failed (${r.status}): ${r.stderr || r.stdout}\n${serverLog}`);
    }
    return r.stdout;
  };

  run('initdb', ['-D', data, '-U', user, '--pwfile', pwfile, '--auth-local=trust', '--auth-host=scram-sha-256', '-E', 'UTF8', '--locale=C', '--no-sync']);
  fs.rmSync(pwfile);
  const port = await freePort();
  const options = [
    `-p ${port}`,
    '-c listen_addresses=127.0.0.1',
    `-c unix_socket_directories=${dir}`,
    '-c fsync=off',
    '-c synchronous_commit=off',
    '-c full_page_writes=off',
    '-c max_connections=100',
  ].join(' ');
  const start = () => run('pg_ctl', ['-D', data, '-l', log, '-o', options, '-w', '-t', '60', 'start']);
  start();
  let stopped = false;
  const psql = (sql: string) => run('psql', ['-h', dir, '-p', String(port), '-U', user, '-d', 'postgres', '-v', 'ON_ERROR_STOP=1', '-qAt', '-c', sql]);

  const cluster: PostgresCluster = {
    port,
    password,
    user,
    dir,
    async createDatabase(name) {
      if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`not a plain database name: ${name}`);
      psql(`CREATE DATABASE ${name}`);
      return `postgres://${user}@127.0.0.1:${port}/${name}`;
    },
    pause() {
      run('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']);
    },
    resume() {
      start();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      try {
        run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
      } catch {
        // Already stopped (paused and never resumed).
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  process.once('exit', () => {
    if (!stopped) {
      spawnSync(
        asRoot ? 'runuser' : path.join(bin, 'pg_ctl'),
        asRoot ? ['-u', 'postgres', '--', path.join(bin, 'pg_ctl'), '-D', data, '-m', 'immediate', 'stop'] : ['-D', data, '-m', 'immediate', 'stop'],
      );
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
  return cluster;
}
