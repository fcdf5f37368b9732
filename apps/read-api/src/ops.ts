import { sql } from 'kysely';
import { readProjectionLag } from '@nucat/catalog';
import type { Db } from '@nucat/db';
import { assertLagWithin, createMetrics, createProbes, type HttpMetrics, type Probes, type ReadinessCheck } from '@nucat/http';

/** Options of {@link createReadOps}. */
export interface ReadOpsOptions {
  db: Db;
  feedId: number;
  /** Whether this node serves search (then the search projection counts for readiness too). */
  servesSearch: boolean;
  /** Counts each download in the feed's totals (the download counter), when present. */
  downloads?: { count(lowerId: string, lowerVersion: string): void };
  /** The metrics to use. @defaultValue new metrics with `app="read-api"` */
  metrics?: HttpMetrics;
  /** Aborted when the process shuts down: `/health` and `/ready` answer 503 from then on. */
  shutdownSignal?: AbortSignal;
  /** Most seconds a served projection may lag while `/ready` answers 200. @defaultValue 300 */
  maxLagSeconds?: number;
}

/** The read API's operations parts: metrics, probes and the download hook. */
export interface ReadOps {
  readonly metrics: HttpMetrics;
  readonly probes: Probes;
  /** Counts one `.nupkg` download: `nucat_downloads_total` and the feed's per-version totals. */
  countDownload(lowerId: string, lowerVersion: string): void;
}

/** Name of the read API's download counter. */
export const DOWNLOADS_METRIC = 'nucat_downloads_total';

/**
 * Metrics, `/health` and `/ready` of a read node.
 *
 * `/ready` checks, under a 2 s timeout each:
 * - `database`: `SELECT 1`. The read node does not use Redis, so Redis is not checked.
 * - `projections`: for each projection this node serves (flat container, registration, and search
 *   when it serves search), how long the oldest catalog commit it has not projected yet has waited;
 *   each must be within `maxLagSeconds`.
 *
 * A node whose database is down answers `/ready` 503 while it keeps serving the flat container and
 * the registration hives from blob storage (reliability P7): it is still up, but it cannot prove its
 * documents are fresh, which is what a load balancer choosing among read nodes wants to know.
 */
export function createReadOps(options: ReadOpsOptions): ReadOps {
  const metrics = options.metrics ?? createMetrics({ app: 'read-api' });
  const downloadsTotal = metrics.counter({ name: DOWNLOADS_METRIC, help: 'Package (.nupkg) downloads served by this node (GET with a body).' });
  const served = ['flatcontainer', 'registration', ...(options.servesSearch ? ['search'] : [])];
  const maxLagSeconds = options.maxLagSeconds ?? 300;
  const checks: ReadinessCheck[] = [
    {
      name: 'database',
      run: async () => {
        await sql`SELECT 1`.execute(options.db);
      },
    },
    {
      name: 'projections',
      run: async () => {
        const lag = await readProjectionLag(options.db, options.feedId, served);
        return assertLagWithin(Object.fromEntries(lag.projections.map((p) => [p.projection, p.pendingSeconds])), maxLagSeconds);
      },
    },
  ];
  return {
    metrics,
    probes: createProbes({ checks, ...(options.shutdownSignal ? { shutdownSignal: options.shutdownSignal } : {}) }),
    countDownload(lowerId, lowerVersion) {
      downloadsTotal.inc();
      options.downloads?.count(lowerId, lowerVersion);
    },
  };
}
