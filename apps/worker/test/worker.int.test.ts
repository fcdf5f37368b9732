import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  advanceCursor,
  appendCatalogCommit,
  resetCursor,
  buildPackageDetails,
  createFeedUrls,
  getCursor,
  packageContentKeys,
  type CommitStamp,
  type PendingCatalogItem,
} from '@nucat/catalog';
import type { Logger, LogFn } from '@nucat/config';
import { createDb, migrateToLatest, type Db } from '@nucat/db';
import { lowerNormalizedVersion, readNupkg, toLowerId } from '@nucat/nuget';
import { JOB_ADVANCE_CURSOR, projectionQueueName, type AdvanceCursorJobData } from '@nucat/queue';
import { createFilesystemBlobStore, type BlobStore } from '@nucat/storage';
import { buildNupkg, createTestDatabase, createTestRedisPrefix, waitFor, type TestDatabase, type TestRedisPrefix } from '@nucat/testing';
import { IdBusyError, withIdLock, withIdLocks } from '../src/id-lock.js';
import { JOB_PROJECT_IDS, type ProjectIdsJobData } from '../src/projection-runner.js';
import { createWorker } from '../src/worker.js';

const FEED_ID = 1;
/** The projections under test (each with its own cursor). */
const PROJECTIONS = ['flatcontainer', 'registration'] as const;
type Cursors = Record<(typeof PROJECTIONS)[number], number>;
const V3 = 'http://127.0.0.1:5000/v3/';

interface LogEntry {
  level: 'error' | 'warn' | 'info' | 'debug';
  fields: Record<string, unknown>;
  message: string;
}

/** A Logger that keeps every line, so a test can assert that nothing went wrong. */
function recordingLogger(entries: LogEntry[], bindings: Record<string, unknown> = {}): Logger {
  const at =
    (level: LogEntry['level']): LogFn =>
    (first: object | string, message?: string) => {
      if (typeof first === 'string') entries.push({ level, fields: { ...bindings }, message: first });
      else entries.push({ level, fields: { ...bindings, ...(first as Record<string, unknown>) }, message: message ?? '' });
    };
  return {
    error: at('error'),
    warn: at('warn'),
    info: at('info'),
    debug: at('debug'),
    child: (more) => recordingLogger(entries, { ...bindings, ...more }),
  };
}

/** Deletes every Redis key of `prefix` in one command, as an operator flushing Redis would. */
async function deleteAllKeys(url: string, prefix: string): Promise<number> {
  const redis = new Redis(url);
  try {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
    return keys.length > 0 ? await redis.del(...keys) : 0;
  } finally {
    redis.disconnect();
  }
}

