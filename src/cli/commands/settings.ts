import fs from 'node:fs';
import { Command, Option } from 'commander';
import { ClientError, parseServerUrl, SkahaClient } from '../client.js';
import { relativeTime, table } from '../format.js';
import { oidcLogin, type LoginMethod } from '../oidc.js';
import { fail, print, printJson, readStdin, UsageError } from '../run.js';
import { loadSettings, settingsPath, updateSettings, type ContextEntry } from '../settings.js';

interface LoginOptions {
  token?: string;
  tokenStdin?: boolean;
  cert?: string;
  oidc?: boolean;
  device?: boolean;
  browser?: boolean;
  open: boolean;
  ca?: string;
  api?: 'v0' | 'v1';
  name?: string;
}

const LOGIN_HELP = `
With --oidc the server names its OIDC issuer and a public client (GET /auth/oidc), and you log in
there; the context keeps the access token, the refresh token and the expiry, and later commands
renew the access token by themselves. When that fails: "session expired: run skaha login again".
  --device   prints a URL and a code to enter in any browser, on any machine (good over SSH)
  --browser  opens a browser here, which comes back to http://127.0.0.1:<port>/callback
  (neither: --device over SSH or without a display, --browser otherwise)
--no-open (or SKAHA_NO_BROWSER=1) prints the browser flow's URL instead of opening it.
An HTTPS issuer with a private CA needs NODE_EXTRA_CA_CERTS=<pem>.

Examples:
  skaha login http://127.0.0.1:8555 --token skt_...
  skaha admin token create alice | tail -1 | skaha login http://127.0.0.1:8555 --token-stdin
  skaha login https://ws-uv.canfar.net/skaha --cert ~/.ssl/cadcproxy.pem
  skaha login https://skaha.example.org --oidc
  skaha login https://skaha.example.org --oidc --device
  skaha login https://skaha.example.org --oidc --browser --no-open`;

/** A context entry for `opts`, by the credential chosen; OIDC runs its login flow here. */
async function newEntry(rawUrl: string, opts: LoginOptions): Promise<{ entry: ContextEntry; via?: string }> {
  const { url, version: fromUrl } = parseServerUrl(rawUrl);
  const version = opts.api ?? fromUrl ?? 'v0';
  const ca = opts.ca ? { caFile: opts.ca } : {};
  if (opts.oidc || opts.device || opts.browser) {
    const how: LoginMethod | undefined = opts.device ? 'device' : opts.browser ? 'browser' : undefined;
    const client = new SkahaClient({ url, version, ...ca });
    let offer;
    try {
      offer = await client.oidcOffer();
    } finally {
      client.close();
    }
    const open = opts.open && !process.env.SKAHA_NO_BROWSER;
    const login = await oidcLogin(offer, how, open);
    return { entry: { url, version, auth: 'oidc', token: login.token, oidc: login.oidc, ...ca }, via: `${new URL(offer.issuer).host} (${login.method} flow)` };
  }
  const token = opts.tokenStdin ? (await readStdin()).trim() : opts.token;
  if (!token && !opts.cert) throw new UsageError('give --token, --token-stdin, --cert or --oidc');
  if (opts.cert && !fs.existsSync(opts.cert)) throw new UsageError(`no such file: ${opts.cert}`);
  return { entry: { url, version, auth: token ? 'token' : 'x509', ...(token ? { token } : { certFile: opts.cert! }), ...ca } };
}

function authColumn(c: ContextEntry): string {
  if (c.auth === 'x509') return `x509 ${c.certFile}`;
  if (c.auth === 'oidc') {
    const expiry = c.oidc?.expiresAtMs ? `, token expires ${relativeTime(new Date(c.oidc.expiresAtMs).toISOString())}` : '';
    return `oidc ${c.oidc?.issuer ?? ''}${c.oidc?.refreshToken ? '' : ' (no refresh token)'}${expiry}`;
  }
  return `token ${c.token ?? ''}`;
}

