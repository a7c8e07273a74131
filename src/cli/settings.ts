import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ClientError, parseServerUrl, type Connection } from './client.js';

/** How an OIDC context renews its access token (`skaha login URL --oidc`). */
export interface OidcGrant {
  issuer: string;
  /** The public client the tokens were issued to; a refresh must use the same one. */
  clientId: string;
  /** RFC 8707 resource the tokens are for (the server's audience, when it is a URL). */
  resource?: string;
  refreshToken?: string;
  /** When the access token (`token`) expires, in milliseconds since the epoch; absent: unknown. */
  expiresAtMs?: number;
}

/** One server the CLI knows, as stored in the config file. */
export interface ContextEntry {
  url: string;
  version: 'v0' | 'v1';
  /** token: an API or bearer token; x509: a PEM; oidc: `token` is an access token renewed by `oidc`. */
  auth: 'token' | 'x509' | 'oidc';
  token?: string;
  certFile?: string;
  caFile?: string;
  oidc?: OidcGrant;
}

interface CliSettings {
  active?: string;
  contexts: Record<string, ContextEntry>;
}

/** `$XDG_CONFIG_HOME/skaha/config.json` (default ~/.config/skaha/config.json). */
export function settingsPath(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CONFIG_HOME || path.join(env.HOME || os.homedir(), '.config');
  return path.join(base, 'skaha', 'config.json');
}

export function loadSettings(file = settingsPath()): CliSettings {
  try {
    const parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<CliSettings>;
    return { ...(parsed.active ? { active: parsed.active } : {}), contexts: parsed.contexts ?? {} };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { contexts: {} };
    throw new ClientError(`cannot read ${file}: ${(err as Error).message}`, 0);
  }
}

/** Written 0600 in a 0700 directory: it holds tokens. */
function saveSettings(settings: CliSettings, file = settingsPath()): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  // A directory made earlier by hand (or by an older version) may be readable by others.
  fs.chmodSync(path.dirname(file), 0o700);
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(settings, null, 2) + '\n', { mode: 0o600 });
  fs.chmodSync(tmp, 0o600);
  fs.renameSync(tmp, file);
}

const LOCK_WAIT_MS = 15_000;
/** A lock older than this was left by a process that died while holding it. */
const LOCK_STALE_MS = 30_000;

/**
 * Read, change and write the config file under a lock file. Two commands refreshing the same
 * OIDC context at once would otherwise both spend its refresh token; issuers that rotate refresh
 * tokens accept only the first, and the loser's write could replace the winner's new token.
 */
export async function updateSettings<T>(change: (settings: CliSettings) => T | Promise<T>, file = settingsPath()): Promise<T> {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const lock = `${file}.lock`;
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      fs.closeSync(fs.openSync(lock, 'wx', 0o600));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new ClientError(`cannot lock ${file}: ${(err as Error).message}`, 0);
      const age = Date.now() - (fs.statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
      if (age > LOCK_STALE_MS) fs.rmSync(lock, { force: true });
      else if (Date.now() > deadline) throw new ClientError(`${lock} is held by another skaha command; remove it if none is running`, 0);
      else await new Promise((r) => setTimeout(r, 100));
    }
  }
  try {
    const settings = loadSettings(file);
    const result = await change(settings);
    saveSettings(settings, file);
    return result;
  } finally {
    fs.rmSync(lock, { force: true });
  }
}

/** The named context, or the active one; throws the one-line error telling how to add one. */
export function selectContext(opts: { context?: string | undefined }, env: NodeJS.ProcessEnv = process.env): { name: string; entry: ContextEntry } {
  const settings = loadSettings(settingsPath(env));
  const name = opts.context ?? settings.active;
  const entry = name ? settings.contexts[name] : undefined;
  if (!name || !entry) {
    throw new ClientError(
      name
        ? `no context named '${name}' (see: skaha config show)`
        : 'no server configured: run `skaha login <url> --token <token>` (or --oidc), or set SKAHA_URL and SKAHA_TOKEN',
      0,
    );
  }
  return { name, entry };
}

export function connectionOf(entry: ContextEntry): Connection {
  return {
    url: entry.url,
    version: entry.version,
    ...((entry.auth === 'token' || entry.auth === 'oidc') && entry.token ? { token: entry.token } : {}),
    ...(entry.auth === 'x509' && entry.certFile ? { certFile: entry.certFile } : {}),
    ...(entry.caFile ? { caFile: entry.caFile } : {}),
  };
}

/**
 * `--context NAME` names a context of the config file on purpose, so it wins over SKAHA_URL; a
 * token or certificate in the environment without SKAHA_URL says nothing of which server it is
 * for, so it is refused rather than sent to the active context's server.
 */
export function environmentUrl(opts: { context?: string | undefined }, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (opts.context) return undefined;
  if (!env.SKAHA_URL && (env.SKAHA_TOKEN || env.SKAHA_CERTIFICATE)) {
    throw new ClientError(
      `${env.SKAHA_TOKEN ? 'SKAHA_TOKEN' : 'SKAHA_CERTIFICATE'} is set but SKAHA_URL is not: set SKAHA_URL to the server it is for, or unset it to use the config file`,
      0,
    );
  }
  return env.SKAHA_URL || undefined;
}

/**
 * The connection to use: SKAHA_URL with SKAHA_TOKEN or SKAHA_CERTIFICATE (as the Python client
 * names them) and SKAHA_CA, unless --context names a context; else the active context of the
 * config file. An OIDC context's token is taken as stored; `openConnection` (oidc.ts) refreshes
 * it first.
 */
export function resolveConnection(opts: { context?: string | undefined }, env: NodeJS.ProcessEnv = process.env): Connection {
  const fromEnvironment = environmentUrl(opts, env);
  if (fromEnvironment) {
    const { url, version } = parseServerUrl(fromEnvironment);
    return {
      url,
      version: (env.SKAHA_API_VERSION as 'v0' | 'v1' | undefined) ?? version ?? 'v0',
      ...(env.SKAHA_TOKEN ? { token: env.SKAHA_TOKEN } : {}),
      ...(!env.SKAHA_TOKEN && env.SKAHA_CERTIFICATE ? { certFile: env.SKAHA_CERTIFICATE } : {}),
      ...(env.SKAHA_CA ? { caFile: env.SKAHA_CA } : {}),
    };
  }
  return connectionOf(selectContext(opts, env).entry);
}
