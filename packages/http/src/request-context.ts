import { randomUUID } from 'node:crypto';
import type { Logger } from '@nucat/config';
import type { Middleware } from 'koa';

/** What {@link createRequestContext} puts on `ctx.state`. */
export interface RequestState {
  /** The request's id, also sent back as `X-Request-Id`. */
  requestId: string;
  /** A child logger bound to `{ requestId }`. */
  log: Logger;
}

/** An incoming id is reused only when it is a plain token: it ends up in logs and headers. */
const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;

/**
 * Koa middleware that gives each request an id and a logger:
 * - reuses an incoming `X-Request-Id` that is a plain token of at most 64 characters, else makes a UUID;
 * - sends it back as `X-Request-Id`;
 * - sets `ctx.state.requestId` and `ctx.state.log = logger.child({ requestId })` (see {@link RequestState});
 * - logs one `info` line per request when the response ends, with method, path, the status actually
 *   sent and the duration in ms (plus `aborted: true` when the client went away first).
 *
 * Mount it right after `createErrorMiddleware()`.
 */
export function createRequestContext(logger: Logger): Middleware {
  return async function requestContext(ctx, next) {
    const incoming = ctx.get('X-Request-Id');
    const requestId = SANE_REQUEST_ID.test(incoming) ? incoming : randomUUID();
    ctx.state.requestId = requestId;
    // The child logger is made on first use: most requests only need the access line below, and a
    // pino child per request is a measurable share of a small read's cost.
    let child: Logger | undefined;
    Object.defineProperty(ctx.state, 'log', {
      configurable: true,
      enumerable: true,
      get: () => (child ??= logger.child({ requestId })),
      set: (value: Logger) => {
        child = value;
      },
    });
    ctx.set('X-Request-Id', requestId);

    const started = process.hrtime.bigint();
    // 'close' fires once the response is done or the connection dropped, after the error middleware
    // has set the final status, so the line shows what the client really got.
    ctx.res.once('close', () => {
      const ms = Math.round(Number(process.hrtime.bigint() - started) / 1e5) / 10;
      // The same line a child logger would write: `requestId` is a field of it either way.
      const fields: Record<string, unknown> = { requestId, method: ctx.method, path: ctx.path, status: ctx.res.statusCode, ms };
      if (!ctx.res.writableFinished) fields.aborted = true;
      logger.info(fields, 'request');
    });
    await next();
  };
}
