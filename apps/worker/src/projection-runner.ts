import { randomUUID } from 'node:crypto';
import { FlowProducer, Queue, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { sql } from 'kysely';
import { advanceCursor, getCursor, getCursorState, readCatalogBatchEnd, readCursorState } from '@nucat/catalog';
import type { Logger } from '@nucat/config';
import type { Db } from '@nucat/db';
import {
  JOB_ADVANCE_CURSOR,
  JOB_PROJECT_ID,
  batchJobId,
  projectionQueueName,
  type AdvanceCursorJobData,
  type ProjectIdJobData,
  type ProjectionName,
} from '@nucat/queue';
import { IdBusyError, idLockKey, withIdLock, withIdLocks } from './id-lock.js';

/** Job name of a chunk of the ids of a batch. (`project-id` jobs, one id each, came from older versions.) */
export const JOB_PROJECT_IDS = 'project-ids';

/** Payload of a chunk job: project these ids, whose documents are complete and durable up to `from`. */
export interface ProjectIdsJobData {
  feedId: number;
  /** ISO timestamp: the cursor the batch starts after. */
  from: string;
  /** ISO timestamp: the last commit of the batch (the cursor after it). */
  to: string;
  lowerIds: string[];
  /** The cursor's run when the batch was scheduled (absent in chunks of older versions). */
  runId?: string;
}

/** The commits of a batch: after `from`, up to and including `to`. */
export interface BatchRange {
  from: Date;
  to: Date;
}

/** Lifetime of the schedule lock (renewed while held; it frees itself when its holder dies). */
const SCHEDULE_LOCK_TTL_MS = 10_000;
/** How long a copy waits for another copy's schedule (a few milliseconds as a rule) before leaving it to the next tick. */
const SCHEDULE_LOCK_WAIT_MS = 5_000;

/** Most ids in one chunk job. */
const MAX_IDS_PER_CHUNK = 125;

/**
 * Splits the (sorted) ids of a batch into chunks, one job each: at least `lanes` chunks when there are
 * that many ids (so every job slot of a worker has work), at most {@link MAX_IDS_PER_CHUNK} ids each.
 */
export function chunkIds(ids: readonly string[], lanes: number): string[][] {
  const count = Math.min(ids.length, Math.max(lanes, Math.ceil(ids.length / MAX_IDS_PER_CHUNK)));
  const chunks: string[][] = [];
  for (let i = 0; i < count; i++) chunks.push(ids.slice(Math.floor((i * ids.length) / count), Math.floor(((i + 1) * ids.length) / count)));
  return chunks;
}

/**
 * A new id for every schedule: BullMQ counts a child whose id already exists as completed as done for
 * its new parent, so a reused id (a replay reaching a cursor value seen before, a second scheduler)
 * could move the cursor past work never done. Copies schedule one at a time (the schedule lock), so a
 * second copy finds the batch in flight instead of adding its own children to that parent: children
 * added to a parent already running would keep it from finishing.
 */
function chunkJobId(feedId: number, from: Date): string {
  return `ids-${feedId}-${from.getTime()}-${randomUUID()}`;
}

/**
 * The next batch after `from`, as `readCatalogBatch` (@nucat/catalog) bounds it — whole commits with
 * `from < commitTimestamp ≤ upTo`, about `maxItems` items at most, never a commit split — but only the
 * distinct ids in it (sorted) and its item count: the chunk jobs read the catalog state themselves, so
 * the scheduler need not load every item's document. Undefined when nothing follows the cursor.
 */
export async function readBatchIds(
  db: Db,
  feedId: number,
  from: Date,
  maxItems: number,
  upTo?: Date,
): Promise<{ to: Date; ids: string[]; items: number } | undefined> {
  const end = await readCatalogBatchEnd(db, feedId, from, maxItems, upTo);
  if (!end) return undefined;
  const { to, items } = end;
  const rows = await sql<{ lower_id: string }>`
    SELECT DISTINCT lower_id FROM catalog_items
    WHERE feed_id = ${feedId} AND commit_timestamp > ${from} AND commit_timestamp <= ${to}`.execute(db);
  const ids = rows.rows.map((r) => r.lower_id).sort();
  return { to, ids, items };
}

/** Options of {@link createProjectionRunner}. */
export interface ProjectionRunnerOptions {
  projection: ProjectionName;
  /**
   * The cursor followed (a `projection_cursors` name); a rebuild follows `flatcontainer@g2` into a
   * new generation beside the live cursor. Per-id locks stay per projection, so the live and the
   * rebuilding runner never project one id at the same time. @defaultValue `projection`
   */
  cursor?: string;
  /** The BullMQ queue. @defaultValue `projectionQueueName(projection)` */
  queueName?: string;
  db: Db;
  /** A connection for BullMQ (maxRetriesPerRequest: null). */
  connection: Redis;
  /** Key prefix in Redis. */
  prefix: string;
  feedId: number;
  /**
   * Projects the given ids of a batch (idempotent): their catalog state as of `batch.to`, writing
   * what the batch's items changed since `batch.from` (the cursor, up to which their documents are
   * complete and durable). Without a batch: each id whole, from its latest state. Must resolve only
   * once its writes are durable: the cursor moves past them next.
   */
  project(lowerIds: readonly string[], batch: BatchRange | undefined): Promise<unknown>;
  /** Most catalog items per batch. @defaultValue 500 */
  batchSize?: number;
  /** Jobs processed at once by this process. @defaultValue 4 */
  concurrency?: number;
  /**
   * The latest commit timestamp this projection may project, when it must not pass other
   * projections (search follows the restore projections: nothing is findable before it is
   * restorable). Undefined = no bound.
   */
  upperBound?: () => Promise<Date | undefined>;
  /**
   * Called with a chunk's per-id locks held, before it checks that its batch is still the current
   * one and projects: throws (the job is retried later) while a step that moves this cursor on its
   * own is under way — the switch of a generation being rebuilt (see worker.ts).
   */
  guard?: () => Promise<void>;
  /** When false, only schedules (no Worker is started). @defaultValue true */
  process?: boolean;
  log: Logger;
}

/**
 * Follows the catalog for one projection.
 *
 * A batch is a BullMQ flow: child jobs that each project a chunk of the batch's ids (any worker copy
 * may run them, in parallel; one chunk costs one job, one Redis round trip for its per-id locks, one
 * catalog query and one flush to disk, whatever its size) and a parent job that runs once every child
 * has succeeded and moves the cursor —
 * compare-and-set in PostgreSQL, so a duplicate or stale batch can never move it back or past
 * work not done. The parent's job id is derived from the cursor, so every copy that schedules the
 * same batch schedules the same parent, and duplicates collapse; a chunk runs only while its batch
 * is the current one. Redis holds only this work in flight: if it is
 * flushed, the next schedule (on a catalog notification or the timer) recreates the batch from
 * the cursor.
 */
export function createProjectionRunner(options: ProjectionRunnerOptions) {
  const { projection, db, connection, prefix, feedId, log } = options;
  const batchSize = options.batchSize ?? 500;
  const concurrency = options.concurrency ?? 4;
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new Error(`concurrency must be a positive integer, got ${concurrency}`);
  const queueName = options.queueName ?? projectionQueueName(projection);
  const cursorName = options.cursor ?? projection;
  const queue = new Queue(queueName, { connection, prefix });
  const flow = new FlowProducer({ connection, prefix });
  queue.on('error', (err) => log.error({ err }, 'queue error'));
  flow.on('error', (err) => log.error({ err }, 'flow producer error'));

  /** Whether a batch (from its job data) is the current one: the cursor is at its start, in its run. */
  const isCurrent = async (batch: { from: Date; runId?: string | undefined }): Promise<boolean> => {
    const now = await readCursorState(db, feedId, cursorName);
    const cursor = now?.cursor ?? new Date(0);
    return cursor.getTime() === batch.from.getTime() && (batch.runId === undefined || batch.runId === now?.runId);
  };

  let scheduling = false;
  let again = false;
  let closed = false;

  const scheduleLockKey = `${prefix}:lock:schedule:${queueName}:${feedId}:${cursorName}`;
  let cursorCreated = false;

  /**
   * Schedules the next batch unless it is in flight, holding the schedule lock of this cursor: the
   * look (is the batch there?) and the add must not interleave with another copy's, or both add it.
   */
  async function scheduleOnce(): Promise<void> {
    // The cursor exists (at the epoch) from the first schedule on, even while Redis is down: status
    // pages and `/v3/cursors.json` then show the projection as behind rather than missing.
    if (!cursorCreated) {
      await getCursorState(db, feedId, cursorName);
      cursorCreated = true;
    }
    try {
      await withIdLocks(connection, () => scheduleLockKey, [cursorName], scheduleLocked, { ttlMs: SCHEDULE_LOCK_TTL_MS, waitMs: SCHEDULE_LOCK_WAIT_MS });
    } catch (error) {
      // Another copy held it all that time (or died holding it): it schedules, or the next tick does.
      if (!(error instanceof IdBusyError)) throw error;
      log.debug({ cursor: cursorName }, 'another copy is scheduling');
    }
  }

  async function scheduleLocked(): Promise<void> {
    const { cursor: from, runId } = await getCursorState(db, feedId, cursorName);
    const jobId = batchJobId(feedId, from, runId);
    const existing = await queue.getJob(jobId);
    if (existing) {
      const state = await existing.getState();
      if (state === 'completed') {
        // A completed batch has already moved the cursor past `from`, unless the cursor was set
        // back since without a new run (a restored database): then that batch is history, and
        // keeping it would stall the projection until it expires. Its children go too, or they
        // would count as done without projecting anything.
        if ((await getCursor(db, feedId, cursorName)).getTime() !== from.getTime()) return; // just finished
        log.info({ jobId }, 'cursor set back: replaying a batch done before');
        await existing.remove({ removeChildren: true });
      } else {
        if (state !== 'failed' && state !== 'unknown') return; // in flight
        log.warn({ jobId, state }, 'retrying failed batch');
        await existing.remove({ removeChildren: true }).catch((err) => log.warn({ err, jobId }, 'could not remove failed batch'));
      }
    }
    const upTo = await options.upperBound?.();
    if (upTo && upTo.getTime() <= from.getTime()) return;
    const batch = await readBatchIds(db, feedId, from, batchSize, upTo);
    if (!batch) return;
    const { ids } = batch;
    const data: AdvanceCursorJobData = { feedId, from: from.toISOString(), to: batch.to.toISOString(), ids: ids.length, runId };
    await flow.add({
      name: JOB_ADVANCE_CURSOR,
      queueName,
      data,
      opts: {
        jobId,
        attempts: 10,
        backoff: { type: 'exponential', delay: 500 },
        // Kept for a day so a stale scheduler that read the old cursor finds it and does nothing.
        removeOnComplete: { age: 24 * 3600, count: 10_000 },
        removeOnFail: { age: 7 * 24 * 3600 },
      },
      children: chunkIds(ids, concurrency).map((lowerIds) => ({
        name: JOB_PROJECT_IDS,
        queueName,
        data: { feedId, from: from.toISOString(), to: data.to, lowerIds, runId } satisfies ProjectIdsJobData,
        opts: {
          jobId: chunkJobId(feedId, from),
          attempts: 12,
          backoff: { type: 'exponential', delay: 250 },
          failParentOnFailure: true,
          removeOnComplete: { age: 3600 },
          removeOnFail: { age: 7 * 24 * 3600 },
        },
      })),
    });
    log.debug({ from: data.from, to: data.to, ids: ids.length, items: batch.items }, 'scheduled batch');
  }

  /** Schedules the next batch if none is in flight. Concurrent calls coalesce. */
  async function schedule(): Promise<void> {
    if (closed) return;
    if (scheduling) {
      again = true;
      return;
    }
    scheduling = true;
    try {
      do {
        again = false;
        await scheduleOnce();
      } while (again && !closed);
    } finally {
      scheduling = false;
    }
  }

  let worker: Worker | undefined;
  if (options.process !== false) {
    worker = new Worker(
      queueName,
      async (job: Job) => {
        if (job.name === JOB_PROJECT_IDS) {
          const data = job.data as ProjectIdsJobData;
          const batch = typeof data.to === 'string' ? { from: new Date(data.from), to: new Date(data.to), runId: data.runId } : undefined;
          const started = performance.now();
          let skipped = false;
          await withIdLocks(connection, (lowerId) => idLockKey(prefix, projection, feedId, lowerId), data.lowerIds, async (lowerIds) => {
            if (batch) await options.guard?.();
            // A chunk runs only while its batch is the current one: its parent then waits for it, so the
            // cursor cannot move during the run. A chunk of a batch already done (a second scheduler's
            // copy, added after the first copy had finished) would write an older state over a newer one.
            if (skipped || (batch && !(await isCurrent(batch)))) {
              skipped = true;
              return;
            }
            await options.project(lowerIds, batch);
          });
          if (skipped) log.debug({ from: data.from, ids: data.lowerIds.length }, 'skipped a chunk of a batch already done');
          else log.debug({ ids: data.lowerIds.length, first: data.lowerIds[0], ms: Math.round(performance.now() - started) }, 'projected ids');
          return;
        }
        if (job.name === JOB_PROJECT_ID) {
          // Scheduled by an older version, one id per job: rebuild that id whole.
          const { lowerId } = job.data as ProjectIdJobData;
          await withIdLock(connection, idLockKey(prefix, projection, feedId, lowerId), lowerId, () => options.project([lowerId], undefined));
          return;
        }
        if (job.name === JOB_ADVANCE_CURSOR) {
          const data = job.data as AdvanceCursorJobData;
          const moved = await advanceCursor(db, feedId, cursorName, new Date(data.from), new Date(data.to), data.runId);
          log.info({ from: data.from, to: data.to, ids: data.ids, moved }, 'projected batch');
          // More commits may be waiting: look right away instead of at the next tick.
          setImmediate(() => schedule().catch((err) => log.error({ err }, 'schedule failed')));
          return;
        }
        throw new Error(`unknown job ${job.name}`);
      },
      {
        connection,
        prefix,
        concurrency,
        // Per-id jobs take milliseconds to seconds, and BullMQ renews a held lock every half
        // lockDuration. Short values mean a crashed worker's jobs are picked up again after about
        // 15 s (lock expiry + stalled check) instead of a minute, during which the batch — and so
        // the projection — waits.
        lockDuration: 10_000,
        stalledInterval: 5_000,
      },
    );
    worker.on('error', (err) => log.error({ err }, 'worker error'));
    worker.on('failed', (job, err) => log.warn({ err: err.message, job: job?.id, attempts: job?.attemptsMade }, 'job failed'));
  }

  return {
    projection,
    cursor: cursorName,
    schedule,
    async close(): Promise<void> {
      closed = true;
      await worker?.close();
      await flow.close();
      await queue.close();
    },
  };
}

export type ProjectionRunner = ReturnType<typeof createProjectionRunner>;
