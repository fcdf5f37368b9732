/**
 * An id with 10,000 versions (reliability.md §2 #27, the Gitea#25953 failure mode): the catalog holds
 * 10,000 PackageDetails leaves of one id, the flat container and registration projections run, and the
 * read API serves them.
 *
 * - The catalog is filled through the libraries the publish API uses (@nucat/nuget reads each package,
 *   @nucat/storage stores its bytes, @nucat/catalog appends the leaves), 500 leaves per commit, in a
 *   shuffled order — pushing 10,000 packages over HTTP would take most of a CI budget. (The `packages`
 *   rows a push also writes are left out: projections and the read path use only the catalog.)
 * - The projectors run in this process, once per id, as a worker's job does.
 * - The read API is given a database it cannot reach: whatever it serves comes from the precomputed
 *   documents in the blob store, never from the catalog per request.
 *
 * The blob store lives in /dev/shm (memory) where there is one: 10,000 versions are about 60,000 files
 * and the fsync of each on this disk would dominate the run, while this case is about the documents.
 * Fill and projection times (wall, and this process's CPU) are printed, never asserted.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendCatalogCommit, buildPackageDetails, createFeedUrls, findFeedId, packageContentKeys, readLatestItems, type PendingCatalogItem } from '@nucat/catalog';
import { createDb, migrateToLatest, type Db } from '@nucat/db';
import { lowerNormalizedVersion, readNupkg, toLowerId } from '@nucat/nuget';
import { createFlatContainerProjector, createRegistrationProjector } from '@nucat/projections';
import { createFilesystemBlobStore, type BlobStore } from '@nucat/storage';
import { REFUSING_PORT, buildNupkg, createTestDatabase, type TestDatabase } from '@nucat/testing';
import { createReadApp } from '../src/index.js';

const ID = 'Contoso.Many';
const LOWER_ID = 'contoso.many';
const VERSIONS = 10_000;
const PER_COMMIT = 500;
const PAGE = 64;
/** The i-th version in SemVer order: 0.0.0 … 99.99.0, every 7th a prerelease. */
const versionAt = (i: number) => `${Math.floor(i / 100)}.${i % 100}.0${i % 7 === 3 ? '-beta' : ''}`;
const EXPECTED = Array.from({ length: VERSIONS }, (_, i) => versionAt(i));

let database: TestDatabase;
let db: Db;
let readDb: Db;
let feedId: number;
let workDir: string;
let store: BlobStore;
let server: Server;
let base: string;
const timings: string[] = [];

