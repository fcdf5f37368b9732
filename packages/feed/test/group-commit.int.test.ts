/**
 * Group commit of pushes (issue #5): concurrent ingests of one feed share transactions through
 * `ClaimBatcher`, and every promise of the write path still holds — one catalog event per created
 * version, `exists` for every duplicate in any spelling, strictly increasing commit timestamps, and a
 * request the database refuses fails alone.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatCatalogTimestamp, prepareCatalogCommit, type PackageClaim, type PackageDeleteData } from '@nucat/catalog';
import { createDb, type Db } from '@nucat/db';
import { createBufferZipSource } from '@nucat/nuget';
import { buildNupkg, type TestDatabase } from '@nucat/testing';
import { ClaimBatcher } from '../src/claim-batcher.js';
import { ingestPackage, type FeedDeps, type IngestResult } from '../src/index.js';
import { openFeedFixture, type FeedFixture } from './support.js';

let database: TestDatabase;
let db: Db;
let deps: FeedDeps;

let fixture: FeedFixture | undefined;

beforeAll(async () => {
  fixture = await openFeedFixture('group-commit', 8);
  ({ database, db, deps } = fixture);
});

afterAll(async () => {
  await fixture?.close();
});

async function leavesOf(lowerId: string) {
  return db
    .selectFrom('catalog_items')
    .select(['lower_version', 'commit_id', 'commit_timestamp'])
    .where('feed_id', '=', deps.feedId)
    .where('lower_id', '=', lowerId)
    .orderBy('seq')
    .execute();
}

/** Holds the feed's catalog head lock from another session until `release()`: pushes queue up behind it. */
async function holdCatalogHead(): Promise<{ release(): Promise<void> }> {
  const other = createDb({ url: database.url, poolSize: 1 });
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let locked!: () => void;
  const isLocked = new Promise<void>((resolve) => (locked = resolve));
  const holding = other.transaction().execute(async (trx) => {
    await trx.selectFrom('catalog_heads').select('feed_id').where('feed_id', '=', deps.feedId).forUpdate().execute();
    locked();
    await released;
  });
  await isLocked;
  return {
    async release() {
      release();
      await holding;
      await other.destroy();
    },
  };
}

describe('group commit of concurrent pushes', () => {
  it('P4 concurrent pushes, duplicates in other spellings among them: one catalog event per created version, exists for every other', async () => {
    const id = 'Contoso.Group';
    const versions = Array.from({ length: 16 }, (_, i) => `1.${i}.0`);
    // Each version pushed three times at once: as is, with another id casing and another version spelling, and with other bytes.
    const pushes = versions.flatMap((v) => [
      buildNupkg({ id, version: v }),
      buildNupkg({ id: id.toUpperCase(), version: `${v}.0` }),
      buildNupkg({ id, version: v, description: 'other bytes' }),
    ]);
    const held = await holdCatalogHead(); // let them all queue, so they share transactions
    const results = pushes.map((bytes) => ingestPackage(deps, { source: createBufferZipSource(bytes) }));
    await new Promise((resolve) => setTimeout(resolve, 200));
    await held.release();
    const outcomes: IngestResult[] = await Promise.all(results);

    const created = outcomes.filter((o) => o.kind === 'created');
    expect(created.map((o) => o.version).sort()).toEqual([...versions].sort());
    expect(outcomes.filter((o) => o.kind === 'exists')).toHaveLength(versions.length * 2);
    const leaves = await leavesOf('contoso.group');
    expect(leaves).toHaveLength(versions.length);
    expect(new Set(leaves.map((l) => l.commit_id))).toEqual(new Set(created.map((o) => o.commit.commitId)));
    for (let i = 1; i < leaves.length; i++) {
      expect(leaves[i]!.commit_timestamp.getTime()).toBeGreaterThan(leaves[i - 1]!.commit_timestamp.getTime());
    }
  });

  it('a request the database refuses fails alone; the others queued in its batch are committed', async () => {
    const batcher = new ClaimBatcher(db, deps.feedId);
    const request = (lowerId: string) => {
      const claim: PackageClaim = {
        lowerId,
        lowerVersion: '1.0.0',
        id: lowerId,
        version: '1.0.0',
        normalizedVersion: '1.0.0',
        listed: true,
        semver2: false,
        packageHash: Buffer.alloc(64, 7).toString('base64'),
        packageSize: 100,
      };
      const commit = prepareCatalogCommit([
        {
          type: 'PackageDelete',
          lowerId,
          lowerVersion: '1.0.0',
          build: (c): PackageDeleteData => ({ id: lowerId, originalId: lowerId, version: '1.0.0', published: formatCatalogTimestamp(c.commitTimestamp) }),
        },
      ]);
      return { claim, commit };
    };
    const held = await holdCatalogHead();
    const first = batcher.claim(request('batch.first'));
    // Queued behind the first (blocked on the lock): these share the next transaction.
    const good = ['batch.a', 'batch.b', 'batch.c'].map((lowerId) => batcher.claim(request(lowerId)));
    const bad = batcher.claim(request('batch.\u0000nul')); // PostgreSQL text cannot hold NUL
    bad.catch(() => {});
    await held.release();
    expect(await first).toBeDefined();
    await expect(bad).rejects.toMatchObject({ code: expect.stringMatching(/^22/) });
    for (const stamp of await Promise.all(good)) expect(stamp?.commitId).toBeDefined();
    for (const lowerId of ['batch.a', 'batch.b', 'batch.c']) expect(await leavesOf(lowerId)).toHaveLength(1);
  });

  it('#41 a push queued behind a stuck appender fails with 55P03 once its own lock budget is spent', async () => {
    const held = await holdCatalogHead();
    try {
      const bounded = { ...deps, lockTimeoutMs: 150 };
      const pushes = ['2.0.0', '2.1.0'].map((v) => ingestPackage(bounded, { source: createBufferZipSource(buildNupkg({ id: 'Contoso.Stuck', version: v })) }));
      const outcomes = await Promise.allSettled(pushes);
      expect(outcomes.map((o) => (o.status === 'rejected' ? (o.reason as { code?: string }).code : o.status))).toEqual(['55P03', '55P03']);
    } finally {
      await held.release();
    }
    expect(await leavesOf('contoso.stuck')).toEqual([]);
  });
});
