import type { IdentityStore } from '../store/store.js';
import type { Authenticator, Credentials, Principal } from './authenticator.js';

/** `Authorization: Bearer <api token>`; only the token's hash is stored. */
export class BearerTokenAuthenticator implements Authenticator {
  readonly name = 'token';

  constructor(private readonly store: IdentityStore) {}

  matches(req: Credentials): boolean {
    return /^bearer\s+/i.test(req.headers.authorization ?? '');
  }

  async authenticate(req: Credentials): Promise<Principal | undefined> {
    const token = (req.headers.authorization ?? '').replace(/^bearer\s+/i, '').trim();
    if (!token) return undefined;
    const found = await this.store.userForToken(token);
    return found ? { user: found.user, method: 'token', scopes: new Set(found.token.scopes) } : undefined;
  }
}
