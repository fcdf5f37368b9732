import type { Context, Middleware } from 'koa';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Options of {@link createMetrics}. */
export interface CreateMetricsOptions {
  /** Value of the `app` label on every series (`read-api`, `publish-api`). */
  app: string;
  /**
   * Also export prom-client's process metrics (`process_cpu_seconds_total`,
   * `process_resident_memory_bytes`, `nodejs_eventloop_lag_seconds`, `nodejs_gc_duration_seconds`…).
   * @defaultValue true
   */
  processMetrics?: boolean;
  /**
   * Upper bounds of the request duration histogram, in seconds.
   * @defaultValue 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30
   */
  buckets?: readonly number[];
}

/** What {@link createMetrics} returns. */
export interface HttpMetrics {
  /** The registry every metric of this app is registered in. */
  readonly registry: Registry;
  /**
   * Koa middleware observing `nucat_http_request_duration_seconds{method,route,status_class}` for every
   * request, from its start until the response is sent (or the client leaves). Mount it first, before
   * the error middleware, so thrown errors count with their final status.
   */
  readonly middleware: Middleware;
  /** Koa handler answering `GET /metrics` in the Prometheus text format, `Cache-Control: no-store`. */
  readonly handler: Middleware;
  /** Registers a counter in {@link HttpMetrics.registry} (an app's own: pushes, downloads…). */
  counter<L extends string = never>(config: { name: string; help: string; labelNames?: readonly L[] }): Counter<L>;
}

/** Name of the request duration histogram. */
export const HTTP_REQUEST_DURATION_METRIC = 'nucat_http_request_duration_seconds';

/** The `route` label of a request no route matched. */
export const UNMATCHED_ROUTE = 'unmatched';

const DEFAULT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** Methods kept as they are in the `method` label; anything else is `other`, so the label stays bounded. */
const KNOWN_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'PUT', 'POST', 'DELETE', 'OPTIONS', 'PATCH']);

/**
 * Prometheus metrics of one HTTP app: a registry with the `app` label on every series, the request
 * duration middleware, the `/metrics` handler, and a factory for the app's own counters.
 *
 * The `route` label is the route **template** @koa/router matched (`/v3/flatcontainer/:id/index.json`),
 * never the raw path: raw paths carry package ids and versions, so every new package would make new
 * series without bound. A request no route answered (404 for an unknown path, 401 from a private feed
 * before routing) is `route="unmatched"`. `status_class` is `2xx`…`5xx`.
 *
 * @example
 * const metrics = createMetrics({ app: 'read-api' });
 * app.use(metrics.middleware);
 * router.get('/metrics', metrics.handler);
 */
export function createMetrics(options: CreateMetricsOptions): HttpMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ app: options.app });
  if (options.processMetrics !== false) collectDefaultMetrics({ register: registry });

  const duration = new Histogram({
    name: HTTP_REQUEST_DURATION_METRIC,
    help: 'Time from the start of a request until its response was sent, by method, route template and status class.',
    labelNames: ['method', 'route', 'status_class'] as const,
    buckets: [...(options.buckets ?? DEFAULT_BUCKETS)],
    registers: [registry],
  });

  // One child series per label set, looked up by a string key: cheaper than prom-client hashing a
  // label object on every observation. The label values are bounded (methods, route templates,
  // status classes), so the map is too.
  const series = new Map<string, ReturnType<typeof duration.labels>>();
  const observe = (method: string, route: string, status: string, seconds: number): void => {
    const key = `${method} ${status} ${route}`;
    let child = series.get(key);
    if (!child) {
      child = duration.labels({ method, route, status_class: status });
      series.set(key, child);
    }
    child.observe(seconds);
  };

  const middleware: Middleware = async function measureRequest(ctx, next) {
    const started = process.hrtime.bigint();
    // 'close' follows 'finish' when the response was sent, and comes alone when the client left first.
    ctx.res.once('close', () => {
      observe(methodLabel(ctx.method), routeLabel(ctx), statusClass(ctx.res.statusCode), Number(process.hrtime.bigint() - started) / 1e9);
    });
    await next();
  };

  const handler: Middleware = async function serveMetrics(ctx) {
    const text = await registry.metrics();
    ctx.set('Cache-Control', 'no-store');
    ctx.set('Content-Type', registry.contentType);
    ctx.body = text;
  };

  return {
    registry,
    middleware,
    handler,
    counter: (config) => new Counter({ ...config, labelNames: [...(config.labelNames ?? [])], registers: [registry] }),
  };
}

/** The route template @koa/router matched, or {@link UNMATCHED_ROUTE}. */
function routeLabel(ctx: Context): string {
  const matched = (ctx as Context & { _matchedRoute?: string | RegExp })._matchedRoute;
  return matched === undefined ? UNMATCHED_ROUTE : String(matched);
}

function methodLabel(method: string): string {
  return KNOWN_METHODS.has(method) ? method : 'other';
}

function statusClass(status: number): string {
  return status >= 100 && status < 600 ? `${Math.floor(status / 100)}xx` : 'other';
}
