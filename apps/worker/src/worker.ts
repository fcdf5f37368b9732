import { Redis } from 'ioredis';
import { sql } from 'kysely';
import pg from 'pg';
import {
  BLOB_PROJECTIONS,
  CATALOG_NOTIFY_CHANNEL,
  CURSOR_NOTIFY_CHANNEL,
  flatContainerPrefix,
  generationCursorName,
  generationRoot,
  getCursor,
  isBlobProjection,
  listWriteGenerations,
  type BlobProjection,
  type CatalogItem,
  type FeedUrls,
} from '@nucat/catalog';
import { readOwnerNames } from '@nucat/auth';
import type { Logger } from '@nucat/config';
import type { Db } from '@nucat/db';
import { createFlatContainerProjector, createRegistrationProjector, createSearchProjector } from '@nucat/projections';
import type { SearchBackend } from '@nucat/search';
import { projectionQueueName, type ProjectionName } from '@nucat/queue';
import type { BlobStore } from '@nucat/storage';
import { createCatalogStateCache, readLatestItemsOf, type CatalogStateCache } from './catalog-state.js';
import { createDownloadSync } from './download-sync.js';
import { createGenerationManager, createGenerationsPointer, type GenerationManager } from './generations.js';
import { createProjectionRunner, type BatchRange, type ProjectionRunner } from './projection-runner.js';

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
  /**
   * How long a registration page stays after the index stops linking it, in milliseconds (the
   * registration projector's `pageGraceMs`). @defaultValue one hour
   */
  pageGraceMs?: number;
  /** Called after each id this process projected for a live projection (metrics: ops-server.ts). */
  onProjected?: (projection: ProjectionName) => void;
  log: Logger;
}

/** A generation switch is under way: a chunk of the rebuild it ends is retried (and then finds its batch done). */
export class GenerationSwitchingError extends Error {
  /** Stable error code. */
  readonly code = 'generation_switching' as const;

  constructor(projection: string) {
    super(`the ${projection} generation being rebuilt is switching to: retrying later`);
    this.name = 'GenerationSwitchingError';
  }
}

/** Search must not pass these: a package is never findable before it is restorable. */
const RESTORE_PROJECTIONS: readonly ProjectionName[] = ['flatcontainer', 'registration'];

/** Ids of one chunk projected at once (each writes its documents with some concurrency of its own). */
const ID_CONCURRENCY = 4;

/** Runs `fn` on every item, at most `limit` at once; rejects with the first failure once all settled. */
async function eachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length && failure === undefined) {
        try {
          await fn(items[next++]!);
        } catch (error) {
          failure ??= { error };
        }
      }
    }),
  );
  if (failure !== undefined) throw failure.error;
}

/**
 * A worker: one projection runner per configured projection, woken by PostgreSQL NOTIFY on every
 * catalog commit and by a timer (catch-up after downtime, or when Redis or the notification
 * connection was lost). Nothing here is the source of truth; the cursors are in PostgreSQL.
 */
