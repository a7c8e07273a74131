import fs from 'node:fs';
import { Command, Option } from 'commander';
import { ClientError, parseServerUrl, SkahaClient } from '../client.js';
import { table } from '../format.js';
import { fail, print, printJson, UsageError } from '../run.js';
import { loadSettings, saveSettings, settingsPath, type ContextEntry } from '../settings.js';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8').trim();
}

export function settingsCommands(program: Command): void {
  program
    .command('login')
    .description('remember a server and how to authenticate to it, and make it the active context')
    .argument('<url>', 'server URL, with or without /skaha/v0')
    .option('--token <token>', 'an API token (or --token-stdin)')
    .option('--token-stdin', 'read the token from standard input')
    .option('--cert <pem>', 'X.509 PEM with certificate and key, e.g. ~/.ssl/cadcproxy.pem')
    .option('--ca <pem>', 'CA bundle to verify the server with')
    .addOption(new Option('--api <version>', 'API version').choices(['v0', 'v1']))
    .option('--name <context>', 'context name (default: the server\'s host)')
    .addHelpText('after', '\nExamples:\n  skaha login http://127.0.0.1:8555 --token skt_...\n  skaha login https://ws-uv.canfar.net/skaha --cert ~/.ssl/cadcproxy.pem')
    .action(async (rawUrl: string, opts: { token?: string; tokenStdin?: boolean; cert?: string; ca?: string; api?: 'v0' | 'v1'; name?: string }) => {
      try {
        const { url, version } = parseServerUrl(rawUrl);
        const token = opts.tokenStdin ? await readStdin() : opts.token;
        if (!token && !opts.cert) throw new UsageError('give --token, --token-stdin or --cert');
        if (opts.cert && !fs.existsSync(opts.cert)) throw new UsageError(`no such file: ${opts.cert}`);
        const entry: ContextEntry = {
          url,
          version: opts.api ?? version ?? 'v0',
          auth: token ? 'token' : 'x509',
          ...(token ? { token } : { certFile: opts.cert! }),
          ...(opts.ca ? { caFile: opts.ca } : {}),
        };
        // Check it works before remembering it.
        const client = new SkahaClient({ url: entry.url, version: entry.version, token: entry.token, certFile: entry.certFile, caFile: entry.caFile });
        try {
          await client.context();
        } finally {
          client.close();
        }
        const name = opts.name ?? new URL(url).host;
        const settings = loadSettings();
        settings.contexts[name] = entry;
        settings.active = name;
        saveSettings(settings);
        print(`logged in to ${url} (${entry.version}) as context '${name}'; saved in ${settingsPath()}`);
      } catch (err) {
        fail(err instanceof ClientError || err instanceof UsageError ? err : new Error((err as Error).message));
      }
    });

  const config = program.command('config').description('the CLI\'s contexts (servers and credentials)');
  config
    .command('show')
    .alias('ls')
    .description('list contexts (tokens masked)')
    .option('--json', 'print as JSON (tokens masked)')
    .action((opts: { json?: boolean }) => {
      try {
        const settings = loadSettings();
        const masked = Object.fromEntries(Object.entries(settings.contexts).map(([k, v]) => [k, { ...v, ...(v.token ? { token: `${v.token.slice(0, 8)}…` } : {}) }]));
        if (opts.json) return printJson({ active: settings.active ?? null, contexts: masked });
        const rows = Object.entries(masked).map(([name, c]) => [name === settings.active ? `* ${name}` : `  ${name}`, c.url, c.version, c.auth === 'x509' ? `x509 ${c.certFile}` : `token ${c.token ?? ''}`]);
        print(rows.length ? table(['CONTEXT', 'URL', 'API', 'AUTH'], rows) : 'no contexts: run skaha login <url>');
      } catch (err) {
        fail(err);
      }
    });
  config.command('path').description('where the config file is').action(() => print(settingsPath()));
  config
    .command('use')
    .description('make a context the active one')
    .argument('<context>')
    .action((name: string) => {
      try {
        const settings = loadSettings();
        if (!settings.contexts[name]) throw new UsageError(`no context named '${name}'`);
        settings.active = name;
        saveSettings(settings);
        print(`active context: ${name}`);
      } catch (err) {
        fail(err);
      }
    });
  config
    .command('remove')
    .alias('rm')
    .description('forget a context')
    .argument('<context>')
    .action((name: string) => {
      try {
        const settings = loadSettings();
        if (!settings.contexts[name]) throw new UsageError(`no context named '${name}'`);
        delete settings.contexts[name];
        if (settings.active === name) delete settings.active;
        saveSettings(settings);
        print(`removed ${name}`);
      } catch (err) {
        fail(err);
      }
    });
}
