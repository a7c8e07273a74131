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

export interface ApiTokenInfo {
  id: string;
  username: string;
  name: string;
  createdAt: string;
}

/**
 * Durable platform state that is not session state (design.md: the backend owns sessions):
 * users, their uids/gids and groups, API tokens (hashes only). SQLite by default; the interface
 * is small so a PostgreSQL store can follow for multi-replica deployments (issue 9).
 */
export interface IdentityStore {
  /** The user, or undefined. Never creates. */
  findUser(username: string): User | undefined;
  /** The user, created with the next free uid when new. Idempotent and safe across processes. */
  ensureUser(username: string): User;
  /** Add the user to a shared group (created with the next free gid when new). Idempotent. */
  addToGroup(username: string, groupName: string): Group;
  /** Store a new token for the user; returns its secret, shown once. */
  createToken(username: string, name: string): { token: string; info: ApiTokenInfo };
  /** The owner of a token secret, or undefined when unknown. */
  userForToken(token: string): User | undefined;
  close(): void;
}