describe('worker', () => {
  let database: TestDatabase;
  let db: Db;
  let root: string;
  let store: BlobStore;
  let redis: TestRedisPrefix;
  let logs: LogEntry[];
  /** Workers and samplers to stop after each test. */
  const running: { close(): Promise<void> }[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    db = createDb({ url: database.url });
    await migrateToLatest(db);
    root = await mkdtemp(join(tmpdir(), 'nucat-worker-'));
    store = createFilesystemBlobStore({ root });
  });
  // Each test takes a fresh Redis prefix and log; the database (and so the cursors) carries over.
  beforeEach(() => {
    redis = createTestRedisPrefix();
    logs = [];
  });
  afterEach(async () => {
    await Promise.all(running.splice(0).map((w) => w.close()));
    await redis?.cleanup();
  });
  afterAll(async () => {
    await db?.destroy();
    await database?.drop();
    await store?.close();
    if (root) await rm(root, { recursive: true, force: true });
  });

  /** Starts a worker on the test database, store and this test's Redis prefix. */
  async function startWorker(options: { pollIntervalMs?: number; batchSize?: number } = {}) {
    const name = `worker-${running.length + 1}`;
    const worker = createWorker({
      db,
      store,
      urls: createFeedUrls(V3),
      feedId: FEED_ID,
      databaseUrl: database.url,
      redisUrl: redis.url,
      redisPrefix: redis.prefix,
      projections: PROJECTIONS,
      concurrency: 4,
      batchSize: options.batchSize ?? 100,
      pollIntervalMs: options.pollIntervalMs ?? 200,
      log: recordingLogger(logs, { worker: name }),
    });
    running.push(worker);
    await worker.start();
    return worker;
  }

  /** Stores the content of each package and commits their PackageDetails leaves in one commit. */
  async function publish(packages: { id: string; version: string }[]): Promise<CommitStamp> {
    const items: PendingCatalogItem[] = [];
    for (const spec of packages) {
      const bytes = buildNupkg(spec);
      const contents = readNupkg(bytes);
      const hash = createHash('sha512').update(bytes).digest('base64');
      const keys = packageContentKeys(hash);
      await store.put(keys.nupkg, bytes);
      await store.put(keys.nuspec, contents.nuspecBytes);
      items.push({
        type: 'PackageDetails',
        lowerId: toLowerId(contents.manifest.id),
        lowerVersion: lowerNormalizedVersion(contents.manifest.version),
        build: (c) =>
          buildPackageDetails({
            manifest: contents.manifest,
            packageHash: hash,
            packageSize: bytes.length,
            entries: contents.entries,
            created: c.commitTimestamp,
            published: c.commitTimestamp,
            listed: true,
          }),
      });
    }
    return db.transaction().execute((trx) => appendCatalogCommit(trx, FEED_ID, items));
  }

  async function cursors(): Promise<Cursors> {
    return {
      flatcontainer: (await getCursor(db, FEED_ID, 'flatcontainer')).getTime(),
      registration: (await getCursor(db, FEED_ID, 'registration')).getTime(),
    };
  }

  /** Waits until both cursors are exactly at `stamp`. */
  async function waitForCursors(stamp: CommitStamp, timeoutMs = 20_000): Promise<void> {
    const want = stamp.commitTimestamp.getTime();
    await waitFor(
      async () => {
        const now = await cursors();
        return now.flatcontainer === want && now.registration === want;
      },
      { what: `both cursors at ${stamp.commitTimestamp.toISOString()}`, timeoutMs, intervalMs: 25 },
    );
  }

  /** Asserts the flat container lists exactly `versions` for `lowerId` and every hive has an index for it. */
  async function expectProjected(lowerId: string, versions: string[]): Promise<void> {
    const index = await store.read(`flatcontainer/${lowerId}/index.json`);
    expect(index && JSON.parse(index.toString('utf8')), lowerId).toEqual({ versions });
    for (const v of versions) {
      expect(await store.stat(`flatcontainer/${lowerId}/${v}/${lowerId}.${v}.nupkg`), `${lowerId} ${v}`).toBeDefined();
    }
    for (const hive of ['registration5-semver1', 'registration5-gz-semver1', 'registration5-gz-semver2']) {
      expect(await store.stat(`${hive}/${lowerId}/index.json`), `${hive} ${lowerId}`).toBeDefined();
      for (const v of versions) expect(await store.stat(`${hive}/${lowerId}/${v}.json`), `${hive} ${lowerId} ${v}`).toBeDefined();
    }
  }

  /** Samples both cursors until stopped; `stop()` asserts the samples never went down. */
  function sampleCursors() {
    const samples: Cursors[] = [];
    let stopped = false;
    const loop = (async () => {
      while (!stopped) {
        samples.push(await cursors());
        await sleep(20);
      }
    })();
    const halt = async () => {
      stopped = true;
      await loop;
    };
    running.push({ close: () => halt().catch(() => undefined) });
    return {
      samples,
      async stop() {
        await halt();
        for (const projection of PROJECTIONS) {
          const values = samples.map((s) => s[projection]);
          for (let i = 1; i < values.length; i++) expect(values[i], `${projection} sample ${i}`).toBeGreaterThanOrEqual(values[i - 1]!);
        }
      },
    };
  }

  const errors = () => logs.filter((e) => e.level === 'error');

  describe('following the catalog', () => {
    it('catches up on start with commits made before the worker started', async () => {
      await publish([{ id: 'Early.One', version: '1.0.0' }]);
      await publish([
        { id: 'Early.Two', version: '1.0.0' },
        { id: 'Early.One', version: '1.1.0' },
      ]);
      const last = await publish([{ id: 'Early.Three', version: '3.0.0-beta' }]);

      await startWorker();
      await waitForCursors(last);

      await expectProjected('early.one', ['1.0.0', '1.1.0']);
      await expectProjected('early.two', ['1.0.0']);
      await expectProjected('early.three', ['3.0.0-beta']);
      expect(errors()).toEqual([]);
    });

    it('projects a new commit within seconds of the catalog notification, without waiting for the timer', async () => {
      // The timer would only fire after a minute: only the NOTIFY can wake the worker in time.
      await startWorker({ pollIntervalMs: 60_000 });
      // Let the start-up catch-up finish, so that it cannot be what picks the new commit up.
      await sleep(300);

      const stamp = await publish([{ id: 'Woken.Up', version: '1.0.0' }]);
      await waitForCursors(stamp, 5_000);
      await expectProjected('woken.up', ['1.0.0']);
      expect(errors()).toEqual([]);
    });
  });

  describe('Redis is not the source of truth', () => {
    it('keeps projecting after every key of its Redis prefix is deleted, and its cursor never moves back', async () => {
      await startWorker();
      const sampler = sampleCursors();

      const first = await publish([{ id: 'Flushed.Before', version: '1.0.0' }]);
      await waitForCursors(first);
      expect(await deleteAllKeys(redis.url, redis.prefix)).toBeGreaterThan(0);

      const second = await publish([{ id: 'Flushed.After', version: '1.0.0' }]);
      const third = await publish([{ id: 'Flushed.After', version: '2.0.0' }]);
      await waitForCursors(third);
      expect(second.commitTimestamp.getTime()).toBeLessThan(third.commitTimestamp.getTime());
      await expectProjected('flushed.before', ['1.0.0']);
      await expectProjected('flushed.after', ['1.0.0', '2.0.0']);

      // And once more while a batch is in flight: the keys go while the commit is being projected.
      const fourth = await publish([
        { id: 'Flushed.During', version: '1.0.0' },
        { id: 'Flushed.During.Too', version: '1.0.0' },
      ]);
      await sleep(5);
      await deleteAllKeys(redis.url, redis.prefix);
      const fifth = await publish([{ id: 'Flushed.During', version: '1.1.0' }]);
      await waitForCursors(fifth);
      expect(fourth.commitTimestamp.getTime()).toBeLessThan(fifth.commitTimestamp.getTime());
      await expectProjected('flushed.during', ['1.0.0', '1.1.0']);
      await expectProjected('flushed.during.too', ['1.0.0']);

      await sampler.stop();
      expect(sampler.samples.length).toBeGreaterThan(5);
    });
  });

  describe('several workers', () => {
    it('projects every id with two workers on the same database and Redis prefix, without errors', async () => {
      const ids = Array.from({ length: 30 }, (_, i) => `Shared.Package${String(i).padStart(2, '0')}`);
      await startWorker({ batchSize: 8 });
      await startWorker({ batchSize: 8 });
      const sampler = sampleCursors();

      let last: CommitStamp | undefined;
      for (let i = 0; i < ids.length; i += 5) {
        last = await publish(ids.slice(i, i + 5).map((id) => ({ id, version: '1.0.0' })));
      }
      for (const id of ids.slice(0, 10)) last = await publish([{ id, version: '2.0.0' }]);
      await waitForCursors(last!);
      await sampler.stop();

      for (const [i, id] of ids.entries()) await expectProjected(id.toLowerCase(), i < 10 ? ['1.0.0', '2.0.0'] : ['1.0.0']);
      expect(errors()).toEqual([]);
    });

    it('lets only one holder project an id at a time', async () => {
      const connection = new Redis(redis.url);
      try {
        const key = `${redis.prefix}:lock:registration:${FEED_ID}:contoso.widgets`;
        let release!: () => void;
        const held = new Promise<void>((r) => (release = r));
        let entered!: () => void;
        const inside = new Promise<void>((r) => (entered = r));
        const first = withIdLock(connection, key, 'contoso.widgets', async () => {
          entered();
          await held;
          return 'first';
        });
        await inside;

        await expect(withIdLock(connection, key, 'contoso.widgets', async () => 'second')).rejects.toBeInstanceOf(IdBusyError);
        // Another id is not blocked.
        await expect(withIdLock(connection, `${key}.other`, 'contoso.widgets.other', async () => 'other')).resolves.toBe('other');

        release();
        await expect(first).resolves.toBe('first');
        await expect(withIdLock(connection, key, 'contoso.widgets', async () => 'after')).resolves.toBe('after');
        expect(await connection.exists(key)).toBe(0);
      } finally {
        connection.disconnect();
      }
    });
  });

  describe('per-id locks for a chunk of ids', () => {
    it('#36 projects the free ids at once, the busy one once its holder lets go, and releases every lock', async () => {
      const connection = new Redis(redis.url);
      try {
        const keyOf = (lowerId: string) => `${redis.prefix}:lock:flatcontainer:${FEED_ID}:${lowerId}`;
        let release!: () => void;
        const held = new Promise<void>((r) => (release = r));
        let entered!: () => void;
        const inside = new Promise<void>((r) => (entered = r));
        const other = withIdLock(connection, keyOf('chunk.b'), 'chunk.b', async () => {
          entered();
          await held;
        });
        await inside;

        const rounds: string[][] = [];
        const chunk = withIdLocks(connection, keyOf, ['chunk.a', 'chunk.b', 'chunk.c'], async (ids) => {
          rounds.push(ids);
          if (rounds.length === 1) release(); // the other holder finishes meanwhile
        });
        await expect(chunk).resolves.toBeUndefined();
        await other;
        expect(rounds).toEqual([['chunk.a', 'chunk.c'], ['chunk.b']]);
        expect(await connection.exists(keyOf('chunk.a'), keyOf('chunk.b'), keyOf('chunk.c'))).toBe(0);
      } finally {
        connection.disconnect();
      }
    });

    it('#36 gives up with IdBusyError when an id stays held, after doing the rest, and keeps no lock', async () => {
      const connection = new Redis(redis.url);
      try {
        const keyOf = (lowerId: string) => `${redis.prefix}:lock:registration:${FEED_ID}:${lowerId}`;
        await connection.set(keyOf('stuck.b'), 'someone else', 'PX', 30_000);
        const done: string[] = [];
        await expect(
          withIdLocks(connection, keyOf, ['stuck.a', 'stuck.b'], async (ids) => void done.push(...ids), { waitMs: 100 }),
        ).rejects.toMatchObject({ name: 'IdBusyError', code: 'id_busy' });
        expect(done).toEqual(['stuck.a']);
        expect(await connection.exists(keyOf('stuck.a'))).toBe(0);
        expect(await connection.get(keyOf('stuck.b'))).toBe('someone else');
      } finally {
        connection.disconnect();
      }
    });
  });

  describe('stale and duplicate batches', () => {
    it('never moves a cursor back when an already-completed batch is applied again', async () => {
      await startWorker();
      const first = await publish([{ id: 'Stale.Batch', version: '1.0.0' }]);
      await waitForCursors(first);
      const second = await publish([{ id: 'Stale.Batch', version: '2.0.0' }]);
      await waitForCursors(second);
      const at = await cursors();

      // The batch first → second again, and one that would move the cursor backwards.
      expect(await advanceCursor(db, FEED_ID, 'flatcontainer', first.commitTimestamp, second.commitTimestamp)).toBe(false);
      expect(await advanceCursor(db, FEED_ID, 'registration', second.commitTimestamp, first.commitTimestamp)).toBe(false);
      expect(await cursors()).toEqual(at);

      // The same duplicate, re-added as work for the running worker.
      const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
      const queue = new Queue(projectionQueueName('registration'), { connection, prefix: redis.prefix });
      try {
        const data: AdvanceCursorJobData = {
          feedId: FEED_ID,
          from: new Date(0).toISOString(),
          to: first.commitTimestamp.toISOString(),
          ids: 1,
        };
        const job = await queue.add(JOB_ADVANCE_CURSOR, data, { jobId: 'duplicate-of-a-completed-batch' });
        await waitFor(async () => (await job.getState()) === 'completed', { what: 'the duplicate batch job to run' });
      } finally {
        await queue.close();
        connection.disconnect();
      }
      expect(await cursors()).toEqual(at);
      expect(at.registration).toBe(second.commitTimestamp.getTime());
      await expectProjected('stale.batch', ['1.0.0', '2.0.0']);
      expect(errors()).toEqual([]);
    });

    it('#36 skips a chunk of a batch the cursor has moved past, so it cannot write an older state over a newer one', async () => {
      await startWorker();
      const first = await publish([{ id: 'Stale.Chunk', version: '1.0.0' }]);
      const second = await publish([{ id: 'Stale.Chunk', version: '2.0.0' }]);
      await waitForCursors(second);

      // A copy of the first batch's chunk, delivered late (as a second scheduler's copy could be).
      const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
      const queue = new Queue(projectionQueueName('flatcontainer'), { connection, prefix: redis.prefix });
      try {
        const data: ProjectIdsJobData = { feedId: FEED_ID, from: new Date(0).toISOString(), to: first.commitTimestamp.toISOString(), lowerIds: ['stale.chunk'] };
        const job = await queue.add(JOB_PROJECT_IDS, data, { jobId: 'late-copy-of-a-chunk' });
        await waitFor(async () => (await job.getState()) === 'completed', { what: 'the late chunk job to run' });
      } finally {
        await queue.close();
        connection.disconnect();
      }
      await expectProjected('stale.chunk', ['1.0.0', '2.0.0']);
      expect(logs.some((e) => e.message === 'skipped a chunk of a batch already done')).toBe(true);
      expect(errors()).toEqual([]);
    });

    it('#35 P5 replays into emptied trees, in small batches, exactly what was projected commit by commit', async () => {
      await startWorker({ batchSize: 3 });
      const ids = Array.from({ length: 8 }, (_, i) => `Replay.Bytes${i}`);
      let last: CommitStamp | undefined;
      // Versions of each id spread over many commits and batches, one deleted, as pushes come.
      for (const version of ['1.0.0', '1.0.1', '2.0.0-beta.1']) {
        for (const id of ids) last = await publish([{ id, version }]);
      }
      await waitForCursors(last!);
      const trees = ['flatcontainer', 'registration5-semver1', 'registration5-gz-semver1', 'registration5-gz-semver2'];
      const snapshotOf = async () => {
        const files = new Map<string, Buffer>();
        for (const tree of trees) {
          for (const id of ids) {
            for (const entry of await readdir(join(root, tree, id.toLowerCase()), { recursive: true, withFileTypes: true }).catch(() => [])) {
              if (entry.isFile()) {
                const full = join(entry.parentPath, entry.name);
                files.set(full.slice(root.length), await readFile(full));
              }
            }
          }
        }
        return files;
      };
      const incremental = await snapshotOf();
      expect(incremental.size).toBe(ids.length * (3 * 2 + 1 + 2 * (2 + 1) + (3 + 1)));

      for (const tree of trees) for (const id of ids) await rm(join(root, tree, id.toLowerCase()), { recursive: true, force: true });
      await resetCursor(db, FEED_ID, 'flatcontainer');
      await resetCursor(db, FEED_ID, 'registration');
      await waitForCursors(last!, 30_000);
      const replayed = await snapshotOf();
      expect([...replayed.keys()].sort()).toEqual([...incremental.keys()].sort());
      for (const [key, bytes] of incremental) expect(replayed.get(key)?.equals(bytes), key).toBe(true);
      expect(errors()).toEqual([]);
    });

    it('#35 a batch delivered again after its cursor was reset cannot move the cursor past work the replay has not done', async () => {
      const first = await startWorker({ batchSize: 1 });
      await publish([{ id: 'Redelivered.Batch', version: '1.0.0' }]);
      const stamp = await publish([{ id: 'Redelivered.Batch', version: '2.0.0' }]);
      await waitForCursors(stamp);
      // A replay on this Redis prefix, so the batch from the start is here, completed.
      await resetCursor(db, FEED_ID, 'flatcontainer');
      await waitForCursors(stamp, 30_000);
      running.splice(running.indexOf(first), 1);
      await first.close();

      const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
      const queue = new Queue(projectionQueueName('flatcontainer'), { connection, prefix: redis.prefix });
      try {
        const start = new Date(0).toISOString();
        const batches = await queue.getJobs(['completed']);
        const fromStart = batches.find((job) => job.name === JOB_ADVANCE_CURSOR && (job.data as AdvanceCursorJobData).from === start);
        expect(fromStart, 'the completed batch from the start').toBeDefined();

        // The trees are lost and the cursor set back; meanwhile BullMQ (at least once) delivers that batch
        // again, as it does when the copy that ran it died after moving the cursor, before reporting it done.
        await rm(join(root, 'flatcontainer'), { recursive: true, force: true });
        await resetCursor(db, FEED_ID, 'flatcontainer');
        await fromStart!.retry('completed');
        await startWorker({ batchSize: 1 });
        await waitFor(async () => (await fromStart!.getState()) === 'completed', { what: 'the redelivered batch to run' });
        await waitForCursors(stamp, 30_000);
      } finally {
        await queue.close();
        connection.disconnect();
      }

      // Every version the catalog names, including those of the first batch, is back in the flat container.
      const versions = await db.selectFrom('catalog_items').select(['lower_id', 'lower_version']).where('feed_id', '=', FEED_ID).distinct().execute();
      expect(versions.length).toBeGreaterThan(1);
      const missing = [];
      for (const { lower_id: id, lower_version: v } of versions) {
        if (!(await store.stat(`flatcontainer/${id}/${v}/${id}.${v}.nupkg`))) missing.push(`${id} ${v}`);
      }
      expect(missing).toEqual([]);
      expect(errors()).toEqual([]);
    });

    it('replays the whole catalog each time a cursor is reset to the start', async () => {
      await startWorker();
      await publish([{ id: 'Replayed.One', version: '1.0.0' }]);
      const stamp = await publish([{ id: 'Replayed.Two', version: '2.0.0' }]);
      await waitForCursors(stamp);

      // Twice in a row on the same Redis: the second replay must not mistake the first one's
      // finished batches (same starting cursor) for its own work and stop there.
      for (const round of [1, 2]) {
        // Blobs lost since: a replay must rebuild them, not skip ids projected before.
        await store.delete('flatcontainer/replayed.one/index.json');
        await store.delete('flatcontainer/replayed.two/index.json');
        await resetCursor(db, FEED_ID, 'flatcontainer');
        await waitForCursors(stamp, 10_000).catch((err) => {
          throw new Error(`replay ${round}: ${(err as Error).message}`);
        });
        await expectProjected('replayed.one', ['1.0.0']);
        await expectProjected('replayed.two', ['2.0.0']);
      }
      expect(errors()).toEqual([]);
    });
  });
});
