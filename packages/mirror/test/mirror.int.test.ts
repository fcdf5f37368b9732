/**
 * The mirror against a recorded gallery-format catalog (gallery-fixture.ts: hand-composed pages
 * and leaves, real package bytes from the machine's NuGet folder), into a real PostgreSQL database
 * and a filesystem blob store: what ends up here, unlist/relist/delete, idempotency, resuming after a
 * failure, hash mismatches, conflicts and id globs. nuget-protocol.md §8 (cursor rule, leaf shapes).
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readLatestItems, type PackageDeleteData, type PackageDetailsData } from '@nucat/catalog';
import { createDb, migrateToLatest, type Db } from '@nucat/db';
import { ingestPackage } from '@nucat/feed';
import { createBufferZipSource } from '@nucat/nuget';
import { createFilesystemBlobStore, type BlobStore } from '@nucat/storage';
import { buildNupkg, createTestDatabase, type TestDatabase } from '@nucat/testing';
import { createMirror, loadMirrorState, type MirrorOptions } from '../src/index.js';
import { startRecordedFeed, type RecordedCommit, type RecordedFeed } from './gallery-fixture.js';

const log = pino({ level: 'silent' });

/**
 * The recording. Two commits inside one millisecond (…05.1234567Z and …05.1234568Z), a commit of
 * two items, unlist, relist and delete leaves, pages 0 and 1.
 */
const COMMITS: RecordedCommit[] = [
  /* 0 */ { commitTimeStamp: '2024-01-02T03:04:05.1234567Z', page: 0, items: [{ type: 'PackageDetails', lowerId: 'xunit.abstractions', version: '2.0.3', listed: true }] },
  /* 1 */ { commitTimeStamp: '2024-01-02T03:04:05.1234568Z', page: 0, items: [{ type: 'PackageDetails', lowerId: 'xunit.assert', version: '2.9.3', listed: true }] },
  /* 2 */ {
    commitTimeStamp: '2024-01-02T03:10:00.0000001Z',
    page: 0,
    items: [
      { type: 'PackageDetails', lowerId: 'xunit.extensibility.core', version: '2.9.3', listed: true },
      { type: 'PackageDetails', lowerId: 'xunit.extensibility.execution', version: '2.9.3', listed: true },
    ],
  },
  /* 3 */ { commitTimeStamp: '2024-01-02T04:00:00.5000000Z', page: 0, items: [{ type: 'PackageDetails', lowerId: 'xunit.core', version: '2.9.3', listed: true }] },
  /* 4 */ { commitTimeStamp: '2024-01-03T10:00:00.2500001Z', page: 1, items: [{ type: 'PackageDetails', lowerId: 'xunit.core', version: '2.9.3', listed: false }] },
  /* 5 */ { commitTimeStamp: '2024-01-03T11:00:00.0000009Z', page: 1, items: [{ type: 'PackageDetails', lowerId: 'xunit.assert', version: '2.9.3', listed: false }] },
  /* 6 */ { commitTimeStamp: '2024-01-03T12:00:00.1000000Z', page: 1, items: [{ type: 'PackageDetails', lowerId: 'newtonsoft.json', version: '13.0.3', listed: true }] },
  /* 7 */ { commitTimeStamp: '2024-01-04T09:00:00.7654321Z', page: 1, items: [{ type: 'PackageDetails', lowerId: 'xunit.assert', version: '2.9.3', listed: true }] },
  /* 8 */ { commitTimeStamp: '2024-01-04T09:30:00.0000001Z', page: 1, items: [{ type: 'PackageDelete', lowerId: 'newtonsoft.json', version: '13.0.3' }] },
  /* 9 */ { commitTimeStamp: '2024-01-05T00:00:00.9999999Z', page: 1, items: [{ type: 'PackageDetails', lowerId: 'xunit', version: '2.9.3', listed: true }] },
];

const sha512 = (bytes: Buffer): string => createHash('sha512').update(bytes).digest('base64');

