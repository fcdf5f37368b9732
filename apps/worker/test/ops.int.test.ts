/**
 * The worker's operations server over real HTTP, against a real PostgreSQL and Redis: `/ready` follows
 * Redis and the database, the lag gauges equal catalog head − cursor, queue depth comes from BullMQ.
 */
import type { Server } from 'node:http';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { advanceCursor, appendCatalogCommit, findFeedId, getCursor, type CommitStamp } from '@nucat/catalog';
import type { Logger } from '@nucat/config';
import { createDb, migrateToLatest, type Db } from '@nucat/db';
import { projectionQueueName, type ProjectionName } from '@nucat/queue';
import { createTestDatabase, createTestRedisPrefix, freePort, type TestDatabase, type TestRedisPrefix } from '@nucat/testing';
import { createWorkerMetrics, type WorkerMetrics } from '../src/metrics.js';
import { createOpsServer, createWorkerReadiness, listenOpsServer, startWorkerOps } from '../src/ops-server.js';

const quiet: Logger = { error() {}, warn() {}, info() {}, debug() {}, child: () => quiet };
const PROJECTIONS: readonly ProjectionName[] = ['flatcontainer', 'registration'];

let database: TestDatabase;
let db: Db;
let feedId: number;
let redis: TestRedisPrefix;
/** Things to close after each test, last opened first. */
const opened: (() => Promise<unknown> | void)[] = [];

beforeAll(async () => {
  database = await createTestDatabase();
  db = createDb({ url: database.url });
  await migrateToLatest(db);
  feedId = (await findFeedId(db, 'main'))!;
  redis = createTestRedisPrefix();
});
afterEach(async () => {
  for (const close of opened.splice(0).reverse()) await close();
});
afterAll(async () => {
  await redis?.cleanup();
  await db?.destroy();
  await database?.drop();
});

/** Appends a commit of one PackageDelete leaf (no blobs needed) and returns its stamp. */
async function commit(lowerId: string): Promise<CommitStamp> {
  return db.transaction().execute((trx) =>
    appendCatalogCommit(trx, feedId, [
      {
        type: 'PackageDelete',
        lowerId,
        lowerVersion: '1.0.0',
        build: (c) => ({ id: lowerId, originalId: lowerId, version: '1.0.0', published: c.commitTimestamp.toISOString() }),
      },
    ]),
  );
}

