/**
 * The write-side feed operations against a real PostgreSQL database and a filesystem blob store:
 * ingest (created / exists with the same or other bytes), listed state, hash and identity checks,
 * unlist/relist, and hard delete (PackageDelete leaf, never reusable, projected away).
 */
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFeedUrls, findLatestItem, NotFoundError, readLatestItems, type PackageDeleteData, type PackageDetailsData } from '@nucat/catalog';
import { createDb, type Db } from '@nucat/db';
import { createBufferZipSource, InvalidPackageError } from '@nucat/nuget';
import { createFlatContainerProjector, createRegistrationProjector } from '@nucat/projections';
import type { BlobStore } from '@nucat/storage';
import { buildNupkg, type TestDatabase } from '@nucat/testing';
import { deletePackage, ingestPackage, PackageMismatchError, setListed, type FeedDeps } from '../src/index.js';
import { openFeedFixture, type FeedFixture } from './support.js';

let database: TestDatabase;
let db: Db;
let store: BlobStore;
let dir: string;
let deps: FeedDeps;

let fixture: FeedFixture | undefined;

beforeAll(async () => {
  fixture = await openFeedFixture('feed', 4);
  ({ database, db, store, dir, deps } = fixture);
});

afterAll(async () => {
  await fixture?.close();
});

const sha512 = (bytes: Buffer): string => createHash('sha512').update(bytes).digest('base64');

async function writePackage(name: string, bytes: Buffer): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, bytes);
  return file;
}

async function packageRow(lowerId: string, lowerVersion: string) {
  return db
    .selectFrom('packages')
    .selectAll()
    .where('feed_id', '=', deps.feedId)
    .where('lower_id', '=', lowerId)
    .where('lower_version', '=', lowerVersion)
    .executeTakeFirst();
}

async function itemCount(lowerId: string): Promise<number> {
  const rows = await db.selectFrom('catalog_items').select('seq').where('feed_id', '=', deps.feedId).where('lower_id', '=', lowerId).execute();
  return rows.length;
}

describe('ingestPackage', () => {
  const bytes = buildNupkg({ id: 'Contoso.Ingest', version: '1.0.0' });

  it('creates a version from a file: packages row, content blobs and one PackageDetails leaf', async () => {
    const file = await writePackage('ingest.nupkg', bytes);
    const result = await ingestPackage(deps, { file, sha512: sha512(bytes), size: bytes.length, listed: true });

    expect(result.kind).toBe('created');
    if (result.kind !== 'created') return;
    expect(result.packageId).toBe('Contoso.Ingest');
    const row = await packageRow('contoso.ingest', '1.0.0');
    expect(row).toMatchObject({ id: 'Contoso.Ingest', listed: true, deleted: false, package_hash: sha512(bytes) });
    expect(row!.created.getTime()).toBe(result.commit.commitTimestamp.getTime());
    const leaf = await findLatestItem(db, deps.feedId, 'contoso.ingest', '1.0.0');
    expect(leaf?.type).toBe('PackageDetails');
    expect((leaf!.data as PackageDetailsData).packageHash).toBe(sha512(bytes));
    expect(await store.stat(`content/${Buffer.from(sha512(bytes), 'base64').toString('hex').slice(0, 2)}/${Buffer.from(sha512(bytes), 'base64').toString('hex')}/package.nupkg`)).toBeDefined();
  });

  it('answers exists with sameBytes for the same bytes, and writes nothing', async () => {
    const result = await ingestPackage(deps, { source: createBufferZipSource(bytes) });
    expect(result).toMatchObject({ kind: 'exists', sameBytes: true, listed: true, deleted: false, normalizedVersion: '1.0.0' });
    expect(await itemCount('contoso.ingest')).toBe(1);
  });

  it('answers exists without sameBytes for other bytes under the same id+version, in any spelling', async () => {
    const other = buildNupkg({ id: 'contoso.INGEST', version: '1.0', description: 'Other bytes.' });
    const result = await ingestPackage(deps, { source: createBufferZipSource(other) });
    expect(result).toMatchObject({ kind: 'exists', sameBytes: false });
    expect(await itemCount('contoso.ingest')).toBe(1);
  });

  it('creates an unlisted version with one leaf (listed false, published 1900)', async () => {
    const unlisted = buildNupkg({ id: 'Contoso.Ingest', version: '2.0.0' });
    const result = await ingestPackage(deps, { source: createBufferZipSource(unlisted), listed: false });
    expect(result.kind).toBe('created');
    const leaf = (await findLatestItem(db, deps.feedId, 'contoso.ingest', '2.0.0'))!.data as PackageDetailsData;
    expect(leaf.listed).toBe(false);
    expect(leaf.published).toBe('1900-01-01T00:00:00.0000000Z');
    expect((await packageRow('contoso.ingest', '2.0.0'))?.listed).toBe(false);
  });

  it('refuses bytes whose hash is not the expected one, before writing anything', async () => {
    const pkg = buildNupkg({ id: 'Contoso.Hash', version: '1.0.0' });
    const error = await ingestPackage(deps, { source: createBufferZipSource(pkg), expectedHash: sha512(Buffer.from('other')) }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PackageMismatchError);
    expect((error as PackageMismatchError).code).toBe('package_mismatch');
    expect(await packageRow('contoso.hash', '1.0.0')).toBeUndefined();
  });

  it('refuses a package that is not the expected id and version', async () => {
    const pkg = buildNupkg({ id: 'Contoso.Identity', version: '1.0.0' });
    await expect(ingestPackage(deps, { source: createBufferZipSource(pkg), expectedIdentity: { id: 'Contoso.Identity', version: '1.0.1' } })).rejects.toThrow(
      PackageMismatchError,
    );
    const ok = await ingestPackage(deps, { source: createBufferZipSource(pkg), expectedIdentity: { id: 'contoso.identity', version: '1.0' } });
    expect(ok.kind).toBe('created');
  });

  it('refuses a symbols package', async () => {
    const symbols = buildNupkg({ id: 'Contoso.Symbols', version: '1.0.0', nuspecExtra: '<packageTypes><packageType name="SymbolsPackage" /></packageTypes>' });
    await expect(ingestPackage(deps, { source: createBufferZipSource(symbols) })).rejects.toThrow(InvalidPackageError);
  });

  it('asks authorize with the id and whether it exists, and writes nothing when it throws', async () => {
    const calls: [string, boolean][] = [];
    const refuse = (packageId: string, idExists: boolean) => {
      calls.push([packageId, idExists]);
      throw new Error('no');
    };
    await expect(ingestPackage(deps, { source: createBufferZipSource(buildNupkg({ id: 'Contoso.Ingest', version: '3.0.0' })), authorize: refuse })).rejects.toThrow('no');
    await expect(ingestPackage(deps, { source: createBufferZipSource(buildNupkg({ id: 'Contoso.New', version: '1.0.0' })), authorize: refuse })).rejects.toThrow('no');
    expect(calls).toEqual([
      ['Contoso.Ingest', true],
      ['Contoso.New', false],
    ]);
    expect(await packageRow('contoso.ingest', '3.0.0')).toBeUndefined();
  });
});

