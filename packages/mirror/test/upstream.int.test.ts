/**
 * reliability.md §2 #44 (upstream/proxy mode). nucat has no pull-through proxy; its mirror is the one
 * place it fetches from a URL an operator configures, and from URLs that source's documents name. Against a
 * recorded gallery-format feed on loopback (gallery-fixture.ts), into a real PostgreSQL database and a
 * filesystem blob store:
 * - a package path answered with a web page, or with bytes that are not a zip, is never stored; the item
 *   fails with `not_a_package`, the cursor stays before it, and the next run after the source is fixed
 *   mirrors it;
 * - a source that is, resolves to, or redirects to a link-local / cloud metadata address is refused before
 *   any request is sent there, unless explicitly allowed; loopback sources work.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb, migrateToLatest, type Db } from '@nucat/db';
import { createFilesystemBlobStore, type BlobStore } from '@nucat/storage';
import { createTestDatabase, type TestDatabase } from '@nucat/testing';
import { BlockedAddressError, createMirror, loadMirrorState, type MirrorOptions } from '../src/index.js';
import { startRecordedFeed, type RecordedCommit, type RecordedFeed } from './gallery-fixture.js';

const log = pino({ level: 'silent' });

const COMMITS: RecordedCommit[] = [
  { commitTimeStamp: '2024-03-01T00:00:00.0000001Z', page: 0, items: [{ type: 'PackageDetails', lowerId: 'xunit.abstractions', version: '2.0.3', listed: true }] },
  { commitTimeStamp: '2024-03-01T00:00:01.0000001Z', page: 0, items: [{ type: 'PackageDetails', lowerId: 'xunit.assert', version: '2.9.3', listed: true }] },
  { commitTimeStamp: '2024-03-01T00:00:02.0000001Z', page: 0, items: [{ type: 'PackageDetails', lowerId: 'xunit.core', version: '2.9.3', listed: true }] },
];

const HTML = Buffer.from('<!DOCTYPE html><html><head><title>Sign in</title></head><body>Please sign in to continue.</body></html>');
const sha512 = (bytes: Buffer): string => createHash('sha512').update(bytes).digest('base64');

/** Every key under `prefix` in the store. */
async function keysOf(store: BlobStore, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const key of store.list(prefix)) keys.push(key);
  return keys;
}

