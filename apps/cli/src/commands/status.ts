import { parseArgs } from 'node:util';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import { findFeedId, formatCatalogTimestamp, listCursors, readProjectionLag } from '@nucat/catalog';
import { loadConfig } from '@nucat/config';
import { createDb, type Db } from '@nucat/db';
import { PROJECTIONS, projectionQueueName, type ProjectionName } from '@nucat/queue';

/** Usage lines of the status command, for the CLI's help. */
export const STATUS_USAGE = `  status [--json]                       per projection: cursor, lag (seconds and commits), queue depth and
                                        failures (BullMQ, via REDIS_URL and NUCAT_REDIS_PREFIX); mirror
                                        cursors. --json prints one JSON document. Exit 1 when Redis or a
                                        table could not be read (what could be read is still printed).`;

/** BullMQ states shown for each projection queue. */
const QUEUE_STATES = ['waiting', 'active', 'delayed', 'failed', 'waiting-children'] as const;
type QueueState = (typeof QUEUE_STATES)[number];

/** One projection in {@link StatusReport}. */
export interface ProjectionStatus {
  projection: string;
  /** The cursor, formatted as catalog timestamps are. */
  cursor: string;
  /** Catalog head − cursor, in seconds. */
  lagSeconds: number;
  /** Commits after the cursor. */
  lagCommits: number;
  /** How long the oldest commit not yet projected has waited, in seconds. */
  pendingSeconds: number;
  /** Job counts of the projection's queue; null when Redis could not be read or there is no queue (a rebuild cursor). */
  queue: Record<QueueState, number> | null;
  /** The most recent job that failed for good (all attempts used); null when none, or unknown. */
  lastFailure: { jobId: string; lowerId?: string; reason: string; at: string | null } | null;
}

/** One mirror cursor (`nucat mirror`) in {@link StatusReport}. */
export interface MirrorStatus {
  source: string;
  cursor: string | null;
  sourceHead: string | null;
  /** Source head − cursor, in seconds; null before the first run read the source. */
  lagSeconds: number | null;
  itemsApplied: number;
  lastError: string | null;
  updatedAt: string;
}

/** What `nucat status --json` prints. */
export interface StatusReport {
  feed: string;
  catalogHead: string | null;
  projections: ProjectionStatus[];
  /** Empty when the feed mirrors nothing, or this database has no `mirror_cursors` table. */
  mirrors: MirrorStatus[];
  /** What could not be read (Redis down…); the exit code is 1 when not empty. */
  errors: string[];
}

/**
 * `nucat status [--json]`.
 * @returns the exit code: 0, or 1 when part of the status could not be read.
 */
export async function runStatusCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { json: { type: 'boolean', default: false } }, allowPositionals: false });
  const config = loadConfig(process.env);
  const db = createDb({ url: config.database.url, poolSize: 2 });
  try {
    const feedId = await findFeedId(db, config.feed.name);
    if (feedId === undefined) throw new Error(`feed '${config.feed.name}' not found: run 'nucat migrate' first`);
    const report = await readStatus(db, feedId, { feed: config.feed.name, redisUrl: config.redis.url, redisPrefix: config.redis.prefix });
    process.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : formatStatus(report));
    for (const error of values.json ? [] : report.errors) process.stderr.write(`nucat: ${error}\n`);
    return report.errors.length > 0 ? 1 : 0;
  } finally {
    await db.destroy();
  }
}

/** Reads the whole status: the database always, Redis when it answers. */
export async function readStatus(db: Db, feedId: number, options: { feed: string; redisUrl: string; redisPrefix: string }): Promise<StatusReport> {
  const errors: string[] = [];
  // The projections a worker runs, then any other cursor (a rebuild's generation, `flatcontainer@g2`).
  const others = Object.keys(await listCursors(db, feedId)).filter((name) => !(PROJECTIONS as readonly string[]).includes(name)).sort();
  const lag = await readProjectionLag(db, feedId, [...PROJECTIONS, ...others]);
  const queues = await readQueues(options.redisUrl, options.redisPrefix).catch((error: unknown) => {
    errors.push(`Redis not read (queue depth and failures unknown): ${messageOf(error)}`);
    return undefined;
  });
  const mirrors = await readMirrors(db, feedId).catch((error: unknown) => {
    errors.push(`mirror cursors not read: ${messageOf(error)}`);
    return [];
  });
  return {
    feed: options.feed,
    catalogHead: lag.head ? formatCatalogTimestamp(lag.head) : null,
    projections: lag.projections.map((p) => {
      const queue = queues?.get(p.projection as ProjectionName);
      return {
        projection: p.projection,
        cursor: formatCatalogTimestamp(p.cursor),
        lagSeconds: p.lagSeconds,
        lagCommits: p.lagCommits,
        pendingSeconds: round(p.pendingSeconds),
        queue: queue?.counts ?? null,
        lastFailure: queue?.lastFailure ?? null,
      };
    }),
    mirrors,
    errors,
  };
}

