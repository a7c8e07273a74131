import crypto from 'node:crypto';
import { loadOrCreateKey } from './keys.js';
import type { IdentityStore } from '../store/store.js';
import type { Authenticator, Credentials, Principal } from './authenticator.js';

const CALLBACK_HEADER = 'x-auth-token-skaha';

/**
 * Desktop callback tokens (spec §6.5): minted at desktop launch, given to the desktop container
 * as DESKTOP_SESSION_APP_TOKEN, accepted on anonymous requests. Ours is `<sessionID>~<HMAC>`
 * with a key kept in the data directory: unforgeable, and only good for that one session.
 */
export class CallbackTokens {
  private readonly key: Buffer;

  constructor(dataDir: string) {
    this.key = loadOrCreateKey(dataDir, 'callback');
  }

  mint(sessionId: string): string {
    return `${sessionId}~${this.sign(sessionId)}`;
  }

  /** The session the token grants, or undefined. */
  verify(token: string): string | undefined {
    const [sessionId, signature] = token.split('~');
    if (!sessionId || !signature) return undefined;
    const expected = Buffer.from(this.sign(sessionId));
    const given = Buffer.from(signature);
    return expected.length === given.length && crypto.timingSafeEqual(expected, given) ? sessionId : undefined;
  }

  private sign(sessionId: string): string {
    return crypto.createHmac('sha256', this.key).update(`WriteGrant:${sessionId}`).digest('base64url');
  }
}

/** Resolves a callback token to the owner of its desktop session. */
export class CallbackAuthenticator implements Authenticator {
  readonly name = 'callback';

  constructor(
    private readonly tokens: CallbackTokens,
    private readonly ownerOf: (sessionId: string) => string | undefined,
    private readonly store: IdentityStore,
  ) {}

  matches(req: Credentials): boolean {
    return !req.headers.authorization && typeof req.headers[CALLBACK_HEADER] === 'string';
  }

  async authenticate(req: Credentials): Promise<Principal | undefined> {
    const sessionId = this.tokens.verify(String(req.headers[CALLBACK_HEADER]));
    if (!sessionId) return undefined;
    const owner = this.ownerOf(sessionId);
    const user = owner ? await this.store.findUser(owner) : undefined;
    return user ? { user, method: 'callback', sessionScope: sessionId, scopes: new Set(['read', 'launch'] as const) } : undefined;
  }
}