/** A fresh database, blob folder and recorded feed, for one describe block. */
function useMirrorWorld(commits: RecordedCommit[] = COMMITS) {
  const world = {} as { database: TestDatabase; db: Db; store: BlobStore; dir: string; feedId: number; feed: RecordedFeed };
  beforeAll(async () => {
    world.database = await createTestDatabase();
    world.db = createDb({ url: world.database.url, poolSize: 8 });
    await migrateToLatest(world.db);
    world.feedId = (await world.db.selectFrom('feeds').select('id').where('name', '=', 'main').executeTakeFirstOrThrow()).id;
    world.dir = await mkdtemp(join(tmpdir(), 'nucat-mirror-test-'));
    world.store = createFilesystemBlobStore({ root: join(world.dir, 'blobs') });
    world.feed = await startRecordedFeed(commits);
  });
  afterAll(async () => {
    await world.feed?.close();
    await world.db?.destroy();
    await world.database?.drop();
    await world.store?.close();
    if (world.dir) await rm(world.dir, { recursive: true, force: true });
  });
  const mirror = (extra: Partial<MirrorOptions> = {}) =>
    createMirror({
      db: world.db,
      store: world.store,
      feedId: world.feedId,
      source: world.feed.serviceIndexUrl,
      log,
      tempDir: join(world.dir, 'tmp'),
      http: { retryDelayMs: 10, attempts: 2 },
      ...extra,
    });
  const packages = async () => {
    const rows = await world.db
      .selectFrom('packages')
      .select(['lower_id', 'lower_version', 'listed', 'deleted', 'package_hash'])
      .where('feed_id', '=', world.feedId)
      .orderBy('lower_id')
      .execute();
    return Object.fromEntries(rows.map((r) => [`${r.lower_id}/${r.lower_version}`, { listed: r.listed, deleted: r.deleted, hash: r.package_hash }]));
  };
  const cursor = async () => (await loadMirrorState(world.db, world.feedId, world.feed.serviceIndexUrl)).cursor?.text;
  return { world, mirror, packages, cursor };
}

