import { FlowProducer, Queue, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { advanceCursor, getCursor, readCatalogBatch } from '@nucat/catalog';
import type { Logger } from '@nucat/config';
import type { Db } from '@nucat/db';
import {
  JOB_ADVANCE_CURSOR,
  JOB_PROJECT_ID,
  batchJobId,
  idJobId,
  projectionQueueName,
  type AdvanceCursorJobData,
  type ProjectIdJobData,
  type ProjectionName,
} from '@nucat/queue';
import { idLockKey, withIdLock } from './id-lock.js';

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
  /** Rebuilds one id's documents from the catalog (idempotent). */
  project(lowerId: string): Promise<unknown>;
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
  /** When false, only schedules (no Worker is started). @defaultValue true */
  process?: boolean;
  log: Logger;
}

/**
 * Follows the catalog for one projection.
 *
 * A batch is a BullMQ flow: one child job per id in the batch (any worker copy may run them, in
 * parallel) and a parent job that runs once every child has succeeded and moves the cursor —
 * compare-and-set in PostgreSQL, so a duplicate or stale batch can never move it back or past
 * work not done. Job ids are derived from the cursor, so every copy that schedules the same batch
 * schedules the same jobs, and duplicates collapse. Redis holds only this work in flight: if it is
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

  let scheduling = false;
  let again = false;
  let closed = false;

  async function scheduleOnce(): Promise<void> {
    const from = await getCursor(db, feedId, cursorName);
    const jobId = batchJobId(feedId, from);
    const existing = await queue.getJob(jobId);
    if (existing) {
      const state = await existing.getState();
      if (state === 'completed') {
        // A completed batch has already moved the cursor past `from`, unless the cursor was set
        // back since (a replay, or a restored database): then that batch is history, and keeping
        // it would stall the projection until it expires. Its children go too, or they would
        // count as done without projecting anything.
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
    const batch = await readCatalogBatch(db, feedId, from, batchSize, upTo);
    if (!batch) return;
    const ids = [...new Set(batch.items.map((i) => i.lowerId))].sort();
    const data: AdvanceCursorJobData = { feedId, from: from.toISOString(), to: batch.to.toISOString(), ids: ids.length };
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
      children: ids.map((lowerId) => ({
        name: JOB_PROJECT_ID,
        queueName,
        data: { feedId, lowerId } satisfies ProjectIdJobData,
        opts: {
          jobId: idJobId(feedId, from, lowerId),
          attempts: 12,
          backoff: { type: 'exponential', delay: 250 },
          failParentOnFailure: true,
          removeOnComplete: { age: 3600 },
          removeOnFail: { age: 7 * 24 * 3600 },
        },
      })),
    });
    log.debug({ from: data.from, to: data.to, ids: ids.length, items: batch.items.length }, 'scheduled batch');
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
        if (job.name === JOB_PROJECT_ID) {
          const { lowerId } = job.data as ProjectIdJobData;
          const started = performance.now();
          const result = await withIdLock(connection, idLockKey(prefix, projection, feedId, lowerId), lowerId, () => options.project(lowerId));
          log.debug({ lowerId, ms: Math.round(performance.now() - started), result }, 'projected id');
          return;
        }
        if (job.name === JOB_ADVANCE_CURSOR) {
          const data = job.data as AdvanceCursorJobData;
          const moved = await advanceCursor(db, feedId, cursorName, new Date(data.from), new Date(data.to));
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
