/**
 * `nucat rebuild` for the blob projections, against real PostgreSQL, Redis and a filesystem store:
 * a rebuild fills a new generation from the catalog while pushes go on and the old generation keeps
 * serving, then switches at once; the old generation is deleted after the grace period.
 * Promises: reliability.md P5 (a replay is byte-identical) and P7 / §2 #42 (a reader never loses a
 * version it could see, never follows a document to a missing one, and sees every commit the
 * cursors report as projected).
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  GENERATIONS_POINTER_KEY,
  INITIAL_GENERATIONS,
  RebuildInProgressError,
  appendCatalogCommit,
  buildPackageDetails,
  cancelRebuild,
  createFeedUrls,
  findProjectionGeneration,
  flatContainerPrefix,
  generationRoot,
  getCursor,
  packageContentKeys,
  parseGenerationsPointer,
  readLatestItems,
  requestRebuild,
  type BlobGenerations,
  type BlobProjection,
  type CommitStamp,
  type PendingCatalogItem,
} from '@nucat/catalog';
import type { Logger, LogFn } from '@nucat/config';
import { createDb, migrateToLatest, type Db } from '@nucat/db';
import { lowerNormalizedVersion, normalizeVersion, parseVersion, readNupkg, toLowerId } from '@nucat/nuget';
import { createFlatContainerProjector, createRegistrationProjector } from '@nucat/projections';
import { createFilesystemBlobStore, type BlobStore } from '@nucat/storage';
import { buildNupkg, createTestDatabase, createTestRedisPrefix, PNG, waitFor, type TestDatabase, type TestRedisPrefix } from '@nucat/testing';
import { createWorker } from '../src/worker.js';

const FEED_ID = 1;
const V3 = 'http://127.0.0.1:5000/v3/';
const urls = createFeedUrls(V3);
const HIVES = ['registration5-semver1', 'registration5-gz-semver1', 'registration5-gz-semver2'] as const;
/** Grace period of a retired generation in this test (production: a minute). */
const RETIRE_AFTER_MS = 4_000;
/** How long the test's reader keeps a pointer it read (production read nodes: 2 s). */
const READER_CACHE_MS = 1_500;

interface LogEntry {
  level: 'error' | 'warn' | 'info' | 'debug';
  fields: Record<string, unknown>;
  message: string;
}

