import { Command } from 'commander';
import { colourStatus, relativeTime, table } from '../format.js';
import { print, printJson, readStdin, UsageError, withClient } from '../run.js';
import { failedOf, waitUntil } from './sessions.js';

/** Polls (half a second apart) a new desktop-app may take to be listed. */
const APP_LISTING_GRACE_POLLS = 60;

export function catalogCommands(program: Command): void {
  program
    .command('images')
    .description('images you can launch, with their session types')
    .option('-t, --type <type>', 'only images of this session type')
    .option('--json', "print the server's image objects")
    .addHelpText('after', '\nExamples:\n  skaha images\n  skaha images --type desktop-app --json')
    .action(
      withClient(async (client, opts: { type?: string; json?: boolean }) => {
        const images = await client.images(opts.type);
        if (opts.json) return printJson(images);
        print(
          images.length
            ? table(
                ['IMAGE', 'TYPES'],
                images.map((i) => [i.id, i.types.join(',')]),
              )
            : 'no images',
        );
      }),
    );

  program
    .command('context')
    .description('cores, RAM and GPUs you can ask for, and the defaults')
    .option('--json', "print the server's object")
    .addHelpText('after', '\nExamples:\n  skaha context\n  skaha context --json | jq .cores.options')
    .action(
      withClient(async (client, opts: { json?: boolean }) => {
        const ctx = (await client.context()) as Record<string, { default?: number; options?: number[] }>;
        if (opts.json) return printJson(ctx);
        print(
          table(
            ['RESOURCE', 'DEFAULT', 'OPTIONS'],
            ['cores', 'memoryGB', 'gpus'].map((k) => [k, String(ctx[k]?.default ?? '-'), (ctx[k]?.options ?? []).join(' ') || '-']),
          ),
        );
      }),
    );

  program
    .command('repositories')
    .description('the image registry hosts this server launches from')
    .option('--json', "print the server's list")
    .addHelpText('after', '\nExample:\n  skaha repositories')
    .action(
      withClient(async (client, opts: { json?: boolean }) => {
        const hosts = await client.repositories();
        if (opts.json) return printJson(hosts);
        print(hosts.length ? hosts.join('\n') : 'no registry hosts configured (local images only)');
      }),
    );

  const registry = program
    .command('registry')
    .description('your credentials for private images, stored encrypted by the server and used to pull your private images');
  registry
    .command('login')
    .description('store your credentials for one registry host; the secret is read from stdin or SKAHA_REGISTRY_SECRET')
    .argument('<host>', 'registry host, one of `skaha repositories`')
    .requiredOption('-u, --username <name>', 'registry username (Harbor: your user or a robot account)')
    .option('--json', 'print {"host", "username"} of what was stored')
    .addHelpText('after', '\nExample:\n  printf %s "$HARBOR_CLI_SECRET" | skaha registry login images.canfar.net -u alice')
    .action(
      withClient(async (client, host: string, opts: { username: string; json?: boolean }) => {
        const secret = process.env.SKAHA_REGISTRY_SECRET ?? (process.stdin.isTTY ? '' : (await readStdin()).replace(/\r?\n$/, ''));
        if (!secret) throw new UsageError('give the secret on stdin or in SKAHA_REGISTRY_SECRET');
        await client.storeRegistryCredential(host, opts.username, secret);
        if (opts.json) printJson({ host, username: opts.username });
        else print(`stored credentials of ${opts.username} for ${host}`);
      }),
    );
  registry
    .command('ls')
    .description('registries you have credentials stored for')
    .option('--json', "print the server's objects")
    .addHelpText('after', '\nExample:\n  skaha registry ls')
    .action(
      withClient(async (client, opts: { json?: boolean }) => {
        const stored = await client.registryCredentials();
        if (opts.json) return printJson(stored);
        print(
          stored.length
            ? table(
                ['HOST', 'USERNAME', 'STORED'],
                stored.map((c) => [c.host, c.username, relativeTime(c.updatedAt)]),
              )
            : 'no registry credentials stored',
        );
      }),
    );
  registry
    .command('logout')
    .description('forget your credentials for one registry host')
    .argument('<host>', 'registry host')
    .option('--json', 'print {"host"} of what was forgotten')
    .addHelpText('after', '\nExample:\n  skaha registry logout images.canfar.net')
    .action(
      withClient(async (client, host: string, opts: { json?: boolean }) => {
        await client.forgetRegistryCredential(host);
        if (opts.json) printJson({ host });
        else print(`forgot credentials for ${host}`);
      }),
    );

  const app = program.command('app').description('software containers on a desktop (desktop-apps)');
  app
    .command('launch')
    .description('launch a desktop-app on one of your desktops')
    .argument('<desktop-id>')
    .argument('<image>')
    .option('-c, --cores <n>', 'cores')
    .option('-m, --ram <GiB>', 'RAM in GiB')
    .option('-w, --wait', 'wait until it runs, showing progress; exit 1 if it fails')
    .option('--json', 'print the new app ID as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  skaha app launch abcd1234 images.canfar.net/skaha/terminal:1.0 --wait\n  skaha app launch abcd1234 images.canfar.net/casa/casa:6.6 --cores 2 --ram 8',
    )
    .action(
      withClient(async (client, desktop: string, image: string, opts: { cores?: string; ram?: string; wait?: boolean; json?: boolean }) => {
        const appId = await client.launchApp(desktop, { image, cores: opts.cores, ram: opts.ram });
        if (opts.wait) {
          // A server may list a new app a moment after the launch; one that never does has lost it.
          let unlisted = 0;
          const poll = async () => {
            const status = (await client.apps(desktop)).find((a) => a.appid === appId)?.status;
            if (!status && ++unlisted > APP_LISTING_GRACE_POLLS)
              throw new Error(`desktop-app ${appId} of ${desktop} is not listed any more: see skaha events ${desktop}`);
            return [{ id: appId, status: status ?? 'Pending' }];
          };
          const failed = failedOf(await waitUntil('starting', poll, (status) => status === 'Running'));
          if (failed) throw new Error(`desktop-app ${appId} of ${desktop} failed: see skaha logs ${desktop}`);
        }
        if (opts.json) printJson(appId);
        else print(appId);
      }),
    );
  app
    .command('ps')
    .description('your desktop-apps')
    .argument('<desktop-id>')
    .option('--json', "print the server's objects")
    .addHelpText('after', '\nExample:\n  skaha app ps abcd1234')
    .action(
      withClient(async (client, desktop: string, opts: { json?: boolean }) => {
        const apps = (await client.apps(desktop)).filter((a) => a.id === desktop);
        if (opts.json) return printJson(apps);
        print(
          apps.length
            ? table(
                ['APP', 'NAME', 'STATUS', 'IMAGE', 'STARTED'],
                apps.map((a) => [a.appid, a.name, colourStatus(a.status), a.image, relativeTime(a.startTime)]),
              )
            : 'no desktop-apps',
        );
      }),
    );
  app
    .command('delete')
    .description('delete a desktop-app')
    .argument('<desktop-id>')
    .argument('<app-id>')
    .option('--json', 'print the deleted app ID as JSON')
    .addHelpText('after', '\nExample:\n  skaha app delete abcd1234 x1y2z3w4')
    .action(
      withClient(async (client, desktop: string, appId: string, opts: { json?: boolean }) => {
        await client.deleteApp(desktop, appId);
        if (opts.json) printJson(appId);
        else print(`${desktop}/${appId} deleted`);
      }),
    );
}
