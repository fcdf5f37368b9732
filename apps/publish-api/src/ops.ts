import type Koa from 'koa';
import type { Db } from '@nucat/db';
import { createMetrics, createProbes, type HttpMetrics, type Probes } from '@nucat/http';

/** Options of {@link createPublishOps}. */
export interface PublishOpsOptions {
  db: Db;
  /** The metrics to use. @defaultValue new metrics with `app="publish-api"` */
  metrics?: HttpMetrics;
  /** Aborted when the process shuts down: `/health` and `/ready` answer 503 from then on. */
  shutdownSignal?: AbortSignal;
}

/** The publish API's operations parts. */
export interface PublishOps {
  readonly metrics: HttpMetrics;
  readonly probes: Probes;
  /** Route middleware for the push routes: counts each push in `nucat_pushes_total{result}` once answered. */
  readonly countPush: Koa.Middleware;
}

/** Name of the push counter. */
export const PUSHES_METRIC = 'nucat_pushes_total';

/**
 * The `result` label of a push answered with `status`: `created`, `conflict` (409, the version
 * exists), `invalid` (400), `unauthorized` (401), `forbidden` (403), `too_large` (413), `timeout`
 * (408), `unavailable` (503), `insufficient_storage` (507, disk full), `rejected` (another 4xx) or
 * `error` (another 5xx).
 */
export function pushResult(status: number): string {
  if (status >= 200 && status < 300) return 'created';
  const known: Record<number, string> = {
    400: 'invalid',
    401: 'unauthorized',
    403: 'forbidden',
    408: 'timeout',
    409: 'conflict',
    413: 'too_large',
    503: 'unavailable',
    507: 'insufficient_storage',
  };
  return known[status] ?? (status < 500 ? 'rejected' : 'error');
}

/**
 * Metrics, `/health` and `/ready` of the publish API. `/ready` checks the database (`SELECT 1`, 2 s
 * timeout): a push needs it to commit. The publish API does not use Redis, so Redis is not checked.
 */
export function createPublishOps(options: PublishOpsOptions): PublishOps {
  const metrics = options.metrics ?? createMetrics({ app: 'publish-api' });
  const pushes = metrics.counter({
    name: PUSHES_METRIC,
    help: 'Package pushes answered, by result: created, conflict, invalid, unauthorized, forbidden, too_large, timeout, unavailable, insufficient_storage, rejected, error, aborted (the client left first).',
    labelNames: ['result'] as const,
  });
  const countPush: Koa.Middleware = async (ctx, next) => {
    let counted = false;
    // Counted when answered, so the status is the final one the error middleware chose.
    ctx.res.once('finish', () => {
      counted = true;
      pushes.inc({ result: pushResult(ctx.res.statusCode) });
    });
    ctx.res.once('close', () => {
      if (!counted) pushes.inc({ result: 'aborted' });
      counted = true;
    });
    await next();
  };
  return {
    metrics,
    countPush,
    probes: createProbes({
      checks: [
        {
          name: 'database',
          run: async () => {
            await options.db.selectNoFrom((eb) => eb.lit(1).as('one')).execute();
          },
        },
      ],
      ...(options.shutdownSignal ? { shutdownSignal: options.shutdownSignal } : {}),
    }),
  };
}