describe('setListed', () => {
  it('unlists with a new leaf, does nothing the second time, and relists', async () => {
    await ingestPackage(deps, { source: createBufferZipSource(buildNupkg({ id: 'Contoso.Listing', version: '1.0.0' })) });
    const unlisted = await setListed(deps, { id: 'CONTOSO.listing', version: '1.0' }, false);
    expect(unlisted.commit).toBeDefined();
    expect(((await findLatestItem(db, deps.feedId, 'contoso.listing', '1.0.0'))!.data as PackageDetailsData).listed).toBe(false);
    const again = await setListed(deps, { id: 'Contoso.Listing', version: '1.0.0' }, false);
    expect(again.commit).toBeUndefined();
    const relisted = await setListed(deps, { id: 'Contoso.Listing', version: '1.0.0' }, true);
    expect(relisted.commit).toBeDefined();
    expect(await itemCount('contoso.listing')).toBe(3);
  });

  it('throws NotFoundError for an unknown version', async () => {
    await expect(setListed(deps, { id: 'Contoso.Nothing', version: '1.0.0' }, false)).rejects.toThrow(NotFoundError);
  });

  it('#43 unlist then re-push: the version still exists (same or other bytes), stays unlisted, and gets no new leaf', async () => {
    const bytes = buildNupkg({ id: 'Contoso.Unlisted', version: '1.0.0' });
    await ingestPackage(deps, { source: createBufferZipSource(bytes) });
    await setListed(deps, { id: 'Contoso.Unlisted', version: '1.0.0' }, false);
    const leaves = await itemCount('contoso.unlisted');

    expect(await ingestPackage(deps, { source: createBufferZipSource(bytes) })).toMatchObject({ kind: 'exists', sameBytes: true, listed: false, deleted: false });
    const other = buildNupkg({ id: 'Contoso.Unlisted', version: '1.0.0', description: 'other bytes' });
    expect(await ingestPackage(deps, { source: createBufferZipSource(other) })).toMatchObject({ kind: 'exists', sameBytes: false, listed: false });
    expect(await itemCount('contoso.unlisted')).toBe(leaves);
    expect(await packageRow('contoso.unlisted', '1.0.0')).toMatchObject({ listed: false, package_hash: sha512(bytes) });
  });
});

