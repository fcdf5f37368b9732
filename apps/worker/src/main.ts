#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { createFeedUrls, findFeedId } from '@nucat/catalog';
import { loadConfig } from '@nucat/config';
import { createDb } from '@nucat/db';
import { createFilesystemBlobStore } from '@nucat/storage';
import { PROJECTIONS, type ProjectionName } from '@nucat/queue';
import { startWorkerOps } from './ops-server.js';
import { createWorker } from './worker.js';
import { createSearchBackend } from './search-backend.js';
import { followMirror } from '@nucat/mirror';

// `worker --projections registration --concurrency 8` overrides NUCAT_WORKER_* for this process.
const { values: args } = parseArgs({
  options: { projections: { type: 'string' }, concurrency: { type: 'string' } },
  allowPositionals: false,
});
const config = loadConfig({
  ...process.env,
  ...(args.projections ? { NUCAT_WORKER_PROJECTIONS: args.projections } : {}),
  ...(args.concurrency ? { NUCAT_WORKER_CONCURRENCY: args.concurrency } : {}),
});
const log = pino({ level: config.logLevel, base: { app: 'worker' } });
const db = createDb(config.database);
const store = createFilesystemBlobStore({ root: config.storage.root });
const feedId = await findFeedId(db, config.feed.name);
if (feedId === undefined) {
  log.fatal({ feed: config.feed.name }, 'feed not found: run `nucat migrate` first');
  process.exit(1);
}
const projections = config.worker.projections.filter((p): p is ProjectionName => (PROJECTIONS as readonly string[]).includes(p));
const search = projections.includes('search') ? await createSearchBackend(config, db) : undefined;
// /metrics, /health and /ready on NUCAT_WORKER_PORT (ops-server.ts).
const shuttingDown = new AbortController();
const ops = await startWorkerOps({
  db,
  feedId,
  projections,
  redisUrl: config.redis.url,
  redisPrefix: config.redis.prefix,
  host: config.http.host,
  port: config.http.workerPort,
  maxLagSeconds: config.ready.maxLagSeconds,
  shutdownSignal: shuttingDown.signal,
  log,
});
const worker = createWorker({
  ...(search ? { search } : {}),
  db,
  store,
  urls: createFeedUrls(`${config.publicUrl}/v3/`),
  feedId,
  databaseUrl: config.database.url,
  redisUrl: config.redis.url,
  redisPrefix: config.redis.prefix,
  projections,
  concurrency: config.worker.concurrency,
  batchSize: config.worker.batchSize,
  pollIntervalMs: config.worker.pollIntervalMs,
  pageGraceMs: config.worker.pageGraceSeconds * 1000,
  onProjected: ops.metrics.countProjected,
  log,
});
await worker.start();
log.info({ projections, concurrency: config.worker.concurrency }, 'worker started');

// Replication: follow another feed's catalog continuously (NUCAT_MIRROR_SOURCE).
const mirrorSource = config.mirror.source;
const mirroring = mirrorSource
  ? followMirror({
      db,
      store,
      feedId,
      source: mirrorSource,
      ...(config.mirror.idGlobs.length > 0 ? { idGlobs: config.mirror.idGlobs } : {}),
      tempDir: config.publish.tempDir,
      // Less than the CLI's default: the worker's database pool also serves its projections.
      concurrency: 8,
      ...(config.mirror.allowLinkLocal ? { http: { allowLinkLocal: true } } : {}),
      intervalMs: config.mirror.intervalMs,
      signal: shuttingDown.signal,
      log: log.child({ task: 'mirror', source: mirrorSource }),
    }).catch((err) => log.error({ err }, 'mirror stopped'))
  : undefined;
if (mirrorSource) log.info({ source: mirrorSource }, 'mirroring');

let closing = false;
async function shutdown(signal: string) {
  if (closing) return;
  closing = true;
  shuttingDown.abort();
  log.info({ signal }, 'shutting down');
  await mirroring;
  await worker.close();
  await ops.close();
  await search?.close();
  await db.destroy();
  await store.close();
  process.exit(0);
}
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));
