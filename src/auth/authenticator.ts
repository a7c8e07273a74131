import type { FastifyRequest } from 'fastify';
import type { User } from '../store/store.js';

/** Who is calling, and how they proved it. */
export interface Principal {
  user: User;
  method: 'token' | 'callback';
  /** Callback tokens act for one desktop session only (spec §6.5). */
  sessionScope?: string;
}

/**
 * One way of proving identity (style.md: client-node's two-method authenticator). Tried in order;
 * the first that `matches` decides: a bad credential is a 401, never a fall-through.
 */
export interface Authenticator {
  readonly name: string;
  matches(req: FastifyRequest): boolean;
  /** The principal, or undefined when the credential is not valid. */
  authenticate(req: FastifyRequest): Promise<Principal | undefined>;
}

export async function authenticate(chain: Authenticator[], req: FastifyRequest): Promise<Principal | undefined> {
  for (const authenticator of chain) {
    if (authenticator.matches(req)) return authenticator.authenticate(req);
  }
  return undefined;
}