describe('mirroring a gallery-format catalog, stage by stage', () => {
  const { world, mirror, packages, cursor } = useMirrorWorld();

  it('stops after whole commits when given maxItems, with the cursor at the last one (7 fraction digits)', async () => {
    world.feed.publish(4);
    const result = await mirror().runOnce({ maxItems: 2 });

    expect(result).toMatchObject({ outcome: 'partial', itemsProcessed: 2, applied: 2, packagesDownloaded: 2 });
    expect(await cursor()).toBe('2024-01-02T03:04:05.1234568Z');
    expect(Object.keys(await packages())).toEqual(['xunit.abstractions/2.0.3', 'xunit.assert/2.9.3']);
  });

  it('keeps the cursor before a commit one of whose items failed, and applies the other ids', async () => {
    const failing: typeof fetch = async (input, init) => {
      if (String(input).endsWith('/xunit.extensibility.execution.2.9.3.nupkg')) throw new TypeError('fetch failed: connection reset');
      return fetch(input, init);
    };
    const result = await mirror({ fetch: failing }).runOnce();

    expect(result.outcome).toBe('failed');
    expect(result.errors).toEqual([expect.objectContaining({ id: 'xunit.extensibility.execution', code: 'mirror_source', commitTimeStamp: '2024-01-02T03:10:00.0000001Z' })]);
    // The commit holding both extensibility packages is not whole: the cursor stays before it.
    expect(await cursor()).toBe('2024-01-02T03:04:05.1234568Z');
    const state = await packages();
    expect(state['xunit.extensibility.core/2.9.3']).toBeDefined();
    expect(state['xunit.core/2.9.3']).toBeDefined();
    expect(state['xunit.extensibility.execution/2.9.3']).toBeUndefined();
    expect((await loadMirrorState(world.db, world.feedId, world.feed.serviceIndexUrl)).lastError).toMatch(/connection reset/);
  });

  it('resumes: the rerun applies what is missing, redoes nothing else, and catches up', async () => {
    const before = world.feed.requests.length;
    const result = await mirror().runOnce();

    expect(result).toMatchObject({ outcome: 'caught-up', applied: 1, unchanged: 2, packagesDownloaded: 1, errors: [] });
    expect(world.feed.requests.slice(before).filter((p) => p.endsWith('.nupkg'))).toEqual([
      '/v3-flatcontainer/xunit.extensibility.execution/2.9.3/xunit.extensibility.execution.2.9.3.nupkg',
    ]);
    expect(await cursor()).toBe(COMMITS[3]!.commitTimeStamp);
    const state = await packages();
    expect(Object.keys(state)).toEqual(['xunit.abstractions/2.0.3', 'xunit.assert/2.9.3', 'xunit.core/2.9.3', 'xunit.extensibility.core/2.9.3', 'xunit.extensibility.execution/2.9.3']);
    for (const [key, row] of Object.entries(state)) {
      const [lowerId, version] = key.split('/') as [string, string];
      expect(row, key).toEqual({ listed: true, deleted: false, hash: sha512(world.feed.bytesOf(lowerId, version)) });
    }
    expect((await loadMirrorState(world.db, world.feedId, world.feed.serviceIndexUrl)).lastError).toBeUndefined();
  });

  it('stores the exact source bytes as the local package content', async () => {
    const key = (lowerId: string, version: string) => {
      const hex = Buffer.from(sha512(world.feed.bytesOf(lowerId, version)), 'base64').toString('hex');
      return `content/${hex.slice(0, 2)}/${hex}/package.nupkg`;
    };
    const stored = await world.store.read(key('xunit.core', '2.9.3'));
    expect(stored?.equals(world.feed.bytesOf('xunit.core', '2.9.3'))).toBe(true);
  });

  it('applies unlists to versions it has and ingests new ones', async () => {
    world.feed.publish(7); // unlist xunit.core, unlist xunit.assert, push Newtonsoft.Json
    const result = await mirror().runOnce();

    expect(result).toMatchObject({ outcome: 'caught-up', itemsProcessed: 3, applied: 3, packagesDownloaded: 1 });
    const state = await packages();
    expect(state['xunit.core/2.9.3']?.listed).toBe(false);
    expect(state['xunit.assert/2.9.3']?.listed).toBe(false);
    expect(state['newtonsoft.json/13.0.3']).toMatchObject({ listed: true, deleted: false });
    const leaves = await readLatestItems(world.db, world.feedId, 'xunit.core');
    expect((leaves[0]!.data as PackageDetailsData).listed).toBe(false);
  });

  it('applies relists and deletes (a PackageDelete leaf here too) and new commits', async () => {
    world.feed.publish(COMMITS.length);
    const result = await mirror().runOnce();

    expect(result).toMatchObject({ outcome: 'caught-up', itemsProcessed: 3, applied: 3, packagesDownloaded: 1, conflicts: [], errors: [] });
    const state = await packages();
    expect(state['xunit.assert/2.9.3']?.listed).toBe(true);
    expect(state['newtonsoft.json/13.0.3']?.deleted).toBe(true);
    expect(state['xunit/2.9.3']).toMatchObject({ listed: true, deleted: false });
    const [deleted] = await readLatestItems(world.db, world.feedId, 'newtonsoft.json');
    expect(deleted?.type).toBe('PackageDelete');
    expect(deleted?.data as PackageDeleteData).toMatchObject({ id: 'Newtonsoft.Json', originalId: 'Newtonsoft.Json', version: '13.0.3' });
    expect(await cursor()).toBe('2024-01-05T00:00:00.9999999Z');
    // One local leaf per change that reached this feed: push, unlist, relist for xunit.assert.
    const assertItems = await world.db.selectFrom('catalog_items').select('seq').where('lower_id', '=', 'xunit.assert').execute();
    expect(assertItems).toHaveLength(3);
  });

  it('is idempotent: a second run applies nothing and downloads nothing', async () => {
    const before = world.feed.requests.length;
    const result = await mirror().runOnce();

    expect(result).toMatchObject({ outcome: 'caught-up', itemsProcessed: 0, applied: 0, packagesDownloaded: 0, lagSeconds: 0 });
    expect(world.feed.requests.slice(before)).toEqual(['/v3/index.json', '/v3/catalog0/index.json']);
    const state = await loadMirrorState(world.db, world.feedId, world.feed.serviceIndexUrl);
    expect(state.itemsApplied).toBe(11);
    expect(state.sourceHead?.toISOString()).toBe('2024-01-05T00:00:00.999Z');
  });

  it('leaves no temporary files behind', async () => {
    expect(await readdir(join(world.dir, 'tmp'))).toEqual([]);
  });
});

