#!/usr/bin/env node
import { mkdir } from 'node:fs/promises';
import { pino } from 'pino';
import { findFeedId } from '@nucat/catalog';
import { loadConfig } from '@nucat/config';
import { createDb } from '@nucat/db';
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
const app = createPublishApp({
  db,
  store,
  feedId,
  log,
  maxPackageBytes: config.publish.maxPackageBytes,
  tempDir: config.publish.tempDir,
  shutdownSignal: shuttingDown.signal,
});
const server = app.listen(config.http.publishPort, config.http.host, () => {
  log.info({ url: config.publishUrl, port: config.http.publishPort }, 'publish-api listening');
});
// Slow clients (slowloris) must not pin the process: bound header and whole-request time.
server.headersTimeout = config.http.headersTimeoutMs;
server.requestTimeout = config.http.requestTimeoutMs;

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
