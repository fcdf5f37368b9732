/**
 * `nucat status` against a real PostgreSQL and Redis (cursors, lag, queue depth, failures, mirror
 * cursors, Redis down), and the argument rules of `nucat push`.
 */
import { sql } from 'kysely';
import { Queue, Worker } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { advanceCursor, appendCatalogCommit, findFeedId, formatCatalogTimestamp, getCursor } from '@nucat/catalog';
import { createDb, migrateToLatest, type Db } from '@nucat/db';
import { projectionQueueName } from '@nucat/queue';
import { createTestDatabase, createTestRedisPrefix, freePort, waitFor, type TestDatabase, type TestRedisPrefix } from '@nucat/testing';
import { parsePushArgs } from '../src/commands/push.js';
import { formatStatus, readStatus } from '../src/commands/status.js';

let database: TestDatabase;
let db: Db;
let feedId: number;
let redis: TestRedisPrefix;

beforeAll(async () => {
  database = await createTestDatabase();
  db = createDb({ url: database.url });
  await migrateToLatest(db);
  feedId = (await findFeedId(db, 'main'))!;
  redis = createTestRedisPrefix();
});
afterAll(async () => {
  await redis?.cleanup();
  await db?.destroy();
  await database?.drop();
});

async function commit(lowerId: string) {
  return db.transaction().execute((trx) =>
    appendCatalogCommit(trx, feedId, [
      { type: 'PackageDelete', lowerId, lowerVersion: '1.0.0', build: (c) => ({ id: lowerId, originalId: lowerId, version: '1.0.0', published: c.commitTimestamp.toISOString() }) },
    ]),
  );
}

