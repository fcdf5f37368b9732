/**
 * The read side over real HTTP: service index, flat container, registration hives, catalog and
 * cursors, against a real PostgreSQL database and a temporary filesystem blob store. State is
 * arranged the way production makes it: packages are pushed through the publish API, then the
 * flat container and registration projectors run over the same store.
 * Protocol: nuget-protocol.md §1, §6, §7, §8, §12; hostile inputs: reliability.md §2 (25, 31).
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '@nucat/auth';
import {
  advanceCursor,
  createFeedUrls,
  findFeedId,
  formatCatalogTimestamp,
  getCursor,
  readLatestItems,
  type FeedUrls,
} from '@nucat/catalog';
import { createDb, migrateToLatest, type Db } from '@nucat/db';
import { readNupkg } from '@nucat/nuget';
import { createFlatContainerProjector, createRegistrationProjector } from '@nucat/projections';
import { createPublishApp } from '@nucat/publish-api';
import { createFilesystemBlobStore, type BlobStore } from '@nucat/storage';
import { buildNupkg, createTestDatabase, type NupkgSpec, type TestDatabase } from '@nucat/testing';
import { createReadApp } from '../src/index.js';

const log = pino({ level: 'silent' });

// ---------------------------------------------------------------------------------------------
// Raw HTTP: node:http sends the path exactly as written (fetch would normalize `..` and
// percent-encoding) and hands back the bytes on the wire (never decompressed).

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

function raw(base: string, path: string, options: { method?: string; headers?: Record<string, string> } = {}): Promise<Reply> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: hostname, port, path, method: options.method ?? 'GET', headers: options.headers ?? {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** The body as JSON, gunzipped first when the response says `Content-Encoding: gzip`. */
function json<T = any>(reply: Reply): T {
  const bytes = reply.headers['content-encoding'] === 'gzip' ? gunzipSync(reply.body) : reply.body;
  return JSON.parse(bytes.toString('utf8')) as T;
}

function sha512(bytes: Buffer): string {
  return createHash('sha512').update(bytes).digest('base64');
}

