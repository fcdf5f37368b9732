import type { Middleware } from 'koa';
import { runReadinessChecks, type ReadinessCheck, type ReadinessReport } from './readiness.js';

/** Options of {@link createProbes} and {@link createReadinessProbe}. */
export interface ProbeOptions {
  /** What `/ready` requires. */
  checks: readonly ReadinessCheck[];
  /** Aborted when the process begins to shut down: `/health` and `/ready` then answer 503. */
  shutdownSignal?: AbortSignal;
  /** Longest a check may take. @defaultValue 2000 */
  timeoutMs?: number;
  /**
   * How long a report is reused, in ms: probes from several load balancers (or a flood of requests)
   * cost one round of checks per interval, and concurrent requests share the round in flight.
   * @defaultValue 1000
   */
  cacheMs?: number;
}

/** A `/ready` evaluator shared by HTTP frameworks: a cached, coalesced {@link runReadinessChecks}. */
export interface ReadinessProbe {
  /** The current report; `not_ready` with failing `shutdown` once the shutdown signal is aborted. */
  evaluate(): Promise<ReadinessReport>;
}

/** Creates a {@link ReadinessProbe} (used by {@link createProbes}, and by the worker's plain node:http server). */
export function createReadinessProbe(options: ProbeOptions): ReadinessProbe {
  const cacheMs = options.cacheMs ?? 1000;
  let cached: { at: number; report: Promise<ReadinessReport> } | undefined;
  return {
    evaluate() {
      if (options.shutdownSignal?.aborted) return Promise.resolve(SHUTTING_DOWN_REPORT);
      const now = performance.now();
      if (cached && now - cached.at < cacheMs) return cached.report;
      const report = runReadinessChecks(options.checks, options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {});
      cached = { at: now, report };
      return report;
    },
  };
}

const SHUTTING_DOWN_REPORT: ReadinessReport = Object.freeze({
  status: 'not_ready',
  failing: ['shutdown'],
  checks: { shutdown: { ok: false, ms: 0, error: 'the process is shutting down' } },
}) as ReadinessReport;

/** What {@link createProbes} returns: handlers for `GET /health` and `GET /ready`. */
export interface Probes {
  /**
   * Liveness: 200 `{"status":"ok"}` while the process runs, 503 `{"status":"shutting_down"}` once the
   * shutdown signal is aborted. Touches nothing outside the process.
   */
  readonly health: Middleware;
  /**
   * Readiness: 200 with the {@link ReadinessReport} when every check passes, else 503 with the report,
   * whose `failing` names the failing checks. Never cached by HTTP caches.
   */
  readonly ready: Middleware;
}

/**
 * `/health` and `/ready` for a Koa app.
 * @example
 * const probes = createProbes({ checks: [databaseCheck], shutdownSignal });
 * router.get('/health', probes.health);
 * router.get('/ready', probes.ready);
 */
export function createProbes(options: ProbeOptions): Probes {
  const probe = createReadinessProbe(options);
  return {
    health(ctx) {
      const down = options.shutdownSignal?.aborted === true;
      ctx.set('Cache-Control', 'no-store');
      ctx.status = down ? 503 : 200;
      ctx.body = { status: down ? 'shutting_down' : 'ok' };
    },
    async ready(ctx) {
      const report = await probe.evaluate();
      ctx.set('Cache-Control', 'no-store');
      ctx.status = report.status === 'ready' ? 200 : 503;
      ctx.body = report;
    },
  };
}
