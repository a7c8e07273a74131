import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import type { Group, IdentityStore, User } from '../../store/store.js';
import { validateGroupName, validateUsername } from '../../store/shared.js';
import type { Authenticator, Credentials, Principal, Refusal } from '../authenticator.js';

interface OidcOptions {
  issuer: string;
  /** Expected `aud` of access tokens. */
  audience: string;
  usernameClaim: string;
  groupsClaim: string;
  clockToleranceSeconds: number;
}

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** The issuer's discovery document, the part we use. */
interface Discovery {
  issuer: string;
  jwks_uri: string;
  authorization_endpoint?: string;
  token_endpoint?: string;
}

async function discover(issuer: string): Promise<Discovery> {
  const url = `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  if (!res.ok) throw new Error(`OIDC discovery ${url}: HTTP ${res.status}`);
  const doc = (await res.json()) as Discovery;
  if (doc.issuer !== issuer) throw new Error(`OIDC discovery ${url}: issuer is ${doc.issuer}, expected ${issuer}`);
  return doc;
}

/** Username and groups from validated claims, as the operator configured the claim names. */
export function identityFromClaims(
  claims: JWTPayload,
  opts: Pick<OidcOptions, 'usernameClaim' | 'groupsClaim'>,
): { username: string; groups: string[] } | { problem: string } {
  const username = claims[opts.usernameClaim];
  if (typeof username !== 'string' || validateUsername(username)) return { problem: `claim ${opts.usernameClaim} is not a valid username` };
  const raw = claims[opts.groupsClaim];
  const groups = Array.isArray(raw) ? raw.filter((g): g is string => typeof g === 'string' && !validateGroupName(g)) : [];
  return { username, groups };
}

/** The user with their local groups and those the token carries (gids allocated on first sight). */
export async function withTokenGroups(store: IdentityStore, username: string, groups: string[]): Promise<User> {
  const user = await store.ensureUser(username);
  const merged = new Map<string, Group>(user.groups.map((g) => [g.name, g]));
  for (const name of groups) if (!merged.has(name)) merged.set(name, await store.ensureGroup(name));
  return { ...user, groups: [...merged.values()].sort((a, b) => a.gid - b.gid) };
}

/**
 * Bearer JWTs from an OIDC issuer, validated against its discovery document and JWKS (issuer,
 * audience, expiry with a clock tolerance, signature). Matches JWT-shaped bearer tokens only,
 * so the platform's own API tokens (`skt_...`) go to the next authenticator.
 */
export class OidcBearerAuthenticator implements Authenticator {
  readonly name = 'oidc';
  private keys: Promise<ReturnType<typeof createRemoteJWKSet>> | undefined;

  constructor(
    private readonly opts: OidcOptions,
    private readonly store: IdentityStore,
  ) {}

  matches(req: Credentials): boolean {
    const header = req.headers.authorization ?? '';
    return /^bearer\s+/i.test(header) && JWT_SHAPE.test(header.replace(/^bearer\s+/i, '').trim());
  }

  async authenticate(req: Credentials): Promise<Principal | Refusal | undefined> {
    const token = (req.headers.authorization ?? '').replace(/^bearer\s+/i, '').trim();
    this.keys ??= discover(this.opts.issuer)
      .then((doc) => createRemoteJWKSet(new URL(doc.jwks_uri)))
      .catch((err: Error) => {
        this.keys = undefined;
        throw err;
      });
    let claims: JWTPayload;
    try {
      ({ payload: claims } = await jwtVerify(token, await this.keys, {
        issuer: this.opts.issuer,
        audience: this.opts.audience,
        clockTolerance: this.opts.clockToleranceSeconds,
      }));
    } catch (err) {
      const reason =
        err instanceof joseErrors.JWTExpired
          ? 'expired'
          : err instanceof joseErrors.JWTClaimValidationFailed
            ? `${err.claim} is not accepted`
            : err instanceof joseErrors.JWSSignatureVerificationFailed || err instanceof joseErrors.JWKSNoMatchingKey
              ? 'signature not valid for this issuer'
              : (err as Error).message;
      return { refused: `OIDC token not accepted: ${reason}` };
    }
    const identity = identityFromClaims(claims, this.opts);
    if ('problem' in identity) {
      return { refused: `OIDC token not accepted: ${identity.problem}` };
    }
    return { user: await withTokenGroups(this.store, identity.username, identity.groups), method: 'oidc', scopes: new Set(['read', 'launch', 'admin']) };
  }
}
