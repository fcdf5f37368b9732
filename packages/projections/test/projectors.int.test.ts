import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createFeedUrls, HIVE_NAMES, readLatestItems, type CommitStamp, type HiveName } from '@nucat/catalog';
import { createDb, migrateToLatest, type Db } from '@nucat/db';
import { createMemoryBlobStore, type BlobStore } from '@nucat/storage';
import { createTestDatabase } from '@nucat/testing';
import { createFlatContainerProjector, createRegistrationProjector, type ProjectionResult } from '../src/index.js';
import {
  commit,
  deleteItem,
  detailsItem,
  FEED_ID,
  listKeys,
  makePackage,
  publish,
  readJson,
  recordWrites,
  snapshot,
  storeContent,
  type RecordingBlobStore,
  type TestPackage,
} from './support.js';

const V3 = 'http://127.0.0.1:5000/v3/';
const URLS = createFeedUrls(V3);
const FLAT = `${V3}flatcontainer/`;
const SEMVER1: HiveName = 'registration5-semver1';
const GZ_SEMVER1: HiveName = 'registration5-gz-semver1';
const GZ_SEMVER2: HiveName = 'registration5-gz-semver2';
const UNLISTED_PUBLISHED = '1900-01-01T00:00:00.0000000Z';

/** The base URL of a hive, as documents must spell it. */
const hiveBase = (hive: HiveName) => `${V3}${hive}/`;
const isGzip = (hive: HiveName) => hive !== SEMVER1;

/** `2025-03-01T10:00:00.1230000Z`: the catalog timestamp form documents carry. */
function catalogTime(d: Date): string {
  return `${d.toISOString().slice(0, 23)}0000Z`;
}

/** The catalog leaf URL of a commit of `{lowerId}.{lowerVersion}`. */
function catalogLeaf(stamp: CommitStamp, lowerId: string, lowerVersion: string): string {
  const iso = stamp.commitTimestamp.toISOString();
  const path = `${iso.slice(0, 4)}.${iso.slice(5, 7)}.${iso.slice(8, 10)}.${iso.slice(11, 13)}.${iso.slice(14, 16)}.${iso.slice(17, 19)}.${iso.slice(20, 23)}`;
  return `${V3}catalog0/data/${path}/${lowerId}.${lowerVersion}.json`;
}

/** Versions `1.0.0` … `1.0.{count-1}`: ascending in NuGet order, so page bounds are easy to name. */
function manyPackages(id: string, count: number): TestPackage[] {
  return Array.from({ length: count }, (_, i) => makePackage({ id, version: `1.0.${i}` }));
}

/** The blob a registration URL points at, or undefined when the URL is outside `hive`. */
function keyOfUrl(hive: HiveName, url: string): string | undefined {
  const base = hiveBase(hive);
  return url.startsWith(base) && !url.includes('#') ? `${hive}/${url.slice(base.length)}` : undefined;
}

