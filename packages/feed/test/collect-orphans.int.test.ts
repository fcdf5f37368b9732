/**
 * Collecting orphaned content blobs (reliability.md §2 #32) against a real PostgreSQL database and a
 * filesystem blob store. An orphan is made the way a push that dies after its blob writes leaves one:
 * content blobs put under the package's content keys, no `packages` row. Ages are set by back-dating
 * the files. The kill -9 version: test/faults/publish-crash.test.ts.
 */
import { createHash } from 'node:crypto';
import { utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageContentKeys } from '@nucat/catalog';
import type { Db } from '@nucat/db';
import { createBufferZipSource } from '@nucat/nuget';
import type { BlobStore } from '@nucat/storage';
import { buildNupkg, waitFor, type TestDatabase } from '@nucat/testing';
import {
  collectOrphanBlobs,
  deletePackage,
  ingestPackage,
  InvalidCollectOptionsError,
  leaseExistingContent,
  type FeedDeps,
} from '../src/index.js';
import { openFeedFixture, type FeedFixture } from './support.js';

const HOUR = 3_600_000;

let database: TestDatabase;
let db: Db;
let store: BlobStore;
let root: string;
let dir: string;
let deps: FeedDeps;

let fixture: FeedFixture | undefined;

beforeAll(async () => {
  fixture = await openFeedFixture('gc', 6);
  ({ database, db, store, dir, deps } = fixture);
  root = join(dir, 'blobs');
});

afterAll(async () => {
  await fixture?.close();
});

const sha512 = (bytes: Buffer): string => createHash('sha512').update(bytes).digest('base64');

/** What a push that died between its blob writes and its commit leaves: the nupkg and nuspec blobs, no row. */
async function leaveOrphan(id: string): Promise<{ bytes: Buffer; hash: string; keys: string[] }> {
  const bytes = buildNupkg({ id, version: '1.0.0' });
  const hash = sha512(bytes);
  const keys = packageContentKeys(hash);
  await store.put(keys.nupkg, bytes, { onlyIfAbsent: true });
  await store.put(keys.nuspec, Buffer.from('<package/>'), { onlyIfAbsent: true });
  return { bytes, hash, keys: [keys.nupkg, keys.nuspec] };
}

/** Back-dates a hash's content files by `ms`. */
async function age(hash: string, ms: number): Promise<void> {
  const when = new Date(Date.now() - ms);
  for (const key of Object.values(packageContentKeys(hash))) {
    await utimes(join(root, ...key.split('/')), when, when).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error;
    });
  }
}

async function present(keys: string[]): Promise<boolean[]> {
  return Promise.all(keys.map(async (key) => (await store.stat(key)) !== undefined));
}

async function ingest(bytes: Buffer) {
  return ingestPackage(deps, { source: createBufferZipSource(bytes) });
}