describe('bounded lock waits (reliability.md #41)', () => {
  /** Holds the feed's catalog head lock from another session (a stuck appender) until `release()`. */
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

  it('#41 stuck appender: push, unlist and delete behind a held catalog head fail with 55P03 after lockTimeoutMs, writing nothing', async () => {
    await ingestPackage(deps, { source: createBufferZipSource(buildNupkg({ id: 'Contoso.Waits', version: '1.0.0' })) });
    const before = await itemCount('contoso.waits');
    const held = await holdCatalogHead();
    const bounded = { ...deps, lockTimeoutMs: 200 };
    try {
      const lockTimeout = { code: '55P03' };
      await expect(ingestPackage(bounded, { source: createBufferZipSource(buildNupkg({ id: 'Contoso.Waits', version: '2.0.0' })) })).rejects.toMatchObject(lockTimeout);
      await expect(setListed(bounded, { id: 'Contoso.Waits', version: '1.0.0' }, false)).rejects.toMatchObject(lockTimeout);
      await expect(deletePackage(bounded, { id: 'Contoso.Waits', version: '1.0.0' })).rejects.toMatchObject(lockTimeout);
    } finally {
      await held.release();
    }
    expect(await packageRow('contoso.waits', '2.0.0')).toBeUndefined();
    expect(await packageRow('contoso.waits', '1.0.0')).toMatchObject({ listed: true, deleted: false });
    expect(await itemCount('contoso.waits')).toBe(before);

    // The head is free again: the same writes go through.
    expect(await ingestPackage(bounded, { source: createBufferZipSource(buildNupkg({ id: 'Contoso.Waits', version: '2.0.0' })) })).toMatchObject({ kind: 'created' });
    expect((await setListed(bounded, { id: 'Contoso.Waits', version: '1.0.0' }, false)).commit).toBeDefined();
  });

  it('refuses a lock timeout that is not a whole number of ms', async () => {
    await expect(setListed({ ...deps, lockTimeoutMs: -1 }, { id: 'Contoso.Waits', version: '1.0.0' }, true)).rejects.toThrow(RangeError);
  });
});

describe('deletePackage', () => {
  const bytes = buildNupkg({ id: 'Contoso.Gone', version: '1.0.0-Beta.1' });
  const urls = createFeedUrls('http://feed.test/v3/');

  it('appends a PackageDelete leaf and marks the row deleted', async () => {
    await ingestPackage(deps, { source: createBufferZipSource(bytes) });
    const result = await deletePackage(deps, { id: 'contoso.gone', version: '1.0.0-beta.1' });
    expect(result.kind).toBe('deleted');
    const leaf = await findLatestItem(db, deps.feedId, 'contoso.gone', '1.0.0-beta.1');
    expect(leaf?.type).toBe('PackageDelete');
    const data = leaf!.data as PackageDeleteData;
    expect(data).toEqual({ id: 'Contoso.Gone', originalId: 'Contoso.Gone', version: '1.0.0-Beta.1', published: expect.stringMatching(/^\d{4}-.*\.\d{7}Z$/) });
    expect((await packageRow('contoso.gone', '1.0.0-beta.1'))?.deleted).toBe(true);
  });

  it('#43 delete then re-push: never lets the version be pushed again, with the same or other bytes', async () => {
    expect(await ingestPackage(deps, { source: createBufferZipSource(bytes) })).toMatchObject({ kind: 'exists', deleted: true, sameBytes: true });
    const other = buildNupkg({ id: 'Contoso.Gone', version: '1.0.0-beta.1', description: 'again' });
    expect(await ingestPackage(deps, { source: createBufferZipSource(other) })).toMatchObject({ kind: 'exists', deleted: true, sameBytes: false });
    await expect(setListed(deps, { id: 'Contoso.Gone', version: '1.0.0-beta.1' }, false)).rejects.toThrow(NotFoundError);
  });

  it('answers already-deleted and not-found without writing', async () => {
    const before = await itemCount('contoso.gone');
    expect((await deletePackage(deps, { id: 'Contoso.Gone', version: '1.0.0-beta.1' })).kind).toBe('already-deleted');
    expect((await deletePackage(deps, { id: 'Contoso.Never', version: '1.0.0' })).kind).toBe('not-found');
    expect((await deletePackage(deps, { id: 'not an id', version: 'x' })).kind).toBe('not-found');
    expect(await itemCount('contoso.gone')).toBe(before);
  });

  it('is projected away: no flat container files, no registration', async () => {
    const keep = buildNupkg({ id: 'Contoso.Gone', version: '2.0.0' });
    await ingestPackage(deps, { source: createBufferZipSource(keep) });
    const loadLatestItems = (lowerId: string) => readLatestItems(db, deps.feedId, lowerId);
    await createFlatContainerProjector({ store, loadLatestItems }).project('contoso.gone');
    await createRegistrationProjector({ store, urls, loadLatestItems }).project('contoso.gone');

    const index = JSON.parse((await store.read('flatcontainer/contoso.gone/index.json'))!.toString()) as { versions: string[] };
    expect(index.versions).toEqual(['2.0.0']);
    const flatKeys: string[] = [];
    for await (const key of store.list('flatcontainer/contoso.gone/')) flatKeys.push(key);
    expect(flatKeys.filter((k) => k.includes('1.0.0-beta.1'))).toEqual([]);
    const registrationKeys: string[] = [];
    for await (const key of store.list('registration5-semver1/contoso.gone/')) registrationKeys.push(key);
    expect(registrationKeys.length).toBeGreaterThan(0);
    expect(registrationKeys.filter((k) => k.includes('1.0.0-beta.1'))).toEqual([]);

    await deletePackage(deps, { id: 'Contoso.Gone', version: '2.0.0' });
    await createFlatContainerProjector({ store, loadLatestItems }).project('contoso.gone');
    expect(await store.stat('flatcontainer/contoso.gone/index.json')).toBeUndefined();
  });
});