export function settingsCommands(program: Command): void {
  program
    .command('login')
    .description('remember a server and how to authenticate to it (token, X.509 PEM, or OIDC), and make it the active context')
    .argument('<url>', 'server URL, with or without /skaha/v0')
    .addOption(new Option('--token <token>', 'an API token (or --token-stdin)').conflicts(['cert', 'oidc', 'device', 'browser']))
    .addOption(new Option('--token-stdin', 'read the token from standard input').conflicts(['token', 'cert', 'oidc', 'device', 'browser']))
    .addOption(new Option('--cert <pem>', 'X.509 PEM with certificate and key, e.g. ~/.ssl/cadcproxy.pem').conflicts(['oidc', 'device', 'browser']))
    .option('--oidc', "log in with the server's OIDC issuer (see below)")
    .addOption(new Option('--device', 'OIDC device flow: a URL and a code to enter in any browser').conflicts('browser'))
    .option('--browser', 'OIDC browser flow with a loopback redirect to this machine')
    .option('--no-open', "print the browser flow's URL instead of opening a browser")
    .option('--ca <pem>', 'CA bundle to verify the server with')
    .addOption(new Option('--api <version>', 'API version').choices(['v0', 'v1']))
    .option('--name <context>', "context name (default: the server's host)")
    .addHelpText('after', LOGIN_HELP)
    .action(async (rawUrl: string, opts: LoginOptions) => {
      try {
        const { entry, via } = await newEntry(rawUrl, opts);
        // Check it works before remembering it.
        const client = new SkahaClient({ url: entry.url, version: entry.version, token: entry.token, certFile: entry.certFile, caFile: entry.caFile });
        let username: string | undefined;
        try {
          await client.context();
          if (entry.auth === 'oidc') username = await client.whoami();
        } finally {
          client.close();
        }
        const name = opts.name ?? new URL(entry.url).host;
        await updateSettings((settings) => {
          settings.contexts[name] = entry;
          settings.active = name;
        });
        print(
          via
            ? `logged in to ${entry.url} (${entry.version})${username ? ` as ${username}` : ''} through ${via}; context '${name}' saved in ${settingsPath()}`
            : `logged in to ${entry.url} (${entry.version}) as context '${name}'; saved in ${settingsPath()}`,
        );
      } catch (err) {
        fail(err instanceof ClientError || err instanceof UsageError ? err : new Error((err as Error).message));
      }
    });

  const config = program
    .command('config')
    .description("the CLI's contexts (servers and credentials)")
    .addHelpText(
      'after',
      `
Contexts live in $XDG_CONFIG_HOME/skaha/config.json (default ~/.config/skaha/config.json), mode
0600. Each has a URL, an API version and one credential: an API token, an X.509 PEM, or OIDC
tokens from \`skaha login URL --oidc\` (access token, refresh token, expiry; renewed when they
expire). SKAHA_URL with SKAHA_TOKEN or SKAHA_CERTIFICATE overrides the file.

Examples:
  skaha config show
  skaha config use ws-uv.canfar.net
  skaha --context 127.0.0.1:8555 ps
  skaha config remove old.example.org`,
    );
  config
    .command('show')
    .alias('ls')
    .description('list contexts (tokens masked)')
    .option('--json', 'print as JSON (tokens masked)')
    .addHelpText('after', '\nExamples:\n  skaha config show\n  skaha config show --json | jq -r .active')
    .action((opts: { json?: boolean }) => {
      try {
        const settings = loadSettings();
        const mask = (secret: string) => `${secret.slice(0, 8)}…`;
        const masked = Object.fromEntries(
          Object.entries(settings.contexts).map(([k, v]) => [
            k,
            {
              ...v,
              ...(v.token ? { token: mask(v.token) } : {}),
              ...(v.oidc?.refreshToken ? { oidc: { ...v.oidc, refreshToken: mask(v.oidc.refreshToken) } } : {}),
            },
          ]),
        );
        if (opts.json) return printJson({ active: settings.active ?? null, contexts: masked });
        const rows = Object.entries(masked).map(([name, c]) => [name === settings.active ? `* ${name}` : `  ${name}`, c.url, c.version, authColumn(c)]);
        print(rows.length ? table(['CONTEXT', 'URL', 'API', 'AUTH'], rows) : 'no contexts: run skaha login <url>');
      } catch (err) {
        fail(err);
      }
    });
  config
    .command('path')
    .description('where the config file is')
    .addHelpText('after', '\nExample:\n  chmod 600 "$(skaha config path)"')
    .action(() => print(settingsPath()));
  config
    .command('use')
    .description('make a context the active one')
    .argument('<context>')
    .addHelpText('after', '\nExample:\n  skaha config use ws-uv.canfar.net')
    .action(async (name: string) => {
      try {
        await updateSettings((settings) => {
          if (!settings.contexts[name]) throw new UsageError(`no context named '${name}'`);
          settings.active = name;
        });
        print(`active context: ${name}`);
      } catch (err) {
        fail(err);
      }
    });
  config
    .command('remove')
    .alias('rm')
    .description('forget a context (and its tokens)')
    .argument('<context>')
    .addHelpText('after', '\nExample:\n  skaha config remove old.example.org')
    .action(async (name: string) => {
      try {
        await updateSettings((settings) => {
          if (!settings.contexts[name]) throw new UsageError(`no context named '${name}'`);
          delete settings.contexts[name];
          if (settings.active === name) delete settings.active;
        });
        print(`removed ${name}`);
      } catch (err) {
        fail(err);
      }
    });
}