describe('collectOrphanBlobs', () => {
  it('#32 orphaned blob collected: unreferenced content older than the minimum age is deleted; a dry run only lists it', async () => {
    const orphan = await leaveOrphan('Nucat.Gc.Orphan');
    await age(orphan.hash, 2 * HOUR);

    const preview = await collectOrphanBlobs(deps, { minAgeMs: HOUR, dryRun: true });
    expect(preview.collected.map((c) => c.packageHash)).toEqual([orphan.hash]);
    expect(preview.collected[0]!.keys.sort()).toEqual([...orphan.keys].sort());
    expect(await present(orphan.keys)).toEqual([true, true]);

    const report = await collectOrphanBlobs(deps, { minAgeMs: HOUR });
    expect(report.collected.map((c) => c.packageHash)).toEqual([orphan.hash]);
    expect(report.collected[0]!.bytes).toBe(orphan.bytes.length + '<package/>'.length);
    expect(await present(orphan.keys)).toEqual([false, false]);

    // The client's retry: the content is written again and the package is complete.
    const retry = await ingest(orphan.bytes);
    expect(retry.kind).toBe('created');
    expect((await store.read(orphan.keys[0]!))?.equals(orphan.bytes)).toBe(true);
  });

  it('#32 orphaned blob collected: referenced content stays — live, unlisted, deleted versions, and other feeds\' packages', async () => {
    const live = buildNupkg({ id: 'Nucat.Gc.Live', version: '1.0.0' });
    const gone = buildNupkg({ id: 'Nucat.Gc.Deleted', version: '1.0.0' });
    expect((await ingest(live)).kind).toBe('created');
    expect((await ingest(gone)).kind).toBe('created');
    expect((await deletePackage(deps, { id: 'Nucat.Gc.Deleted', version: '1.0.0' })).kind).toBe('deleted');

    // Content in this store referenced only by another feed's package (content is shared by feeds).
    const otherFeed = (await db.insertInto('feeds').values({ name: 'other' }).returning('id').executeTakeFirstOrThrow()).id;
    const shared = await leaveOrphan('Nucat.Gc.OtherFeed');
    await sql`INSERT INTO packages (feed_id, lower_id, lower_version, id, version, normalized_version, listed, semver2, package_hash, package_size, created, last_commit_timestamp)
              VALUES (${otherFeed}, 'nucat.gc.otherfeed', '1.0.0', 'Nucat.Gc.OtherFeed', '1.0.0', '1.0.0', true, false, ${shared.hash}, 1, now(), now())`.execute(db);

    for (const hash of [sha512(live), sha512(gone), shared.hash]) await age(hash, 10 * HOUR);
    const report = await collectOrphanBlobs(deps, { minAgeMs: HOUR });
    expect(report.collected).toEqual([]);
    expect(report.referenced).toBeGreaterThanOrEqual(3);
    for (const hash of [sha512(live), sha512(gone), shared.hash]) expect(await store.stat(packageContentKeys(hash).nupkg), hash).toBeDefined();
  });

  it('#32 orphaned blob collected: content younger than the minimum age stays (a push may be about to commit it)', async () => {
    const young = await leaveOrphan('Nucat.Gc.Young');
    await age(young.hash, HOUR - 60_000);
    const report = await collectOrphanBlobs(deps, { minAgeMs: HOUR });
    expect(report.tooYoung).toBe(1);
    expect(await present(young.keys)).toEqual([true, true]);
    // Its newest file decides: one fresh file keeps the whole hash.
    await age(young.hash, 3 * HOUR);
    await store.put(packageContentKeys(young.hash).readme, Buffer.from('# fresh'), { onlyIfAbsent: true });
    expect((await collectOrphanBlobs(deps, { minAgeMs: HOUR })).tooYoung).toBe(1);
    await age(young.hash, 3 * HOUR);
    expect((await collectOrphanBlobs(deps, { minAgeMs: HOUR })).collected.map((c) => c.keys.length)).toEqual([3]);
  });

  it('#32 orphaned blob collected: never while a push that skipped writing identical bytes relies on it (lease)', async () => {
    const orphan = await leaveOrphan('Nucat.Gc.Retried');
    await age(orphan.hash, 2 * HOUR);

    // A retry of the push that died: its content exists, so it leases the hash before relying on it.
    const lease = await leaseExistingContent(deps, orphan.hash);
    expect(lease.held).toBe(true);
    const during = await collectOrphanBlobs(deps, { minAgeMs: HOUR });
    expect(during.leased).toBe(1);
    expect(during.collected).toEqual([]);
    expect((await ingest(orphan.bytes)).kind).toBe('created'); // skips the writes, commits the row
    await lease.release();

    const after = await collectOrphanBlobs(deps, { minAgeMs: HOUR });
    expect(after.collected).toEqual([]);
    expect((await store.read(orphan.keys[0]!))?.equals(orphan.bytes), 'the committed package keeps its bytes').toBe(true);
  });

  it('#32 orphaned blob collected: a push that finds no content takes no lease; an expired lease protects nothing', async () => {
    const fresh = buildNupkg({ id: 'Nucat.Gc.Fresh', version: '1.0.0' });
    const none = await leaseExistingContent(deps, sha512(fresh));
    expect(none.held).toBe(false);
    await none.release();

    const orphan = await leaveOrphan('Nucat.Gc.Expired');
    await age(orphan.hash, 2 * HOUR);
    await db.insertInto('content_leases').values({ package_hash: orphan.hash, expires_at: new Date(Date.now() - 1000) }).execute();
    const report = await collectOrphanBlobs(deps, { minAgeMs: HOUR });
    expect(report.collected.map((c) => c.packageHash)).toEqual([orphan.hash]);
    expect(await db.selectFrom('content_leases').select('id').where('package_hash', '=', orphan.hash).execute()).toEqual([]);
  });

  it('#32 orphaned blob collected: a lease waits for a collection of its hash in progress (one advisory lock per hash)', async () => {
    const orphan = await leaveOrphan('Nucat.Gc.Locked');
    const hex = Buffer.from(orphan.hash, 'base64').toString('hex');
    // Stand in for a collector in the middle of deleting this hash: hold its lock from another session.
    const collector = new pg.Client({ connectionString: database.url });
    await collector.connect();
    try {
      await collector.query('BEGIN');
      await collector.query(`SELECT pg_advisory_xact_lock(hashtext('nucat-content'), hashtext($1))`, [hex]);
      let settled = false;
      const leasing = leaseExistingContent(deps, orphan.hash).finally(() => {
        settled = true;
      });
      await waitFor(
        async () => {
          const { rows } = await collector.query<{ n: string }>(
            `SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
          );
          return Number(rows[0]!.n) > 0;
        },
        { what: 'the lease to wait for the advisory lock', timeoutMs: 10_000, intervalMs: 20 },
      );
      expect(settled, 'the lease is not taken while the hash is being collected').toBe(false);
      for (const key of orphan.keys) await store.delete(key); // the collector deletes, then commits
      await collector.query('COMMIT');
      const lease = await leasing;
      expect(lease.held).toBe(true); // the push then finds no blob and writes it afresh
      await lease.release();
    } finally {
      await collector.end();
    }
  });

  it('two collectors at once collect each orphan once, without errors', async () => {
    const orphans = await Promise.all(['A', 'B', 'C', 'D'].map((s) => leaveOrphan(`Nucat.Gc.Twice${s}`)));
    for (const o of orphans) await age(o.hash, 2 * HOUR);
    const [first, second] = await Promise.all([collectOrphanBlobs(deps, { minAgeMs: HOUR }), collectOrphanBlobs(deps, { minAgeMs: HOUR })]);
    const collected = [...first.collected, ...second.collected].map((c) => c.packageHash).sort();
    expect(collected).toEqual(orphans.map((o) => o.hash).sort());
    for (const o of orphans) expect(await present(o.keys)).toEqual([false, false]);
  });

  it('leaves keys under content/ that are no package content alone, and refuses a minimum age under a minute', async () => {
    await store.put('content/zz/not-a-hash/file', Buffer.from('x'));
    const report = await collectOrphanBlobs(deps, { minAgeMs: HOUR });
    expect(report.unknownKeys).toBe(1);
    expect(await store.stat('content/zz/not-a-hash/file')).toBeDefined();
    await expect(collectOrphanBlobs(deps, { minAgeMs: 59_000 })).rejects.toBeInstanceOf(InvalidCollectOptionsError);
  });
});