function listen(server: Server): Promise<string> {
  server.listen(0, '127.0.0.1');
  return new Promise((resolve, reject) => {
    server.once('listening', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`));
    server.once('error', reject);
  });
}

function close(server: Server | undefined): Promise<void> {
  if (!server) return Promise.resolve();
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

/** Every `@id` anywhere in a JSON document, outside JSON-LD `@context` term definitions. */
function allIds(value: unknown, found: string[] = []): string[] {
  if (Array.isArray(value)) for (const v of value) allIds(v, found);
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === '@context') continue;
      if (k === '@id' && typeof v === 'string') found.push(v);
      else allIds(v, found);
    }
  }
  return found;
}

/** Versions listed in a registration index (pages inlined). */
function registrationVersions(index: { items: { items?: { catalogEntry: { version: string } }[] }[] }): string[] {
  return index.items.flatMap((page) => page.items ?? []).map((leaf) => leaf.catalogEntry.version);
}

// ---------------------------------------------------------------------------------------------

// A 1×1 PNG.
const PNG = Buffer.from(
  '89504e470d0a1a0a0000000d4948445200000001000000010806000000' + '1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082',
  'hex',
);

let database: TestDatabase;
let db: Db;
let store: BlobStore;
let feedId: number;
let workDir: string;
let publishServer: Server;
let publishBase: string;
let readServer: Server;
let base: string;
let urls: FeedUrls;
let apiKey: string;
/** The bytes pushed, by `lowerid@version as pushed`. */
const pushed = new Map<string, Buffer>();

async function push(id: string, version: string, extra: Partial<NupkgSpec> = {}): Promise<void> {
  const bytes = buildNupkg({ id, version, ...extra });
  const boundary = 'read-int-boundary';
  const body = Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="package"; filename="package.nupkg"\r\n\r\n`),
    bytes,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
  const response = await fetch(`${publishBase}/v3/package/`, {
    method: 'PUT',
    headers: { 'Content-Type': `multipart/form-data; boundary=${boundary}`, 'X-NuGet-ApiKey': apiKey },
    body,
  });
  expect(response.status, `push ${id} ${version}: ${await response.text()}`).toBe(201);
  pushed.set(`${id.toLowerCase()}@${version}`, bytes);
}

async function unlist(id: string, version: string): Promise<void> {
  const response = await fetch(`${publishBase}/v3/package/${id}/${version}`, { method: 'DELETE', headers: { 'X-NuGet-ApiKey': apiKey } });
  expect(response.status).toBe(204);
}

/** Runs the flat container and registration projections for ids, as the worker would. */
async function project(...lowerIds: string[]): Promise<void> {
  const loadLatestItems = (lowerId: string) => readLatestItems(db, feedId, lowerId);
  const flat = createFlatContainerProjector({ store, loadLatestItems });
  const registration = createRegistrationProjector({ store, urls, loadLatestItems });
  for (const lowerId of lowerIds) {
    await flat.project(lowerId);
    await registration.project(lowerId);
  }
}

beforeAll(async () => {
  database = await createTestDatabase();
  db = createDb({ url: database.url });
  await migrateToLatest(db);
  feedId = (await findFeedId(db, 'main'))!;
  workDir = await mkdtemp(join(tmpdir(), 'nucat-read-int-'));
  store = createFilesystemBlobStore({ root: join(workDir, 'blobs') });
  apiKey = (await createApiKey(db, { feedId, name: 'read-int' })).key;

  publishServer = createServer(
    createPublishApp({ db, store, feedId, log, maxPackageBytes: 1024 * 1024, tempDir: join(workDir, 'uploads') }).callback(),
  );
  publishBase = await listen(publishServer);

  // The read app's URLs come from configuration (its real address here, so links can be followed).
  readServer = createServer();
  base = await listen(readServer);
  urls = createFeedUrls(`${base}/v3/`);
  readServer.on('request', createReadApp({ db, store, localFiles: { root: join(workDir, 'blobs') }, feedId, urls, publishUrl: publishBase, log }).callback());

  await push('Contoso.Lib', '2.0.0');
  await push('Contoso.Lib', '1.0.0');
  await push('Contoso.Lib', '10.0.0');
  await push('Contoso.Lib', '2.0.0-Beta.1');
  await push('Contoso.Lib', '1.0.0-alpha');
  await push('Contoso.Assets', '1.0.0', {
    files: { 'images/icon.png': PNG, 'docs/README.md': '# Contoso Assets\n\nHello.' },
    nuspecExtra: '<icon>images/icon.png</icon><readme>docs/README.md</readme>',
  });
  await push('Contoso.SemVer2Only', '1.0.0-beta.1');
  await push('Contoso.Metadata', '1.0.0+build.5');
  await push('Contoso.Unlisted', '1.0.0');
  await unlist('Contoso.Unlisted', '1.0');
  await project('contoso.lib', 'contoso.assets', 'contoso.semver2only', 'contoso.metadata', 'contoso.unlisted');
});

afterAll(async () => {
  await close(readServer);
  await close(publishServer);
  await db?.destroy();
  await store?.close();
  await database?.drop();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

describe('service index', () => {
  const REQUIRED_TYPES = [
    'PackageBaseAddress/3.0.0',
    'RegistrationsBaseUrl',
    'RegistrationsBaseUrl/3.0.0-beta',
    'RegistrationsBaseUrl/3.0.0-rc',
    'RegistrationsBaseUrl/3.4.0',
    'RegistrationsBaseUrl/3.6.0',
    'RegistrationsBaseUrl/Versioned',
    'PackagePublish/2.0.0',
    'Catalog/3.0.0',
  ];

  it('has version 3.0.0 and one object per @type, covering every type the official client matches', async () => {
    const reply = await raw(base, '/v3/index.json');
    expect(reply.status).toBe(200);
    const index = json<{ version: string; resources: { '@id': string; '@type': string }[] }>(reply);

    expect(index.version).toBe('3.0.0');
    const types = index.resources.map((r) => r['@type']);
    for (const type of types) expect(typeof type, 'each @type is a single string').toBe('string');
    expect(new Set(types).size, 'no @type twice').toBe(types.length);
    expect(types).toEqual(expect.arrayContaining(REQUIRED_TYPES));
  });

  it('points every resource at absolute URLs under the configured bases', async () => {
    const index = json<{ resources: { '@id': string; '@type': string }[] }>(await raw(base, '/v3/index.json'));
    const byType = new Map(index.resources.map((r) => [r['@type'], r['@id']]));

    for (const resource of index.resources) {
      expect(() => new URL(resource['@id'].replace(/[{}]/g, ''))).not.toThrow();
      expect(resource['@id'].startsWith(`${base}/v3/`) || resource['@id'].startsWith(`${publishBase}/v3/`), resource['@id']).toBe(true);
    }
    expect(byType.get('PackageBaseAddress/3.0.0')).toBe(`${base}/v3/flatcontainer/`);
    expect(byType.get('RegistrationsBaseUrl')).toBe(`${base}/v3/registration5-semver1/`);
    expect(byType.get('RegistrationsBaseUrl/3.0.0-beta')).toBe(`${base}/v3/registration5-semver1/`);
    expect(byType.get('RegistrationsBaseUrl/3.0.0-rc')).toBe(`${base}/v3/registration5-semver1/`);
    expect(byType.get('RegistrationsBaseUrl/3.4.0')).toBe(`${base}/v3/registration5-gz-semver1/`);
    expect(byType.get('RegistrationsBaseUrl/3.6.0')).toBe(`${base}/v3/registration5-gz-semver2/`);
    expect(byType.get('RegistrationsBaseUrl/Versioned')).toBe(`${base}/v3/registration5-gz-semver2/`);
    expect(byType.get('PackagePublish/2.0.0')).toBe(`${publishBase}/v3/package`);
    expect(byType.get('Catalog/3.0.0')).toBe(`${base}/v3/catalog0/index.json`);
  });

  it('answers HEAD with the headers and no body', async () => {
    const get = await raw(base, '/v3/index.json');
    const head = await raw(base, '/v3/index.json', { method: 'HEAD' });

    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
    expect(head.headers.etag).toBe(get.headers.etag);
    expect(head.headers['content-type']).toMatch(/^application\/json/);
  });

  it.each([
    ['/v3/index.json'],
    ['/v3/catalog0/index.json'],
    ['/v3/registration5-semver1/contoso.lib/index.json'],
    ['/v3/registration5-gz-semver2/contoso.lib/index.json'],
  ])('#31 host-header poisoning: never takes URLs from Host or X-Forwarded-* headers: %s', async (path) => {
    const honest = await raw(base, path, { headers: { 'Accept-Encoding': 'identity' } });
    const poisoned = await raw(base, path, {
      headers: {
        Host: 'evil.example',
        'X-Forwarded-Host': 'evil.example',
        'X-Forwarded-Proto': 'https',
        'X-Forwarded-For': '203.0.113.9',
        'Accept-Encoding': 'identity',
      },
    });

    expect(poisoned.status).toBe(200);
    expect(poisoned.body.toString('utf8')).not.toContain('evil.example');
    expect(poisoned.body.equals(honest.body)).toBe(true);
    for (const id of allIds(json(poisoned))) {
      expect(id.startsWith(`${base}/`) || id.startsWith(`${publishBase}/`) || id.startsWith('http://schema.nuget.org/'), id).toBe(true);
    }
  });
});

describe('flat container', () => {
  it('lists every version, lowercased and normalized, in version order', async () => {
    const reply = await raw(base, '/v3/flatcontainer/contoso.lib/index.json');

    expect(reply.status).toBe(200);
    expect(json(reply)).toEqual({ versions: ['1.0.0-alpha', '1.0.0', '2.0.0-beta.1', '2.0.0', '10.0.0'] });
  });

  it('lists versions without build metadata, and keeps unlisted versions', async () => {
    expect(json(await raw(base, '/v3/flatcontainer/contoso.metadata/index.json'))).toEqual({ versions: ['1.0.0'] });
    expect(json(await raw(base, '/v3/flatcontainer/contoso.unlisted/index.json'))).toEqual({ versions: ['1.0.0'] });
    expect((await raw(base, '/v3/flatcontainer/contoso.unlisted/1.0.0/contoso.unlisted.1.0.0.nupkg')).status).toBe(200);
  });

  it('serves the exact bytes that were pushed', async () => {
    for (const [path, key] of [
      ['/v3/flatcontainer/contoso.lib/1.0.0/contoso.lib.1.0.0.nupkg', 'contoso.lib@1.0.0'],
      ['/v3/flatcontainer/contoso.lib/2.0.0-beta.1/contoso.lib.2.0.0-beta.1.nupkg', 'contoso.lib@2.0.0-Beta.1'],
      ['/v3/flatcontainer/contoso.assets/1.0.0/contoso.assets.1.0.0.nupkg', 'contoso.assets@1.0.0'],
    ] as const) {
      const reply = await raw(base, path);
      expect(reply.status, path).toBe(200);
      expect(reply.headers['content-type']).toBe('application/octet-stream');
      expect(reply.headers['content-encoding']).toBeUndefined();
      expect(sha512(reply.body), path).toBe(sha512(pushed.get(key)!));
    }
  });

  it('accepts mixed-case and non-normalized ids and versions in the path', async () => {
    const expected = sha512(pushed.get('contoso.lib@2.0.0-Beta.1')!);

    const mixed = await raw(base, '/v3/flatcontainer/Contoso.Lib/2.0.0-BETA.1/Contoso.Lib.2.0.0-Beta.1.nupkg');
    expect(mixed.status).toBe(200);
    expect(sha512(mixed.body)).toBe(expected);
    expect((await raw(base, '/v3/flatcontainer/CONTOSO.LIB/index.json')).status).toBe(200);
    expect((await raw(base, '/v3/flatcontainer/contoso.lib/1.0/contoso.lib.1.0.0.nupkg')).status).toBe(200);
  });

  it('serves the nuspec of the package', async () => {
    const reply = await raw(base, '/v3/flatcontainer/contoso.lib/1.0.0/contoso.lib.nuspec');

    expect(reply.status).toBe(200);
    expect(reply.headers['content-type']).toMatch(/xml/);
    expect(reply.body.equals(readNupkg(pushed.get('contoso.lib@1.0.0')!).nuspecBytes)).toBe(true);
    expect(reply.body.toString('utf8')).toContain('<id>Contoso.Lib</id>');
  });

  it('answers 404 with a JSON error for an unknown id, version or file', async () => {
    for (const path of [
      '/v3/flatcontainer/contoso.nope/index.json',
      '/v3/flatcontainer/contoso.lib/9.9.9/contoso.lib.9.9.9.nupkg',
      '/v3/flatcontainer/contoso.lib/9.9.9/contoso.lib.nuspec',
      '/v3/flatcontainer/contoso.lib/1.0.0/contoso.other.1.0.0.nupkg',
      '/v3/flatcontainer/contoso.lib/1.0.0/something-else',
    ]) {
      const reply = await raw(base, path);
      expect(reply.status, path).toBe(404);
      expect(reply.headers['content-type'], path).toMatch(/^application\/json/);
      expect(json(reply).error.code, path).toBe('not_found');
    }
  });

  it('serves the embedded icon and readme, and 404 when the package has none', async () => {
    const icon = await raw(base, '/v3/flatcontainer/contoso.assets/1.0.0/icon');
    expect(icon.status).toBe(200);
    expect(icon.headers['content-type']).toBe('image/png');
    expect(icon.headers['x-content-type-options']).toBe('nosniff');
    expect(icon.body.equals(PNG)).toBe(true);

    const readme = await raw(base, '/v3/flatcontainer/contoso.assets/1.0.0/readme');
    expect(readme.status).toBe(200);
    expect(readme.headers['content-type']).toMatch(/^text\/markdown/);
    expect(readme.body.toString('utf8')).toBe('# Contoso Assets\n\nHello.');

    expect((await raw(base, '/v3/flatcontainer/contoso.lib/1.0.0/icon')).status).toBe(404);
    expect((await raw(base, '/v3/flatcontainer/contoso.lib/1.0.0/readme')).status).toBe(404);
  });
});

describe('caching headers', () => {
  it.each([
    ['flat container index.json', '/v3/flatcontainer/contoso.lib/index.json', {}],
    ['a nupkg', '/v3/flatcontainer/contoso.lib/1.0.0/contoso.lib.1.0.0.nupkg', {}],
    ['a registration index (gzip)', '/v3/registration5-gz-semver2/contoso.lib/index.json', { 'Accept-Encoding': 'gzip' }],
    ['a registration index (identity)', '/v3/registration5-gz-semver2/contoso.lib/index.json', { 'Accept-Encoding': 'identity' }],
    ['a SemVer1 registration index', '/v3/registration5-semver1/contoso.lib/index.json', {}],
    ['a registration leaf', '/v3/registration5-gz-semver2/contoso.lib/1.0.0.json', { 'Accept-Encoding': 'gzip' }],
  ] as const)('answers 304 to If-None-Match with the ETag of %s, and HEAD with headers only', async (_what, path, headers) => {
    const first = await raw(base, path, { headers });
    expect(first.status).toBe(200);
    const etag = first.headers.etag;
    expect(etag).toMatch(/^(W\/)?"[^"]+"$/);

    const revalidated = await raw(base, path, { headers: { ...headers, 'If-None-Match': etag! } });
    expect(revalidated.status).toBe(304);
    expect(revalidated.body.length).toBe(0);
    expect(revalidated.headers.etag).toBe(etag);

    const stale = await raw(base, path, { headers: { ...headers, 'If-None-Match': '"something-else"' } });
    expect(stale.status).toBe(200);
    expect(stale.body.equals(first.body)).toBe(true);

    const head = await raw(base, path, { method: 'HEAD', headers });
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
    expect(head.headers.etag).toBe(etag);
    expect(head.headers['content-type']).toBe(first.headers['content-type']);
  });

  it('marks a nupkg immutable and index.json short-lived', async () => {
    const nupkg = await raw(base, '/v3/flatcontainer/contoso.lib/1.0.0/contoso.lib.1.0.0.nupkg');
    expect(nupkg.headers['cache-control']).toMatch(/immutable/);
    expect(Number(/max-age=(\d+)/.exec(nupkg.headers['cache-control'] ?? '')?.[1])).toBeGreaterThanOrEqual(86_400);

    const index = await raw(base, '/v3/flatcontainer/contoso.lib/index.json');
    expect(index.headers['cache-control']).not.toMatch(/immutable/);
    const maxAge = /max-age=(\d+)/.exec(index.headers['cache-control'] ?? '')?.[1];
    expect(maxAge === undefined ? index.headers['cache-control'] : Number(maxAge) <= 60).toBeTruthy();
  });

  it('sends the gzip registration hives compressed when the client accepts gzip, plain JSON when it asks for identity', async () => {
    for (const hive of ['registration5-gz-semver1', 'registration5-gz-semver2']) {
      const path = `/v3/${hive}/contoso.lib/index.json`;
      const gzip = await raw(base, path, { headers: { 'Accept-Encoding': 'gzip, deflate' } });
      expect(gzip.status).toBe(200);
      expect(gzip.headers['content-encoding'], hive).toBe('gzip');
      expect(gzip.headers.vary).toMatch(/Accept-Encoding/i);

      const identity = await raw(base, path, { headers: { 'Accept-Encoding': 'identity' } });
      expect(identity.status).toBe(200);
      expect(identity.headers['content-encoding'], hive).toBeUndefined();
      expect(JSON.parse(identity.body.toString('utf8'))).toEqual(json(gzip));
    }
    const semver1 = await raw(base, '/v3/registration5-semver1/contoso.lib/index.json', { headers: { 'Accept-Encoding': 'gzip' } });
    expect(semver1.headers['content-encoding']).toBeUndefined();
  });
});

describe('registration', () => {
  const get = (path: string) => raw(base, path, { headers: { 'Accept-Encoding': 'gzip' } });

  it('leaves SemVer2 versions out of the SemVer1 hives and keeps them in the SemVer2 hive', async () => {
    for (const hive of ['registration5-semver1', 'registration5-gz-semver1']) {
      expect((await get(`/v3/${hive}/contoso.semver2only/index.json`)).status, hive).toBe(404);
      expect((await get(`/v3/${hive}/contoso.semver2only/1.0.0-beta.1.json`)).status, hive).toBe(404);
      expect((await get(`/v3/${hive}/contoso.metadata/index.json`)).status, hive).toBe(404);
      expect(registrationVersions(json(await get(`/v3/${hive}/contoso.lib/index.json`)))).toEqual(['1.0.0-alpha', '1.0.0', '2.0.0', '10.0.0']);
    }

    const semver2 = await get('/v3/registration5-gz-semver2/contoso.semver2only/index.json');
    expect(semver2.status).toBe(200);
    expect(registrationVersions(json(semver2))).toEqual(['1.0.0-beta.1']);
    expect((await get('/v3/registration5-gz-semver2/contoso.semver2only/1.0.0-beta.1.json')).status).toBe(200);
    expect(registrationVersions(json(await get('/v3/registration5-gz-semver2/contoso.metadata/index.json')))).toEqual(['1.0.0+build.5']);
    expect(registrationVersions(json(await get('/v3/registration5-gz-semver2/contoso.lib/index.json')))).toEqual([
      '1.0.0-alpha',
      '1.0.0',
      '2.0.0-Beta.1',
      '2.0.0',
      '10.0.0',
    ]);
  });

  it('shows an unlisted version as listed: false', async () => {
    const index = json(await get('/v3/registration5-gz-semver2/contoso.unlisted/index.json'));
    expect(index.items[0].items[0].catalogEntry.listed).toBe(false);
  });

  it('answers 404 for an unknown id or hive', async () => {
    expect((await get('/v3/registration5-gz-semver2/contoso.nope/index.json')).status).toBe(404);
    expect((await get('/v3/registration6-semver9/contoso.lib/index.json')).status).toBe(404);
    expect((await get('/v3/registration5-gz-semver2/contoso.lib/9.9.9.json')).status).toBe(404);
  });
});

describe('catalog', () => {
  it('leads from the index to a page to a leaf whose @id is its own URL', async () => {
    const index = json(await raw(base, '/v3/catalog0/index.json'));
    expect(index['@id']).toBe(`${base}/v3/catalog0/index.json`);
    expect(index.items[0]['@id']).toBe(`${base}/v3/catalog0/page0.json`);

    const page = json(await raw(base, new URL(index.items[0]['@id']).pathname));
    const item = page.items.find((i: { 'nuget:id': string; 'nuget:version': string }) => i['nuget:id'] === 'Contoso.Lib' && i['nuget:version'] === '2.0.0-Beta.1');
    expect(item, JSON.stringify(page.items)).toBeDefined();
    // The unlist added a second item for Contoso.Unlisted, the push and unlist of one version.
    expect(page.items.filter((i: { 'nuget:id': string }) => i['nuget:id'] === 'Contoso.Unlisted')).toHaveLength(2);

    const leafReply = await raw(base, new URL(item['@id']).pathname);
    expect(leafReply.status).toBe(200);
    const leaf = json(leafReply);
    expect(leaf['@id']).toBe(item['@id']);
    expect(leaf.id).toBe('Contoso.Lib');
    expect(leaf.packageHash).toBe(sha512(pushed.get('contoso.lib@2.0.0-Beta.1')!));
  });

  it('answers 404 for an unknown leaf and an unknown page', async () => {
    const page = json(await raw(base, '/v3/catalog0/page0.json'));
    const leafPath = new URL(page.items[0]['@id']).pathname;
    const otherLeaf = leafPath.replace(/\/[^/]+\.json$/, '/does.not.exist.1.0.0.json');

    expect((await raw(base, otherLeaf)).status).toBe(404);
    expect((await raw(base, '/v3/catalog0/data/2001.01.01.00.00.00.000/contoso.lib.1.0.0.json')).status).toBe(404);
    expect((await raw(base, '/v3/catalog0/data/2001.13.45.99.99.99.999/contoso.lib.1.0.0.json')).status).toBe(404);
    expect((await raw(base, '/v3/catalog0/page99.json')).status).toBe(404);
    expect((await raw(base, '/v3/catalog0/page-1.json')).status).toBe(404);
    expect((await raw(base, '/v3/catalog0/page00.json')).status).toBe(404);
  });
});

describe('URL hardening', () => {
  // reliability.md §2 #25: ids and versions are checked against their grammar before any storage
  // lookup; nothing may escape the resource or crash the server.
  const hostile = [
    '/v3/flatcontainer/..%2F..%2Fetc%2Fpasswd/index.json',
    '/v3/flatcontainer/..%2f..%2f..%2fcontent/index.json',
    '/v3/flatcontainer/%2e%2e/index.json',
    '/v3/flatcontainer/%2e%2e%2f%2e%2e%2fetc/index.json',
    '/v3/flatcontainer/%252e%252e%252fetc/index.json',
    '/v3/flatcontainer/..%5c..%5cetc/index.json',
    '/v3/flatcontainer/contoso.lib%5c..%5c..%5cx/index.json',
    '/v3/flatcontainer/%c0%ae%c0%ae/index.json',
    '/v3/flatcontainer/%c0%ae%c0%ae%c0%afetc/index.json',
    '/v3/flatcontainer/%ff/index.json',
    '/v3/flatcontainer/%/index.json',
    '/v3/flatcontainer/contoso.lib%00/index.json',
    '/v3/flatcontainer/contoso.lib;x=1/index.json',
    '/v3/flatcontainer/contoso.lib;/index.json',
    `/v3/flatcontainer/${'a'.repeat(200)}/index.json`,
    `/v3/flatcontainer/${'a.'.repeat(150)}a/index.json`,
    '/v3/flatcontainer/contoso.lib/1.0.0/../../x',
    '/v3/flatcontainer/contoso.lib/1.0.0%2F..%2F..%2Fx/contoso.lib.1.0.0.nupkg',
    '/v3/flatcontainer/contoso.lib/..%2F..%2F..%2Fetc/passwd',
    '/v3/flatcontainer/contoso.lib/1.0.0/..%2F..%2Fcontoso.lib.1.0.0.nupkg',
    '/v3/flatcontainer/contoso.lib/1.0.0/%2e%2e%2f%2e%2e%2findex.json',
    '/v3/flatcontainer/contoso.lib/%c0%ae%c0%ae/icon',
    '/v3/flatcontainer/contoso.lib/1.0.0;x/contoso.lib.1.0.0.nupkg',
    `/v3/flatcontainer/contoso.lib/1.0.0-${'a'.repeat(300)}/contoso.lib.nuspec`,
    '/v3/flatcontainer/contoso.lib/1.0.0/contoso.lib.1.0.0.nupkg%00.json',
    '/v3/registration5-semver1/..%2Fflatcontainer/index.json',
    '/v3/registration5-gz-semver2/contoso.lib/..%2F..%2Fx.json',
    '/v3/registration5-gz-semver2/contoso.lib/%c0%ae%c0%ae.json',
    '/v3/registration5-semver1/contoso.lib/page/1.0.0/..%2F..%2Fx.json',
    '/v3/..%2Fblobs/flatcontainer/contoso.lib/index.json',
    '/v3/%2e%2e/%2e%2e/etc/passwd',
    '/v3/catalog0/..%2Fcatalog0%2Fpage0.json',
    '/v3/catalog0/page0.json%00',
    '/v3/catalog0/%c0%ae%c0%ae',
    '/v3/catalog0/data/2020.01.01.00.00.00.000/..%2F..%2Fx.json',
    '/v3/catalog0/data/..%2F..%2F/x.json',
  ];

  it.each(hostile)('#25 URL traversal: answers 400 or 404, never 200 or 5xx: %s', async (path) => {
    const reply = await raw(base, path);

    expect([400, 404], `${path} → ${reply.status} ${reply.body.toString('utf8').slice(0, 200)}`).toContain(reply.status);
    expect(reply.body.toString('latin1')).not.toMatch(/root:|PK\u0003\u0004/);
  });

  it('still serves the legitimate paths next to them', async () => {
    expect((await raw(base, '/v3/flatcontainer/contoso.lib/index.json')).status).toBe(200);
    expect((await raw(base, '/v3/flatcontainer/contoso.lib/1.0.0/contoso.lib.1.0.0.nupkg')).status).toBe(200);
  });
});

describe('cursors', () => {
  it('lists the projection cursors after they move', async () => {
    const [latest] = await db
      .selectFrom('catalog_commits')
      .select('commit_timestamp')
      .where('feed_id', '=', feedId)
      .orderBy('commit_timestamp', 'desc')
      .limit(1)
      .execute();
    const to = latest!.commit_timestamp;
    const earlier = new Date(to.getTime() - 1);
    for (const [projection, target] of [
      ['flatcontainer', to],
      ['registration', earlier],
    ] as const) {
      const from = await getCursor(db, feedId, projection);
      expect(await advanceCursor(db, feedId, projection, from, target)).toBe(true);
    }

    const reply = await raw(base, '/v3/cursors.json');

    expect(reply.status).toBe(200);
    expect(reply.headers['cache-control']).toBe('no-store');
    expect(json(reply)).toMatchObject({
      flatcontainer: formatCatalogTimestamp(to),
      registration: formatCatalogTimestamp(earlier),
    });
  });
});
