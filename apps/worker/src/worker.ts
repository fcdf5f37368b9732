import { Redis } from 'ioredis';
import pg from 'pg';
import {
  CATALOG_NOTIFY_CHANNEL,
  CURSOR_NOTIFY_CHANNEL,
  flatContainerPrefix,
  generationCursorName,
  generationRoot,
  getCursor,
  isBlobProjection,
  readLatestItems,
  type BlobProjection,
  type FeedUrls,
} from '@nucat/catalog';
import type { Logger } from '@nucat/config';
import type { Db } from '@nucat/db';
import { createFlatContainerProjector, createRegistrationProjector, createSearchProjector } from '@nucat/projections';
import type { SearchBackend } from '@nucat/search';
import { projectionQueueName, type ProjectionName } from '@nucat/queue';
import type { BlobStore } from '@nucat/storage';
import { createDownloadSync } from './download-sync.js';
import { createGenerationManager, createGenerationsPointer, type GenerationManager } from './generations.js';
import { createProjectionRunner, type ProjectionRunner } from './projection-runner.js';

/** Collaborators and settings of a worker process. */
export interface WorkerDeps {
  db: Db;
  store: BlobStore;
  urls: FeedUrls;
  feedId: number;
  databaseUrl: string;
  redisUrl: string;
  redisPrefix: string;
  projections: readonly ProjectionName[];
  concurrency: number;
  batchSize: number;
  pollIntervalMs: number;
  /** The search backend; required when `projections` includes 'search'. */
  search?: SearchBackend;
  /** How often download counts are copied into search. @defaultValue 10000 */
  downloadSyncMs?: number;
  /**
   * Rebuilds of the blob projections (`nucat rebuild`): see {@link createGenerationManager} for
   * each setting and its default.
   */
  rebuild?: { retireAfterMs?: number; settleMs?: number; finalCatchUpItems?: number };
  /** Called after each id this process projected for a live projection (metrics: ops-server.ts). */
  onProjected?: (projection: ProjectionName) => void;
  log: Logger;
}

/** Search must not pass these: a package is never findable before it is restorable. */
const RESTORE_PROJECTIONS: readonly ProjectionName[] = ['flatcontainer', 'registration'];

/**
 * A worker: one projection runner per configured projection, woken by PostgreSQL NOTIFY on every
 * catalog commit and by a timer (catch-up after downtime, or when Redis or the notification
 * connection was lost). Nothing here is the source of truth; the cursors are in PostgreSQL.
 */
