import type { IncomingHttpHeaders } from 'node:http';
import type { Scope, User } from '../store/store.js';

/** Who is calling, and how they proved it. */
export interface Principal {
  user: User;
  method: 'token' | 'callback' | 'cookie' | 'password';
  /** What this credential may do (a token's own scopes; all of them for a logged-in browser). */
  scopes: ReadonlySet<Scope>;
  /** Callback tokens act for one desktop session only (spec §6.5). */
  sessionScope?: string;
}

/** What an authenticator may look at: the headers (Fastify requests and raw Node requests alike). */
export interface Credentials {
  headers: IncomingHttpHeaders;
}

/**
 * One way of proving identity (style.md: client-node's two-method authenticator). Tried in order;
 * the first that `matches` decides: a bad credential is a 401, never a fall-through.
 */
export interface Authenticator {
  readonly name: string;
  matches(req: Credentials): boolean;
  /** The principal, or undefined when the credential is not valid. */
  authenticate(req: Credentials): Promise<Principal | undefined>;
}

export async function authenticate(chain: Authenticator[], req: Credentials): Promise<Principal | undefined> {
  for (const authenticator of chain) {
    if (authenticator.matches(req)) return authenticator.authenticate(req);
  }
  return undefined;
}
