import type {} from '@fastify/swagger'; // adds tags/summary/hide to route schemas
import type { CachedCatalog } from '../catalog/catalog.js';
import type { Principal } from '../auth/authenticator.js';
import type { ResourceContext } from '../sessions/context.js';
import type { ApiVersion, SessionService } from '../sessions/service.js';
import type { StorageLayout } from '../sessions/recipes.js';
import { forbidden, SkahaError } from '../common/errors.js';
import type { FastifyRequest } from 'fastify';
import { isAdmin, type AuthorizationPolicy } from '../auth/authorize.js';

/** What the API routes need; built once by the server. */
export interface ApiDeps {
  service: SessionService;
  catalog: CachedCatalog;
  context: () => ResourceContext;
  registryHosts: string[];
  /** The platform's own base URL (publicUrl). */
  baseUrl: () => string;
  /** Base of a session's connect URL (spec §4.3): its own origin (proxy/origins.ts). */
  sessionBase: (sessionId: string) => string;
  layout: StorageLayout;
  policy: AuthorizationPolicy;
}

export interface VersionOptions {
  version: ApiVersion;
  deps: ApiDeps;
}

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
  interface FastifyContextConfig {
    /** A route under an authenticated prefix (/auth) that callers reach before they have a credential. */
    anonymous?: boolean;
  }
}

/** The authenticated caller (the auth hook has run for every /skaha/v* route). */
export function principalOf(req: FastifyRequest): Principal {
  if (!req.principal) throw new SkahaError('SKAHA_ERR_UNAUTHENTICATED', 'Unauthorized');
  return req.principal;
}

/**
 * A desktop callback token may only list images, read the context and manage the apps of its
 * own desktop (spec §6.5); everything else needs the user's own credential.
 */
export function requireUserOrDesktop(req: FastifyRequest, desktopId?: string): Principal {
  const principal = principalOf(req);
  if (principal.method === 'callback' && (desktopId === undefined || principal.sessionScope !== desktopId)) {
    throw forbidden('the desktop callback token is not valid for this request');
  }
  return principal;
}

export function requireUser(req: FastifyRequest): Principal {
  const principal = principalOf(req);
  if (principal.method === 'callback') throw forbidden('the desktop callback token is not valid for this request');
  return principal;
}

/** view=all shows every user's sessions: administrators only (issue 3). */
export function requireAdmin(req: FastifyRequest, policy: AuthorizationPolicy): Principal {
  const principal = requireUser(req);
  if (!isAdmin(principal, policy)) throw forbidden('Not authorized to view all sessions: administrators only');
  return principal;
}
