import type Koa from 'koa';

/** A dependency (the database or blob storage) is down or full: 503, the client may retry. */
export class UnavailableError extends Error {
  readonly code = 'unavailable';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'UnavailableError';
  }
}

// Connection-level failures of PostgreSQL and of the local filesystem that say "try again later"
// rather than "this request is wrong".
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOSPC', 'EDQUOT',
  '57P01', '57P02', '57P03', '08000', '08001', '08003', '08004', '08006', '53100', '53300',
]);

function isUnavailable(err: unknown): boolean {
  if (!err || typeof err !== 'object') return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && UNAVAILABLE_CODES.has(code)) return true;
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
 * Turns infrastructure failures into 503 + Retry-After (mapped by the error middleware), so a
 * client retries instead of seeing a 500. Usually nothing was committed; if the connection broke
 * during COMMIT itself, the commit may have gone through, and the client's retry answers 409.
 */
export function translateInfrastructureErrors(): Koa.Middleware {
  return async (_ctx, next) => {
    try {
      await next();
    } catch (err) {
      if (isUnavailable(err)) throw new UnavailableError('The feed is temporarily unavailable; retry shortly.', { cause: err });
      throw err;
    }
  };
}
