#!/usr/bin/env node
import { pino } from 'pino';
import { createFeedUrls, findFeedId } from '@nucat/catalog';
import { loadConfig } from '@nucat/config';
import { createDb } from '@nucat/db';
import { createFilesystemBlobStore } from '@nucat/storage';
import { createReadApp } from './app.js';
import { createDownloadCounter } from './download-counter.js';
import { createSearchBackend } from './search-backend.js';

const config = loadConfig(process.env);
const log = pino({ level: config.logLevel, base: { app: 'read-api' }, redact: ['req.headers.authorization'] });
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
const app = createReadApp({
  db,
  store,
  feedId,
  urls,
  publishUrl: config.publishUrl,
  log,
  search,
  downloads,
  access: config.access,
  shutdownSignal: shuttingDown.signal,
  ready: config.ready,
});
const server = app.listen(config.http.readPort, config.http.host, () => {
  log.info({ serviceIndex: `${config.publicUrl}/v3/index.json`, private: config.access.private }, 'read-api listening');
});
server.headersTimeout = config.http.headersTimeoutMs;
server.requestTimeout = config.http.requestTimeoutMs;
server.keepAliveTimeout = 65_000;

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