/** Metrics, readiness and a started ops server on a free port, over Redis at `redisUrl`. */
async function startOps(options: { redisUrl?: string; maxLagSeconds?: number; shutdown?: AbortController } = {}) {
  const connection = new Redis(options.redisUrl ?? redis.url, { maxRetriesPerRequest: 1, lazyConnect: false });
  connection.on('error', () => {});
  opened.push(() => connection.disconnect());
  const metrics = createWorkerMetrics({ db, feedId, projections: PROJECTIONS, redis: connection, redisPrefix: redis.prefix, processMetrics: false, timeoutMs: 1000, log: quiet });
  opened.push(() => metrics.close());
  const readiness = createWorkerReadiness({
    db,
    redis: connection,
    metrics,
    timeoutMs: 1000,
    ...(options.maxLagSeconds !== undefined ? { maxLagSeconds: options.maxLagSeconds } : {}),
    ...(options.shutdown ? { shutdownSignal: options.shutdown.signal } : {}),
  });
  const server = createOpsServer({ registry: metrics.registry, readiness, log: quiet, ...(options.shutdown ? { shutdownSignal: options.shutdown.signal } : {}) });
  const address = await listenOpsServer(server, 0, '127.0.0.1');
  opened.push(() => closeServer(server));
  return { url: `http://127.0.0.1:${address.port}`, metrics };
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/** The value of `name{labels}` in a Prometheus text page; undefined when absent. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    const match = /^(\w+)\{(.*)\} (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const found = Object.fromEntries([...match[2]!.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
    if (Object.entries(labels).every(([k, v]) => found[k] === v)) return Number(match[3]);
  }
  return undefined;
}

async function get(url: string): Promise<{ status: number; type: string | null; text: string }> {
  const response = await fetch(url);
  return { status: response.status, type: response.headers.get('content-type'), text: await response.text() };
}

describe('worker ops server', () => {
  it('answers /health 200 and /ready 200 when PostgreSQL and Redis answer and nothing lags', async () => {
    const { url } = await startOps();
    const health = await get(`${url}/health`);
    expect(health.status).toBe(200);
    expect(JSON.parse(health.text)).toEqual({ status: 'ok' });
    const ready = await get(`${url}/ready`);
    expect(ready.status, ready.text).toBe(200);
    expect(JSON.parse(ready.text)).toMatchObject({
      status: 'ready',
      failing: [],
      checks: { database: { ok: true }, redis: { ok: true }, projections: { ok: true } },
    });
  });

  it('answers /ready 503 naming redis when its Redis URL points at a closed port', async () => {
    const closedPort = await freePort();
    const { url } = await startOps({ redisUrl: `redis://127.0.0.1:${closedPort}` });
    const ready = await get(`${url}/ready`);
    expect(ready.status).toBe(503);
    const report = JSON.parse(ready.text) as { status: string; failing: string[]; checks: Record<string, { ok: boolean; error?: string }> };
    expect(report.status).toBe('not_ready');
    expect(report.failing).toEqual(['redis']);
    expect(report.checks['redis']!.error).toMatch(/^Redis did not answer PING \(connection \w+\)$/);
    expect(report.checks['database']!.ok).toBe(true);
    // Liveness is not readiness: the process is fine.
    expect((await get(`${url}/health`)).status).toBe(200);
    // The scrape still answers, without the queue gauges it could not read.
    const metrics = await get(`${url}/metrics`);
    expect(metrics.status).toBe(200);
    expect(sample(metrics.text, 'nucat_queue_jobs', { projection: 'flatcontainer', state: 'waiting' })).toBeUndefined();
  });

  it('exports lag gauges equal to catalog head − cursor, and the commits behind', async () => {
    const first = await commit('lag.one');
    await sleep(30);
    await commit('lag.two');
    await sleep(30);
    const last = await commit('lag.three');
    await getCursor(db, feedId, 'flatcontainer');
    await getCursor(db, feedId, 'registration');
    const flatFrom = await getCursor(db, feedId, 'flatcontainer');
    expect(await advanceCursor(db, feedId, 'flatcontainer', flatFrom, first.commitTimestamp)).toBe(true);
    const registrationFrom = await getCursor(db, feedId, 'registration');
    await advanceCursor(db, feedId, 'registration', registrationFrom, last.commitTimestamp);

    const { url } = await startOps();
    const metrics = await get(`${url}/metrics`);
    expect(metrics.status).toBe(200);
    expect(metrics.type).toBe('text/plain; version=0.0.4; charset=utf-8');
    const expectedLag = (last.commitTimestamp.getTime() - first.commitTimestamp.getTime()) / 1000;
    expect(expectedLag).toBeGreaterThan(0.05);
    expect(sample(metrics.text, 'nucat_projection_cursor_lag_seconds', { projection: 'flatcontainer', app: 'worker' })).toBe(expectedLag);
    expect(sample(metrics.text, 'nucat_projection_lag_commits', { projection: 'flatcontainer' })).toBe(2);
    expect(sample(metrics.text, 'nucat_projection_cursor_lag_seconds', { projection: 'registration' })).toBe(0);
    expect(sample(metrics.text, 'nucat_projection_lag_commits', { projection: 'registration' })).toBe(0);
    expect(sample(metrics.text, 'nucat_projection_pending_seconds', { projection: 'registration' })).toBe(0);
    const pending = sample(metrics.text, 'nucat_projection_pending_seconds', { projection: 'flatcontainer' })!;
    expect(pending).toBeGreaterThan(0);
    expect(pending).toBeLessThan(60);

    // Catch flatcontainer up: the next scrape says so.
    await advanceCursor(db, feedId, 'flatcontainer', first.commitTimestamp, last.commitTimestamp);
    const after = await get(`${url}/metrics`);
    expect(sample(after.text, 'nucat_projection_cursor_lag_seconds', { projection: 'flatcontainer' })).toBe(0);
    expect(sample(after.text, 'nucat_projection_lag_commits', { projection: 'flatcontainer' })).toBe(0);
  });

  it('exports each mirror\'s lag, progress, conflicts and the age of its state, from mirror_cursors', async () => {
    const following = 'http://primary.test:5000/v3/index.json';
    const fresh = 'http://other.test/v3/index.json';
    const head = new Date(Date.now() - 60_000);
    await db
      .insertInto('mirror_cursors')
      .values([
        {
          feed_id: feedId,
          source: following,
          cursor: new Date(head.getTime() - 90_000),
          cursor_exact: new Date(head.getTime() - 90_000).toISOString(),
          source_head: head,
          items_applied: 42,
          conflicts: JSON.stringify([{ id: 'A', version: '1.0.0', reason: 'different-bytes' }]),
          updated_at: new Date(Date.now() - 120_000),
        },
        // Created, never got to read its source: no lag yet, but its age and (zero) progress show.
        { feed_id: feedId, source: fresh },
      ])
      .execute();
    try {
      const { url } = await startOps();
      const { text } = await get(`${url}/metrics`);
      expect(sample(text, 'nucat_mirror_lag_seconds', { source: following, app: 'worker' })).toBe(90);
      expect(sample(text, 'nucat_mirror_items_applied', { source: following })).toBe(42);
      expect(sample(text, 'nucat_mirror_conflicts', { source: following })).toBe(1);
      const age = sample(text, 'nucat_mirror_state_age_seconds', { source: following })!;
      expect(age).toBeGreaterThanOrEqual(119);
      expect(age).toBeLessThan(180);
      expect(sample(text, 'nucat_mirror_lag_seconds', { source: fresh })).toBeUndefined();
      expect(sample(text, 'nucat_mirror_items_applied', { source: fresh })).toBe(0);
      expect(sample(text, 'nucat_mirror_state_age_seconds', { source: fresh })).toBeLessThan(60);

      // The mirror catches up: the next scrape says so.
      await db.updateTable('mirror_cursors').set({ cursor: head, cursor_exact: head.toISOString(), updated_at: new Date() }).where('source', '=', following).execute();
      const after = await get(`${url}/metrics`);
      expect(sample(after.text, 'nucat_mirror_lag_seconds', { source: following })).toBe(0);
    } finally {
      await db.deleteFrom('mirror_cursors').where('feed_id', '=', feedId).execute();
    }
  });

  it('answers /ready 503 naming projections when the oldest unprojected commit waited past the limit', async () => {
    const before = await getCursor(db, feedId, 'flatcontainer');
    const stamp = await commit('lag.stuck');
    const { url } = await startOps({ maxLagSeconds: 1 });
    await sleep(1300);
    const ready = await get(`${url}/ready`);
    expect(ready.status).toBe(503);
    const report = JSON.parse(ready.text) as { failing: string[]; checks: Record<string, { error?: string; details?: { lagSeconds: Record<string, number> } }> };
    expect(report.failing).toEqual(['projections']);
    expect(report.checks['projections']!.error).toMatch(/^projections behind the catalog by more than 1 s: flatcontainer \d+\.\d s, registration \d+\.\d s$/);
    // Both projected: ready again (after the 1 s report cache).
    await advanceCursor(db, feedId, 'flatcontainer', before, stamp.commitTimestamp);
    await advanceCursor(db, feedId, 'registration', await getCursor(db, feedId, 'registration'), stamp.commitTimestamp);
    await sleep(1100);
    expect((await get(`${url}/ready`)).status).toBe(200);
  });

  it('exports the BullMQ job counts of each projection queue, by state', async () => {
    const queue = new Queue(projectionQueueName('registration'), { connection: { url: redis.url }, prefix: redis.prefix });
    opened.push(() => queue.close());
    await queue.add('project-id', { feedId, lowerId: 'a' });
    await queue.add('project-id', { feedId, lowerId: 'b' });
    await queue.add('project-id', { feedId, lowerId: 'c' }, { delay: 60_000 });
    const { url } = await startOps();
    const text = (await get(`${url}/metrics`)).text;
    expect(sample(text, 'nucat_queue_jobs', { projection: 'registration', state: 'waiting' })).toBe(2);
    expect(sample(text, 'nucat_queue_jobs', { projection: 'registration', state: 'delayed' })).toBe(1);
    expect(sample(text, 'nucat_queue_jobs', { projection: 'registration', state: 'failed' })).toBe(0);
    expect(sample(text, 'nucat_queue_jobs', { projection: 'flatcontainer', state: 'waiting-children' })).toBe(0);
    expect(sample(text, 'nucat_queue_jobs', { projection: 'flatcontainer', state: 'active' })).toBe(0);
  });

  it('counts projected ids per projection', async () => {
    const { url, metrics } = await startOps();
    expect(sample((await get(`${url}/metrics`)).text, 'nucat_projected_ids_total', { projection: 'search' })).toBeUndefined();
    expect(sample((await get(`${url}/metrics`)).text, 'nucat_projected_ids_total', { projection: 'flatcontainer' })).toBe(0);
    (metrics as WorkerMetrics).countProjected('flatcontainer');
    (metrics as WorkerMetrics).countProjected('flatcontainer');
    expect(sample((await get(`${url}/metrics`)).text, 'nucat_projected_ids_total', { projection: 'flatcontainer' })).toBe(2);
  });

  it('answers 503 on /health and /ready once shutting down', async () => {
    const shutdown = new AbortController();
    const { url } = await startOps({ shutdown });
    shutdown.abort();
    expect(await get(`${url}/health`)).toMatchObject({ status: 503, text: '{"status":"shutting_down"}' });
    expect((await get(`${url}/ready`)).status).toBe(503);
  });

  it('answers 404 elsewhere and 405 to other methods', async () => {
    const { url } = await startOps();
    expect((await get(`${url}/v3/index.json`)).status).toBe(404);
    const post = await fetch(`${url}/metrics`, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
  });
});

describe('startWorkerOps', () => {
  it('keeps the worker running without a server when its port is taken', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    opened.push(() => new Promise<void>((resolve) => blocker.close(() => resolve())));
    const port = (blocker.address() as { port: number }).port;
    const errors: string[] = [];
    const log: Logger = { ...quiet, error: (fields: object | string) => void errors.push(JSON.stringify(fields)), child: () => log };
    const ops = await startWorkerOps({
      db,
      feedId,
      projections: PROJECTIONS,
      redisUrl: redis.url,
      redisPrefix: redis.prefix,
      host: '127.0.0.1',
      port,
      maxLagSeconds: 300,
      shutdownSignal: new AbortController().signal,
      log,
    });
    opened.push(() => ops.close());
    expect(ops.address).toBeUndefined();
    expect(errors.join('\n')).toContain('EADDRINUSE');
  });

  it('serves on the port it is given', async () => {
    const port = await freePort();
    const ops = await startWorkerOps({
      db,
      feedId,
      projections: PROJECTIONS,
      redisUrl: redis.url,
      redisPrefix: redis.prefix,
      host: '127.0.0.1',
      port,
      maxLagSeconds: 300,
      shutdownSignal: new AbortController().signal,
      log: quiet,
    });
    opened.push(() => ops.close());
    expect(ops.address?.port).toBe(port);
    const text = (await get(`http://127.0.0.1:${port}/metrics`)).text;
    for (const name of ['nucat_projection_cursor_lag_seconds', 'nucat_projection_lag_commits', 'nucat_queue_jobs', 'nucat_projected_ids_total', 'process_cpu_seconds_total']) {
      expect(text).toContain(`# TYPE ${name} `);
    }
  });
});
