import type Koa from 'koa';

/** A dependency (the database or blob storage) is down or busy: 503, the client may retry. */
export class UnavailableError extends Error {
  readonly code = 'unavailable';
  constructor(
    message: string,
    options?: { cause?: unknown },
    readonly details?: Record<string, unknown>,
  ) {
    super(message, options);
    this.name = 'UnavailableError';
  }
}

/**
 * The storage this server writes to is full (reliability.md #39): the blob store or upload folder
 * (`ENOSPC`, `EDQUOT`) or PostgreSQL's own files (SQLSTATE 53100 `disk_full`). Nothing was published.
 * 507 Insufficient Storage, without Retry-After: space comes back only when an operator frees it.
 */
export class InsufficientStorageError extends Error {
  readonly code = 'insufficient_storage';
  constructor(
    message: string,
    options?: { cause?: unknown },
    readonly details?: Record<string, unknown>,
  ) {
    super(message, options);
    this.name = 'InsufficientStorageError';
  }
}

// Connection-level failures of PostgreSQL and of the local filesystem that say "try again later"
// rather than "this request is wrong".
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE',
  '57P01', '57P02', '57P03', '08000', '08001', '08003', '08004', '08006', '53300',
]);

/** A full disk or quota: the filesystem's and PostgreSQL's (53100 disk_full). */
const STORAGE_FULL_CODES = new Set(['ENOSPC', 'EDQUOT', '53100']);

/** SQLSTATE 55P03 lock_not_available: a lock wait ran past `lock_timeout` (the catalog head held by another write). */
const LOCK_TIMEOUT_CODES = new Set(['55P03']);

/** The `code` of `err` or of an error in its `cause` chain that has one of `codes`. */
function findCode(err: unknown, codes: ReadonlySet<string>): string | undefined {
  for (let current = err, depth = 0; current && typeof current === 'object' && depth < 4; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && codes.has(code)) return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

function isUnavailable(err: unknown): boolean {
  if (!err || typeof err !== 'object') return false;
  if (findCode(err, UNAVAILABLE_CODES)) return true;
  const message = (err as { message?: unknown }).message;
  // "…is not queryable": pg refuses a client whose connection already failed. Kysely hits it when it
  // sends ROLLBACK after a transaction failed because the server went away, and throws that error
  // instead of the original one (which carried the connection code).
  return (
    typeof message === 'string' &&
    /Connection terminated|connection timeout|timeout exceeded when trying to connect|is not queryable/i.test(message)
  );
}

/**
 * Turns infrastructure failures into answers a client can act on (mapped by the error middleware):
 * - disk full (reliability.md #39) → 507 `insufficient_storage`;
 * - a lock wait cut by `lock_timeout` (#41: another write holds the catalog head) → 503 + Retry-After;
 * - the database or filesystem unreachable (#38) → 503 + Retry-After.
 *
 * Never a 500, which a client cannot tell from a bug. Usually nothing was committed; if the
 * connection broke during COMMIT itself, the commit may have gone through, and the client's retry
 * answers 409.
 */
export function translateInfrastructureErrors(): Koa.Middleware {
  return async (_ctx, next) => {
    try {
      await next();
    } catch (err) {
      const full = findCode(err, STORAGE_FULL_CODES);
      if (full) {
        throw new InsufficientStorageError(
          "The feed's storage is full, so the package was not published. Retrying will fail the same way until an operator frees space.",
          { cause: err },
          { reason: full === '53100' ? 'database_disk_full' : 'disk_full' },
        );
      }
      if (findCode(err, LOCK_TIMEOUT_CODES)) {
        throw new UnavailableError(
          "The feed's catalog is busy: another write has held it longer than this server waits. Nothing was written; retry shortly.",
          { cause: err },
          { reason: 'catalog_busy' },
        );
      }
      if (isUnavailable(err)) throw new UnavailableError('The feed is temporarily unavailable; retry shortly.', { cause: err });
      throw err;
    }
  };
}
