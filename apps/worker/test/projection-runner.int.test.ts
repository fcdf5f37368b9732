/**
 * The projection runner's scheduling across copies, against real PostgreSQL and Redis: copies that
 * schedule the same batch at the same moment add it once.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendCatalogCommit, formatCatalogTimestamp, type PendingCatalogItem } from '@nucat/catalog';
import type { Logger } from '@nucat/config';
import { createDb, migrateToLatest, type Db } from '@nucat/db';
import { JOB_ADVANCE_CURSOR, projectionQueueName } from '@nucat/queue';
import { createTestDatabase, createTestRedisPrefix, type TestDatabase, type TestRedisPrefix } from '@nucat/testing';
import { createProjectionRunner, JOB_PROJECT_IDS } from '../src/projection-runner.js';

const FEED_ID = 1;

const quiet: Logger = { error: () => {}, warn: () => {}, info: () => {}, debug: () => {}, child: () => quiet };

/** A catalog item the runner only needs to find (it never projects in these tests). */
function deleteOf(lowerId: string): PendingCatalogItem {
  return {
    type: 'PackageDelete',
    lowerId,
    lowerVersion: '1.0.0',
    build: (c) => ({ id: lowerId, originalId: lowerId, version: '1.0.0', published: formatCatalogTimestamp(c.commitTimestamp) }),
  } as PendingCatalogItem;
}

let database: TestDatabase;
let db: Db;
let redis: TestRedisPrefix;
let connection: Redis;

beforeAll(async () => {
  database = await createTestDatabase();
  db = createDb({ url: database.url, poolSize: 4 });
  await migrateToLatest(db);
  redis = createTestRedisPrefix();
  connection = new Redis(redis.url, { maxRetriesPerRequest: null });
});
afterAll(async () => {
  connection?.disconnect();
  await redis?.cleanup();
  await db?.destroy();
  await database?.drop();
});

describe('scheduling with several copies', () => {
  it('#36 two copies scheduling the same batch at the same moment add it once, with one set of children', async () => {
    await appendCatalogCommit(db, FEED_ID, ['copies.a', 'copies.b', 'copies.c', 'copies.d'].map(deleteOf));

    // Each copy stops between its look at the queue and its add until the other has looked too (or
    // 400 ms have passed): without a lock around the look and the add, both find no batch and both add it.
    let looked = 0;
    const meet = async () => {
      looked += 1;
      const until = Date.now() + 400;
      while (looked < 2 && Date.now() < until) await sleep(5);
      return undefined;
    };
    const copies = [1, 2].map(() =>
      createProjectionRunner({ projection: 'flatcontainer', db, connection, prefix: redis.prefix, feedId: FEED_ID, concurrency: 2, process: false, upperBound: meet, project: async () => {}, log: quiet }),
    );
    const queue = new Queue(projectionQueueName('flatcontainer'), { connection, prefix: redis.prefix });
    try {
      await Promise.all(copies.map((copy) => copy.schedule()));

      const jobs = await queue.getJobs(['waiting-children', 'wait', 'active', 'completed', 'failed', 'delayed']);
      const batches = jobs.filter((job) => job.name === JOB_ADVANCE_CURSOR);
      const chunks = jobs.filter((job) => job.name === JOB_PROJECT_IDS);
      expect(batches).toHaveLength(1);
      expect(chunks.map((job) => (job.data as { lowerIds: string[] }).lowerIds)).toEqual(
        expect.arrayContaining([
          ['copies.a', 'copies.b'],
          ['copies.c', 'copies.d'],
        ]),
      );
      expect(chunks, 'children: one set, of two chunks').toHaveLength(2);
      expect(looked, 'the second copy found the batch in flight').toBe(1);
    } finally {
      await queue.close();
      await Promise.all(copies.map((copy) => copy.close()));
    }
  });
});
