import { backendRefused, backendUnavailable, SkahaError } from '../../common/errors.js';
import { describe } from './informer.js';

/** HTTP status of a client-node ApiException (or a watch error), if the API server answered. */
export function statusOf(err: unknown): number | undefined {
  const e = err as { code?: unknown; statusCode?: unknown };
  if (typeof e?.code === 'number') return e.code;
  if (typeof e?.statusCode === 'number') return e.statusCode;
  return undefined;
}

export const isNotFound = (err: unknown) => statusOf(err) === 404;
export const isConflict = (err: unknown) => statusOf(err) === 409;

/**
 * Turn a failed API call into what the client sees: the cluster refusing the object as invalid
 * (422) is the caller's to fix (400, with the API server's one-line reason); everything else —
 * connection refused, 5xx, and also 403/404 on the namespace, which are the operator's to fix —
 * is 503 with the detail in the log only.
 */
export function apiFailure(action: string, err: unknown): SkahaError {
  if (err instanceof SkahaError) return err;
  if (statusOf(err) === 422) return new SkahaError('SKAHA_ERR_BAD_REQUEST', `the cluster refused the session: ${describe(err).replace(/^422\s*/, '')}`);
  const status = statusOf(err);
  if (status === 401 || status === 403) return backendRefused(`${action}: ${describe(err)}`);
  return backendUnavailable(`${action}: ${describe(err)}`);
}
