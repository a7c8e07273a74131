/** A platform user: the POSIX identity every one of their containers runs as. */
export interface User {
  username: string;
  uid: number;
  /** Personal group, equal to the uid (spec §6.3: runAsGroup = runAsUser). */
  gid: number;
  /** Supplemental groups, by gid. */
  groups: Group[];
}

export interface Group {
  name: string;
  gid: number;
}

/**
 * What a credential may do: `read` (GET), `launch` (create, renew, delete sessions and apps),
 * `admin` (other users' sessions; also needs the admins group).
 */
export const SCOPES = ['read', 'launch', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

export interface ApiTokenInfo {
  id: string;
  username: string;
  name: string;
  scopes: Scope[];
  createdAt: string;
  /** ISO time, or null for a token that does not expire. */
  expiresAt: string | null;
}

export interface TokenOptions {
  scopes?: Scope[];
  /** Absolute expiry; undefined: never. */
  expiresAt?: Date;
  /**
   * `login`: the record behind a browser's login cookie (not listed among the user's API tokens;
   * ended by logout, a password change, `skaha admin user logout`, or its parent's revocation).
   */
  kind?: 'api' | 'login';
  /** The token this one was made from (a login with an API token): revoking it ends this one too. */
  parentId?: string;
}

/**
 * Durable platform state that is not session state (design.md: the backend owns sessions):
 * users, their uids/gids, groups and passwords (hashed), API tokens (hashes only). SQLite by
 * default (one server); PostgreSQL when several servers share it (issue 9). Every method is
 * asynchronous so a network database fits; one that cannot reach its database rejects with a
 * SkahaError SKAHA_ERR_BACKEND_UNAVAILABLE (503).
 */
export interface IdentityStore {
  /** The user, or undefined. Never creates. */
  findUser(username: string): Promise<User | undefined>;
  /** The user, created with the next free uid when new. Idempotent and safe across processes and servers. */
  ensureUser(username: string): Promise<User>;
  /** The shared group, created with the next free gid when new. Idempotent. */
  ensureGroup(groupName: string): Promise<Group>;
  /** Add the user to a shared group (created with the next free gid when new). Idempotent. */
  addToGroup(username: string, groupName: string): Promise<Group>;
  /** Set (or replace) the user's password; creates the user if new. Stored as a scrypt hash. */
  setPassword(username: string, password: string): Promise<void>;
  /** The user if the password is theirs; undefined otherwise (also for users without one). */
  verifyPassword(username: string, password: string): Promise<User | undefined>;
  /** Store a new token for the user; returns its secret, shown once. */
  createToken(username: string, name: string, options?: TokenOptions): Promise<{ token: string; info: ApiTokenInfo }>;
  /** The owner and scopes of a token secret; undefined when unknown, revoked or expired. */
  userForToken(token: string): Promise<{ user: User; token: ApiTokenInfo } | undefined>;
  /** The user's API tokens, not their browser logins. */
  listTokens(username: string): Promise<ApiTokenInfo[]>;
  /** Revoke one of the user's tokens, and what was made from it; false when they have no such token. */
  revokeToken(username: string, id: string): Promise<boolean>;
  /** End every browser login of the user (also done by setPassword); how many were ended. */
  endLogins(username: string): Promise<number>;
  close(): Promise<void>;
}

export interface RegistryCredential {
  username: string;
  password: string;
}

export interface StoredCredentialInfo {
  host: string;
  username: string;
  updatedAt: string;
}

/**
 * Users' registry credentials for private images (spec §7), so a launch needs no
 * x-skaha-registry-auth header each time. Kept next to the identity store (the same SQLite file
 * or PostgreSQL database), the secret sealed (sealing.ts) so the database alone does not reveal it.
 */
export interface RegistryCredentials {
  set(owner: string, host: string, credential: RegistryCredential): Promise<void>;
  /** The credential for pulling from `host`, or undefined (also when it cannot be unsealed). */
  get(owner: string, host: string): Promise<RegistryCredential | undefined>;
  list(owner: string): Promise<StoredCredentialInfo[]>;
  /** False when there was nothing stored for that host. */
  delete(owner: string, host: string): Promise<boolean>;
  close(): Promise<void>;
}