describe('#44 upstream: a source answering a package path with something that is not a package', () => {
  const world = {} as { database: TestDatabase; db: Db; store: BlobStore; dir: string; feedId: number; feed: RecordedFeed };
  beforeAll(async () => {
    world.database = await createTestDatabase();
    world.db = createDb({ url: world.database.url, poolSize: 8 });
    await migrateToLatest(world.db);
    world.feedId = (await world.db.selectFrom('feeds').select('id').where('name', '=', 'main').executeTakeFirstOrThrow()).id;
    world.dir = await mkdtemp(join(tmpdir(), 'nucat-upstream-test-'));
    world.store = createFilesystemBlobStore({ root: join(world.dir, 'blobs') });
    world.feed = await startRecordedFeed(COMMITS);
    world.feed.publish(COMMITS.length);
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
  const versions = async () =>
    (await world.db.selectFrom('packages').select(['lower_id', 'package_hash']).where('feed_id', '=', world.feedId).orderBy('lower_id').execute()).map(
      (r) => r.lower_id,
    );
  const cursor = async () => (await loadMirrorState(world.db, world.feedId, world.feed.serviceIndexUrl)).cursor?.text;

  it('#44 upstream: an HTML page (200, text/html) for a package path is not stored; the item fails as not_a_package and the cursor stays before it', async () => {
    world.feed.corrupt('xunit.assert', '2.9.3', HTML, 'text/html; charset=utf-8');
    const result = await mirror().runOnce();

    expect(result.outcome).toBe('failed');
    expect(result.errors).toEqual([
      expect.objectContaining({ id: 'xunit.assert', version: '2.9.3', code: 'not_a_package', message: expect.stringMatching(/answered a text\/html; charset=utf-8 document .*"<!DOCTYPE html>.*not a \.nupkg/) }),
    ]);
    expect(await cursor(), 'the cursor stays before the failed commit').toBe(COMMITS[0]!.commitTimeStamp);
    expect(await versions(), 'xunit.core (a later commit, another id) is mirrored; xunit.assert is not').toEqual(['xunit.abstractions', 'xunit.core']);
    const htmlHex = Buffer.from(sha512(HTML), 'base64').toString('hex');
    expect(await keysOf(world.store, `content/${htmlHex.slice(0, 2)}/`), 'no blob holds the page').toEqual([]);
    expect((await loadMirrorState(world.db, world.feedId, world.feed.serviceIndexUrl)).lastError).toMatch(/^not_a_package: .*xunit\.assert\.2\.9\.3\.nupkg/);
  });

  it('#44 upstream: non-zip bytes served as application/octet-stream fail the same way, before the hash is even compared', async () => {
    world.feed.corrupt('xunit.assert', '2.9.3', Buffer.from('{"error":"upstream timeout"}'), 'application/octet-stream');
    const result = await mirror().runOnce();

    expect(result.outcome).toBe('failed');
    expect(result.errors).toEqual([expect.objectContaining({ id: 'xunit.assert', code: 'not_a_package', message: expect.stringMatching(/bytes that are not a zip/) })]);
    expect(await cursor()).toBe(COMMITS[0]!.commitTimeStamp);
    expect(await versions()).not.toContain('xunit.assert');
  });

  it('#44 upstream: once the source serves the package again, the next run mirrors it with the catalog hash and catches up', async () => {
    world.feed.corrupt('xunit.assert', '2.9.3', undefined);
    const result = await mirror().runOnce();

    expect(result).toMatchObject({ outcome: 'caught-up', errors: [] });
    expect(await versions()).toEqual(['xunit.abstractions', 'xunit.assert', 'xunit.core']);
    const row = await world.db.selectFrom('packages').select('package_hash').where('lower_id', '=', 'xunit.assert').executeTakeFirstOrThrow();
    expect(row.package_hash).toBe(sha512(world.feed.bytesOf('xunit.assert', '2.9.3')));
    expect(await cursor()).toBe(COMMITS[2]!.commitTimeStamp);
    expect(await readdir(join(world.dir, 'tmp')), 'no download left behind').toEqual([]);
  });
});

describe('#44 upstream: sources on link-local or cloud metadata addresses', () => {
  const world = {} as { database: TestDatabase; db: Db; store: BlobStore; dir: string; feedId: number };
  beforeAll(async () => {
    world.database = await createTestDatabase();
    world.db = createDb({ url: world.database.url, poolSize: 4 });
    await migrateToLatest(world.db);
    world.feedId = (await world.db.selectFrom('feeds').select('id').where('name', '=', 'main').executeTakeFirstOrThrow()).id;
    world.dir = await mkdtemp(join(tmpdir(), 'nucat-upstream-test-'));
    world.store = createFilesystemBlobStore({ root: join(world.dir, 'blobs') });
  });
  afterAll(async () => {
    await world.db?.destroy();
    await world.database?.drop();
    await world.store?.close();
    if (world.dir) await rm(world.dir, { recursive: true, force: true });
  });

  /** A fetch that records what it was asked for and answers 404 (nothing is listening anywhere). */
  function recordingFetch(answer?: (url: string) => Response | undefined): { fetch: typeof fetch; urls: string[] } {
    const urls: string[] = [];
    return {
      urls,
      fetch: async (input) => {
        const url = String(input);
        urls.push(url);
        return answer?.(url) ?? new Response('not found', { status: 404 });
      },
    };
  }
  const mirrorOf = (source: string, extra: Partial<MirrorOptions> = {}) =>
    createMirror({ db: world.db, store: world.store, feedId: world.feedId, source, log, tempDir: join(world.dir, 'tmp'), ...extra });
  const lookup = async (hostname: string) =>
    hostname === 'metadata.feed.test' ? [{ address: '169.254.169.254', family: 4 }] : [{ address: '127.0.0.1', family: 4 }];

  it('#44 upstream: refuses a source at 169.254.169.254, fe80::/10 or an IPv4-mapped metadata address without sending a request, and records why', async () => {
    for (const source of ['http://169.254.169.254/v3/index.json', 'http://[fe80::1]:8080/v3/index.json', 'http://[::ffff:169.254.169.254]/v3/index.json']) {
      const recorder = recordingFetch();
      const error = await mirrorOf(source, { fetch: recorder.fetch }).runOnce().catch((e: unknown) => e);
      expect(error, source).toBeInstanceOf(BlockedAddressError);
      expect(error, source).toMatchObject({ code: 'blocked_address', message: expect.stringMatching(/link-local or cloud metadata address/) });
      expect(recorder.urls, `${source}: requests sent`).toEqual([]);
      expect((await loadMirrorState(world.db, world.feedId, source)).lastError).toMatch(/refusing to fetch/);
    }
  });

  it('#44 upstream: refuses a host name that resolves to a metadata address, and fetches it when explicitly allowed', async () => {
    const source = 'http://metadata.feed.test/v3/index.json';
    const refused = recordingFetch();
    await expect(mirrorOf(source, { fetch: refused.fetch, http: { lookup } }).runOnce()).rejects.toMatchObject({
      code: 'blocked_address',
      message: expect.stringContaining('metadata.feed.test resolves to 169.254.169.254'),
    });
    expect(refused.urls).toEqual([]);

    const allowed = recordingFetch();
    await expect(mirrorOf(source, { fetch: allowed.fetch, http: { lookup, allowLinkLocal: true, attempts: 1 } }).runOnce()).rejects.toMatchObject({
      code: 'mirror_source',
      message: expect.stringMatching(/answered 404/),
    });
    expect(allowed.urls).toEqual([source]);
  });

  it('#44 upstream: refuses a redirect from an allowed source to a metadata address, without following it', async () => {
    const source = 'http://feed.test/v3/index.json';
    const redirecting = recordingFetch((url) =>
      url === source ? new Response(null, { status: 302, headers: { Location: 'http://169.254.169.254/latest/meta-data/iam/' } }) : undefined,
    );
    await expect(mirrorOf(source, { fetch: redirecting.fetch, http: { lookup } }).runOnce()).rejects.toMatchObject({
      code: 'blocked_address',
      details: { url: 'http://169.254.169.254/latest/meta-data/iam/' },
    });
    expect(redirecting.urls).toEqual([source]);
  });
});
