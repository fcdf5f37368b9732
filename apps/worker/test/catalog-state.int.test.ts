import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendCatalogCommit, buildPackageDetails, formatCatalogTimestamp, type CatalogItem, type CommitStamp, type PendingCatalogItem } from '@nucat/catalog';
import { createDb, migrateToLatest, type Db } from '@nucat/db';
import { lowerNormalizedVersion, normalizeVersion, parseVersion, readNupkg, toLowerId } from '@nucat/nuget';
import { buildNupkg, createTestDatabase, type TestDatabase } from '@nucat/testing';
import { createCatalogStateCache, readLatestItemsOf } from '../src/catalog-state.js';

const FEED_ID = 1;

function details(id: string, version: string, listed = true): PendingCatalogItem {
  const bytes = buildNupkg({ id, version });
  const contents = readNupkg(bytes);
  return {
    type: 'PackageDetails',
    lowerId: toLowerId(id),
    lowerVersion: lowerNormalizedVersion(contents.manifest.version),
    build: (c) =>
      buildPackageDetails({
        manifest: contents.manifest,
        packageHash: createHash('sha512').update(bytes).digest('base64'),
        packageSize: bytes.length,
        entries: contents.entries,
        created: c.commitTimestamp,
        published: c.commitTimestamp,
        listed,
      }),
  };
}

function deleted(id: string, version: string): PendingCatalogItem {
  return {
    type: 'PackageDelete',
    lowerId: toLowerId(id),
    lowerVersion: lowerNormalizedVersion(parseVersion(version)),
    build: (c) => ({ id, originalId: id, version: normalizeVersion(parseVersion(version)), published: formatCatalogTimestamp(c.commitTimestamp) }),
  };
}

/** A state made comparable: per id, its items sorted by version. */
function comparable(state: Map<string, CatalogItem[]>): Record<string, CatalogItem[]> {
  return Object.fromEntries(
    [...state].sort(([a], [b]) => (a < b ? -1 : 1)).map(([id, items]) => [id, [...items].sort((a, b) => (a.lowerVersion < b.lowerVersion ? -1 : 1))]),
  );
}

describe('catalog state of a chunk of ids, kept between batches', () => {
  let database: TestDatabase;
  let db: Db;
  const commit = (items: PendingCatalogItem[]): Promise<CommitStamp> => db.transaction().execute((trx) => appendCatalogCommit(trx, FEED_ID, items));

  beforeAll(async () => {
    database = await createTestDatabase();
    db = createDb({ url: database.url });
    await migrateToLatest(db);
  });
  afterAll(async () => {
    await db?.destroy();
    await database?.drop();
  });

  it('reads the latest item of each version of several ids in one go, as of a point, and nothing for unknown ids', async () => {
    await commit([details('State.One', '1.0.0'), details('State.Two', '1.0.0')]);
    const first = await commit([details('State.One', '2.0.0')]);
    await commit([details('State.One', '1.0.0', false), deleted('State.Two', '1.0.0')]);

    const then = await readLatestItemsOf(db, FEED_ID, ['state.one', 'state.two', 'state.none'], first.commitTimestamp);
    expect(then.get('state.none')).toEqual([]);
    expect(then.get('state.one')!.map((i) => [i.lowerVersion, i.type, (i.data as { listed?: boolean }).listed])).toEqual([
      ['1.0.0', 'PackageDetails', true],
      ['2.0.0', 'PackageDetails', true],
    ]);
    const now = await readLatestItemsOf(db, FEED_ID, ['state.one', 'state.two']);
    expect(now.get('state.one')!.map((i) => (i.data as { listed?: boolean }).listed)).toEqual([false, true]);
    expect(now.get('state.two')!.map((i) => i.type)).toEqual(['PackageDelete']);
  });

  it('gives a later state from the one it kept plus the items in between, equal to reading it whole', async () => {
    const cache = createCatalogStateCache({ db, feedId: FEED_ID });
    const ids = ['cache.alpha', 'cache.beta', 'cache.gamma'];
    await commit([details('Cache.Alpha', '1.0.0'), details('Cache.Beta', '1.0.0')]);
    const t1 = await commit([details('Cache.Alpha', '1.1.0')]);
    const kept = await cache.load(ids, t1.commitTimestamp);
    expect(comparable(kept)).toEqual(comparable(await readLatestItemsOf(db, FEED_ID, ids, t1.commitTimestamp)));

    // Between the two points: a new version, an unlist, a delete and a new id (committed by anyone).
    await commit([details('Cache.Alpha', '2.0.0'), details('Cache.Beta', '1.0.0', false)]);
    await commit([deleted('Cache.Alpha', '1.0.0'), details('Cache.Gamma', '0.1.0')]);
    const t2 = await commit([details('Cache.Beta', '1.1.0')]);
    await commit([details('Cache.Alpha', '9.0.0')]); // after t2: not part of the state as of t2

    const later = await cache.load(ids, t2.commitTimestamp);
    expect(comparable(later)).toEqual(comparable(await readLatestItemsOf(db, FEED_ID, ids, t2.commitTimestamp)));
    // Versions unchanged in between are the very objects handed out before (memoised work on them is reused).
    expect(later.get('cache.alpha')!.find((i) => i.lowerVersion === '1.1.0')).toBe(kept.get('cache.alpha')!.find((i) => i.lowerVersion === '1.1.0'));
    // The first state handed out is left as it was.
    expect(kept.get('cache.alpha')!.map((i) => i.lowerVersion).sort()).toEqual(['1.0.0', '1.1.0']);
  });

  it('reads an earlier point (a replay) whole, and keeps the later state it had', async () => {
    const cache = createCatalogStateCache({ db, feedId: FEED_ID });
    const early = await commit([details('Cache.Replayed', '1.0.0')]);
    const late = await commit([details('Cache.Replayed', '2.0.0')]);
    expect((await cache.load(['cache.replayed'], late.commitTimestamp)).get('cache.replayed')).toHaveLength(2);
    expect((await cache.load(['cache.replayed'], early.commitTimestamp)).get('cache.replayed')!.map((i) => i.lowerVersion)).toEqual(['1.0.0']);
    const again = await cache.load(['cache.replayed'], late.commitTimestamp);
    expect(comparable(again)).toEqual(comparable(await readLatestItemsOf(db, FEED_ID, ['cache.replayed'], late.commitTimestamp)));
  });

  it('keeps no more items than it is allowed, dropping the least recently used ids', async () => {
    const cache = createCatalogStateCache({ db, feedId: FEED_ID, maxItems: 3 });
    const stamp = await commit([details('Cache.Small.A', '1.0.0'), details('Cache.Small.A', '2.0.0'), details('Cache.Small.B', '1.0.0'), details('Cache.Small.C', '1.0.0')]);
    await cache.load(['cache.small.a', 'cache.small.b'], stamp.commitTimestamp);
    expect(cache.size).toBe(3);
    await cache.load(['cache.small.c'], stamp.commitTimestamp);
    expect(cache.size).toBeLessThanOrEqual(3);
    const state = await cache.load(['cache.small.a', 'cache.small.b', 'cache.small.c'], stamp.commitTimestamp);
    expect(comparable(state)).toEqual(comparable(await readLatestItemsOf(db, FEED_ID, ['cache.small.a', 'cache.small.b', 'cache.small.c'], stamp.commitTimestamp)));
  });
});