describe('nucat status', () => {
  it('shows every projection with its cursor, lag, queue depth and last failure', async () => {
    const first = await commit('status.one');
    await commit('status.two');
    const last = await commit('status.three');
    for (const projection of ['flatcontainer', 'registration', 'search']) {
      const from = await getCursor(db, feedId, projection);
      await advanceCursor(db, feedId, projection, from, projection === 'search' ? first.commitTimestamp : last.commitTimestamp);
    }
    // One job that failed for good, one waiting.
    const queue = new Queue(projectionQueueName('search'), { connection: { url: redis.url }, prefix: redis.prefix });
    const worker = new Worker(
      projectionQueueName('search'),
      async (job) => {
        if (job.data.lowerId === 'broken.pkg') throw new Error('search backend refused the document');
      },
      { connection: { url: redis.url }, prefix: redis.prefix, autorun: false },
    );
    try {
      await queue.add('project-id', { feedId, lowerId: 'broken.pkg' }, { attempts: 1 });
      void worker.run();
      await waitFor(async () => (await queue.getJobCounts('failed')).failed === 1, { what: 'the job to fail', timeoutMs: 10_000 });
      await worker.close();
      await queue.add('project-id', { feedId, lowerId: 'waiting.pkg' });

      const report = await readStatus(db, feedId, { feed: 'main', redisUrl: redis.url, redisPrefix: redis.prefix });
      expect(report.errors).toEqual([]);
      expect(report.catalogHead).toBe(formatCatalogTimestamp(last.commitTimestamp));
      expect(report.projections.map((p) => p.projection)).toEqual(['flatcontainer', 'registration', 'search']);
      const search = report.projections[2]!;
      expect(search).toMatchObject({
        cursor: formatCatalogTimestamp(first.commitTimestamp),
        lagSeconds: (last.commitTimestamp.getTime() - first.commitTimestamp.getTime()) / 1000,
        lagCommits: 2,
        queue: { waiting: 1, active: 0, delayed: 0, failed: 1, 'waiting-children': 0 },
        lastFailure: { lowerId: 'broken.pkg', reason: 'search backend refused the document' },
      });
      expect(report.projections[0]).toMatchObject({ lagSeconds: 0, lagCommits: 0, pendingSeconds: 0, lastFailure: null });

      const text = formatStatus(report);
      expect(text).toContain(`catalog head ${formatCatalogTimestamp(last.commitTimestamp)}`);
      expect(text).toMatch(/^search\s+\S+\s+\d+\.\d\s+2\s+1\s+0\s+0\s+1\s+\S+ broken\.pkg: search backend refused the document$/m);
    } finally {
      await worker.close();
      await queue.close();
    }
  });

  it('still reports the database side when Redis does not answer, and says so', async () => {
    const report = await readStatus(db, feedId, { feed: 'main', redisUrl: `redis://127.0.0.1:${await freePort()}`, redisPrefix: redis.prefix });
    expect(report.errors).toHaveLength(1);
    expect(report.errors[0]).toMatch(/^Redis not read/);
    expect(report.projections).toHaveLength(3);
    expect(report.projections.every((p) => p.queue === null)).toBe(true);
  });

  it('lists mirror cursors with their lag, and other cursors (a rebuild) after the projections', async () => {
    await db
      .insertInto('mirror_cursors')
      .values({ feed_id: feedId, source: 'http://primary.test/v3/index.json', cursor: new Date('2026-01-01T00:00:00.000Z'), cursor_exact: '2026-01-01T00:00:00.0000000Z', source_head: new Date('2026-01-01T00:00:30.000Z'), items_applied: 7, last_error: null })
      .execute();
    await getCursor(db, feedId, 'flatcontainer@g1');
    const report = await readStatus(db, feedId, { feed: 'main', redisUrl: redis.url, redisPrefix: redis.prefix });
    expect(report.mirrors).toEqual([
      {
        source: 'http://primary.test/v3/index.json',
        cursor: '2026-01-01T00:00:00.0000000Z',
        sourceHead: '2026-01-01T00:00:30.0000000Z',
        lagSeconds: 30,
        itemsApplied: 7,
        lastError: null,
        updatedAt: expect.any(String),
      },
    ]);
    expect(report.projections.map((p) => p.projection)).toEqual(['flatcontainer', 'registration', 'search', 'flatcontainer@g1']);
    expect(report.projections[3]!.queue).toBeNull();
    expect(formatStatus(report)).toMatch(/^http:\/\/primary\.test\/v3\/index\.json\s+2026-01-01T00:00:00\.0000000Z\s+2026-01-01T00:00:30\.0000000Z\s+30\.0\s+7\s+-$/m);
  });

  it('skips mirror cursors when the table does not exist', async () => {
    await sql`DROP TABLE mirror_cursors`.execute(db);
    const report = await readStatus(db, feedId, { feed: 'main', redisUrl: redis.url, redisPrefix: redis.prefix });
    expect(report.mirrors).toEqual([]);
    expect(report.errors).toEqual([]);
  });
});

describe('nucat push arguments', () => {
  it('reads a bare --wait as restore, and --wait search', () => {
    expect(parsePushArgs(['a.nupkg', '--wait'])).toMatchObject({ file: 'a.nupkg', waitFor: 'restore', timeoutSeconds: 60 });
    expect(parsePushArgs(['--wait', 'a.nupkg'])).toMatchObject({ file: 'a.nupkg', waitFor: 'restore' });
    expect(parsePushArgs(['a.nupkg', '--wait', 'search', '--timeout', '5'])).toMatchObject({ waitFor: 'search', timeoutSeconds: 5 });
    expect(parsePushArgs(['a.nupkg', '--wait=search'])).toMatchObject({ waitFor: 'search' });
    expect(parsePushArgs(['a.nupkg', '--source', 'http://x/v3/index.json', '--api-key', 'k'])).toMatchObject({
      source: 'http://x/v3/index.json',
      apiKey: 'k',
      waitFor: undefined,
    });
  });

  it('rejects a missing file, an unknown wait target and a bad timeout', () => {
    expect(() => parsePushArgs([])).toThrow(/exactly one package file/);
    expect(() => parsePushArgs(['a.nupkg', '--wait=soon'])).toThrow(/restore or search/);
    expect(() => parsePushArgs(['a.nupkg', '--timeout', '0'])).toThrow(/positive number of seconds/);
  });
});