export function createWorker(deps: WorkerDeps) {
  const { log } = deps;
  const connection = new Redis(deps.redisUrl, { maxRetriesPerRequest: null, enableReadyCheck: true });
  connection.on('error', (err) => log.warn({ err: err.message }, 'redis error'));
  if (deps.projections.includes('search') && !deps.search) throw new Error("the 'search' projection needs a search backend");
  /** The rebuild cursor of each of `generations` that has one: the catalog state it holds at least. */
  const generationFloors = async (projection: BlobProjection, generations: readonly number[]): Promise<Map<number, Date>> => {
    const names = new Map(generations.map((g) => [generationCursorName(projection, g), g]));
    const rows = await deps.db
      .selectFrom('projection_cursors')
      .select(['projection', 'cursor'])
      .where('feed_id', '=', deps.feedId)
      .where('projection', 'in', [...names.keys()])
      .execute();
    return new Map(rows.map((row) => [names.get(row.projection)!, row.cursor]));
  };
  /**
   * Projects a chunk of ids of a blob projection into each of `generations` (key prefixes, so a
   * projection can be rebuilt beside the one served; generation 0 is the unprefixed layout): one
   * catalog query for the chunk, writes that are atomic but not flushed one by one, then one flush
   * of them all before it resolves (and so before the batch's cursor can move).
   *
   * For a batch, each id is projected as of the batch's last commit, writing only what the batch's
   * items changed (`since` its first): every version is written once per change over a whole replay,
   * and a generation's documents always equal the catalog state at its cursor. A generation never
   * goes back in time, though: one switched to holds the state at the switch (its rebuild cursor),
   * possibly ahead of the live cursor that writes it next, so it is written as of that point then.
   * Without a batch (the final catch-up of a switch, or a job of an older version), from the latest
   * state, whole. (So a cursor set back in place — `resetCursor` — replays history: the documents go
   * back in time until the replay has caught up. `nucat rebuild` replays into a new generation instead.)
   */
  const projectBlobIds = async (
    projection: BlobProjection,
    generations: readonly number[],
    lowerIds: readonly string[],
    batch: BatchRange | undefined,
    cache?: CatalogStateCache,
  ): Promise<void> => {
    // Generation 0 is never rebuilt: no floor to look up unless a rebuilt generation is written.
    const floors = batch === undefined || generations.every((g) => g === 0) ? new Map<number, Date>() : await generationFloors(projection, generations);
    const states = new Map<number, Promise<Map<string, CatalogItem[]>>>();
    const stateAsOf = (upTo: Date | undefined) => {
      const key = upTo?.getTime() ?? Number.POSITIVE_INFINITY;
      let state = states.get(key);
      if (!state) {
        state = upTo !== undefined && cache ? cache.load(lowerIds, upTo) : readLatestItemsOf(deps.db, deps.feedId, lowerIds, upTo);
        states.set(key, state);
      }
      return state;
    };
    const options = batch === undefined ? {} : { since: batch.from };
    const started = performance.now();
    let loading = 0;
    for (const generation of generations) {
      const floor = floors.get(generation);
      const upTo = batch === undefined ? undefined : floor !== undefined && floor > batch.to ? floor : batch.to;
      const loadStarted = performance.now();
      const state = await stateAsOf(upTo);
      loading += performance.now() - loadStarted;
      const loadLatestItems = async (lowerId: string) => state.get(lowerId) ?? [];
      const projector =
        projection === 'flatcontainer'
          ? createFlatContainerProjector({ store: deps.store, loadLatestItems, prefix: flatContainerPrefix(generation), durable: false })
          : createRegistrationProjector({
              store: deps.store,
              urls: deps.urls,
              loadLatestItems,
              root: generationRoot(generation),
              durable: false,
              ...(deps.pageGraceMs === undefined ? {} : { pageGraceMs: deps.pageGraceMs }),
            });
      await eachLimited(lowerIds, ID_CONCURRENCY, (lowerId) => projector.project(lowerId, options));
    }
    const written = performance.now();
    await deps.store.sync();
    log.debug(
      { projection, generations, ids: lowerIds.length, loadMs: Math.round(loading), writeMs: Math.round(written - started - loading), syncMs: Math.round(performance.now() - written) },
      'projected chunk',
    );
  };
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
        projectInto: (generation, lowerId) => projectBlobIds(projection, [generation], [lowerId], undefined),
        createRunner: (generation) => {
          const rebuildCache = createCatalogStateCache({ db: deps.db, feedId: deps.feedId });
          return createProjectionRunner({
            projection,
            cursor: generationCursorName(projection, generation),
            queueName: `${projectionQueueName(projection)}-g${generation}`,
            db: deps.db,
            connection,
            prefix: deps.redisPrefix,
            feedId: deps.feedId,
            project: (lowerIds, batch) => projectBlobIds(projection, [generation], lowerIds, batch, rebuildCache),
            // The switch (generations.ts) holds this row FOR UPDATE while it projects the last ids at
            // the catalog head (taking their id locks one by one) and moves this cursor there. A chunk
            // that wrote an id after the switch did would leave it at its state as of the batch, older
            // than the head, in the generation about to be served. So a chunk, holding its id locks,
            // backs off while the row is locked; a switch that starts later waits for those locks and
            // writes last, and a chunk that comes after it finds the cursor moved and writes nothing.
            guard: async () => {
              try {
                await sql`SELECT 1 FROM projection_generations WHERE feed_id = ${deps.feedId} AND projection = ${projection} FOR SHARE NOWAIT`.execute(deps.db);
              } catch (err) {
                if ((err as { code?: unknown }).code === '55P03') throw new GenerationSwitchingError(projection);
                throw err;
              }
            },
            batchSize: deps.batchSize,
            concurrency: deps.concurrency,
            log: log.child({ projection, generation }),
          });
        },
        pointer,
        ...deps.rebuild,
        log: log.child({ projection, task: 'generations' }),
      }),
    );
  }
  // The live cursor writes the active generation, and the one switched away from while it retires
  // (as GenerationManager.projectLive does for one id); read once per chunk, so a chunk that starts
  // after a switch writes the new generation.
  const liveCaches = new Map(BLOB_PROJECTIONS.map((projection) => [projection, createCatalogStateCache({ db: deps.db, feedId: deps.feedId })]));
  const projectLive = async (projection: BlobProjection, lowerIds: readonly string[], batch: BatchRange | undefined) =>
    projectBlobIds(projection, await listWriteGenerations(deps.db, deps.feedId, projection), lowerIds, batch, liveCaches.get(projection));
  const projectors: Record<ProjectionName, (lowerIds: readonly string[], batch: BatchRange | undefined) => Promise<unknown>> = {
    flatcontainer: (lowerIds, batch) => projectLive('flatcontainer', lowerIds, batch),
    registration: (lowerIds, batch) => projectLive('registration', lowerIds, batch),
    // Search documents are small and replace the id's whole entry in the backend, which is durable on
    // its own; they follow the latest state (a search rebuild replays in place, and must not go back in time).
    search: async (lowerIds) => {
      const [state, owners] = await Promise.all([readLatestItemsOf(deps.db, deps.feedId, lowerIds), readOwnerNames(deps.db, deps.feedId, lowerIds)]);
      const search = createSearchProjector({
        backend: deps.search!,
        feedId: deps.feedId,
        urls: deps.urls,
        loadLatestItems: async (lowerId) => state.get(lowerId) ?? [],
        loadOwners: async (lowerId) => owners.get(lowerId) ?? [],
      });
      await eachLimited(lowerIds, ID_CONCURRENCY, (lowerId) => search.project(lowerId));
    },
  };
  const restoreBound = async () => {
    const cursors = await Promise.all(RESTORE_PROJECTIONS.map((p) => getCursor(deps.db, deps.feedId, p)));
    return new Date(Math.min(...cursors.map((c) => c.getTime())));
  };
  const flatContainerBound = () => getCursor(deps.db, deps.feedId, 'flatcontainer');
  const runners: ProjectionRunner[] = deps.projections.map((projection) =>
    createProjectionRunner({
      projection,
      db: deps.db,
      connection,
      prefix: deps.redisPrefix,
      feedId: deps.feedId,
      project: async (lowerIds, batch) => {
        await projectors[projection](lowerIds, batch);
        for (let i = 0; i < lowerIds.length; i++) deps.onProjected?.(projection);
      },
      batchSize: deps.batchSize,
      concurrency: deps.concurrency,
      // Registration links every version's .nupkg in the flat container (packageContent), so it never
      // passes the flat container's cursor: a reader never follows a link to a missing file (reliability.md #42).
      ...(projection === 'search' ? { upperBound: restoreBound } : projection === 'registration' ? { upperBound: flatContainerBound } : {}),
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
