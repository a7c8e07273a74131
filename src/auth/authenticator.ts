import type { IncomingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import type { Scope, User } from '../store/store.js';

/** Who is calling, and how they proved it. */
export interface Principal {
  user: User;
  method: 'x509' | 'oidc' | 'token' | 'callback' | 'cookie';
  /** What this credential may do (a token's own scopes; all of them for a logged-in browser). */
  scopes: ReadonlySet<Scope>;
  /** Callback tokens act for one desktop session only (spec §6.5). */
  sessionScope?: string;
}

/** What an authenticator may look at: the headers (Fastify requests and raw Node requests alike). */
export interface Credentials {
  headers: IncomingHttpHeaders;
  /** The connection: a TLS socket carries client certificates. */
  socket?: Socket;
}

/** A credential that was sent but not accepted, and why (the 401's message). */
export interface Refusal {
  refused: string;
}

/**
 * One way of proving identity (style.md: client-node's two-method authenticator). Tried in order;
 * the first that `matches` decides: a bad credential is a 401, never a fall-through.
 */
export interface Authenticator {
  readonly name: string;
  matches(req: Credentials): boolean;
  /** The principal; a refusal with its reason, or undefined, when the credential is not valid. */
  authenticate(req: Credentials): Promise<Principal | Refusal | undefined>;
}

/**
 * Who the request's credential proves, from the first authenticator that recognises it: a
 * principal, or nothing, with the reason when a credential was sent and refused.
 */
export async function authenticate(chain: Authenticator[], req: Credentials): Promise<{ principal?: Principal; refused?: string }> {
  for (const authenticator of chain) {
    if (!authenticator.matches(req)) continue;
    const verdict = await authenticator.authenticate(req);
    if (verdict === undefined) return {};
    return 'refused' in verdict ? { refused: verdict.refused } : { principal: verdict };
  }
  return {};
}