describe('mirroring the whole recording in one run', () => {
  const { world, mirror, packages, cursor } = useMirrorWorld();

  it('never downloads a version the source deleted before the mirror reached it', async () => {
    world.feed.publish(COMMITS.length);
    const result = await mirror({ concurrency: 8 }).runOnce();

    expect(result.outcome).toBe('caught-up');
    expect(world.feed.requests.filter((p) => p.includes('newtonsoft'))).toEqual([]);
    const state = await packages();
    expect(state['newtonsoft.json/13.0.3']).toBeUndefined();
    expect(state['xunit.core/2.9.3']?.listed).toBe(false);
    expect(state['xunit.assert/2.9.3']?.listed).toBe(true);
    expect(Object.keys(state)).toHaveLength(6);
    expect(await cursor()).toBe('2024-01-05T00:00:00.9999999Z');
    // Superseded items need no work, yet the cursor passes them: 11 items, 6 applied.
    expect(result).toMatchObject({ itemsProcessed: 11, applied: 6 });
  });

  it('refuses a second concurrent run of the same mirror', async () => {
    let entered!: () => void;
    const inside = new Promise<void>((resolve) => (entered = resolve));
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const slow: typeof fetch = async (input, init) => {
      entered();
      await gate;
      return fetch(input, init);
    };
    const first = mirror({ fetch: slow }).runOnce();
    await inside; // the first run holds the lock while it reads the source
    const second = await mirror().runOnce();
    release();
    expect(second.outcome).toBe('busy');
    expect((await first).outcome).toBe('caught-up');
  });
});

describe('a source serving other bytes than its catalog says', () => {
  const { world, mirror, packages, cursor } = useMirrorWorld();

  it('refuses the package, reports it, and keeps the cursor before it', async () => {
    world.feed.publish(4);
    world.feed.corrupt('xunit.assert', '2.9.3', world.feed.bytesOf('xunit.abstractions', '2.0.3'));
    const result = await mirror().runOnce();

    expect(result.outcome).toBe('failed');
    expect(result.errors).toEqual([expect.objectContaining({ id: 'xunit.assert', version: '2.9.3', code: 'package_mismatch' })]);
    expect(result.errors[0]!.message).toMatch(/SHA-512/);
    expect(await cursor()).toBe(COMMITS[0]!.commitTimeStamp);
    expect((await packages())['xunit.assert/2.9.3']).toBeUndefined();
  });

  it('ingests it once the source serves the right bytes', async () => {
    world.feed.corrupt('xunit.assert', '2.9.3', undefined);
    const result = await mirror().runOnce();
    expect(result.outcome).toBe('caught-up');
    expect((await packages())['xunit.assert/2.9.3']?.hash).toBe(sha512(world.feed.bytesOf('xunit.assert', '2.9.3')));
    expect(await cursor()).toBe(COMMITS[3]!.commitTimeStamp);
  });
});