/** A Logger that keeps every line, so the test can assert that nothing went wrong. */
function recordingLogger(entries: LogEntry[], bindings: Record<string, unknown> = {}): Logger {
  const at =
    (level: LogEntry['level']): LogFn =>
    (first: object | string, message?: string) => {
      if (typeof first === 'string') entries.push({ level, fields: { ...bindings }, message: first });
      else entries.push({ level, fields: { ...bindings, ...(first as Record<string, unknown>) }, message: message ?? '' });
    };
  return { error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug'), child: (more) => recordingLogger(entries, { ...bindings, ...more }) };
}

/** One id+version committed by the test, and whether its latest state is a delete. */
interface Published {
  lowerId: string;
  lowerVersion: string;
  stamp: number;
  deleted: boolean;
}

describe('rebuilding a blob projection into a new generation', () => {
  let database: TestDatabase;
  let db: Db;
  let workerDb: Db;
  let root: string;
  let store: BlobStore;
  let redis: TestRedisPrefix;
  const logs: LogEntry[] = [];
  let worker: ReturnType<typeof createWorker>;
  let otherWorker: ReturnType<typeof createWorker>;
  const published: Published[] = [];
  /** The reader of the first test, stopped in afterAll too when that test fails early. */
  let reader: ReturnType<typeof startReader> | undefined;

  beforeAll(async () => {
    database = await createTestDatabase();
    db = createDb({ url: database.url });
    workerDb = createDb({ url: database.url });
    await migrateToLatest(db);
    root = await mkdtemp(join(tmpdir(), 'nucat-rebuild-'));
    store = createFilesystemBlobStore({ root });
    redis = createTestRedisPrefix();
    // Two copies of the worker on the same database, Redis and store, as when scaled out: each
    // may run any step of a rebuild, and a switch happens once.
    const startWorker = (name: string) => createWorker({
      db: workerDb,
      store,
      urls,
      feedId: FEED_ID,
      databaseUrl: database.url,
      redisUrl: redis.url,
      redisPrefix: redis.prefix,
      projections: ['flatcontainer', 'registration'],
      concurrency: 4,
      batchSize: 10,
      pollIntervalMs: 100,
      // The final catch-up (appends paused) covers at most 3 items: the rest is the runner's work.
      rebuild: { retireAfterMs: RETIRE_AFTER_MS, settleMs: 100, finalCatchUpItems: 3 },
      log: recordingLogger(logs, { worker: name }),
    });
    worker = startWorker('worker-1');
    otherWorker = startWorker('worker-2');
    await Promise.all([worker.start(), otherWorker.start()]);
  });
  afterEach((context) => {
    // A failed step is hard to read from its assertion alone: print what both workers logged.
    if (context.task.result?.state !== 'fail') return;
    for (const e of logs.slice(-200)) console.error(`[${e.level}] ${e.message} ${JSON.stringify(e.fields)}`);
  });
  afterAll(async () => {
    await reader?.stop();
    await Promise.all([worker?.close(), otherWorker?.close()]);
    await redis?.cleanup();
    await workerDb?.destroy();
    await db?.destroy();
    await database?.drop();
    await store?.close();
    if (root) await rm(root, { recursive: true, force: true });
  });

  /** Stores the content of each package and commits their PackageDetails leaves in one commit. */
  async function publish(packages: { id: string; version: string; icon?: boolean }[]): Promise<CommitStamp> {
    const items: PendingCatalogItem[] = [];
    for (const spec of packages) {
      const bytes = buildNupkg({
        id: spec.id,
        version: spec.version,
        ...(spec.icon ? { files: { 'icon.png': PNG }, nuspecExtra: '<icon>icon.png</icon>' } : {}),
      });
      const contents = readNupkg(bytes);
      const hash = createHash('sha512').update(bytes).digest('base64');
      const keys = packageContentKeys(hash);
      await store.put(keys.nupkg, bytes);
      await store.put(keys.nuspec, contents.nuspecBytes);
      if (contents.icon) await store.put(keys.icon, contents.icon.bytes);
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
    const stamp = await db.transaction().execute((trx) => appendCatalogCommit(trx, FEED_ID, items));
    for (const item of items) record(item.lowerId, item.lowerVersion, stamp, false);
    return stamp;
  }

  /** Commits the delete of one version. */
  async function deleteVersion(id: string, version: string): Promise<CommitStamp> {
    const lowerId = toLowerId(id);
    const stamp = await db.transaction().execute((trx) =>
      appendCatalogCommit(trx, FEED_ID, [
        {
          type: 'PackageDelete',
          lowerId,
          lowerVersion: version,
          build: (c) => ({ id, originalId: id, version: normalizeVersion(parseVersion(version)), published: c.commitTimestamp.toISOString() }),
        },
      ]),
    );
    record(lowerId, version, stamp, true);
    return stamp;
  }

  function record(lowerId: string, lowerVersion: string, stamp: CommitStamp, deleted: boolean): void {
    const found = published.find((p) => p.lowerId === lowerId && p.lowerVersion === lowerVersion);
    if (found) Object.assign(found, { stamp: stamp.commitTimestamp.getTime(), deleted });
    else published.push({ lowerId, lowerVersion, stamp: stamp.commitTimestamp.getTime(), deleted });
  }

  /** The live cursors' minimum: what a client waiting for "restorable" is told is projected. */
  async function liveCursor(): Promise<number> {
    const [a, b] = await Promise.all([getCursor(db, FEED_ID, 'flatcontainer'), getCursor(db, FEED_ID, 'registration')]);
    return Math.min(a.getTime(), b.getTime());
  }

  async function waitForLiveCursors(stamp: CommitStamp, timeoutMs = 30_000): Promise<void> {
    await waitFor(async () => (await liveCursor()) >= stamp.commitTimestamp.getTime(), { what: `live cursors at ${stamp.commitTimestamp.toISOString()}`, timeoutMs, intervalMs: 25 });
  }

  async function pointer(): Promise<BlobGenerations | undefined> {
    const bytes = await store.read(GENERATIONS_POINTER_KEY);
    return bytes ? parseGenerationsPointer(bytes) : undefined;
  }

  async function listKeys(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    for await (const key of store.list(prefix)) keys.push(key);
    return keys.sort();
  }

  /** Every key of one generation of a projection, without the generation's prefix. */
  async function generationKeys(projection: BlobProjection, generation: number): Promise<string[]> {
    const rootPrefix = generationRoot(generation);
    const prefixes = projection === 'flatcontainer' ? [`${flatContainerPrefix(generation)}/`] : HIVES.map((h) => `${rootPrefix}${h}/`);
    const keys = (await Promise.all(prefixes.map(listKeys))).flat();
    return keys.map((k) => k.slice(rootPrefix.length)).sort();
  }

  /**
   * Projects the whole catalog from scratch under `scratch/` and asserts that generation
   * `generation` of `projection` has exactly the same keys with byte-identical contents (P5).
   */
  async function expectSameAsFromScratch(projection: BlobProjection, generation: number): Promise<number> {
    for (const prefix of ['scratch/']) for (const key of await listKeys(prefix)) await store.delete(key);
    const loadLatestItems = (lowerId: string) => readLatestItems(db, FEED_ID, lowerId);
    const project =
      projection === 'flatcontainer'
        ? createFlatContainerProjector({ store, loadLatestItems, prefix: 'scratch/flatcontainer' }).project
        : createRegistrationProjector({ store, urls, loadLatestItems, root: 'scratch/' }).project;
    const ids = await db.selectFrom('catalog_items').select('lower_id').distinct().where('feed_id', '=', FEED_ID).execute();
    for (let i = 0; i < ids.length; i += 8) await Promise.all(ids.slice(i, i + 8).map(({ lower_id }) => project(lower_id)));

    const rebuilt = await generationKeys(projection, generation);
    const scratchPrefixes = projection === 'flatcontainer' ? ['scratch/flatcontainer/'] : HIVES.map((h) => `scratch/${h}/`);
    const scratch = (await Promise.all(scratchPrefixes.map(listKeys))).flat().map((k) => k.slice('scratch/'.length)).sort();
    expect(rebuilt).toEqual(scratch);
    const rootPrefix = generationRoot(generation);
    const differing: string[] = [];
    for (const key of rebuilt) {
      const [a, b] = await Promise.all([store.read(`${rootPrefix}${key}`), store.read(`scratch/${key}`)]);
      if (!a || !b || !a.equals(b)) differing.push(key);
    }
    expect(differing).toEqual([]);
    return rebuilt.length;
  }

  /**
   * A reader like a read node: it keeps the pointer it read for {@link READER_CACHE_MS}, resolves
   * each "request" with the generations it holds, and checks, round after round, that every
   * version the live cursors report as projected is listed and downloadable, and that every
   * registration document it is given points only at documents that exist.
   */
  function startReader() {
    let held: BlobGenerations = INITIAL_GENERATIONS;
    let readAt = Number.NEGATIVE_INFINITY;
    const failures: string[] = [];
    const generationsSeen = new Set<string>();
    let rounds = 0;
    let stopped = false;

    async function generations(): Promise<BlobGenerations> {
      if (Date.now() - readAt >= READER_CACHE_MS) {
        held = (await pointer()) ?? held;
        readAt = Date.now();
      }
      generationsSeen.add(`${held.flatcontainer}/${held.registration}`);
      return held;
    }

    const keyOfUrl = (registrationGeneration: number, url: string) => `${generationRoot(registrationGeneration)}${url.slice(V3.length)}`;

    async function checkId(lowerId: string, versions: string[]): Promise<void> {
      let g = await generations();
      const indexBytes = await store.read(`${flatContainerPrefix(g.flatcontainer)}/${lowerId}/index.json`);
      if (!indexBytes) return void failures.push(`g${g.flatcontainer} flat container index of ${lowerId}: 404`);
      const listed = (JSON.parse(indexBytes.toString('utf8')) as { versions: string[] }).versions;
      for (const v of versions) {
        if (!listed.includes(v)) failures.push(`g${g.flatcontainer} flat container index of ${lowerId} lacks ${v}`);
        g = await generations();
        if (!(await store.stat(`${flatContainerPrefix(g.flatcontainer)}/${lowerId}/${v}/${lowerId}.${v}.nupkg`))) {
          failures.push(`g${g.flatcontainer} nupkg ${lowerId} ${v}: 404`);
        }
      }

      g = await generations();
      const reg = g.registration;
      const regBytes = await store.read(`${generationRoot(reg)}registration5-semver1/${lowerId}/index.json`);
      if (!regBytes) return void failures.push(`g${reg} registration index of ${lowerId}: 404`);
      const index = JSON.parse(regBytes.toString('utf8')) as { items: { '@id': string; items?: { '@id': string; catalogEntry: { version: string } }[] }[] };
      const leaves: string[] = [];
      for (const page of index.items) {
        if (!page.items) {
          if (!(await store.stat(keyOfUrl(reg, page['@id'])))) failures.push(`g${reg} registration page ${page['@id']}: 404`);
          continue;
        }
        for (const leaf of page.items) {
          leaves.push(leaf.catalogEntry.version.toLowerCase());
          if (!(await store.stat(keyOfUrl(reg, leaf['@id'])))) failures.push(`g${reg} registration leaf ${leaf['@id']}: 404`);
        }
      }
      for (const v of versions) if (!leaves.includes(v)) failures.push(`g${reg} registration of ${lowerId} lacks ${v}`);
    }

    const loop = (async () => {
      while (!stopped) {
        const cursor = await liveCursor();
        const due = new Map<string, string[]>();
        for (const p of published) {
          if (p.stamp > cursor || p.deleted) continue;
          due.set(p.lowerId, [...(due.get(p.lowerId) ?? []), p.lowerVersion]);
        }
        for (const [lowerId, versions] of due) await checkId(lowerId, versions);
        rounds += 1;
        await sleep(5);
      }
    })();

    return {
      failures,
      generationsSeen,
      get rounds() {
        return rounds;
      },
      async stop() {
        stopped = true;
        await loop;
      },
    };
  }

  const errors = () => logs.filter((e) => e.level === 'error');

  /**
   * Right after a switch: a new push reaches the retiring generation as well as the new one, so a
   * read node still holding the old pointer sees it too (read-your-writes through the grace period).
   */
  async function expectRetiringKeptCurrent(projection: BlobProjection, n: number): Promise<void> {
    const stamp = await publish([{ id: 'Rebuilt.Package00', version: `4.0.${n}` }]);
    await waitForLiveCursors(stamp);
    expect((await findProjectionGeneration(db, FEED_ID, projection)).retired, 'still retiring').toBe(0);
    for (const generation of [0, 1]) {
      const key =
        projection === 'flatcontainer'
          ? `${flatContainerPrefix(generation)}/rebuilt.package00/4.0.${n}/rebuilt.package00.4.0.${n}.nupkg`
          : `${generationRoot(generation)}registration5-semver1/rebuilt.package00/4.0.${n}.json`;
      expect(await store.stat(key), key).toBeDefined();
    }
  }

  it('switches both projections to a generation rebuilt while pushes go on, and deletes the old one after the grace period', { timeout: 120_000 }, async () => {
    // A catalog to replay: 20 ids, second versions, icons, and a delete.
    for (let i = 0; i < 20; i++) {
      const id = `Rebuilt.Package${String(i).padStart(2, '0')}`;
      await publish([{ id, version: '1.0.0', icon: i % 8 === 0 }]);
      if (i % 4 === 0) await publish([{ id, version: '1.1.0' }]);
    }
    await deleteVersion('Rebuilt.Package04', '1.1.0');
    await waitForLiveCursors(await publish([{ id: 'Rebuilt.Last', version: '2.0.0' }]));
    expect(await pointer()).toBeUndefined(); // nothing rebuilt yet: generation 0, no pointer needed

    const reading = startReader();
    reader = reading;
    expect(await requestRebuild(db, FEED_ID, 'flatcontainer')).toBe(1);
    expect(await requestRebuild(db, FEED_ID, 'registration')).toBe(1);
    await expect(requestRebuild(db, FEED_ID, 'registration')).rejects.toBeInstanceOf(RebuildInProgressError);

    // Keep pushing (new ids and new versions) until both have switched, and a little after.
    let pushes = 0;
    let last: CommitStamp | undefined;
    let after = 0;
    let sawBuilding = false;
    const switched = new Set<BlobProjection>();
    while (after < 10) {
      const n = pushes++;
      last = await publish(n % 4 === 0 ? [{ id: `During.Rebuild${n}`, version: '1.0.0' }] : [{ id: `Rebuilt.Package${String(n % 20).padStart(2, '0')}`, version: `3.0.${n}` }]);
      const [flat, reg] = await Promise.all([findProjectionGeneration(db, FEED_ID, 'flatcontainer'), findProjectionGeneration(db, FEED_ID, 'registration')]);
      if (flat.building !== undefined || reg.building !== undefined) sawBuilding = true;
      if (flat.active === 1 && !switched.has('flatcontainer')) {
        switched.add('flatcontainer');
        // Just switched: while generation 0 is retiring (for a while yet), no further rebuild may start.
        expect(flat.retired).toBe(0);
        await expect(requestRebuild(db, FEED_ID, 'flatcontainer')).rejects.toBeInstanceOf(RebuildInProgressError);
        await expectRetiringKeptCurrent('flatcontainer', pushes++);
      }
      if (reg.active === 1 && !switched.has('registration')) {
        switched.add('registration');
        expect(reg.retired).toBe(0);
        await expectRetiringKeptCurrent('registration', pushes++);
      }
      if (flat.active === 1 && reg.active === 1) after += 1;
      expect(pushes, 'the rebuild should switch while pushes go on').toBeLessThan(1_000);
      await sleep(50);
    }
    expect(sawBuilding).toBe(true);
    expect(await waitFor(async () => {
      const p = await pointer();
      return p?.flatcontainer === 1 && p.registration === 1 ? p : undefined;
    }, { what: 'the pointer to name generation 1' })).toEqual({ flatcontainer: 1, registration: 1 });
    await waitForLiveCursors(last!);

    // After the grace period the old generation's keys are gone, and the state says so.
    await waitFor(async () => (await generationKeys('flatcontainer', 0)).length === 0 && (await generationKeys('registration', 0)).length === 0, {
      what: 'generation 0 to be deleted',
      timeoutMs: 20_000,
    });
    for (const projection of ['flatcontainer', 'registration'] as const) {
      const state = await waitFor(async () => {
        const s = await findProjectionGeneration(db, FEED_ID, projection);
        return s.retired === undefined ? s : undefined;
      }, { what: `${projection} generation 0 to be recorded as deleted` });
      expect(state).toMatchObject({ active: 1 });
      expect(state.building).toBeUndefined();
    }
    await sleep(2 * READER_CACHE_MS);
    await reading.stop();

    expect(reading.failures).toEqual([]);
    expect(reading.rounds).toBeGreaterThan(10);
    // Two workers, one switch per projection.
    expect(logs.filter((e) => e.message === 'switched generation').map((e) => e.fields['projection']).sort()).toEqual(['flatcontainer', 'registration']);
    // The reader was served from both generations (flat container / registration).
    expect(reading.generationsSeen.has('0/0') && reading.generationsSeen.has('1/1')).toBe(true);

    // P5: the rebuilt generation (kept current by the live cursor since) equals a from-scratch replay.
    expect(await expectSameAsFromScratch('flatcontainer', 1)).toBeGreaterThan(50);
    expect(await expectSameAsFromScratch('registration', 1)).toBeGreaterThan(50);
    expect(errors()).toEqual([]);
  });

  it('rebuilds from one prefixed generation into the next, after a cancelled attempt', { timeout: 60_000 }, async () => {
    // Either worker copy may follow the rebuild (both start a runner; the queue shares the work).
    const managers = [worker, otherWorker].map((w) => w.generations.get('flatcontainer')!);
    expect(await requestRebuild(db, FEED_ID, 'flatcontainer')).toBe(2);
    await waitFor(() => managers.some((m) => m.building === 2), { what: 'a rebuild runner to start' });
    expect(await cancelRebuild(db, FEED_ID, 'flatcontainer')).toBe(2);
    expect(await cancelRebuild(db, FEED_ID, 'flatcontainer')).toBeUndefined();
    await waitFor(() => managers.every((m) => m.building === undefined), { what: 'every rebuild runner to stop' });

    // Asked again: the same generation number, replayed from the start over the leftovers.
    expect(await requestRebuild(db, FEED_ID, 'flatcontainer')).toBe(2);
    const stamp = await publish([{ id: 'Second.Round', version: '1.0.0' }]);
    await waitFor(async () => (await findProjectionGeneration(db, FEED_ID, 'flatcontainer')).active === 2, { what: 'the switch to generation 2', timeoutMs: 30_000 });
    await waitFor(async () => (await pointer())?.flatcontainer === 2, { what: 'the pointer to name generation 2' });
    expect(await pointer()).toEqual({ flatcontainer: 2, registration: 1 });
    await waitForLiveCursors(stamp);

    await waitFor(async () => (await generationKeys('flatcontainer', 1)).length === 0, { what: 'generation 1 to be deleted', timeoutMs: 20_000 });
    expect(await expectSameAsFromScratch('flatcontainer', 2)).toBeGreaterThan(50);
    // The registration generation was not touched.
    expect(await expectSameAsFromScratch('registration', 1)).toBeGreaterThan(50);
    expect(errors()).toEqual([]);
  });
});
