import crypto from 'node:crypto';
import { promisify } from 'node:util';
import { SCOPES, type ApiTokenInfo, type Scope, type TokenOptions } from './store.js';

/*
 * What every IdentityStore does the same way, whatever keeps its rows: name rules, password
 * hashing, token secrets and their short-lived lookup cache. Kept here so the SQLite and
 * PostgreSQL stores cannot drift apart.
 */

const scrypt = promisify(crypto.scrypt) as (password: string, salt: Buffer, keylen: number, options: crypto.ScryptOptions) => Promise<Buffer>;
/** scrypt, memory-hard: N=2^15, r=8 (32 MiB per hash), p=1. */
const SCRYPT = { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 2 ** 20 };
const KEY_LENGTH = 32;

const USERNAME = /^[a-z_][a-z0-9_.-]{0,31}$/;

/** Token secrets carry a recognisable prefix (so leaked ones can be found by scanners). */
const TOKEN_PREFIX = 'skt_';
/** Login records' secrets live in cookies only; a different prefix tells them apart in a leak. */
export const LOGIN_PREFIX = 'skl_';

export function hashToken(token: string): string {
  return crypto.createHash('sha256').update(token).digest('hex');
}

/*
 * Names that Debian images already define (base-passwd, plus the daemons' own accounts): a
 * platform user or group called `root` or `www-data` would be a second entry of that name in the
 * container's /etc/passwd or /etc/group, and whatever looks it up by name (ls, id, sudo rules,
 * file ownership shown in a session) would mean the system's account instead.
 */
const SYSTEM_USERS = new Set([
  'root',
  'daemon',
  'bin',
  'sys',
  'sync',
  'games',
  'man',
  'lp',
  'mail',
  'news',
  'uucp',
  'proxy',
  'www-data',
  'backup',
  'list',
  'irc',
  'gnats',
  '_apt',
  'nobody',
  'messagebus',
  'sshd',
  'polkitd',
  'jovyan',
]);
const SYSTEM_GROUPS = new Set([
  ...SYSTEM_USERS,
  'adm',
  'tty',
  'disk',
  'kmem',
  'dialout',
  'fax',
  'voice',
  'cdrom',
  'floppy',
  'tape',
  'sudo',
  'audio',
  'dip',
  'operator',
  'src',
  'shadow',
  'utmp',
  'video',
  'sasl',
  'plugdev',
  'staff',
  'users',
  'nogroup',
  'input',
  'render',
  'sgx',
  'kvm',
  'netdev',
  'crontab',
  'ssh',
  'docker',
  'wheel',
]);
const isSystemName = (name: string, names: Set<string>) => names.has(name) || name.startsWith('systemd-');

export function validateUsername(username: string): string | undefined {
  if (!USERNAME.test(username)) {
    return `invalid username '${username}': use 1-32 lower-case letters, digits, '_', '.', '-', starting with a letter or '_'`;
  }
  return isSystemName(username, SYSTEM_USERS) ? `invalid username '${username}': it is a system account in the session images` : undefined;
}

export function validateGroupName(groupName: string): string | undefined {
  if (!USERNAME.test(groupName)) return validateUsername(groupName)?.replace('username', 'group name');
  return isSystemName(groupName, SYSTEM_GROUPS) ? `invalid group name '${groupName}': it is a system group in the session images` : undefined;
}

/** The stored form of a password: `scrypt$N$r$p$salt$key`. */
export async function hashPassword(password: string): Promise<string> {
  if (password.length < 8) throw new Error('a password needs at least 8 characters');
  const salt = crypto.randomBytes(16);
  const key = await scrypt(password, salt, KEY_LENGTH, SCRYPT);
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

/**
 * Whether `password` matches a stored hash. A missing hash (unknown user, or one without a
 * password) costs the same as a real one, so timing does not tell which names exist.
 */
export async function passwordMatches(stored: string | null | undefined, password: string): Promise<boolean> {
  const [scheme, n, r, p, salt, key] = (stored ?? `scrypt$${SCRYPT.N}$8$1$${Buffer.alloc(16).toString('base64')}$`).split('$');
  if (scheme !== 'scrypt' || !salt || key === undefined) return false;
  const expected = Buffer.from(key, 'base64');
  const actual = await scrypt(password, Buffer.from(salt, 'base64'), KEY_LENGTH, { N: Number(n), r: Number(r), p: Number(p), maxmem: SCRYPT.maxmem });
  return Boolean(stored) && expected.length === actual.length && crypto.timingSafeEqual(expected, actual);
}

/** A new token: its secret (shown once) and what is stored about it (the secret's hash only). */
export function newToken(username: string, name: string, options: TokenOptions = {}): { token: string; hash: string; info: ApiTokenInfo } {
  const scopes = options.scopes ?? ['read', 'launch'];
  if (scopes.length === 0 || scopes.some((s) => !SCOPES.includes(s))) throw new Error(`scopes are some of ${SCOPES.join(', ')}`);
  const token = (options.kind === 'login' ? LOGIN_PREFIX : TOKEN_PREFIX) + crypto.randomBytes(32).toString('base64url');
  const info: ApiTokenInfo = {
    id: crypto.randomUUID(),
    username,
    name,
    scopes: [...new Set(scopes)],
    createdAt: new Date().toISOString(),
    expiresAt: options.expiresAt ? options.expiresAt.toISOString() : null,
  };
  return { token, hash: hashToken(token), info };
}

/** A token row as both stores read it (times as ISO strings; scopes a comma list). */
export interface TokenRow {
  username: string;
  uid?: number;
  id: string;
  name: string;
  scopes: string;
  created_at: string;
  expires_at: string | null;
}

export function tokenInfo(row: TokenRow): ApiTokenInfo {
  return {
    id: row.id,
    username: row.username,
    name: row.name,
    scopes: row.scopes.split(',').filter((s): s is Scope => (SCOPES as readonly string[]).includes(s)),
    createdAt: row.created_at,
    expiresAt: row.expires_at,
  };
}

/** How long a token lookup is remembered, and how many are, at most. */
const TOKEN_CACHE_MS = 5000;
const TOKEN_CACHE_MAX = 10_000;
/** Last use is recorded at most this often per token: never a write per request. */
const TOUCH_EVERY_MS = 60_000;

/**
 * Every proxied request authenticates: a token's row (or its absence) is remembered for a few
 * seconds (the proxy benchmark's profile put this lookup at 15% of its CPU). A revocation made
 * through this process applies at once (`clear`); one made by another process (skaha admin,
 * another server) within TOKEN_CACHE_MS.
 */
export class TokenCache {
  private readonly rows = new Map<string, { at: number; row: (TokenRow & { uid: number }) | undefined }>();
  private readonly lastTouch = new Map<string, number>();

  async lookup(hash: string, now: number, load: () => Promise<(TokenRow & { uid: number }) | undefined>): Promise<(TokenRow & { uid: number }) | undefined> {
    const cached = this.rows.get(hash);
    if (cached && now - cached.at < TOKEN_CACHE_MS) return cached.row;
    const row = await load();
    if (this.rows.size >= TOKEN_CACHE_MAX) this.rows.clear();
    this.rows.set(hash, { at: now, row });
    return row;
  }

  /** True (and remembered) when the token's last use is due to be written. */
  touchDue(id: string, now: number): boolean {
    if ((this.lastTouch.get(id) ?? 0) >= now - TOUCH_EVERY_MS) return false;
    if (this.lastTouch.size >= TOKEN_CACHE_MAX) this.lastTouch.clear();
    this.lastTouch.set(id, now);
    return true;
  }

  clear(): void {
    this.rows.clear();
  }
}
