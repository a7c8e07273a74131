import { Command, InvalidArgumentError } from 'commander';
import path from 'node:path';
import { loadConfig, type Config, type ConfigOverrides } from '../server/config.js';
import { SkahaError } from '../server/errors.js';
import type { Stores } from '../store/open.js';
import type { IdentityStore, Scope } from '../store/store.js';
import { catalogCommands } from './commands/catalog.js';
import { completionCommand } from './commands/completion.js';
import { adminImageCommands, imageCommands } from './commands/image.js';
import { pkiCommands } from './commands/pki.js';
import { sessionCommands } from './commands/sessions.js';
import { settingsCommands } from './commands/settings.js';
import { EXIT } from './run.js';

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('a port is a number from 0 to 65535');
  return n;
}

function fail(message: string): never {
  process.stderr.write(`skaha: ${message}\n`);
  process.exit(EXIT.error);
}

function overrides(opts: { config?: string; port?: number; dataDir?: string }): ConfigOverrides {
  return { configFile: opts.config, port: opts.port, dataDir: opts.dataDir };
}

/**
 * Run an admin command against the configured identity store (SQLite in the data directory, or
 * PostgreSQL: identity.store), closed afterwards; any failure is one `skaha: ...` line.
 */
async function withIdentityStore(opts: { config?: string; dataDir?: string }, fn: (store: IdentityStore) => Promise<void>): Promise<void> {
  await withStores(opts, (stores) => fn(stores.identity));
}

/** `require`: the store the command works on, checked before anything is opened (a SQLite store would be created). */
async function withStores(opts: { config?: string; dataDir?: string }, fn: (stores: Stores, config: Config) => Promise<void>, require?: { store: Config['identity']['store']; why: string }): Promise<void> {
  try {
    const config = loadConfig(overrides(opts));
    if (require && config.identity.store !== require.store) throw new Error(require.why);
    const { openStores } = await import('../store/open.js');
    const stores = await openStores(config);
    try {
      await fn(stores, config);
    } finally {
      await stores.close();
    }
  } catch (err) {
    // An unreachable database: say which one and why (never its password).
    fail(err instanceof SkahaError && err.logMessage ? `${err.message} (${err.logMessage})` : (err as Error).message);
  }
}

const program = new Command()
  .name('skaha')
  .description('skaha: container sessions for astronomers. Talks to any skaha server (SKAHA_URL + SKAHA_TOKEN, or `skaha login`); `serve` and `admin` run one.')
  .option('--context <name>', 'use this context of the config file instead of the active one')
  .showHelpAfterError()
  .exitOverride((err) => process.exit(err.exitCode === 0 ? EXIT.ok : EXIT.usage));

settingsCommands(program);
sessionCommands(program);
catalogCommands(program);
imageCommands(program);

