import { Redis } from 'ioredis';
import pg from 'pg';
import { CATALOG_NOTIFY_CHANNEL, readLatestItems, type FeedUrls } from '@nucat/catalog';
import type { Logger } from '@nucat/config';
import type { Db } from '@nucat/db';
import { createFlatContainerProjector, createRegistrationProjector } from '@nucat/projections';
import type { ProjectionName } from '@nucat/queue';
import type { BlobStore } from '@nucat/storage';
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
  log: Logger;
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
  const loadLatestItems = (lowerId: string) => readLatestItems(deps.db, deps.feedId, lowerId);
  const projectors: Record<ProjectionName, (lowerId: string) => Promise<unknown>> = {
    flatcontainer: createFlatContainerProjector({ store: deps.store, loadLatestItems }).project,
    registration: createRegistrationProjector({ store: deps.store, urls: deps.urls, loadLatestItems }).project,
  };
  const runners: ProjectionRunner[] = deps.projections.map((projection) =>
    createProjectionRunner({
      projection,
      db: deps.db,
      connection,
      prefix: deps.redisPrefix,
      feedId: deps.feedId,
      project: projectors[projection],
      batchSize: deps.batchSize,
      concurrency: deps.concurrency,
      log: log.child({ projection }),
    }),
  );

  const scheduleAll = () => {
    for (const runner of runners) {
      runner.schedule().catch((err) => log.warn({ err: err instanceof Error ? err.message : err, projection: runner.projection }, 'schedule failed'));
    }
  };

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
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${CATALOG_NOTIFY_CHANNEL}`);
      listener = client;
      scheduleAll(); // catch up on anything committed while not listening
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'could not listen for catalog commits');
      retry();
    }
  }

  return {
    runners,
    scheduleAll,
    async start(): Promise<void> {
      await listen();
      timer = setInterval(scheduleAll, deps.pollIntervalMs);
      scheduleAll();
    },
    async close(): Promise<void> {
      stopped = true;
      if (timer) clearInterval(timer);
      if (reconnect) clearTimeout(reconnect);
      await listener?.end().catch(() => {});
      await Promise.all(runners.map((r) => r.close()));
      connection.disconnect();
    },
  };
}