/** A deterministic shuffle (the catalog order must not be the SemVer order). */
function shuffled(count: number): number[] {
  const order = Array.from({ length: count }, (_, i) => i);
  let seed = 0x2545f491;
  for (let i = count - 1; i > 0; i -= 1) {
    seed = (Math.imul(seed, 1_103_515_245) + 12_345) >>> 0;
    const j = seed % (i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}

async function fillCatalog(): Promise<void> {
  const order = shuffled(VERSIONS);
  for (let from = 0; from < order.length; from += PER_COMMIT) {
    const slice = order.slice(from, from + PER_COMMIT);
    const items: PendingCatalogItem[] = new Array(slice.length);
    let next = 0;
    // Eight at a time: the blob writes overlap the zip work.
    const prepare = async () => {
      while (next < slice.length) {
        const at = next++;
        const index = slice[at]!;
        const bytes = buildNupkg({ id: ID, version: versionAt(index), description: `version ${index} of a long-lived id` });
        const contents = readNupkg(bytes);
        const hash = createHash('sha512').update(bytes).digest('base64');
        const keys = packageContentKeys(hash);
        await store.put(keys.nupkg, bytes, { onlyIfAbsent: true });
        await store.put(keys.nuspec, contents.nuspecBytes, { onlyIfAbsent: true });
        const manifest = contents.manifest;
        items[at] = {
          type: 'PackageDetails',
          lowerId: toLowerId(manifest.id),
          lowerVersion: lowerNormalizedVersion(manifest.version),
          build: (commit) =>
            buildPackageDetails({
              manifest,
              packageHash: hash,
              packageSize: bytes.length,
              entries: contents.entries,
              created: commit.commitTimestamp,
              published: commit.commitTimestamp,
              listed: true,
            }),
        };
      }
    };
    await Promise.all(Array.from({ length: 8 }, prepare));
    await appendCatalogCommit(db, feedId, items);
  }
}

async function timed<T>(what: string, run: () => Promise<T>): Promise<T> {
  const started = performance.now();
  const cpu = process.cpuUsage();
  const result = await run();
  const used = process.cpuUsage(cpu);
  timings.push(`${what} ${((performance.now() - started) / 1000).toFixed(1)} s (this process's CPU ${((used.user + used.system) / 1e6).toFixed(1)} s)`);
  return result;
}

beforeAll(async () => {
  database = await createTestDatabase();
  db = createDb({ url: database.url });
  await migrateToLatest(db);
  feedId = (await findFeedId(db, 'main'))!;
  workDir = await mkdtemp(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'nucat-many-versions-'));
  store = createFilesystemBlobStore({ root: join(workDir, 'blobs') });

  // The read API, with no database it can reach.
  readDb = createDb({ url: `postgres://nucat:nucat@127.0.0.1:${REFUSING_PORT}/nucat` });
  server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const urls = createFeedUrls(`${base}/v3/`);
  server.on('request', createReadApp({ db: readDb, store, feedId, urls, publishUrl: 'http://127.0.0.1:1', log: pino({ level: 'silent' }) }).callback());

  await timed(`fill ${VERSIONS} versions`, fillCatalog);
  const loadLatestItems = (lowerId: string) => readLatestItems(db, feedId, lowerId);
  await timed('flat container projection', () => createFlatContainerProjector({ store, loadLatestItems }).project(LOWER_ID));
  await timed('registration projection', () => createRegistrationProjector({ store, urls, loadLatestItems }).project(LOWER_ID));
  console.log(`#27 an id with 10,000 versions: ${timings.join(', ')} (blob store in ${workDir.startsWith('/dev/shm') ? '/dev/shm' : tmpdir()}; load average ${loadavg().map((l) => l.toFixed(2)).join(' ')})`);
}, 600_000);

afterAll(async () => {
  server?.closeAllConnections();
  if (server) await new Promise((resolve) => server.close(resolve));
  await readDb?.destroy();
  await db?.destroy();
  await store?.close();
  await database?.drop();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

async function getJson<T>(url: string): Promise<{ status: number; bytes: Buffer; json: T }> {
  const response = await fetch(url);
  const bytes = Buffer.from(await response.arrayBuffer());
  return { status: response.status, bytes, json: JSON.parse(bytes.toString('utf8')) as T };
}

interface RegistrationPage {
  '@id': string;
  count: number;
  lower: string;
  upper: string;
  items?: { catalogEntry: { version: string }; packageContent: string }[];
  parent?: string;
}

describe('#27 an id with 10,000 versions', () => {
  it('#27 an id with 10,000 versions: flatcontainer index.json lists all 10,000 in SemVer order, whatever the catalog order', async () => {
    const { status, json } = await getJson<{ versions: string[] }>(`${base}/v3/flatcontainer/${LOWER_ID}/index.json`);
    expect(status).toBe(200);
    expect(json.versions).toHaveLength(VERSIONS);
    expect(json.versions).toEqual(EXPECTED);
  });

  it('#27 an id with 10,000 versions: the registration index is paged by 64, pages not inlined, bounds contiguous and in order', async () => {
    for (const hive of ['registration5-gz-semver2', 'registration5-semver1']) {
      const { status, json } = await getJson<{ count: number; items: RegistrationPage[] }>(`${base}/v3/${hive}/${LOWER_ID}/index.json`);
      expect(status).toBe(200);
      const pages = json.items;
      expect(json.count).toBe(Math.ceil(VERSIONS / PAGE));
      expect(pages).toHaveLength(Math.ceil(VERSIONS / PAGE));
      pages.forEach((page, p) => {
        const slice = EXPECTED.slice(p * PAGE, (p + 1) * PAGE);
        expect(page.items).toBeUndefined();
        expect({ count: page.count, lower: page.lower, upper: page.upper }).toEqual({ count: slice.length, lower: slice[0], upper: slice.at(-1) });
        expect(page['@id']).toBe(`${base}/v3/${hive}/${LOWER_ID}/page/${slice[0]}/${slice.at(-1)}.json`);
      });
      expect(pages.reduce((sum, page) => sum + page.count, 0)).toBe(VERSIONS);
    }
  });

  it('#27 an id with 10,000 versions: a page fetch returns its 64 items, in order, each pointing at its flat container nupkg', async () => {
    const { json: index } = await getJson<{ items: RegistrationPage[] }>(`${base}/v3/registration5-gz-semver2/${LOWER_ID}/index.json`);
    for (const p of [0, 78, index.items.length - 1]) {
      const { status, json: page } = await getJson<RegistrationPage>(index.items[p]!['@id']);
      expect(status).toBe(200);
      const slice = EXPECTED.slice(p * PAGE, (p + 1) * PAGE);
      expect(page.items!.map((item) => item.catalogEntry.version)).toEqual(slice);
      expect(page.items).toHaveLength(p === index.items.length - 1 ? VERSIONS % PAGE : PAGE);
      expect(page.items![0]!.packageContent).toBe(`${base}/v3/flatcontainer/${LOWER_ID}/${slice[0]}/${LOWER_ID}.${slice[0]}.nupkg`);
    }
  });

  it('#27 an id with 10,000 versions: index.json is served as one precomputed file — the stored bytes, without the catalog, and following the file when it changes', async () => {
    const key = `flatcontainer/${LOWER_ID}/index.json`;
    const stored = (await store.read(key))!;
    const served = await getJson<{ versions: string[] }>(`${base}/v3/flatcontainer/${LOWER_ID}/index.json`);
    // The read API's database is unreachable: these bytes can only be the projection's file.
    expect(served.bytes.equals(stored)).toBe(true);
    const marker = Buffer.from(JSON.stringify({ versions: ['42.0.0'] }));
    await store.put(key, marker);
    try {
      const again = await getJson<{ versions: string[] }>(`${base}/v3/flatcontainer/${LOWER_ID}/index.json`);
      expect(again.bytes.equals(marker)).toBe(true);
    } finally {
      await store.put(key, stored);
    }
  });
});
