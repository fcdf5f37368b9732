import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb, migrateToLatest, type Db } from '@nucat/db';
import { createTestDatabase } from '@nucat/testing';
import { appendCatalogCommit, formatCatalogTimestamp, readCatalogBatch, type CommitStamp, type PackageDeleteData } from '../src/index.js';

// A catalog item whose content does not matter here: the test is about order and visibility.
function deleteItem(lowerId: string, version: string) {
  return {
    type: 'PackageDelete' as const,
    lowerId,
    lowerVersion: version,
    build: (c: CommitStamp): PackageDeleteData => ({ id: lowerId, originalId: lowerId, version, published: formatCatalogTimestamp(c.commitTimestamp) }),
  };
}

/** Follows the catalog like a projection: whole commits after the cursor, then move the cursor. */
async function follow(db: Db, feedId: number, cursor: Date, seen: string[]): Promise<Date> {
  for (;;) {
    const batch = await readCatalogBatch(db, feedId, cursor, 50);
    if (!batch) return cursor;
    for (const item of batch.items) seen.push(`${item.lowerId}@${item.lowerVersion}@${item.commitTimestamp.getTime()}`);
    cursor = batch.to;
  }
}

describe('catalog append ordering', () => {
  let db: Db;
  let drop: () => Promise<void>;
  const feedId = 1;

  beforeAll(async () => {
    const created = await createTestDatabase();
    drop = created.drop;
    db = createDb({ url: created.url, poolSize: 40 });
    await migrateToLatest(db);
  });
  afterAll(async () => {
    await db?.destroy();
    await drop?.();
  });

  it('loses an event when a naive writer takes its timestamp before a slow commit (control)', async () => {
    // The failure appendCatalogCommit exists to prevent, reproduced deterministically: A takes an
    // earlier timestamp, B commits a later one first, the reader moves past, then A commits.
    await sql`CREATE TABLE naive_log (ts timestamptz NOT NULL, name text NOT NULL)`.execute(db);
    let releaseA!: () => void;
    const aMayCommit = new Promise<void>((r) => (releaseA = r));
    let aInserted!: () => void;
    const aHasInserted = new Promise<void>((r) => (aInserted = r));
    const a = db.transaction().execute(async (trx) => {
      await sql`INSERT INTO naive_log VALUES (date_trunc('milliseconds', clock_timestamp()), 'a')`.execute(trx);
      aInserted();
      await aMayCommit;
    });
    await aHasInserted;
    await sql`INSERT INTO naive_log VALUES (date_trunc('milliseconds', clock_timestamp()) + interval '1 millisecond', 'b')`.execute(db);
    const firstRead = await sql<{ ts: Date; name: string }>`SELECT ts, name FROM naive_log ORDER BY ts`.execute(db);
    const cursor = firstRead.rows.at(-1)!.ts;
    releaseA();
    await a;
    const after = await sql<{ name: string }>`SELECT name FROM naive_log WHERE ts > ${cursor} ORDER BY ts`.execute(db);
    const seen = [...firstRead.rows.map((r) => r.name), ...after.rows.map((r) => r.name)];
    expect(seen).toEqual(['b']); // 'a' is lost for this reader forever
  });

  it('never lets a reader skip a commit that is still in flight', async () => {
    // Same interleaving through appendCatalogCommit: B waits for A's lock, so it cannot be visible first.
    let releaseA!: () => void;
    const aMayCommit = new Promise<void>((r) => (releaseA = r));
    let aAppended!: () => void;
    const aHasAppended = new Promise<void>((r) => (aAppended = r));
    const a = db.transaction().execute(async (trx) => {
      await appendCatalogCommit(trx, feedId, [deleteItem('slow.a', '1.0.0')]);
      aAppended();
      await aMayCommit;
    });
    await aHasAppended;
    const b = db.transaction().execute((trx) => appendCatalogCommit(trx, feedId, [deleteItem('fast.b', '1.0.0')]));
    const seen: string[] = [];
    let cursor = await follow(db, feedId, new Date(0), seen);
    expect(seen).toEqual([]); // neither is visible while A holds the head
    releaseA();
    await Promise.all([a, b]);
    cursor = await follow(db, feedId, cursor, seen);
    expect(seen.map((s) => s.split('@')[0])).toEqual(['slow.a', 'fast.b']);
  });

  it('delivers every item exactly once, in strictly increasing commit order, under 24 concurrent writers with random delays', async () => {
    const writers = 24;
    const perWriter = 15;
    const expected = new Set<string>();
    let writing = true;
    const seen: string[] = [];
    const reader = (async () => {
      let cursor = new Date(0);
      // Start from the current head so earlier tests' items are not counted.
      const head = await db.selectFrom('catalog_heads').select('last_commit_timestamp').where('feed_id', '=', feedId).executeTakeFirst();
      cursor = head?.last_commit_timestamp ?? cursor;
      while (writing) {
        cursor = await follow(db, feedId, cursor, seen);
        await new Promise((r) => setTimeout(r, 2));
      }
      await follow(db, feedId, cursor, seen);
    })();
    await Promise.all(
      Array.from({ length: writers }, async (_, w) => {
        for (let i = 0; i < perWriter; i++) {
          const id = `w${w}.p${i}`;
          expected.add(id);
          await db.transaction().execute(async (trx) => {
            await sql`SELECT pg_sleep(random() * 0.01)`.execute(trx);
            await appendCatalogCommit(trx, feedId, [deleteItem(id, '1.0.0')]);
            // The dangerous window: appended but not yet committed.
            await sql`SELECT pg_sleep(random() * 0.01)`.execute(trx);
          });
        }
      }),
    );
    writing = false;
    await reader;
    const ids = seen.map((s) => s.split('@')[0]!);
    expect(new Set(ids).size).toBe(ids.length); // no duplicates
    expect(new Set(ids)).toEqual(expected); // no gaps
    const stamps = seen.map((s) => Number(s.split('@')[2]));
    for (let i = 1; i < stamps.length; i++) expect(stamps[i]).toBeGreaterThan(stamps[i - 1]!);
  });

  it('starts a new catalog page when a commit would pass 550 items, and never splits a commit', async () => {
    const before = await db.selectFrom('catalog_heads').selectAll().where('feed_id', '=', feedId).executeTakeFirstOrThrow();
    const fill = 550 - before.page_item_count;
    if (fill > 0) {
      await db.transaction().execute((trx) =>
        appendCatalogCommit(trx, feedId, Array.from({ length: fill }, (_, i) => deleteItem(`fill.${randomUUID().slice(0, 8)}`, `1.0.${i}`))),
      );
    }
    const full = await db.selectFrom('catalog_heads').selectAll().where('feed_id', '=', feedId).executeTakeFirstOrThrow();
    expect(full.page_item_count).toBe(550);
    await db.transaction().execute((trx) => appendCatalogCommit(trx, feedId, [deleteItem('next.page', '1.0.0'), deleteItem('next.page', '2.0.0')]));
    const next = await db.selectFrom('catalog_heads').selectAll().where('feed_id', '=', feedId).executeTakeFirstOrThrow();
    expect(next.page_number).toBe(full.page_number + 1);
    expect(next.page_item_count).toBe(2);
    const counts = await db
      .selectFrom('catalog_items')
      .select(['page_number', (eb) => eb.fn.countAll<string>().as('n')])
      .where('feed_id', '=', feedId)
      .groupBy('page_number')
      .orderBy('page_number')
      .execute();
    const sizes = counts.map((c) => Number(c.n));
    expect(sizes.at(-1)).toBe(2);
    expect(sizes.at(-2)).toBe(550);
    for (const size of sizes) expect(size).toBeLessThanOrEqual(550);
  });
});
