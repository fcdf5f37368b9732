#!/usr/bin/env node
import { pino } from 'pino';
import { createFeedUrls, findFeedId } from '@nucat/catalog';
import { loadConfig } from '@nucat/config';
import { createDb } from '@nucat/db';
import { createAuthFailureLimiter, createLimitedServer, createMetrics } from '@nucat/http';
import { createFilesystemBlobStore } from '@nucat/storage';
import { createReadApp } from './app.js';
import { createDownloadCounter } from './download-counter.js';
import { createSearchBackend } from './search-backend.js';

const config = loadConfig(process.env);
// One access-log line per request: written in batches of 4 KiB (and at least every second, and on exit)
// rather than one asynchronous write per line, each a hand-off to libuv's thread pool.
const log = pino(
  { level: config.logLevel, base: { app: 'read-api' }, redact: ['req.headers.authorization'] },
  pino.destination({ dest: 1, sync: false, minLength: 4096, periodicFlush: 1000 }),
);
const db = createDb(config.database);
const store = createFilesystemBlobStore({ root: config.storage.root });
const feedId = await findFeedId(db, config.feed.name);
if (feedId === undefined) {
  log.fatal({ feed: config.feed.name }, 'feed not found: run `nucat migrate` first');
  process.exit(1);
}
const urls = createFeedUrls(`${config.publicUrl}/v3/`);
const search = await createSearchBackend(config, db);
const downloads = createDownloadCounter({ db, feedId, log, flushIntervalMs: config.read.downloadFlushMs });
const shuttingDown = new AbortController();
const metrics = createMetrics({ app: 'read-api' });
const failedKeyLimiter =
  config.authFailures.maxFailures > 0 ? createAuthFailureLimiter({ ...config.authFailures, metrics }) : undefined;
const app = createReadApp({
  db,
  store,
  localFiles: { root: config.storage.root, cacheBytes: config.read.cacheBytes },
  feedId,
  urls,
  publishUrl: config.publishUrl,
  log,
  search,
  downloads,
  access: { ...config.access, ...(failedKeyLimiter ? { failedKeyLimiter } : {}) },
  metrics,
  shutdownSignal: shuttingDown.signal,
  ready: config.ready,
});
// Slow clients (slowloris) and connection floods must not pin the process: headers timeout, body
// minimum rate, keep-alive timeout and a connection cap (reliability.md §2 #2, #29).
const server = createLimitedServer(app.callback(), config.http, { log, metrics });
server.listen(config.http.readPort, config.http.host, () => {
  log.info({ serviceIndex: `${config.publicUrl}/v3/index.json`, private: config.access.private }, 'read-api listening');
});

let closing = false;
async function shutdown(signal: string) {
  if (closing) return;
  closing = true;
  shuttingDown.abort();
  log.info({ signal }, 'shutting down');
  server.close();
  server.closeIdleConnections();
  await downloads.close();
  await search.close();
  await db.destroy();
  await store.close();
  process.exit(0);
}
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));
