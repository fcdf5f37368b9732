#!/usr/bin/env node
import { mkdir } from 'node:fs/promises';
import { pino } from 'pino';
import { findFeedId } from '@nucat/catalog';
import { loadConfig } from '@nucat/config';
import { createDb } from '@nucat/db';
import { createLimitedServer, createMetrics } from '@nucat/http';
import { createFilesystemBlobStore } from '@nucat/storage';
import { createPublishApp } from './app.js';

const config = loadConfig(process.env);
const log = pino({ level: config.logLevel, base: { app: 'publish-api' }, redact: ['req.headers["x-nuget-apikey"]', 'req.headers.authorization'] });
const db = createDb(config.database);
const store = createFilesystemBlobStore({ root: config.storage.root });
await mkdir(config.publish.tempDir, { recursive: true });
const feedId = await findFeedId(db, config.feed.name);
if (feedId === undefined) {
  log.fatal({ feed: config.feed.name }, 'feed not found: run `nucat migrate` first');
  process.exit(1);
}

const shuttingDown = new AbortController();
const metrics = createMetrics({ app: 'publish-api' });
const app = createPublishApp({
  db,
  store,
  feedId,
  log,
  maxPackageBytes: config.publish.maxPackageBytes,
  tempDir: config.publish.tempDir,
  lockTimeoutMs: config.publish.lockTimeoutMs,
  shutdownSignal: shuttingDown.signal,
  metrics,
  authFailures: config.authFailures,
});
// Slow clients (slowloris) and connection floods must not pin the process: headers timeout, body
// minimum rate, keep-alive timeout and a connection cap (reliability.md §2 #2, #29).
const server = createLimitedServer(app.callback(), config.http, { log, metrics });
server.listen(config.http.publishPort, config.http.host, () => {
  log.info({ url: config.publishUrl, port: config.http.publishPort }, 'publish-api listening');
});

let closing = false;
async function shutdown(signal: string) {
  if (closing) return;
  closing = true;
  shuttingDown.abort();
  log.info({ signal }, 'shutting down');
  server.close();
  server.closeIdleConnections();
  await db.destroy();
  await store.close();
  process.exit(0);
}
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));