describe('a version that exists here with other bytes', () => {
  const { world, mirror, packages, cursor } = useMirrorWorld();

  it('is recorded as a conflict and skipped; the rest is mirrored', async () => {
    const local = buildNupkg({ id: 'xunit.core', version: '2.9.3', description: 'A local package with the same id and version.' });
    await ingestPackage({ db: world.db, store: world.store, feedId: world.feedId }, { source: createBufferZipSource(local) });
    world.feed.publish(4);
    const result = await mirror().runOnce();

    expect(result.outcome).toBe('caught-up');
    expect(result.conflicts).toEqual([
      expect.objectContaining({ lowerId: 'xunit.core', lowerVersion: '2.9.3', reason: 'different-bytes', localHash: sha512(local), sourceHash: sha512(world.feed.bytesOf('xunit.core', '2.9.3')) }),
    ]);
    expect((await packages())['xunit.core/2.9.3']?.hash).toBe(sha512(local));
    expect(await cursor()).toBe(COMMITS[3]!.commitTimeStamp);
    const state = await loadMirrorState(world.db, world.feedId, world.feed.serviceIndexUrl);
    expect(state.conflicts.map((c) => `${c.lowerId}/${c.lowerVersion}`)).toEqual(['xunit.core/2.9.3']);
  });
});

describe('id globs', () => {
  const { world, mirror, packages, cursor } = useMirrorWorld();

  it('mirrors only matching ids, and still moves the cursor to the head', async () => {
    world.feed.publish(COMMITS.length);
    const result = await mirror({ idGlobs: ['xunit.extensibility.*', 'XUNIT'] }).runOnce();

    expect(result.outcome).toBe('caught-up');
    expect(Object.keys(await packages())).toEqual(['xunit/2.9.3', 'xunit.extensibility.core/2.9.3', 'xunit.extensibility.execution/2.9.3']);
    expect(world.feed.requests.filter((p) => p.endsWith('.nupkg'))).toHaveLength(3);
    expect(await cursor()).toBe('2024-01-05T00:00:00.9999999Z');
  });

  it('refuses a malformed glob', () => {
    expect(() => mirror({ idGlobs: ['xunit/*'] })).toThrow(/not an id glob/);
    expect(() => mirror({ concurrency: 0 })).toThrow(/concurrency/);
  });
});

describe('a source that publishes its flat container cursor (nucat)', () => {
  const { world, mirror, cursor } = useMirrorWorld();

  it('goes no further than the commit the flat container of the source has projected, and says the run stopped early', async () => {
    world.feed.publish(COMMITS.length);
    world.feed.setCursors({ flatcontainer: COMMITS[3]!.commitTimeStamp, registration: COMMITS[9]!.commitTimeStamp });
    const result = await mirror({ waitForPackageMs: 300 }).runOnce();

    expect(result).toMatchObject({ outcome: 'partial', itemsProcessed: 5, head: COMMITS[9]!.commitTimeStamp });
    expect(result.lagSeconds).toBeGreaterThan(0);
    expect(await cursor()).toBe(COMMITS[3]!.commitTimeStamp);
    // Nothing more to take while the source's flat container stays where it is.
    expect(await mirror({ waitForPackageMs: 300 }).runOnce()).toMatchObject({ outcome: 'caught-up', itemsProcessed: 0 });

    world.feed.setCursors({ flatcontainer: COMMITS[9]!.commitTimeStamp });
    expect(await mirror().runOnce()).toMatchObject({ outcome: 'caught-up', lagSeconds: 0 });
    expect(await cursor()).toBe(COMMITS[9]!.commitTimeStamp);
  });
});

describe('a source whose flat container moves on during a run (nucat)', () => {
  const { world, mirror, cursor } = useMirrorWorld();

  it('waits for it, and reaches the head it read at the start in one run', async () => {
    world.feed.publish(COMMITS.length);
    world.feed.setCursors({ flatcontainer: COMMITS[3]!.commitTimeStamp });
    // The source projects on while the run goes: in two steps, the second past its catalog head.
    const moves = [
      setTimeout(() => world.feed.setCursors({ flatcontainer: COMMITS[6]!.commitTimeStamp }), 150),
      setTimeout(() => world.feed.setCursors({ flatcontainer: '2099-01-01T00:00:00.0000000Z' }), 400),
    ];
    try {
      const result = await mirror({ waitForPackageMs: 5_000 }).runOnce();
      expect(result).toMatchObject({ outcome: 'caught-up', itemsProcessed: COMMITS.flatMap((c) => c.items).length, lagSeconds: 0, errors: [] });
      expect(await cursor()).toBe(COMMITS[9]!.commitTimeStamp);
    } finally {
      moves.forEach(clearTimeout);
    }
  });
});