export function createWorker(deps: WorkerDeps) {
  const { log } = deps;
  const connection = new Redis(deps.redisUrl, { maxRetriesPerRequest: null, enableReadyCheck: true });
  connection.on('error', (err) => log.warn({ err: err.message }, 'redis error'));
  const loadLatestItems = (lowerId: string) => readLatestItems(deps.db, deps.feedId, lowerId);
  if (deps.projections.includes('search') && !deps.search) throw new Error("the 'search' projection needs a search backend");
  // Blob projections write into generations (key prefixes) so they can be rebuilt beside the one
  // served; generation 0 is the unprefixed layout.
  const projectInto = (projection: BlobProjection, generation: number, lowerId: string): Promise<unknown> =>
    projection === 'flatcontainer'
      ? createFlatContainerProjector({ store: deps.store, loadLatestItems, prefix: flatContainerPrefix(generation) }).project(lowerId)
      : createRegistrationProjector({ store: deps.store, urls: deps.urls, loadLatestItems, root: generationRoot(generation) }).project(lowerId);
  const pointer = createGenerationsPointer({ db: deps.db, store: deps.store, feedId: deps.feedId, log: log.child({ task: 'generations' }) });
  const generations = new Map<BlobProjection, GenerationManager>();
  for (const projection of deps.projections.filter(isBlobProjection)) {
    generations.set(
      projection,
      createGenerationManager({
        db: deps.db,
        store: deps.store,
        feedId: deps.feedId,
        projection,
        connection,
        redisPrefix: deps.redisPrefix,
        projectInto: (generation, lowerId) => projectInto(projection, generation, lowerId),
        createRunner: (generation) =>
          createProjectionRunner({
            projection,
            cursor: generationCursorName(projection, generation),
            queueName: `${projectionQueueName(projection)}-g${generation}`,
            db: deps.db,
            connection,
            prefix: deps.redisPrefix,
            feedId: deps.feedId,
            project: (lowerId) => projectInto(projection, generation, lowerId),
            batchSize: deps.batchSize,
            concurrency: deps.concurrency,
            log: log.child({ projection, generation }),
          }),
        pointer,
        ...deps.rebuild,
        log: log.child({ projection, task: 'generations' }),
      }),
    );
  }
  const projectors: Record<ProjectionName, (lowerId: string) => Promise<unknown>> = {
    flatcontainer: (lowerId) => generations.get('flatcontainer')!.projectLive(lowerId),
    registration: (lowerId) => generations.get('registration')!.projectLive(lowerId),
    search: (lowerId) => createSearchProjector({ backend: deps.search!, feedId: deps.feedId, urls: deps.urls, loadLatestItems }).project(lowerId),
  };
  const restoreBound = async () => {
    const cursors = await Promise.all(RESTORE_PROJECTIONS.map((p) => getCursor(deps.db, deps.feedId, p)));
    return new Date(Math.min(...cursors.map((c) => c.getTime())));
  };
  const runners: ProjectionRunner[] = deps.projections.map((projection) =>
    createProjectionRunner({
      projection,
      db: deps.db,
      connection,
      prefix: deps.redisPrefix,
      feedId: deps.feedId,
      project: async (lowerId: string) => {
        const result = await projectors[projection](lowerId);
        deps.onProjected?.(projection);
        return result;
      },
      batchSize: deps.batchSize,
      concurrency: deps.concurrency,
      ...(projection === 'search' ? { upperBound: restoreBound } : {}),
      log: log.child({ projection }),
    }),
  );

  const scheduleAll = () => {
    for (const runner of runners) {
      runner.schedule().catch((err) => log.warn({ err: err instanceof Error ? err.message : err, projection: runner.projection }, 'schedule failed'));
    }
    for (const manager of generations.values()) {
      manager.tick().catch((err) => log.warn({ err: err instanceof Error ? err.message : err, projection: manager.projection }, 'rebuild step failed'));
    }
  };

  const downloadSync = deps.search && deps.projections.includes('search')
    ? createDownloadSync({ db: deps.db, feedId: deps.feedId, backend: deps.search, log: log.child({ task: 'downloads' }), intervalMs: deps.downloadSyncMs ?? 10_000 })
    : undefined;

  let listener: pg.Client | undefined;
  let timer: NodeJS.Timeout | undefined;
  let reconnect: NodeJS.Timeout | undefined;
  let stopped = false;

  async function listen(): Promise<void> {
    if (stopped) return;
    const client = new pg.Client({ connectionString: deps.databaseUrl });
    const retry = () => {
      if (listener === client) listener = undefined;
      client.end().catch(() => {});
      if (!stopped && !reconnect) reconnect = setTimeout(() => {
        reconnect = undefined;
        void listen();
      }, 1_000);
    };
    client.on('error', (err) => {
      log.warn({ err: err.message }, 'notification connection lost');
      retry();
    });
    client.on('notification', (msg) => {
      if (msg.channel === CATALOG_NOTIFY_CHANNEL && msg.payload === String(deps.feedId)) scheduleAll();
      // A moved cursor can unblock a projection bounded by it (search follows the restore projections).
      if (msg.channel === CURSOR_NOTIFY_CHANNEL && msg.payload?.startsWith(`${deps.feedId}:`)) scheduleAll();
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${CATALOG_NOTIFY_CHANNEL}`);
      await client.query(`LISTEN ${CURSOR_NOTIFY_CHANNEL}`);
      listener = client;
      scheduleAll(); // catch up on anything committed while not listening
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'could not listen for catalog commits');
      retry();
    }
  }

  return {
    runners,
    /** The generation manager of each blob projection this worker runs. */
    generations,
    scheduleAll,
    async start(): Promise<void> {
      await listen();
      timer = setInterval(scheduleAll, deps.pollIntervalMs);
      scheduleAll();
      downloadSync?.start();
    },
    async close(): Promise<void> {
      stopped = true;
      if (timer) clearInterval(timer);
      if (reconnect) clearTimeout(reconnect);
      await listener?.end().catch(() => {});
      await downloadSync?.close();
      await Promise.all([...generations.values()].map((m) => m.close()));
      await Promise.all(runners.map((r) => r.close()));
      connection.disconnect();
    },
  };
}
