import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ClientError, parseServerUrl, type Connection } from './client.js';

/** One server the CLI knows, as stored in the config file. */
export interface ContextEntry {
  url: string;
  version: 'v0' | 'v1';
  auth: 'token' | 'x509';
  token?: string;
  certFile?: string;
  caFile?: string;
}

export interface CliSettings {
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
export function saveSettings(settings: CliSettings, file = settingsPath()): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(settings, null, 2) + '\n', { mode: 0o600 });
  fs.chmodSync(tmp, 0o600);
  fs.renameSync(tmp, file);
}

/**
 * The connection to use: SKAHA_URL with SKAHA_TOKEN or SKAHA_CERTIFICATE when set (as the Python
 * client names them), else the named or active context of the config file.
 */
export function resolveConnection(opts: { context?: string | undefined }, env: NodeJS.ProcessEnv = process.env): Connection {
  if (env.SKAHA_URL) {
    const { url, version } = parseServerUrl(env.SKAHA_URL);
    return {
      url,
      version: (env.SKAHA_API_VERSION as 'v0' | 'v1' | undefined) ?? version ?? 'v0',
      ...(env.SKAHA_TOKEN ? { token: env.SKAHA_TOKEN } : {}),
      ...(!env.SKAHA_TOKEN && env.SKAHA_CERTIFICATE ? { certFile: env.SKAHA_CERTIFICATE } : {}),
    };
  }
  const settings = loadSettings(settingsPath(env));
  const name = opts.context ?? settings.active;
  const entry = name ? settings.contexts[name] : undefined;
  if (!entry) {
    throw new ClientError(
      name ? `no context named '${name}' (see: skaha config show)` : 'no server configured: run `skaha login <url> --token <token>`, or set SKAHA_URL and SKAHA_TOKEN',
      0,
    );
  }
  return {
    url: entry.url,
    version: entry.version,
    ...(entry.auth === 'token' && entry.token ? { token: entry.token } : {}),
    ...(entry.auth === 'x509' && entry.certFile ? { certFile: entry.certFile } : {}),
    ...(entry.caFile ? { caFile: entry.caFile } : {}),
  };
}