describe('two commits inside one millisecond', () => {
  const { world, mirror, packages, cursor } = useMirrorWorld();

  it('tells them apart by their 7 fraction digits: one item per run, none lost, none repeated', async () => {
    world.feed.publish(2);
    expect(await mirror().runOnce({ maxItems: 1 })).toMatchObject({ outcome: 'partial', applied: 1 });
    expect(await cursor()).toBe('2024-01-02T03:04:05.1234567Z');
    expect(Object.keys(await packages())).toEqual(['xunit.abstractions/2.0.3']);

    expect(await mirror().runOnce({ maxItems: 1 })).toMatchObject({ outcome: 'caught-up', itemsProcessed: 1, applied: 1 });
    expect(await cursor()).toBe('2024-01-02T03:04:05.1234568Z');
    expect(Object.keys(await packages())).toEqual(['xunit.abstractions/2.0.3', 'xunit.assert/2.9.3']);
    expect(await mirror().runOnce()).toMatchObject({ outcome: 'caught-up', itemsProcessed: 0 });
  });
});

describe('a version pushed and deleted at the source, seen in different batches', () => {
  const commits: RecordedCommit[] = [
    { commitTimeStamp: '2024-02-01T00:00:00.0000001Z', page: 0, items: [{ type: 'PackageDetails', lowerId: 'newtonsoft.json', version: '13.0.3', listed: true }] },
    { commitTimeStamp: '2024-02-01T00:00:01.0000001Z', page: 1, items: [{ type: 'PackageDetails', lowerId: 'xunit.abstractions', version: '2.0.3', listed: true }] },
    { commitTimeStamp: '2024-02-01T00:00:02.0000001Z', page: 2, items: [{ type: 'PackageDelete', lowerId: 'newtonsoft.json', version: '13.0.3' }] },
  ];
  const { world, mirror, packages, cursor } = useMirrorWorld(commits);

  it('skips the push whose package is gone, because a later commit deletes it', async () => {
    world.feed.publish(commits.length);
    const result = await mirror({ pagesPerBatch: 1 }).runOnce({ maxItems: 2 });

    expect(result).toMatchObject({ outcome: 'partial', errors: [], itemsProcessed: 2, applied: 1, skipped: 1 });
    expect(Object.keys(await packages())).toEqual(['xunit.abstractions/2.0.3']);
    expect(await cursor()).toBe('2024-02-01T00:00:01.0000001Z');
    expect(await mirror({ pagesPerBatch: 1 }).runOnce()).toMatchObject({ outcome: 'caught-up', errors: [], itemsProcessed: 1 });
  });

  it('fails on a package the flat container does not have and no later commit explains', async () => {
    const gone: typeof fetch = async (input, init) =>
      String(input).endsWith('.nupkg') ? new Response('not found', { status: 404 }) : fetch(input, init);
    const fresh = await createTestDatabase();
    const db = createDb({ url: fresh.url, poolSize: 4 });
    try {
      await migrateToLatest(db);
      const feedId = (await db.selectFrom('feeds').select('id').where('name', '=', 'main').executeTakeFirstOrThrow()).id;
      const result = await createMirror({ db, store: world.store, feedId, source: world.feed.serviceIndexUrl, log, fetch: gone, pagesPerBatch: 1, waitForPackageMs: 300 }).runOnce();
      expect(result.outcome).toBe('failed');
      expect(result.errors).toEqual([expect.objectContaining({ id: 'xunit.abstractions', code: 'mirror_source', message: expect.stringMatching(/404/) })]);
      expect((await loadMirrorState(db, feedId, world.feed.serviceIndexUrl)).cursor?.text).toBe('2024-02-01T00:00:00.0000001Z');
    } finally {
      await db.destroy();
      await fresh.drop();
    }
  });
});
