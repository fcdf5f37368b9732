import type { Redis } from 'ioredis';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { readProjectionLag, type CatalogLag, type ProjectionLag } from '@nucat/catalog';
import type { Logger } from '@nucat/config';
import type { Db } from '@nucat/db';
import { listMirrorStates, type MirrorState } from '@nucat/mirror';
import { projectionQueueName, type ProjectionName } from '@nucat/queue';

/** Options of {@link createWorkerMetrics}. */
export interface WorkerMetricsOptions {
  db: Db;
  feedId: number;
  /** The projections this worker runs: the ones its gauges describe. */
  projections: readonly ProjectionName[];
  /** A Redis connection for reading queue counts (not the workers' own). */
  redis: Redis;
  /** Key prefix of the BullMQ queues in Redis. */
  redisPrefix: string;
  /** Export prom-client's process metrics too. @defaultValue true */
  processMetrics?: boolean;
  /** Longest a scrape waits for PostgreSQL or Redis before leaving those gauges empty. @defaultValue 2000 */
  timeoutMs?: number;
  log: Logger;
}

/** BullMQ job states reported by `nucat_queue_jobs`. */
export const QUEUE_STATES = ['waiting', 'active', 'delayed', 'failed', 'waiting-children'] as const;

/** Metric names of the worker. */
export const WORKER_METRICS = {
  cursorLagSeconds: 'nucat_projection_cursor_lag_seconds',
  lagCommits: 'nucat_projection_lag_commits',
  pendingSeconds: 'nucat_projection_pending_seconds',
  queueJobs: 'nucat_queue_jobs',
  projectedIds: 'nucat_projected_ids_total',
  mirrorLagSeconds: 'nucat_mirror_lag_seconds',
  mirrorStateAgeSeconds: 'nucat_mirror_state_age_seconds',
  mirrorItemsApplied: 'nucat_mirror_items_applied',
  mirrorConflicts: 'nucat_mirror_conflicts',
} as const;

/** What {@link createWorkerMetrics} returns. */
export interface WorkerMetrics {
  /** The registry (`app="worker"` on every series) the ops server exposes at `/metrics`. */
  readonly registry: Registry;
  /** Counts one id projected by this process (`nucat_projected_ids_total{projection}`). */
  countProjected(projection: ProjectionName): void;
  /** The catalog lag of this worker's projections, read now (the readiness check uses it too). */
  readLag(): Promise<CatalogLag>;
  /** Closes the queue handles (not the Redis connection, which the caller owns). */
  close(): Promise<void>;
}

/**
 * The worker's Prometheus metrics. Lag and queue gauges are computed when scraped (one read of the
 * cursors and catalog head, one `getJobCounts` per queue), so they are exact at scrape time and cost
 * nothing between scrapes:
 *
 * - `nucat_projection_cursor_lag_seconds{projection}`: catalog head − cursor (catalog time).
 * - `nucat_projection_lag_commits{projection}`: catalog commits after the cursor.
 * - `nucat_projection_pending_seconds{projection}`: how long the oldest commit not yet projected has
 *   waited (grows while a projection is stuck even when nothing new is pushed; what `/ready` uses).
 * - `nucat_queue_jobs{projection,state}`: BullMQ job counts (waiting, active, delayed, failed,
 *   waiting-children) of the projection's queue, shared by every worker copy.
 * - `nucat_projected_ids_total{projection}`: ids projected by this process.
 * - Per mirror of this feed (`nucat mirror`, or a worker with `NUCAT_MIRROR_SOURCE`), from its stored
 *   state, whoever runs it: `nucat_mirror_lag_seconds{source}` (the source's newest commit when last
 *   read − the mirror's cursor), `nucat_mirror_state_age_seconds{source}` (since the mirror last
 *   recorded anything: grows when its follower has stopped), `nucat_mirror_items_applied{source}`
 *   (catalog items that changed this feed, over all runs) and `nucat_mirror_conflicts{source}`.
 *
 * When PostgreSQL or Redis does not answer within `timeoutMs`, that scrape leaves the gauges it
 * could not read empty (rather than repeating stale values) and logs a warning.
 */
