import path from 'node:path';
import { Command } from 'commander';
import { loadConfig, type Config, type ConfigOverrides } from '../../server/config.js';
import { SkahaError } from '../../common/errors.js';
import type { Stores } from '../../store/open.js';
import type { IdentityStore, Scope } from '../../store/store.js';
import { fail, print, readStdin, UsageError } from '../run.js';
import { adminImageCommands } from './image.js';
import { dataDirOptions, pkiCommands } from './pki.js';

export function overrides(opts: { config?: string; port?: number; dataDir?: string }): ConfigOverrides {
  return { configFile: opts.config, port: opts.port, dataDir: opts.dataDir };
}

/**
 * Run an admin command against the configured stores (SQLite in the data directory, or
 * PostgreSQL: identity.store), closed afterwards; any failure is one `skaha: ...` line.
 * `require`: the store the command works on, checked before anything is opened (a SQLite store
 * would be created).
 */
async function withStores(
  opts: { config?: string; dataDir?: string },
  fn: (stores: Stores, config: Config) => Promise<void>,
  require?: { store: Config['identity']['store']; why: string },
): Promise<void> {
  try {
    const config = loadConfig(overrides(opts));
    if (require && config.identity.store !== require.store) throw new Error(require.why);
    const { openStores } = await import('../../store/open.js');
    const stores = await openStores(config);
    try {
      await fn(stores, config);
    } finally {
      await stores.close();
    }
  } catch (err) {
    // An unreachable database: say which one and why (never its password).
    fail(err instanceof SkahaError && err.logMessage ? new Error(`${err.message} (${err.logMessage})`) : err);
  }
}

const withIdentityStore = (opts: { config?: string; dataDir?: string }, fn: (store: IdentityStore) => Promise<void>) =>
  withStores(opts, (stores) => fn(stores.identity));

/** `skaha admin ...`: operator commands on this machine's stores, engine and CA. */
export function adminCommands(program: Command): void {
  const admin = program.command('admin').description('operator commands; they work whether or not the server runs');

  dataDirOptions(admin.command('token').description('API tokens').command('create <username>'))
    .description('create the user if new and print one new API token, alone on the last line')
    .option('-n, --name <name>', 'a name to recognise the token by', 'admin')
    .option('-s, --scopes <list>', 'comma list of read, launch, admin', 'read,launch')
    .option('-e, --expires-days <n>', 'days until it expires (default: never)')
    .addHelpText(
      'after',
      '\nExample:\n  TOKEN=$(npx skaha admin token create alice | tail -1)\n  curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8555/skaha/v0/session',
    )
    .action(async (username: string, opts) => {
      const days = opts.expiresDays === undefined ? undefined : Number(opts.expiresDays);
      if (days !== undefined && (!Number.isInteger(days) || days < 1)) fail(new UsageError('--expires-days takes a whole number of days'));
      await withIdentityStore(opts, async (store) => {
        const { token: secret } = await store.createToken(username, opts.name, {
          scopes: String(opts.scopes)
            .split(',')
            .map((s: string) => s.trim()) as Scope[],
          ...(days ? { expiresAt: new Date(Date.now() + days * 86400_000) } : {}),
        });
        const user = (await store.findUser(username))!;
        print(`token for ${user.username} (uid ${user.uid}); keep it secret:`);
        print(secret);
      });
    });

  pkiCommands(admin);
  adminImageCommands(admin);

  const user = admin.command('user').description('local accounts (browser login with a password)');
  dataDirOptions(user.command('passwd <username>'))
    .description("set a user's password (creating the user if new) and end their browser logins; the password is read from standard input")
    .addHelpText('after', '\nExample:\n  printf %s "$PASSWORD" | npx skaha admin user passwd alice')
    .action(async (username: string, opts) => {
      const password = (await readStdin()).replace(/\r?\n$/, '');
      await withIdentityStore(opts, async (store) => {
        await store.setPassword(username, password);
        print(`password set for ${username}; their browser logins were ended`);
      });
    });
  dataDirOptions(user.command('logout <username>'))
    .description('end every browser login of a user at once (a lost laptop, a shared machine); API tokens stay')
    .addHelpText('after', '\nExample:\n  npx skaha admin user logout alice')
    .action(async (username: string, opts) => {
      await withIdentityStore(opts, async (store) => {
        const ended = await store.endLogins(username);
        print(`${ended} browser login${ended === 1 ? '' : 's'} of ${username} ended`);
      });
    });

  dataDirOptions(admin.command('group').description('shared POSIX groups (supplemental gids of sessions)').command('add <group> <username>'))
    .description('add a user to a group, creating either if new')
    .addHelpText('after', '\nExample:\n  npx skaha admin group add vlass alice')
    .action(async (groupName: string, username: string, opts) => {
      await withIdentityStore(opts, async (store) => {
        const g = await store.addToGroup(username, groupName);
        print(`${username} is in group ${g.name} (gid ${g.gid}); new sessions get it`);
      });
    });

  admin
    .command('store')
    .description('the identity store itself')
    .command('copy-from-sqlite <dataDir>')
    .description(
      'copy the SQLite identity store of <dataDir> (users, uids, groups, passwords, API tokens, registry credentials) into the configured PostgreSQL store, which must be empty; run once when moving to several servers',
    )
    .option(
      '-d, --data-dir <dir>',
      'data directory of the configured servers (env SKAHA_DATA_DIR); its secrets key must be the one that sealed the registry credentials',
    )
    .option('-c, --config <file>', 'JSON config file with identity.store postgres (env SKAHA_CONFIG)')
    .addHelpText('after', '\nExample (docs/operations.md):\n  npx skaha admin store copy-from-sqlite /var/lib/skaha --config /etc/skaha/config.json')
    .action(async (from: string, opts) => {
      const target = {
        store: 'postgres' as const,
        why: 'the configured identity.store is sqlite: point --config at the configuration with identity.store postgres',
      };
      await withStores(
        opts,
        async (stores, config) => {
          const { copySqliteToPostgres } = await import('../../store/copy.js');
          const { CredentialSealer } = await import('../../store/sealing.js');
          const n = await copySqliteToPostgres(path.resolve(from), stores.database!, CredentialSealer.forDataDir(config.dataDir));
          print(
            `copied into ${stores.where}: ${n.users} users, ${n.groups} groups, ${n.memberships} memberships, ${n.tokens} API tokens, ${n.credentials} registry credentials`,
          );
          if (n.unreadableCredentials)
            print(`left out ${n.unreadableCredentials} registry credentials the old key could not open (their owners store them again)`);
        },
        target,
      );
    });
}
