/**
 * Every error a client can see, in one table (style.md: Fastify's errors.js). The `message` is
 * what the user reads (one line, skaha's wording where the spec gives it); `reason` is a short
 * machine word used in logs and metrics; `logMessage` may carry detail that must not reach the
 * client (engine messages, paths).
 */
export const SKAHA_ERRORS = {
  SKAHA_ERR_UNAUTHENTICATED: { statusCode: 401, reason: 'unauthenticated' },
  SKAHA_ERR_FORBIDDEN: { statusCode: 403, reason: 'forbidden' },
  SKAHA_ERR_BAD_REQUEST: { statusCode: 400, reason: 'bad_request' },
  SKAHA_ERR_MISSING_PARAMETER: { statusCode: 400, reason: 'missing_parameter' },
  SKAHA_ERR_INVALID_VALUE: { statusCode: 400, reason: 'invalid_value' },
  SKAHA_ERR_IMAGE_REJECTED: { statusCode: 400, reason: 'image_rejected' },
  SKAHA_ERR_SESSION_LIMIT: { statusCode: 400, reason: 'session_limit' },
  SKAHA_ERR_NOT_FOUND: { statusCode: 404, reason: 'not_found' },
  SKAHA_ERR_CONFLICT: { statusCode: 409, reason: 'conflict' },
  SKAHA_ERR_PRECONDITION_FAILED: { statusCode: 412, reason: 'precondition_failed' },
  SKAHA_ERR_PAYLOAD_TOO_LARGE: { statusCode: 413, reason: 'payload_too_large' },
  SKAHA_ERR_INSUFFICIENT_STORAGE: { statusCode: 507, reason: 'insufficient_storage' },
  SKAHA_ERR_BACKEND_UNAVAILABLE: { statusCode: 503, reason: 'backend_unavailable' },
  SKAHA_ERR_INTERNAL: { statusCode: 500, reason: 'internal' },
} as const;

type SkahaErrorCode = keyof typeof SKAHA_ERRORS;

export class SkahaError extends Error {
  readonly code: SkahaErrorCode;
  readonly statusCode: number;
  readonly reason: string;
  readonly logMessage: string | undefined;

  constructor(code: SkahaErrorCode, message: string, logMessage?: string) {
    super(message);
    this.name = 'SkahaError';
    this.code = code;
    this.statusCode = SKAHA_ERRORS[code].statusCode;
    this.reason = SKAHA_ERRORS[code].reason;
    this.logMessage = logMessage;
  }
}

export const badRequest = (message: string) => new SkahaError('SKAHA_ERR_BAD_REQUEST', message);
export const missingParameter = (name: string) => new SkahaError('SKAHA_ERR_MISSING_PARAMETER', `Missing parameter '${name}'`);
export const invalidValue = (name: string, value: string) => new SkahaError('SKAHA_ERR_INVALID_VALUE', `Invalid value for '${name}': ${value}`);
export const notFound = (message: string) => new SkahaError('SKAHA_ERR_NOT_FOUND', message);
export const forbidden = (message: string) => new SkahaError('SKAHA_ERR_FORBIDDEN', message);

/** The engine could not be reached or failed for reasons that are not the caller's. */
export const backendUnavailable = (logMessage: string) =>
  new SkahaError('SKAHA_ERR_BACKEND_UNAVAILABLE', 'temporarily unavailable: the container engine is not reachable, try again shortly', logMessage);

/** What a full data directory (or quota) makes a write throw: Node's errno codes, SQLite's. */
const DISK_FULL = /\b(ENOSPC|EDQUOT|SQLITE_FULL)\b|no space left on device|database or disk is full|disk quota exceeded/i;

/**
 * Whether an error (or its cause, or the detail a SkahaError keeps for the log) comes from the
 * server's disk being full: not the caller's fault, and over once space is freed.
 */
export function isDiskFull(err: unknown): boolean {
  for (let e = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const { code, message, logMessage } = e as { code?: unknown; message?: unknown; logMessage?: unknown };
    if ([code, message, logMessage].some((v) => typeof v === 'string' && DISK_FULL.test(v))) return true;
  }
  return false;
}

/** The answer to a request that could not be written down: 503, with Retry-After like the others. */
export const diskFull = (logMessage: string) =>
  new SkahaError('SKAHA_ERR_BACKEND_UNAVAILABLE', "temporarily unavailable: the server's data directory is full; try again once space is freed", logMessage);

/**
 * The engine answered but refused the platform itself (Kubernetes RBAC: a permission missing from
 * skaha's service account). Still 503 — not the caller's to fix — but in words that do not send
 * the operator looking for a network problem; the detail goes to the log.
 */
export const backendRefused = (logMessage: string) =>
  new SkahaError(
    'SKAHA_ERR_BACKEND_UNAVAILABLE',
    "temporarily unavailable: the cluster refused the platform's request (a permission of its service account); the operator has the details in the log",
    logMessage,
  );

/** The identity database (PostgreSQL) could not be reached: the same 503, in its own words. */
export const storeUnavailable = (logMessage: string) =>
  new SkahaError('SKAHA_ERR_BACKEND_UNAVAILABLE', 'temporarily unavailable: the identity database is not reachable, try again shortly', logMessage);

/** One line, never a stack: the body skaha clients print. */
export function oneLine(message: string): string {
  return message.replace(/\s*[\r\n]+\s*/g, ' ').trim();
}