describe('flat container and registration projectors', () => {
  let db: Db;
  let drop: () => Promise<void>;

  beforeAll(async () => {
    const created = await createTestDatabase();
    drop = created.drop;
    db = createDb({ url: created.url });
    await migrateToLatest(db);
  });
  afterAll(async () => {
    await db?.destroy();
    await drop?.();
  });

  /**
   * Both projectors over `store`, reading the catalog state of the test database. Replaced page documents
   * are removed at once (`pageGraceMs` 0) unless `grace` says otherwise: most tests here are about what
   * a projection writes, the grace period has its own.
   */
  function projectors(
    store: BlobStore,
    paging?: { maxInlinedLeaves?: number; leavesPerPage?: number },
    write: { durable?: boolean } = {},
    grace: { pageGraceMs?: number } = { pageGraceMs: 0 },
  ) {
    const loadLatestItems = (lowerId: string) => readLatestItems(db, FEED_ID, lowerId);
    const flat = createFlatContainerProjector({ store, loadLatestItems, ...write });
    const registration = createRegistrationProjector({ store, urls: URLS, loadLatestItems, ...(paging ? { paging } : {}), ...write, ...grace });
    return {
      flat,
      registration,
      /** Projects both; with `since`, as the worker does for a batch that starts after it. */
      async project(lowerId: string, since?: Date): Promise<{ flat: ProjectionResult; registration: ProjectionResult }> {
        const options = since === undefined ? {} : { since };
        return { flat: await flat.project(lowerId, options), registration: await registration.project(lowerId, options) };
      },
    };
  }

  /** Every projected key in the store (content blobs left out), sorted. */
  async function projectedKeys(store: BlobStore): Promise<string[]> {
    return (await listKeys(store, '')).filter((k) => !k.startsWith('content/'));
  }

  /** The registration keys of `lowerId` in `hives` for the given documents (`index.json`, `1.0.0.json`…). */
  function registrationKeys(lowerId: string, hives: readonly HiveName[], docs: string[]): string[] {
    return hives.flatMap((hive) => docs.map((doc) => `${hive}/${lowerId}/${doc}`));
  }

  function flatKeys(lowerId: string, versions: string[]): string[] {
    return [
      `flatcontainer/${lowerId}/index.json`,
      ...versions.flatMap((v) => [`flatcontainer/${lowerId}/${v}/${lowerId}.${v}.nupkg`, `flatcontainer/${lowerId}/${v}/${lowerId}.nuspec`]),
    ];
  }

  const sorted = (keys: string[]) => [...keys].sort();

  describe('one id through its life', () => {
    const id = 'Contoso.Widgets';
    const lowerId = 'contoso.widgets';
    const v1 = makePackage({
      id,
      version: '1.0.0',
      tags: 'widgets contoso',
      dependencies: [{ id: 'Contoso.Core', range: '[1.0.0, )', targetFramework: 'net8.0' }],
    });
    const v2 = makePackage({ id, version: '2.0.0' });
    const store = createMemoryBlobStore();
    const { project } = projectors(store);
    let first: CommitStamp;
    let second: CommitStamp;
    /** The last commit projected: each step projects only what came after it, as the worker's batches do. */
    let cursor: Date | undefined;
    const projectNext = async (stamp: CommitStamp) => {
      const result = await project(lowerId, cursor);
      cursor = stamp.commitTimestamp;
      return result;
    };

    it('projects the first version to the flat container and the three hives', async () => {
      first = await publish(db, store, [v1]);
      const result = await projectNext(first);

      expect(result).toEqual({ flat: { written: 3, deleted: 0 }, registration: { written: 6, deleted: 0 } });
      expect(await projectedKeys(store)).toEqual(
        sorted([...flatKeys(lowerId, ['1.0.0']), ...registrationKeys(lowerId, HIVE_NAMES, ['1.0.0.json', 'index.json'])]),
      );
      expect(await readJson(store, `flatcontainer/${lowerId}/index.json`)).toEqual({ versions: ['1.0.0'] });
      expect((await store.read(`flatcontainer/${lowerId}/1.0.0/${lowerId}.1.0.0.nupkg`))!.equals(v1.bytes)).toBe(true);
      expect((await store.read(`flatcontainer/${lowerId}/1.0.0/${lowerId}.nuspec`))!.equals(v1.contents.nuspecBytes)).toBe(true);

      for (const hive of HIVE_NAMES) {
        const B = hiveBase(hive);
        const ts = catalogTime(first.commitTimestamp);
        const leafUrl = catalogLeaf(first, lowerId, '1.0.0');
        const packageContent = `${FLAT}${lowerId}/1.0.0/${lowerId}.1.0.0.nupkg`;
        expect(await readJson(store, `${hive}/${lowerId}/index.json`, isGzip(hive))).toEqual({
          '@id': `${B}${lowerId}/index.json`,
          '@type': ['catalog:CatalogRoot', 'PackageRegistration', 'catalog:Permalink'],
          commitId: first.commitId,
          commitTimeStamp: ts,
          count: 1,
          items: [
            {
              '@id': `${B}${lowerId}/index.json#page/1.0.0/1.0.0`,
              '@type': 'catalog:CatalogPage',
              commitId: first.commitId,
              commitTimeStamp: ts,
              count: 1,
              items: [
                {
                  '@id': `${B}${lowerId}/1.0.0.json`,
                  '@type': 'Package',
                  commitId: first.commitId,
                  commitTimeStamp: ts,
                  catalogEntry: {
                    '@id': leafUrl,
                    '@type': 'PackageDetails',
                    authors: 'nucat tests',
                    dependencyGroups: [
                      {
                        '@id': `${leafUrl}#dependencygroup/net8.0`,
                        '@type': 'PackageDependencyGroup',
                        dependencies: [
                          {
                            '@id': `${leafUrl}#dependencygroup/net8.0/contoso.core`,
                            '@type': 'PackageDependency',
                            id: 'Contoso.Core',
                            range: '[1.0.0, )',
                            registration: `${B}contoso.core/index.json`,
                          },
                        ],
                        targetFramework: 'net8.0',
                      },
                    ],
                    description: 'Test package Contoso.Widgets.',
                    iconUrl: '',
                    id: 'Contoso.Widgets',
                    language: '',
                    licenseExpression: '',
                    licenseUrl: '',
                    listed: true,
                    minClientVersion: '',
                    packageContent,
                    projectUrl: '',
                    published: ts,
                    requireLicenseAcceptance: false,
                    summary: '',
                    tags: ['widgets', 'contoso'],
                    title: '',
                    version: '1.0.0',
                  },
                  packageContent,
                  registration: `${B}${lowerId}/index.json`,
                },
              ],
              parent: `${B}${lowerId}/index.json`,
              lower: '1.0.0',
              upper: '1.0.0',
            },
          ],
          '@context': expect.objectContaining({ '@vocab': 'http://schema.nuget.org/schema#', catalog: 'http://schema.nuget.org/catalog#' }),
        });
        expect(await readJson(store, `${hive}/${lowerId}/1.0.0.json`, isGzip(hive))).toEqual({
          '@id': `${B}${lowerId}/1.0.0.json`,
          '@type': ['Package', 'http://schema.nuget.org/catalog#Permalink'],
          catalogEntry: leafUrl,
          listed: true,
          packageContent,
          published: ts,
          registration: `${B}${lowerId}/index.json`,
          '@context': expect.objectContaining({ '@vocab': 'http://schema.nuget.org/schema#' }),
        });
      }
    });

    it('stores the gz hives gzipped and the semver1 hive as plain JSON', async () => {
      const plain = (await store.read(`${SEMVER1}/${lowerId}/index.json`))!;
      expect(plain[0]).toBe('{'.charCodeAt(0));
      for (const hive of [GZ_SEMVER1, GZ_SEMVER2]) {
        const bytes = (await store.read(`${hive}/${lowerId}/index.json`))!;
        expect([bytes[0], bytes[1]]).toEqual([0x1f, 0x8b]);
      }
    });

    it('adds a second version, both listed and sorted ascending', async () => {
      second = await publish(db, store, [v2]);
      const result = await projectNext(second);

      expect(result).toEqual({ flat: { written: 3, deleted: 0 }, registration: { written: 6, deleted: 0 } });
      expect(await projectedKeys(store)).toEqual(
        sorted([
          ...flatKeys(lowerId, ['1.0.0', '2.0.0']),
          ...registrationKeys(lowerId, HIVE_NAMES, ['1.0.0.json', '2.0.0.json', 'index.json']),
        ]),
      );
      expect(await readJson(store, `flatcontainer/${lowerId}/index.json`)).toEqual({ versions: ['1.0.0', '2.0.0'] });
      expect((await store.read(`flatcontainer/${lowerId}/2.0.0/${lowerId}.2.0.0.nupkg`))!.equals(v2.bytes)).toBe(true);
      for (const hive of HIVE_NAMES) {
        const index = await readJson(store, `${hive}/${lowerId}/index.json`, isGzip(hive));
        // The index and its page carry the newest commit they contain.
        expect(index).toMatchObject({ commitId: second.commitId, commitTimeStamp: catalogTime(second.commitTimestamp), count: 1 });
        const [page] = index.items;
        expect(page).toMatchObject({ count: 2, lower: '1.0.0', upper: '2.0.0', commitId: second.commitId });
        expect(page.items.map((l: any) => [l.catalogEntry.version, l.catalogEntry.listed, l.commitId])).toEqual([
          ['1.0.0', true, first.commitId],
          ['2.0.0', true, second.commitId],
        ]);
      }
    });

    it('keeps an unlisted version in the flat container and marks it listed:false in registration', async () => {
      const unlist = await commit(db, [detailsItem(v2, { listed: false })]);
      const result = await projectNext(unlist);

      // Flat container: the same index.json again, and the version files stay. Registration: the
      // index and the 2.0.0 leaf of each hive.
      expect(result).toEqual({ flat: { written: 1, deleted: 0 }, registration: { written: 6, deleted: 0 } });
      expect(await projectedKeys(store)).toEqual(
        sorted([
          ...flatKeys(lowerId, ['1.0.0', '2.0.0']),
          ...registrationKeys(lowerId, HIVE_NAMES, ['1.0.0.json', '2.0.0.json', 'index.json']),
        ]),
      );
      expect(await readJson(store, `flatcontainer/${lowerId}/index.json`)).toEqual({ versions: ['1.0.0', '2.0.0'] });
      expect((await store.read(`flatcontainer/${lowerId}/2.0.0/${lowerId}.2.0.0.nupkg`))!.equals(v2.bytes)).toBe(true);
      for (const hive of HIVE_NAMES) {
        const index = await readJson(store, `${hive}/${lowerId}/index.json`, isGzip(hive));
        expect(index.items[0].items.map((l: any) => [l.catalogEntry.version, l.catalogEntry.listed, l.catalogEntry.published])).toEqual([
          ['1.0.0', true, catalogTime(first.commitTimestamp)],
          ['2.0.0', false, UNLISTED_PUBLISHED],
        ]);
        expect(index.items[0].items[1].catalogEntry['@id']).toBe(catalogLeaf(unlist, lowerId, '2.0.0'));
        expect(await readJson(store, `${hive}/${lowerId}/2.0.0.json`, isGzip(hive))).toMatchObject({
          listed: false,
          published: UNLISTED_PUBLISHED,
          catalogEntry: catalogLeaf(unlist, lowerId, '2.0.0'),
        });
      }
    });

    it('removes a deleted version from index.json and deletes its files and registration leaf', async () => {
      const result = await projectNext(await commit(db, [deleteItem(v2)]));

      expect(result).toEqual({ flat: { written: 1, deleted: 2 }, registration: { written: 3, deleted: 3 } });
      expect(await projectedKeys(store)).toEqual(
        sorted([...flatKeys(lowerId, ['1.0.0']), ...registrationKeys(lowerId, HIVE_NAMES, ['1.0.0.json', 'index.json'])]),
      );
      expect(await readJson(store, `flatcontainer/${lowerId}/index.json`)).toEqual({ versions: ['1.0.0'] });
      for (const hive of HIVE_NAMES) {
        const index = await readJson(store, `${hive}/${lowerId}/index.json`, isGzip(hive));
        // Back to the state of the first commit: nothing newer is left in the documents.
        expect(index).toMatchObject({ commitId: first.commitId, count: 1 });
        expect(index.items[0]).toMatchObject({ count: 1, lower: '1.0.0', upper: '1.0.0' });
      }
    });

    it('removes every document of the id when its only remaining version is deleted', async () => {
      const result = await projectNext(await commit(db, [deleteItem(v1)]));

      expect(result).toEqual({ flat: { written: 0, deleted: 3 }, registration: { written: 0, deleted: 6 } });
      expect(await projectedKeys(store)).toEqual([]);
      expect(await store.stat(`flatcontainer/${lowerId}/index.json`)).toBeUndefined();
      for (const hive of HIVE_NAMES) expect(await store.stat(`${hive}/${lowerId}/index.json`)).toBeUndefined();
    });

    it('changes nothing when the deleted id is projected again, from its last commit or from scratch', async () => {
      expect(await project(lowerId, cursor)).toEqual({ flat: { written: 0, deleted: 0 }, registration: { written: 0, deleted: 0 } });
      expect(await project(lowerId)).toEqual({ flat: { written: 0, deleted: 0 }, registration: { written: 0, deleted: 0 } });
      expect(await projectedKeys(store)).toEqual([]);
    });
  });

  it('copies the embedded icon and readme and points registration at them', async () => {
    const store = createMemoryBlobStore();
    const pkg = makePackage({
      id: 'Contoso.Pictures',
      version: '1.2.0',
      nuspecExtra: '<icon>images/icon.png</icon><readme>docs/README.md</readme>',
      files: { 'images/icon.png': Buffer.from([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]), 'docs/README.md': '# Pictures' },
    });
    await publish(db, store, [pkg]);
    const { project } = projectors(store);
    await project('contoso.pictures');

    const dir = 'flatcontainer/contoso.pictures/1.2.0';
    expect(await listKeys(store, 'flatcontainer/')).toEqual(
      sorted([...flatKeys('contoso.pictures', ['1.2.0']), `${dir}/icon`, `${dir}/readme`]),
    );
    expect((await store.read(`${dir}/icon`))!.equals(pkg.contents.icon!.bytes)).toBe(true);
    expect((await store.read(`${dir}/readme`))!.toString('utf8')).toBe('# Pictures');
    const index = await readJson(store, `${GZ_SEMVER2}/contoso.pictures/index.json`, true);
    expect(index.items[0].items[0].catalogEntry).toMatchObject({
      iconUrl: `${FLAT}contoso.pictures/1.2.0/icon`,
      readmeUrl: `${FLAT}contoso.pictures/1.2.0/readme`,
    });
  });

  describe('SemVer2', () => {
    it('puts an id whose only version is SemVer2 in the gz-semver2 hive only', async () => {
      const store = createMemoryBlobStore();
      const pkg = makePackage({ id: 'Contoso.Next', version: '1.0.0+build.5' });
      const stamp = await publish(db, store, [pkg]);
      const { project } = projectors(store);
      await project('contoso.next');

      expect(await projectedKeys(store)).toEqual(
        sorted([...flatKeys('contoso.next', ['1.0.0']), ...registrationKeys('contoso.next', [GZ_SEMVER2], ['1.0.0.json', 'index.json'])]),
      );
      // Flat container versions carry no metadata; registration keeps the full version.
      expect(await readJson(store, 'flatcontainer/contoso.next/index.json')).toEqual({ versions: ['1.0.0'] });
      const index = await readJson(store, `${GZ_SEMVER2}/contoso.next/index.json`, true);
      expect(index.items[0].items[0].catalogEntry).toMatchObject({ version: '1.0.0+build.5', '@id': catalogLeaf(stamp, 'contoso.next', '1.0.0') });
    });

    it('leaves SemVer2 versions (by version or by dependency range) out of the semver1 hives', async () => {
      const store = createMemoryBlobStore();
      const id = 'Contoso.Mixed';
      await publish(db, store, [
        makePackage({ id, version: '1.0.0' }),
        makePackage({ id, version: '2.0.0-beta.1' }),
        makePackage({ id, version: '3.0.0', dependencies: [{ id: 'Contoso.Core', range: '[1.0.0-rc.1, )' }] }),
      ]);
      const { project } = projectors(store);
      await project('contoso.mixed');

      expect(await projectedKeys(store)).toEqual(
        sorted([
          ...flatKeys('contoso.mixed', ['1.0.0', '2.0.0-beta.1', '3.0.0']),
          ...registrationKeys('contoso.mixed', [SEMVER1, GZ_SEMVER1], ['1.0.0.json', 'index.json']),
          ...registrationKeys('contoso.mixed', [GZ_SEMVER2], ['1.0.0.json', '2.0.0-beta.1.json', '3.0.0.json', 'index.json']),
        ]),
      );
      for (const hive of [SEMVER1, GZ_SEMVER1]) {
        const index = await readJson(store, `${hive}/contoso.mixed/index.json`, isGzip(hive));
        expect(index.items[0].items.map((l: any) => l.catalogEntry.version)).toEqual(['1.0.0']);
      }
      const all = await readJson(store, `${GZ_SEMVER2}/contoso.mixed/index.json`, true);
      expect(all.items[0]).toMatchObject({ lower: '1.0.0', upper: '3.0.0' });
      expect(all.items[0].items.map((l: any) => l.catalogEntry.version)).toEqual(['1.0.0', '2.0.0-beta.1', '3.0.0']);
    });
  });

  describe('paging', () => {
    /**
     * Asserts the documents of one hive are exactly the index, the given pages and one leaf per
     * version, that every URL the index and pages reference exists, and returns the index.
     */
    async function expectHive(store: BlobStore, hive: HiveName, lowerId: string, versions: string[], pages: [string, string][]) {
      const pageDocs = pages.map(([lower, upper]) => `page/${lower}/${upper}.json`);
      expect(await listKeys(store, `${hive}/${lowerId}/`)).toEqual(
        sorted(registrationKeys(lowerId, [hive], ['index.json', ...versions.map((v) => `${v}.json`), ...pageDocs])),
      );
      const gzip = isGzip(hive);
      const index = await readJson(store, `${hive}/${lowerId}/index.json`, gzip);
      expect(index.count).toBe(Math.ceil(versions.length / 64));
      const seen: string[] = [];
      for (const item of index.items) {
        let page = item;
        if (pageDocs.length > 0) {
          expect(item).not.toHaveProperty('items');
          expect(item).not.toHaveProperty('parent');
          const key = keyOfUrl(hive, item['@id']);
          expect(key, item['@id']).toBeDefined();
          expect(await store.stat(key!), key).toBeDefined();
          page = await readJson(store, key!, gzip);
          expect(page).toMatchObject({ '@id': item['@id'], count: item.count, lower: item.lower, upper: item.upper });
        } else {
          expect(item['@id']).toBe(`${hiveBase(hive)}${lowerId}/index.json#page/${item.lower}/${item.upper}`);
        }
        expect(page.parent).toBe(index['@id']);
        expect(page.items).toHaveLength(item.count);
        for (const leaf of page.items) {
          const key = keyOfUrl(hive, leaf['@id']);
          expect(key && (await store.stat(key)), leaf['@id']).toBeTruthy();
          seen.push(leaf.catalogEntry.version);
        }
      }
      expect(index.items.map((p: any) => [p.lower, p.upper])).toEqual(pages.length > 0 ? pages : expect.any(Array));
      expect(seen).toEqual(versions);
      return index;
    }

    /** Page bounds of `count` versions 1.0.0…, 64 per page. */
    function bounds(count: number): [string, string][] {
      const out: [string, string][] = [];
      for (let i = 0; i < count; i += 64) out.push([`1.0.${i}`, `1.0.${Math.min(i + 63, count - 1)}`]);
      return out;
    }

    const versionList = (count: number) => Array.from({ length: count }, (_, i) => `1.0.${i}`);

    it.each([
      { count: 1, separatePages: false },
      { count: 127, separatePages: false },
      { count: 128, separatePages: true },
      { count: 500, separatePages: true },
    ])('projects $count versions (separate page documents: $separatePages)', async ({ count, separatePages }) => {
      const store = createMemoryBlobStore();
      const id = `Contoso.Paged${count}`;
      const lowerId = id.toLowerCase();
      await publish(db, store, manyPackages(id, count));
      const { project } = projectors(store);
      await project(lowerId);

      const versions = versionList(count);
      expect(await readJson(store, `flatcontainer/${lowerId}/index.json`)).toEqual({ versions });
      expect(await listKeys(store, `flatcontainer/${lowerId}/`)).toEqual(sorted(flatKeys(lowerId, versions)));
      for (const hive of HIVE_NAMES) {
        const index = await expectHive(store, hive, lowerId, versions, separatePages ? bounds(count) : []);
        expect(index.items.map((p: any) => [p.lower, p.upper, p.count])).toEqual(
          bounds(count).map(([lower, upper], i) => [lower, upper, Math.min(64, count - i * 64)]),
        );
      }
    });

    it('inlines the pages again and removes the stale page documents when 128 versions drop to 127', async () => {
      const inner = createMemoryBlobStore();
      const store = recordWrites(inner);
      const id = 'Contoso.Shrinking';
      const lowerId = 'contoso.shrinking';
      const packages = manyPackages(id, 128);
      await publish(db, inner, packages);
      const { project } = projectors(store);
      await project(lowerId);
      for (const hive of HIVE_NAMES) await expectHive(store, hive, lowerId, versionList(128), bounds(128));

      store.events.length = 0;
      await commit(db, [deleteItem(packages[127]!)]);
      await project(lowerId);

      for (const hive of HIVE_NAMES) {
        await expectHive(store, hive, lowerId, versionList(127), []);
        // The new (inlined) index goes up before the pages it replaced and the deleted leaf go away.
        const indexPut = store.events.findIndex((e) => e.op === 'put' && e.key === `${hive}/${lowerId}/index.json`);
        const removed = store.events.filter((e) => e.op === 'delete' && e.key.startsWith(`${hive}/${lowerId}/`)).map((e) => e.key);
        expect(indexPut).toBeGreaterThanOrEqual(0);
        expect(sorted(removed)).toEqual(
          sorted([
            `${hive}/${lowerId}/1.0.127.json`,
            ...bounds(128).map(([lower, upper]) => `${hive}/${lowerId}/page/${lower}/${upper}.json`),
          ]),
        );
        for (const key of removed) {
          expect(store.events.findIndex((e) => e.op === 'delete' && e.key === key)).toBeGreaterThan(indexPut);
        }
      }
      expect(await readJson(store, `flatcontainer/${lowerId}/index.json`)).toEqual({ versions: versionList(127) });
      expect(await listKeys(store, `flatcontainer/${lowerId}/1.0.127/`)).toEqual([]);
    });
  });

  describe('idempotency', () => {
    const id = 'Contoso.Stable';
    const lowerId = 'contoso.stable';
    const prefixes = ['flatcontainer/', ...HIVE_NAMES.map((h) => `${h}/`)];
    // 130 versions (separate pages), one unlisted, one SemVer2 and one deleted.
    const packages = [...manyPackages(id, 130), makePackage({ id, version: '2.0.0-rc.1' })];
    let store: BlobStore;
    let last: CommitStamp;

    beforeAll(async () => {
      store = createMemoryBlobStore();
      await publish(db, store, packages);
      last = await commit(db, [detailsItem(packages[3]!, { listed: false }), deleteItem(packages[7]!)]);
    });

    it('leaves every blob byte-identical when an id is projected a second time, and writes nothing from its last commit', async () => {
      const { project } = projectors(store);
      const firstRun = await project(lowerId);
      expect(firstRun.flat.written).toBeGreaterThan(0);
      expect(firstRun.registration.written).toBeGreaterThan(0);
      const before = await snapshot(store, prefixes);

      // From scratch: every document is written again (nothing is read back to compare), none deleted;
      // the version files, already links to their content, stay.
      const again = await project(lowerId);
      expect(again.flat).toEqual({ written: 1, deleted: 0 });
      expect(again.registration).toEqual({ written: firstRun.registration.written, deleted: 0 });
      // From the last commit: nothing is newer, so nothing is written.
      expect(await project(lowerId, last.commitTimestamp)).toEqual({ flat: { written: 0, deleted: 0 }, registration: { written: 0, deleted: 0 } });
      const after = await snapshot(store, prefixes);
      expect([...after.keys()]).toEqual([...before.keys()]);
      for (const [key, bytes] of before) expect(after.get(key)!.equals(bytes), key).toBe(true);
      // 130 live versions × 2 files + index in the flat container; per hive the index, one leaf per
      // version and 3 separate pages of 64, 64 and 1–2 (the semver1 hives have 129 versions: no
      // 2.0.0-rc.1; the semver2 hive 130; both are above 127, so no page is inlined).
      expect(before.size).toBe(130 * 2 + 1 + (1 + 129 + 3) * 2 + (1 + 130 + 3));
    });

    it('rebuilds byte-identical blobs into a fresh store', async () => {
      const fresh = createMemoryBlobStore();
      for (const pkg of packages) await storeContent(fresh, pkg);
      await projectors(fresh).project(lowerId);

      const expected = await snapshot(store, prefixes);
      const rebuilt = await snapshot(fresh, prefixes);
      expect([...rebuilt.keys()]).toEqual([...expected.keys()]);
      for (const [key, bytes] of expected) expect(rebuilt.get(key)!.equals(bytes), key).toBe(true);
    });
  });

  describe('#5 a batch writes only what its items can have changed (since)', () => {
    const prefixesOf = (lowerId: string) => ['flatcontainer', ...HIVE_NAMES].map((tree) => `${tree}/${lowerId}/`);

    /** Asserts `store` holds for `lowerId` exactly the bytes a clean rebuild into an empty store gives. */
    async function expectSameAsCleanRebuild(store: BlobStore, lowerId: string, packages: TestPackage[]): Promise<void> {
      const fresh = createMemoryBlobStore();
      for (const pkg of packages) await storeContent(fresh, pkg);
      await projectors(fresh).project(lowerId);
      const expected = await snapshot(fresh, prefixesOf(lowerId));
      const actual = await snapshot(store, prefixesOf(lowerId));
      expect([...actual.keys()]).toEqual([...expected.keys()]);
      for (const [key, bytes] of expected) expect(actual.get(key)!.equals(bytes), key).toBe(true);
    }

    /** The documents of `lowerId` written (put) in `hive`, relative to the id's folder, sorted. */
    function putsIn(store: RecordingBlobStore, hive: HiveName, lowerId: string): string[] {
      const folder = `${hive}/${lowerId}/`;
      return sorted(store.events.filter((e) => e.op === 'put' && e.key.startsWith(folder)).map((e) => e.key.slice(folder.length)));
    }

    /** An id with `count` versions 1.0.0…, projected; returns the recording store (events cleared) and the cursor. */
    async function projected(id: string, count: number) {
      const inner = createMemoryBlobStore();
      const store = recordWrites(inner);
      const packages = manyPackages(id, count);
      const stamp = await publish(db, inner, packages);
      await projectors(store).project(id.toLowerCase());
      store.events.length = 0;
      return { inner, store, packages, since: stamp.commitTimestamp };
    }

    it('writes the new leaf, the last page and the index when a version is added to an id of 500', async () => {
      const { inner, store, packages, since } = await projected('Contoso.Nightly', 500);
      const added = makePackage({ id: 'Contoso.Nightly', version: '1.0.500' });
      await publish(db, inner, [added]);
      const result = await projectors(store).project('contoso.nightly', since);

      // Per hive: the leaf, the last page (1.0.448–1.0.499 becomes 1.0.448–1.0.500) and the index.
      expect(result).toEqual({ flat: { written: 3, deleted: 0 }, registration: { written: 9, deleted: 3 } });
      for (const hive of HIVE_NAMES) {
        expect(putsIn(store, hive, 'contoso.nightly')).toEqual(['1.0.500.json', 'index.json', 'page/1.0.448/1.0.500.json']);
        expect(await store.stat(`${hive}/contoso.nightly/page/1.0.448/1.0.499.json`)).toBeUndefined();
      }
      await expectSameAsCleanRebuild(store, 'contoso.nightly', [...packages, added]);
    });

    it('writes every page from an inserted version on (the later pages shift) and removes the pages they replace', async () => {
      const { inner, store, packages, since } = await projected('Contoso.Patched', 500);
      const inserted = makePackage({ id: 'Contoso.Patched', version: '1.0.99.1' });
      await publish(db, inner, [inserted]);
      const result = await projectors(store).project('contoso.patched', since);

      // 1.0.99.1 lands at position 100, in the second page: pages 2–8 get new bounds, page 1 stays.
      expect(result.registration).toEqual({ written: 3 * (1 + 7 + 1), deleted: 3 * 7 });
      for (const hive of HIVE_NAMES) {
        const pages = putsIn(store, hive, 'contoso.patched').filter((doc) => doc.startsWith('page/'));
        expect(pages).toHaveLength(7);
        expect(pages).not.toContain('page/1.0.0/1.0.63.json');
        expect(pages).toContain('page/1.0.64/1.0.126.json');
      }
      await expectSameAsCleanRebuild(store, 'contoso.patched', [...packages, inserted]);
    });

    it('writes every page when an id of 127 inlined versions gets its 128th', async () => {
      const { inner, store, packages, since } = await projected('Contoso.Growing', 127);
      const added = makePackage({ id: 'Contoso.Growing', version: '1.0.127' });
      await publish(db, inner, [added]);
      const result = await projectors(store).project('contoso.growing', since);

      expect(result.registration).toEqual({ written: 3 * 4, deleted: 0 });
      for (const hive of HIVE_NAMES) {
        expect(putsIn(store, hive, 'contoso.growing')).toEqual(['1.0.127.json', 'index.json', 'page/1.0.0/1.0.63.json', 'page/1.0.64/1.0.127.json']);
      }
      await expectSameAsCleanRebuild(store, 'contoso.growing', [...packages, added]);
    });

    it('rewrites the leaf and the pages of an old version that is unlisted, keeping the id byte-identical to a rebuild', async () => {
      const { store, packages, since } = await projected('Contoso.Aging', 300);
      await commit(db, [detailsItem(packages[10]!, { listed: false })]);
      await projectors(store).project('contoso.aging', since);

      for (const hive of HIVE_NAMES) {
        expect(putsIn(store, hive, 'contoso.aging')).toContain('1.0.10.json');
        expect(putsIn(store, hive, 'contoso.aging')).not.toContain('1.0.11.json');
        expect(await readJson(store, `${hive}/contoso.aging/1.0.10.json`, isGzip(hive))).toMatchObject({ listed: false });
      }
      // The clean rebuild reads the same catalog, where 1.0.10 is unlisted now.
      await expectSameAsCleanRebuild(store, 'contoso.aging', packages);
    });

    it('#35 rewrites on replay every document a batch wrote that a machine crash left torn (empty), shifted pages included', async () => {
      const { inner, store, packages, since } = await projected('Contoso.Crashed', 300);
      const more = [makePackage({ id: 'Contoso.Crashed', version: '1.0.99.1' }), makePackage({ id: 'Contoso.Crashed', version: '1.0.300' })];
      await publish(db, inner, more);
      await projectors(store, undefined, { durable: false }).project('contoso.crashed', since);

      // Power lost before the batch was made durable: everything it wrote reads back empty, and the
      // cursor is still at `since`, so the batch runs again.
      const written = [...new Set(store.events.filter((e) => e.op !== 'delete').map((e) => e.key))];
      expect(written.length).toBeGreaterThan(10);
      for (const key of written) await inner.put(key, Buffer.alloc(0));

      await projectors(store, undefined, { durable: false }).project('contoso.crashed', since);
      await store.sync();
      await expectSameAsCleanRebuild(store, 'contoso.crashed', [...packages, ...more]);
    });

    it('writes nothing for an id whose items are all older than since', async () => {
      const { store, since } = await projected('Contoso.Quiet', 3);
      expect(await projectors(store).project('contoso.quiet', since)).toEqual({
        flat: { written: 0, deleted: 0 },
        registration: { written: 0, deleted: 0 },
      });
      expect(store.events).toEqual([]);
    });
  });

  describe('write order (readers never see a link to a missing blob)', () => {
    const id = 'Contoso.Ordered';
    const lowerId = 'contoso.ordered';
    const v1 = makePackage({ id, version: '1.0.0' });
    const v2 = makePackage({ id, version: '2.0.0' });
    const inner = createMemoryBlobStore();
    const store = recordWrites(inner);
    const flatIndex = `flatcontainer/${lowerId}/index.json`;

    /** Position of the first event matching `op` and `key` in the recorded writes. */
    const at = (op: string, key: string) => store.events.findIndex((e) => e.op === op && e.key === key);

    it('writes version files before index.json lists them, and leaves and pages before each registration index', async () => {
      await publish(db, inner, [v1]);
      await publish(db, inner, [v2]);
      // One version per page and nothing inlined, so that page documents exist as well.
      const { project } = projectors(store, { maxInlinedLeaves: 0, leavesPerPage: 1 });
      await project(lowerId);

      const indexAt = at('put', flatIndex);
      expect(indexAt).toBeGreaterThan(0);
      for (const v of ['1.0.0', '2.0.0']) {
        expect(at('copy', `flatcontainer/${lowerId}/${v}/${lowerId}.${v}.nupkg`)).toBeLessThan(indexAt);
        expect(at('copy', `flatcontainer/${lowerId}/${v}/${lowerId}.nuspec`)).toBeLessThan(indexAt);
      }
      for (const hive of HIVE_NAMES) {
        const writes = store.events.filter((e) => e.key.startsWith(`${hive}/${lowerId}/`)).map((e) => `${e.op} ${e.key}`);
        expect(sorted(writes)).toEqual(
          sorted(
            ['1.0.0.json', '2.0.0.json', 'index.json', 'page/1.0.0/1.0.0.json', 'page/2.0.0/2.0.0.json'].map(
              (doc) => `put ${hive}/${lowerId}/${doc}`,
            ),
          ),
        );
        expect(writes.at(-1)).toBe(`put ${hive}/${lowerId}/index.json`);
      }
    });

    it('stops listing a deleted version before removing its files and leaf', async () => {
      store.events.length = 0;
      await commit(db, [deleteItem(v2)]);
      await projectors(store, { maxInlinedLeaves: 0, leavesPerPage: 1 }).project(lowerId);

      const indexAt = at('put', flatIndex);
      expect(indexAt).toBeGreaterThanOrEqual(0);
      expect(at('delete', `flatcontainer/${lowerId}/2.0.0/${lowerId}.2.0.0.nupkg`)).toBeGreaterThan(indexAt);
      expect(at('delete', `flatcontainer/${lowerId}/2.0.0/${lowerId}.nuspec`)).toBeGreaterThan(indexAt);
      for (const hive of HIVE_NAMES) {
        const registrationIndexAt = at('put', `${hive}/${lowerId}/index.json`);
        expect(registrationIndexAt).toBeGreaterThanOrEqual(0);
        expect(at('delete', `${hive}/${lowerId}/2.0.0.json`)).toBeGreaterThan(registrationIndexAt);
        expect(at('delete', `${hive}/${lowerId}/page/2.0.0/2.0.0.json`)).toBeGreaterThan(registrationIndexAt);
      }
    });

    it('removes the index first when the last version is deleted, so the id turns 404 before its files go', async () => {
      store.events.length = 0;
      await commit(db, [deleteItem(v1)]);
      await projectors(store, { maxInlinedLeaves: 0, leavesPerPage: 1 }).project(lowerId);

      expect(store.events.every((e) => e.op === 'delete')).toBe(true);
      const flatDeletes = store.events.filter((e) => e.key.startsWith('flatcontainer/')).map((e) => e.key);
      expect(flatDeletes[0]).toBe(flatIndex);
      expect(sorted(flatDeletes)).toEqual(sorted(flatKeys(lowerId, ['1.0.0'])));
      for (const hive of HIVE_NAMES) {
        const deletes = store.events.filter((e) => e.key.startsWith(`${hive}/`)).map((e) => e.key);
        expect(deletes[0]).toBe(`${hive}/${lowerId}/index.json`);
        expect(sorted(deletes)).toEqual(sorted(registrationKeys(lowerId, [hive], ['1.0.0.json', 'index.json', 'page/1.0.0/1.0.0.json'])));
      }
      expect(await projectedKeys(inner)).toEqual([]);
    });
  });

  describe('#42 a page the index stops linking stays for a grace period', () => {
    const HOUR = 3_600_000;
    // Two versions per page, nothing inlined: a version added to the last page renames it.
    const paging = { maxInlinedLeaves: 0, leavesPerPage: 2 };
    afterAll(() => {
      vi.useRealTimers();
    });

    /** The page keys the stored index of `lowerId` in `hive` links. */
    async function linkedPages(store: BlobStore, hive: HiveName, lowerId: string): Promise<string[]> {
      const index = await readJson(store, `${hive}/${lowerId}/index.json`, isGzip(hive));
      return index.items.map((page: { '@id': string }) => keyOfUrl(hive, page['@id'])!);
    }

    it('keeps serving the renamed page to readers of the old index, then removes it once the grace period is over', async () => {
      // Only Date is faked: the store's lastModified and the projector's clock move together.
      vi.useFakeTimers({ toFake: ['Date'] });
      vi.setSystemTime(new Date('2026-01-01T00:00:00Z'));
      const inner = createMemoryBlobStore();
      const store = recordWrites(inner);
      const id = 'Contoso.Renamed';
      const lowerId = 'contoso.renamed';
      const packages = manyPackages(id, 3);
      const first = await publish(db, inner, packages);
      const { registration } = projectors(store, paging, {}, {});
      await registration.project(lowerId);
      const before = new Map<HiveName, { pages: string[]; bytes: Map<string, Buffer> }>();
      for (const hive of HIVE_NAMES) {
        const pages = await linkedPages(store, hive, lowerId);
        expect(pages).toEqual([`${hive}/${lowerId}/page/1.0.0/1.0.1.json`, `${hive}/${lowerId}/page/1.0.2/1.0.2.json`]);
        before.set(hive, { pages, bytes: await snapshot(inner, pages) });
      }

      // Two hours on (the old page was written long ago), 1.0.3 joins the last page and renames it.
      vi.setSystemTime(new Date('2026-01-01T02:00:00Z'));
      const added = makePackage({ id, version: '1.0.3' });
      const second = await publish(db, inner, [added]);
      store.events.length = 0;
      const result = await registration.project(lowerId, { since: first.commitTimestamp });
      expect(result.deleted, 'nothing removed within the grace period').toBe(0);
      for (const hive of HIVE_NAMES) {
        expect(await linkedPages(store, hive, lowerId)).toEqual([`${hive}/${lowerId}/page/1.0.0/1.0.1.json`, `${hive}/${lowerId}/page/1.0.2/1.0.3.json`]);
        // A reader holding the old index still finds every page it links, with the bytes it had.
        const old = before.get(hive)!;
        const now = await snapshot(inner, old.pages);
        for (const key of old.pages) expect(now.get(key)?.equals(old.bytes.get(key)!), key).toBe(true);
        // The renamed page was rewritten (its grace period starts) before the index that drops it.
        const renamed = `${hive}/${lowerId}/page/1.0.2/1.0.2.json`;
        const touchedAt = store.events.findIndex((e) => e.op === 'put' && e.key === renamed);
        expect(touchedAt).toBeGreaterThanOrEqual(0);
        expect(touchedAt).toBeLessThan(store.events.findIndex((e) => e.op === 'put' && e.key === `${hive}/${lowerId}/index.json`));
      }

      // Within the grace period a full projection (a replay) keeps it too.
      vi.setSystemTime(new Date('2026-01-01T02:59:00Z'));
      expect((await registration.project(lowerId)).deleted).toBe(0);
      for (const hive of HIVE_NAMES) expect(await inner.stat(`${hive}/${lowerId}/page/1.0.2/1.0.2.json`)).toBeDefined();

      // Once it is over, the next projection of the id removes it, and the id is what a clean rebuild gives.
      vi.setSystemTime(new Date('2026-01-01T03:00:01Z'));
      // (An unlisting: pages are rewritten, none renamed.)
      await commit(db, [detailsItem(packages[0]!, { listed: false })]);
      const third = await registration.project(lowerId, { since: second.commitTimestamp });
      expect(third.deleted).toBe(3);
      for (const hive of HIVE_NAMES) expect(await inner.stat(`${hive}/${lowerId}/page/1.0.2/1.0.2.json`)).toBeUndefined();
      const fresh = createMemoryBlobStore();
      for (const pkg of [...packages, added]) await storeContent(fresh, pkg);
      await projectors(fresh, paging).registration.project(lowerId);
      const prefixes = HIVE_NAMES.map((hive) => `${hive}/${lowerId}/`);
      const expected = await snapshot(fresh, prefixes);
      expect([...(await snapshot(inner, prefixes)).keys()]).toEqual([...expected.keys()]);
      vi.useRealTimers();
    });

    it('keeps the pages of an index that goes back to inlined pages, and removes them once the grace period is over', async () => {
      vi.useFakeTimers({ toFake: ['Date'] });
      vi.setSystemTime(new Date('2026-02-01T00:00:00Z'));
      const inner = createMemoryBlobStore();
      const id = 'Contoso.Refolded';
      const lowerId = 'contoso.refolded';
      const packages = manyPackages(id, 3);
      await publish(db, inner, packages);
      const { registration } = projectors(inner, { maxInlinedLeaves: 2, leavesPerPage: 2 }, {}, { pageGraceMs: HOUR });
      await registration.project(lowerId);
      const pages = await linkedPages(inner, GZ_SEMVER2, lowerId);
      expect(pages).toHaveLength(2);

      const deleted = await commit(db, [deleteItem(packages[2]!)]);
      vi.setSystemTime(new Date('2026-02-01T05:00:00Z'));
      await registration.project(lowerId, { since: new Date(deleted.commitTimestamp.getTime() - 1) });
      const index = await readJson(inner, `${GZ_SEMVER2}/${lowerId}/index.json`, true);
      expect(index.items.every((page: { items?: unknown[] }) => Array.isArray(page.items)), 'pages inlined again').toBe(true);
      // The deleted version's leaf goes at once; the pages the old index linked stay.
      expect(await inner.stat(`${GZ_SEMVER2}/${lowerId}/1.0.2.json`)).toBeUndefined();
      for (const key of pages) expect(await inner.stat(key), key).toBeDefined();

      vi.setSystemTime(new Date('2026-02-01T06:00:01Z'));
      await registration.project(lowerId);
      expect(await listKeys(inner, `${GZ_SEMVER2}/${lowerId}/page/`)).toEqual([]);
      vi.useRealTimers();
    });

    it.each([
      ['null', 'null'],
      ['an array', '[1]'],
      ['not JSON', '{"items": ['],
      ['pages without an @id', '{"items": [{"count": 1}]}'],
    ])('rewrites a stored index that is %s instead of failing on it', async (_what, text) => {
      const inner = createMemoryBlobStore();
      const id = 'Contoso.Garbled';
      const lowerId = 'contoso.garbled';
      await publish(db, inner, manyPackages(id, 3));
      const { registration } = projectors(inner, paging, {}, { pageGraceMs: HOUR });
      await registration.project(lowerId);
      const body = Buffer.from(text);
      await inner.put(`${SEMVER1}/${lowerId}/index.json`, body);
      await inner.put(`${GZ_SEMVER2}/${lowerId}/index.json`, gzipSync(body));
      await registration.project(lowerId);
      for (const hive of [SEMVER1, GZ_SEMVER2]) {
        expect(await linkedPages(inner, hive, lowerId)).toEqual([`${hive}/${lowerId}/page/1.0.0/1.0.1.json`, `${hive}/${lowerId}/page/1.0.2/1.0.2.json`]);
      }
    });

    it('refuses a negative or fractional grace period', () => {
      const loadLatestItems = async () => [];
      expect(() => createRegistrationProjector({ store: createMemoryBlobStore(), urls: URLS, loadLatestItems, pageGraceMs: -1 })).toThrow(/pageGraceMs/);
      expect(() => createRegistrationProjector({ store: createMemoryBlobStore(), urls: URLS, loadLatestItems, pageGraceMs: 1.5 })).toThrow(/pageGraceMs/);
    });
  });
});