export function createWorkerMetrics(options: WorkerMetricsOptions): WorkerMetrics {
  const { db, feedId, projections, log } = options;
  const timeoutMs = options.timeoutMs ?? 2000;
  const registry = new Registry();
  registry.setDefaultLabels({ app: 'worker' });
  if (options.processMetrics !== false) collectDefaultMetrics({ register: registry });

  // Queue counts are read straight from BullMQ's keys with one pipeline, not through Queue objects:
  // a Queue on an unreachable Redis keeps internal connection promises that can reject after a
  // scrape has given up on them. Waiting jobs are a list (`wait`, plus `prioritized`, a sorted set),
  // active a list, delayed/failed/waiting-children sorted sets.
  const readQueueCounts = async (projection: ProjectionName): Promise<Record<string, number>> => {
    const base = `${options.redisPrefix}:${projectionQueueName(projection)}`;
    const results = await options.redis
      .pipeline()
      .llen(`${base}:wait`)
      .zcard(`${base}:prioritized`)
      .llen(`${base}:active`)
      .zcard(`${base}:delayed`)
      .zcard(`${base}:failed`)
      .zcard(`${base}:waiting-children`)
      .exec();
    const values = (results ?? []).map(([err, value]) => {
      if (err) throw err;
      return Number(value);
    });
    const [wait = 0, prioritized = 0, active = 0, delayed = 0, failed = 0, waitingChildren = 0] = values;
    return { waiting: wait + prioritized, active, delayed, failed, 'waiting-children': waitingChildren };
  };

  const readLag = () => readProjectionLag(db, feedId, projections);

  // Every gauge reads the same snapshot: prom-client collects all metrics of a scrape at once, so
  // the first collect starts the read and the others share it.
  const lagSnapshot = shared(async () => {
    try {
      return await withTimeout(readLag(), timeoutMs, 'the database');
    } catch (err) {
      log.warn({ err: err instanceof Error ? err.message : err }, 'projection lag not read for metrics');
      return undefined;
    }
  });
  const queueSnapshot = shared(async () => {
    try {
      return await withTimeout(
        Promise.all(projections.map(async (projection) => ({ projection, counts: await readQueueCounts(projection) }))),
        timeoutMs,
        'Redis',
      );
    } catch (err) {
      log.warn({ err: err instanceof Error ? err.message : err }, 'queue counts not read for metrics');
      return undefined;
    }
  });

  /** A gauge with one series per row of a snapshot (`label` names the row); a row without a value is left out. */
  const snapshotGauge = <Row, L extends string>(
    label: L,
    snapshot: () => Promise<readonly Row[] | undefined>,
    labelOf: (row: Row) => string,
  ) => (name: string, help: string, pick: (row: Row, now: number) => number | undefined) =>
    new Gauge({
      name,
      help,
      labelNames: [label] as const,
      registers: [registry],
      async collect() {
        const rows = await snapshot();
        this.reset();
        const now = Date.now();
        for (const row of rows ?? []) {
          const value = pick(row, now);
          if (value !== undefined) this.set({ [label]: labelOf(row) } as Record<L, string>, value);
        }
      },
    });
  const lagGauge = snapshotGauge('projection', async () => (await lagSnapshot())?.projections, (p: ProjectionLag) => p.projection);
  lagGauge(WORKER_METRICS.cursorLagSeconds, 'Catalog head minus the projection cursor, in seconds of catalog time (0 when caught up).', (p) => p.lagSeconds);
  lagGauge(WORKER_METRICS.lagCommits, 'Catalog commits after the projection cursor.', (p) => p.lagCommits);
  lagGauge(WORKER_METRICS.pendingSeconds, 'Seconds the oldest catalog commit not yet projected has waited (0 when caught up).', (p) => p.pendingSeconds);
  new Gauge({
    name: WORKER_METRICS.queueJobs,
    help: "Jobs in the projection's BullMQ queue, by state (all worker copies together).",
    labelNames: ['projection', 'state'] as const,
    registers: [registry],
    async collect() {
      const snapshot = await queueSnapshot();
      this.reset();
      for (const { projection, counts } of snapshot ?? []) {
        for (const state of QUEUE_STATES) this.set({ projection, state }, counts[state] ?? 0);
      }
    },
  });
  const mirrorSnapshot = shared(async () => {
    try {
      return await withTimeout(listMirrorStates(db, feedId), timeoutMs, 'the database');
    } catch (err) {
      log.warn({ err: err instanceof Error ? err.message : err }, 'mirror state not read for metrics');
      return undefined;
    }
  });
  const mirrorGauge = snapshotGauge('source', mirrorSnapshot, (m: MirrorState) => m.source);
  mirrorGauge(WORKER_METRICS.mirrorLagSeconds, "The source catalog's newest commit (when last read) minus the mirror's cursor, in seconds.", (m) => m.lagSeconds);
  mirrorGauge(WORKER_METRICS.mirrorStateAgeSeconds, 'Seconds since the mirror last recorded progress or a look at its source (grows when it has stopped).', (m, now) =>
    Math.max(0, (now - m.updatedAt.getTime()) / 1000),
  );
  mirrorGauge(WORKER_METRICS.mirrorItemsApplied, 'Catalog items of the source that changed this feed, over all runs.', (m) => m.itemsApplied);
  mirrorGauge(WORKER_METRICS.mirrorConflicts, 'Versions the mirror left alone because they differ here (see nucat status).', (m) => m.conflicts.length);
  const projected = new Counter({
    name: WORKER_METRICS.projectedIds,
    help: 'Package ids projected by this worker process.',
    labelNames: ['projection'] as const,
    registers: [registry],
  });
  for (const projection of projections) projected.inc({ projection }, 0);

  return {
    registry,
    readLag,
    countProjected: (projection) => projected.inc({ projection }),
    async close() {
      // Nothing of its own to close: the Redis connection belongs to the caller.
    },
  };
}

/** Rejects with "`what` did not answer within `ms` ms" unless `promise` settles first. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Wraps `load` so that calls made while one is in flight share its result. */
function shared<T>(load: () => Promise<T>): () => Promise<T> {
  let inFlight: Promise<T> | undefined;
  return () => {
    inFlight ??= load().finally(() => {
      inFlight = undefined;
    });
    return inFlight;
  };
}