program
  .command('serve')
  .description('run the platform: API, session proxy and background loops, on Podman by default')
  .option('-p, --port <n>', 'port to listen on (env SKAHA_PORT, default 8555)', port)
  .option('-d, --data-dir <dir>', 'data directory (env SKAHA_DATA_DIR, default ./data)')
  .option('-c, --config <file>', 'JSON config file (env SKAHA_CONFIG); see docs/config.md')
  .addHelpText('after', '\nExample:\n  npx skaha serve --port 8555 --data-dir /var/lib/skaha')
  .action(async (opts) => {
    let config;
    try {
      config = loadConfig(overrides(opts));
    } catch (err) {
      fail((err as Error).message);
    }
    const { createPlatform } = await import('../server/platform.js');
    let platform;
    try {
      platform = await createPlatform(config);
    } catch (err) {
      fail(`cannot start: ${(err as Error).message}`);
    }
    const url = await platform.listen().catch((err: Error) => fail(`cannot listen on ${config.host}:${config.port}: ${err.message}`));
    console.log(`skaha serving ${url}/skaha/v0 (data in ${config.dataDir})`);
    const tlsUrl = platform.tlsUrl();
    if (tlsUrl) console.log(`skaha serving ${tlsUrl}/skaha/v0 with client certificates (CA: ${config.tls.clientCaFile})`);
    let closing = false;
    const stop = (signal: string) => {
      if (closing) return;
      closing = true;
      console.log(`${signal}: closing (sessions keep running)`);
      const force = setTimeout(() => process.exit(0), 10_000);
      force.unref();
      platform.close().finally(() => process.exit(0));
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });

const admin = program.command('admin').description('operator commands; they work whether or not the server runs');
const token = admin.command('token').description('API tokens');
token
  .command('create <username>')
  .description('create the user if new and print one new API token, alone on the last line')
  .option('-d, --data-dir <dir>', 'data directory (env SKAHA_DATA_DIR)')
  .option('-c, --config <file>', 'JSON config file (env SKAHA_CONFIG)')
  .option('-n, --name <name>', 'a name to recognise the token by', 'admin')
  .option('-s, --scopes <list>', 'comma list of read, launch, admin', 'read,launch')
  .option('-e, --expires-days <n>', 'days until it expires (default: never)')
  .addHelpText('after', '\nExample:\n  TOKEN=$(npx skaha admin token create alice | tail -1)\n  curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8555/skaha/v0/session')
  .action(async (username: string, opts) => {
    const days = opts.expiresDays === undefined ? undefined : Number(opts.expiresDays);
    if (days !== undefined && (!Number.isInteger(days) || days < 1)) fail('--expires-days takes a whole number of days');
    await withIdentityStore(opts, async (store) => {
      const { token: secret } = await store.createToken(username, opts.name, {
        scopes: String(opts.scopes).split(',').map((s: string) => s.trim()) as Scope[],
        ...(days ? { expiresAt: new Date(Date.now() + days * 86400_000) } : {}),
      });
      const user = (await store.findUser(username))!;
      console.log(`token for ${user.username} (uid ${user.uid}); keep it secret:`);
      console.log(secret);
    });
  });

pkiCommands(admin);
adminImageCommands(admin);

const userCmd = admin.command('user').description('local accounts (browser login with a password)');
userCmd
  .command('passwd <username>')
  .description('set a user\'s password (creating the user if new); the password is read from standard input')
  .option('-d, --data-dir <dir>', 'data directory (env SKAHA_DATA_DIR)')
  .option('-c, --config <file>', 'JSON config file (env SKAHA_CONFIG)')
  .addHelpText('after', '\nExample:\n  printf %s "$PASSWORD" | npx skaha admin user passwd alice')
  .action(async (username: string, opts) => {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    const password = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
    await withIdentityStore(opts, async (store) => {
      await store.setPassword(username, password);
      console.log(`password set for ${username}`);
    });
  });

const group = admin.command('group').description('shared POSIX groups (supplemental gids of sessions)');
group
  .command('add <group> <username>')
  .description('add a user to a group, creating either if new')
  .option('-d, --data-dir <dir>', 'data directory (env SKAHA_DATA_DIR)')
  .option('-c, --config <file>', 'JSON config file (env SKAHA_CONFIG)')
  .action(async (groupName: string, username: string, opts) => {
    await withIdentityStore(opts, async (store) => {
      const g = await store.addToGroup(username, groupName);
      console.log(`${username} is in group ${g.name} (gid ${g.gid}); new sessions get it`);
    });
  });

const storeCmd = admin.command('store').description('the identity store itself');
storeCmd
  .command('copy-from-sqlite <dataDir>')
  .description('copy the SQLite identity store of <dataDir> (users, uids, groups, passwords, API tokens, registry credentials) into the configured PostgreSQL store, which must be empty; run once when moving to several servers')
  .option('-d, --data-dir <dir>', 'data directory of the configured servers (env SKAHA_DATA_DIR); its secrets key must be the one that sealed the registry credentials')
  .option('-c, --config <file>', 'JSON config file with identity.store postgres (env SKAHA_CONFIG)')
  .addHelpText('after', '\nExample (docs/operations.md):\n  npx skaha admin store copy-from-sqlite /var/lib/skaha --config /etc/skaha/config.json')
  .action(async (from: string, opts) => {
    const target = { store: 'postgres' as const, why: 'the configured identity.store is sqlite: point --config at the configuration with identity.store postgres' };
    await withStores(opts, async (stores, config) => {
      const { copySqliteToPostgres } = await import('../store/copy.js');
      const { CredentialSealer } = await import('../store/sealing.js');
      const n = await copySqliteToPostgres(path.resolve(from), stores.database!, CredentialSealer.forDataDir(config.dataDir));
      console.log(`copied into ${stores.where}: ${n.users} users, ${n.groups} groups, ${n.memberships} memberships, ${n.tokens} API tokens, ${n.credentials} registry credentials`);
      if (n.unreadableCredentials) console.log(`left out ${n.unreadableCredentials} registry credentials the old key could not open (their owners store them again)`);
    }, target);
  });

completionCommand(program);

await program.parseAsync(process.argv);
