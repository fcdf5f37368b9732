/**
 * The catalog writer's one-statement append (`nucat_append_catalog_commit`) and its claim + append of
 * new versions (`nucat_ingest_packages`), against a real PostgreSQL database: the commit timestamp written
 * into each leaf by the database, the `packages` row changes made by the same statement, and the claim
 * rules (one claim per id+version, deleted versions never claimed again, strictly increasing timestamps).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb, migrateToLatest, type Db } from '@nucat/db';
import { createTestDatabase, type TestDatabase } from '@nucat/testing';
import {
  appendCatalogCommit,
  claimAndAppendCommits,
  findLatestItem,
  formatCatalogTimestamp,
  prepareCatalogCommit,
  UnsupportedCatalogItemError,
  type PackageClaim,
  type PackageDeleteData,
  type PendingCatalogItem,
} from '../src/index.js';

let database: TestDatabase;
let db: Db;
const feedId = 1;

beforeAll(async () => {
  database = await createTestDatabase();
  db = createDb({ url: database.url, poolSize: 8 });
  await migrateToLatest(db);
});
afterAll(async () => {
  await db?.destroy();
  await database?.drop();
});

function deleteItem(lowerId: string, lowerVersion: string, extra: Partial<PendingCatalogItem> = {}): PendingCatalogItem {
  return {
    type: 'PackageDelete',
    lowerId,
    lowerVersion,
    build: (c): PackageDeleteData => ({ id: lowerId, originalId: lowerId, version: lowerVersion, published: formatCatalogTimestamp(c.commitTimestamp) }),
    ...extra,
  } as PendingCatalogItem;
}

function claimOf(lowerId: string, lowerVersion: string): PackageClaim {
  return {
    lowerId,
    lowerVersion,
    id: lowerId,
    version: lowerVersion,
    normalizedVersion: lowerVersion,
    listed: true,
    semver2: false,
    packageHash: Buffer.alloc(64, lowerId.length).toString('base64'),
    packageSize: 1234,
  };
}

async function packageRow(lowerId: string, lowerVersion: string) {
  return db.selectFrom('packages').selectAll().where('feed_id', '=', feedId).where('lower_id', '=', lowerId).where('lower_version', '=', lowerVersion).executeTakeFirst();
}

async function commitsOf(lowerId: string): Promise<number> {
  const rows = await db.selectFrom('catalog_items').select('seq').where('feed_id', '=', feedId).where('lower_id', '=', lowerId).execute();
  return rows.length;
}

describe('appendCatalogCommit', () => {
  it('writes the commit timestamp into the leaf where build used it, in catalog and ISO form, nested or not', async () => {
    const item = {
      type: 'PackageDelete' as const,
      lowerId: 'stamp.forms',
      lowerVersion: '1.0.0',
      build: (c: { commitId: string; commitTimestamp: Date }) =>
        ({
          id: 'Stamp.Forms',
          originalId: 'Stamp.Forms',
          version: '1.0.0',
          published: formatCatalogTimestamp(c.commitTimestamp),
          // Not part of a delete leaf; here to show every place and form is found.
          audit: { at: [c.commitTimestamp.toISOString(), 'fixed'], when: c.commitTimestamp, commit: c.commitId },
        }) as unknown as PackageDeleteData,
    };
    const stamp = await appendCatalogCommit(db, feedId, [item]);
    const stored = await findLatestItem(db, feedId, 'stamp.forms', '1.0.0');
    expect(stored?.commitTimestamp.getTime()).toBe(stamp.commitTimestamp.getTime());
    expect(stored?.commitId).toBe(stamp.commitId);
    expect(stored?.data).toEqual(JSON.parse(JSON.stringify(item.build(stamp))));
    expect((stored?.data as PackageDeleteData).published).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}0000Z$/);
  });

  it('refuses an item whose build uses the commit other than as a whole formatted timestamp, writing nothing', async () => {
    const before = await db.selectFrom('catalog_heads').selectAll().where('feed_id', '=', feedId).executeTakeFirstOrThrow();
    const item = {
      type: 'PackageDelete' as const,
      lowerId: 'stamp.bad',
      lowerVersion: '1.0.0',
      build: (c: { commitTimestamp: Date }): PackageDeleteData => ({ id: 'x', originalId: 'x', version: '1.0.0', published: `at ${c.commitTimestamp.getTime()}` }),
    };
    expect(() => prepareCatalogCommit([item])).toThrow(UnsupportedCatalogItemError);
    await expect(appendCatalogCommit(db, feedId, [item])).rejects.toMatchObject({ code: 'unsupported_catalog_item' });
    expect(await commitsOf('stamp.bad')).toBe(0);
    expect(await db.selectFrom('catalog_heads').selectAll().where('feed_id', '=', feedId).executeTakeFirstOrThrow()).toEqual(before);
  });

  it('refuses an empty commit', async () => {
    await expect(appendCatalogCommit(db, feedId, [])).rejects.toThrow(/at least one item/);
  });

  it("applies each item's package change to its row in the same statement, with the commit time", async () => {
    await claimAndAppendCommits(db, feedId, [{ claim: claimOf('row.change', '1.0.0'), commit: prepareCatalogCommit([deleteItem('row.change', '1.0.0')]) }]);
    const unlisted = await appendCatalogCommit(db, feedId, [deleteItem('row.change', '1.0.0', { package: { listed: false } })]);
    expect(await packageRow('row.change', '1.0.0')).toMatchObject({ listed: false, deleted: false, last_commit_timestamp: unlisted.commitTimestamp });
    const deleted = await appendCatalogCommit(db, feedId, [deleteItem('row.change', '1.0.0', { package: { deleted: true } })]);
    const row = await packageRow('row.change', '1.0.0');
    expect(row).toMatchObject({ listed: false, deleted: true, last_commit_timestamp: deleted.commitTimestamp });
    expect(row!.created.getTime()).toBeLessThan(deleted.commitTimestamp.getTime());
  });

  it('appends the items of a commit in the order given, under one timestamp', async () => {
    const stamp = await appendCatalogCommit(db, feedId, [deleteItem('order.b', '1.0.0'), deleteItem('order.a', '1.0.0'), deleteItem('order.c', '1.0.0')]);
    const rows = await db
      .selectFrom('catalog_items')
      .select(['lower_id', 'commit_timestamp'])
      .where('feed_id', '=', feedId)
      .where('commit_id', '=', stamp.commitId)
      .orderBy('seq')
      .execute();
    expect(rows.map((r) => r.lower_id)).toEqual(['order.b', 'order.a', 'order.c']);
    expect(new Set(rows.map((r) => r.commit_timestamp.getTime()))).toEqual(new Set([stamp.commitTimestamp.getTime()]));
  });
});

describe('claimAndAppendCommits', () => {
  it('claims each new id+version once and appends one commit per claim, in the order given, with strictly increasing timestamps', async () => {
    const requests = [
      { claim: claimOf('claim.b', '1.0.0'), commit: prepareCatalogCommit([deleteItem('claim.b', '1.0.0')]) },
      { claim: claimOf('claim.a', '1.0.0'), commit: prepareCatalogCommit([deleteItem('claim.a', '1.0.0')]) },
      { claim: claimOf('claim.b', '1.0.0'), commit: prepareCatalogCommit([deleteItem('claim.b', '1.0.0')]) },
      { claim: claimOf('claim.a', '2.0.0'), commit: prepareCatalogCommit([deleteItem('claim.a', '2.0.0')]) },
    ];
    const stamps = await db.transaction().execute((trx) => claimAndAppendCommits(trx, feedId, requests));
    expect(stamps.map((s) => s !== undefined)).toEqual([true, true, false, true]);
    expect(stamps.map((s) => s?.commitId)).toEqual([requests[0]!.commit.commitId, requests[1]!.commit.commitId, undefined, requests[3]!.commit.commitId]);
    const times = stamps.filter((s) => s !== undefined).map((s) => s.commitTimestamp.getTime());
    for (let i = 1; i < times.length; i++) expect(times[i]).toBeGreaterThan(times[i - 1]!);
    expect(await commitsOf('claim.b')).toBe(1);
    const row = await packageRow('claim.a', '2.0.0');
    expect(row?.created.getTime()).toBe(stamps[3]!.commitTimestamp.getTime());
    expect(row?.last_commit_timestamp.getTime()).toBe(stamps[3]!.commitTimestamp.getTime());
  });

  it('never claims an id+version that exists or was deleted', async () => {
    await claimAndAppendCommits(db, feedId, [{ claim: claimOf('claim.gone', '1.0.0'), commit: prepareCatalogCommit([deleteItem('claim.gone', '1.0.0')]) }]);
    await appendCatalogCommit(db, feedId, [deleteItem('claim.gone', '1.0.0', { package: { deleted: true } })]);
    const before = await commitsOf('claim.gone');
    const again = await claimAndAppendCommits(db, feedId, [{ claim: claimOf('claim.gone', '1.0.0'), commit: prepareCatalogCommit([deleteItem('claim.gone', '1.0.0')]) }]);
    expect(again).toEqual([undefined]);
    expect(await commitsOf('claim.gone')).toBe(before);
    expect(await packageRow('claim.gone', '1.0.0')).toMatchObject({ deleted: true });
  });

  it('of concurrent transactions claiming overlapping versions in opposite orders, each version is claimed exactly once and none deadlocks', async () => {
    const versions = Array.from({ length: 12 }, (_, i) => `1.0.${i}`);
    const batch = (order: string[]) =>
      // A deadlock would fail one of them (PostgreSQL detects it and aborts a transaction).
      db.transaction().execute((trx) =>
        claimAndAppendCommits(
          trx,
          feedId,
          order.map((v) => ({ claim: claimOf('claim.race', v), commit: prepareCatalogCommit([deleteItem('claim.race', v)]) })),
        ),
      );
    const results = await Promise.all([batch(versions), batch([...versions].reverse()), batch(versions.filter((_, i) => i % 2 === 0))]);
    const claimed = results.flat().filter((s) => s !== undefined).length;
    expect(claimed).toBe(versions.length);
    expect(await commitsOf('claim.race')).toBe(versions.length);
  });
});
