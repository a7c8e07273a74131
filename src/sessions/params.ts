import { badRequest, invalidValue } from '../common/errors.js';
import type { ResourceContext } from './context.js';
import type { Resources } from './model.js';
import type { ApiVersion } from './service.js';

/**
 * A cores/ram/gpus value: absent → undefined; v0 takes integers only, v1 decimals whose integer
 * part is checked (spec §3.5, §11.13). Not in the options → `Invalid value for '<name>': <v>`.
 */
export function parseOption(name: string, raw: string | undefined, options: number[], version: ApiVersion): number | undefined {
  if (raw === undefined || raw.trim() === '') return undefined;
  const value = raw.trim();
  const pattern = version === 'v0' ? /^\d+$/ : /^\d+(\.\d+)?$/;
  if (!pattern.test(value)) throw invalidValue(name, raw);
  const number = Number(value);
  if (!options.includes(Math.trunc(number))) throw invalidValue(name, raw);
  return number;
}

/** `KEY=VALUE` entries; others are dropped silently, as skaha does (spec §3.5, §11.14). */
export function parseEnv(entries: string[]): Array<[string, string]> {
  const env: Array<[string, string]> = [];
  for (const entry of entries) {
    const parts = entry.split('=');
    if (parts.length !== 2 || !parts[0] || !parts[1]) continue;
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(parts[0])) continue;
    env.push([parts[0], parts[1]]);
  }
  return env;
}

/** `x-skaha-registry-auth`: base64 of `username:secret`, exactly one ':' (spec §7). */
export function parseRegistryAuth(header: string, image: string): { username: string; password: string; serveraddress: string } {
  const decoded = Buffer.from(header.trim(), 'base64').toString('utf8');
  const parts = decoded.split(':');
  if (parts.length !== 2 || !parts[0] || !parts[1]) throw badRequest('Invalid input.  Must be in form of username:secret');
  return { username: parts[0], password: parts[1], serveraddress: image.split('/')[0] ?? '' };
}

/** Given cores and RAM are request = limit; absent ones take the context's defaults (spec §3.5). */
export function resourcesFrom(context: ResourceContext, cores: number | undefined, ram: number | undefined, gpus: number): Resources {
  return {
    coresRequest: cores ?? context.cores.defaultRequest,
    coresLimit: cores ?? context.cores.defaultLimit,
    ramRequestGiB: ram ?? context.memoryGB.defaultRequest,
    ramLimitGiB: ram ?? context.memoryGB.defaultLimit,
    gpus,
  };
}