interface QueueSnapshot {
  counts: Record<QueueState, number>;
  lastFailure: ProjectionStatus['lastFailure'];
}

/** Job counts and the latest failure of every projection queue; throws when Redis does not answer. */
async function readQueues(redisUrl: string, prefix: string): Promise<Map<ProjectionName, QueueSnapshot>> {
  // Fail fast: a status command must not hang on a Redis that is down.
  const redis = new Redis(redisUrl, {
    lazyConnect: true,
    connectTimeout: 3000,
    maxRetriesPerRequest: 1,
    retryStrategy: () => null,
    enableOfflineQueue: false,
  });
  redis.on('error', () => {
    // Reported through the failing command below.
  });
  const queues: Queue[] = [];
  try {
    await redis.connect();
    const result = new Map<ProjectionName, QueueSnapshot>();
    for (const projection of PROJECTIONS) {
      const queue = new Queue(projectionQueueName(projection), { connection: redis, prefix });
      queue.on('error', () => {});
      queues.push(queue);
      const counts = await queue.getJobCounts(...QUEUE_STATES);
      const [latest] = await queue.getJobs(['failed'], 0, 0, false);
      const lowerId = (latest?.data as { lowerId?: unknown } | undefined)?.lowerId;
      result.set(projection, {
        counts: Object.fromEntries(QUEUE_STATES.map((s) => [s, counts[s] ?? 0])) as Record<QueueState, number>,
        lastFailure: latest
          ? {
              jobId: String(latest.id),
              ...(typeof lowerId === 'string' ? { lowerId } : {}),
              reason: latest.failedReason || '(no reason recorded)',
              at: latest.finishedOn ? new Date(latest.finishedOn).toISOString() : null,
            }
          : null,
      });
    }
    return result;
  } finally {
    await Promise.all(queues.map((q) => q.close().catch(() => {})));
    redis.disconnect();
  }
}

/** Mirror cursors, or none when this database has no `mirror_cursors` table. */
async function readMirrors(db: Db, feedId: number): Promise<MirrorStatus[]> {
  const exists = await sql<{ table: string | null }>`SELECT to_regclass('mirror_cursors')::text AS table`.execute(db);
  if (!exists.rows[0]?.table) return [];
  const rows = await sql<Record<string, unknown>>`SELECT * FROM mirror_cursors WHERE feed_id = ${feedId} ORDER BY source`.execute(db);
  return rows.rows.map((row) => {
    const cursor = asDate(row['cursor']);
    const head = asDate(row['source_head']);
    const exact = typeof row['cursor_exact'] === 'string' ? row['cursor_exact'] : undefined;
    return {
      source: String(row['source']),
      cursor: exact ?? (cursor ? formatCatalogTimestamp(cursor) : null),
      sourceHead: head ? formatCatalogTimestamp(head) : null,
      lagSeconds: head ? Math.max(0, (head.getTime() - (cursor?.getTime() ?? 0)) / 1000) : null,
      itemsApplied: Number(row['items_applied'] ?? 0),
      lastError: typeof row['last_error'] === 'string' ? row['last_error'] : null,
      updatedAt: asDate(row['updated_at'])?.toISOString() ?? '',
    };
  });
}

/** The human-readable form of a report. */
export function formatStatus(report: StatusReport): string {
  const lines = [`feed ${report.feed}, catalog head ${report.catalogHead ?? '(empty)'}`, ''];
  const header = ['projection', 'cursor', 'lag s', 'commits', 'waiting', 'active', 'delayed', 'failed', 'last failure'];
  const rows = report.projections.map((p) => [
    p.projection,
    p.cursor,
    p.lagSeconds.toFixed(1),
    String(p.lagCommits),
    ...(['waiting', 'active', 'delayed', 'failed'] as const).map((s) => (p.queue ? String(p.queue[s]) : '?')),
    p.lastFailure ? `${p.lastFailure.at ?? ''} ${p.lastFailure.lowerId ?? p.lastFailure.jobId}: ${oneLine(p.lastFailure.reason)}`.trim() : '-',
  ]);
  lines.push(...table([header, ...rows]));
  if (report.mirrors.length > 0) {
    lines.push('', ...table([
      ['mirror source', 'cursor', 'source head', 'lag s', 'applied', 'last error'],
      ...report.mirrors.map((m) => [
        m.source,
        m.cursor ?? '-',
        m.sourceHead ?? '-',
        m.lagSeconds === null ? '-' : m.lagSeconds.toFixed(1),
        String(m.itemsApplied),
        m.lastError ? oneLine(m.lastError) : '-',
      ]),
    ]));
  }
  return `${lines.join('\n')}\n`;
}

function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ').trimEnd());
}

function oneLine(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 120 ? `${flat.slice(0, 119)}…` : flat;
}

function asDate(value: unknown): Date | undefined {
  if (value instanceof Date) return value;
  if (typeof value === 'string' && !Number.isNaN(Date.parse(value))) return new Date(value);
  return undefined;
}

function round(seconds: number): number {
  return Math.round(seconds * 1000) / 1000;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
