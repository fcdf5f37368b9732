import type { Context, Middleware } from 'koa';
import { errorStatus, isKnownErrorCode } from './error-status.js';

/** The JSON body of every error response. */
export interface ErrorBody {
  error: { code: string; message: string; details?: Record<string, unknown>; requestId?: string };
}

/** Codes for Koa's own exposed 4xx errors (`ctx.throw(404)`, body parsers…). */
const CODE_BY_STATUS: Readonly<Record<number, string>> = {
  400: 'invalid_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  406: 'not_acceptable',
  408: 'request_timeout',
  409: 'conflict',
  411: 'length_required',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  429: 'too_many_requests',
};

/**
 * Koa middleware that turns every error into one JSON shape. Mount it first, in both APIs.
 *
 * - An error whose `code` is in {@link errorStatus} answers `{ error: { code, message, details? } }`
 *   with the mapped status. A 401 carries `WWW-Authenticate: Basic realm="nucat"` (NuGet sends
 *   credentials only after that challenge); a 503 carries `Retry-After: 5` (NuGet honours it).
 * - Koa's own exposed 4xx errors (`ctx.throw(404)`, `expose: true`) keep their status, with a code
 *   derived from it.
 * - Anything else answers 500 `{ error: { code: 'internal', message: 'internal error', requestId } }`,
 *   shows nothing of the error, and is emitted as `app.emit('error', err, ctx)`, where the app logs it
 *   (the only place errors are logged).
 * - A request nothing answered (status 404, no body) gets the same JSON shape with code `not_found`.
 *
 * Headers set before the error are dropped, except `X-Request-Id`.
 */
export function createErrorMiddleware(): Middleware {
  return async function handleErrors(ctx, next) {
    try {
      await next();
      if (ctx.status === 404 && ctx.body == null && !ctx.headerSent) {
        ctx.status = 404;
        ctx.body = errorBody('not_found', 'not found');
      }
    } catch (thrown) {
      const error = thrown instanceof Error ? thrown : new Error('non-error value thrown', { cause: thrown });
      if (ctx.headerSent || !ctx.writable) {
        // Too late to answer: the response is already on its way or the client left.
        ctx.app.emit('error', error, ctx);
        return;
      }
      resetHeaders(ctx);
      const known = describeKnownError(error);
      if (known === undefined) {
        ctx.status = 500;
        ctx.body = errorBody('internal', 'internal error', undefined, requestIdOf(ctx));
        ctx.app.emit('error', error, ctx);
        return;
      }
      ctx.status = known.status;
      for (const [name, value] of Object.entries(known.headers)) ctx.set(name, value);
      if (known.status === 401) ctx.set('WWW-Authenticate', 'Basic realm="nucat"');
      if (known.status === 503) ctx.set('Retry-After', '5');
      ctx.body = errorBody(known.code, known.message, known.details);
    }
  };
}

interface KnownError {
  status: number;
  code: string;
  message: string;
  details?: Record<string, unknown>;
  headers: Record<string, string>;
}

function describeKnownError(error: Error): KnownError | undefined {
  const fields = error as Error & { code?: unknown; details?: unknown; status?: unknown; expose?: unknown; headers?: unknown };
  if (isKnownErrorCode(fields.code)) {
    return {
      status: errorStatus[fields.code],
      code: fields.code,
      message: error.message,
      ...(isPlainObject(fields.details) ? { details: fields.details } : {}),
      headers: {},
    };
  }
  const status = fields.status;
  if (typeof status === 'number' && Number.isInteger(status) && status >= 400 && status < 500 && fields.expose === true) {
    return {
      status,
      code: CODE_BY_STATUS[status] ?? 'invalid_request',
      message: error.message,
      headers: isPlainObject(fields.headers) ? stringHeaders(fields.headers) : {},
    };
  }
  return undefined;
}

function errorBody(code: string, message: string, details?: Record<string, unknown>, requestId?: string): ErrorBody {
  return {
    error: {
      code,
      message,
      ...(details !== undefined ? { details } : {}),
      ...(requestId !== undefined ? { requestId } : {}),
    },
  };
}

function requestIdOf(ctx: Context): string | undefined {
  const fromState: unknown = ctx.state?.requestId;
  if (typeof fromState === 'string') return fromState;
  const fromHeader: unknown = ctx.response.get('X-Request-Id');
  return typeof fromHeader === 'string' && fromHeader !== '' ? fromHeader : undefined;
}

function resetHeaders(ctx: Context): void {
  const requestId: unknown = ctx.response.get('X-Request-Id');
  for (const name of ctx.res.getHeaderNames()) ctx.res.removeHeader(name);
  if (typeof requestId === 'string' && requestId !== '') ctx.set('X-Request-Id', requestId);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function stringHeaders(headers: Record<string, unknown>): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (typeof value === 'string' || typeof value === 'number') result[name] = String(value);
  }
  return result;
}
