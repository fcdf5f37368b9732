/**
 * Access control over real HTTP, as a generated matrix (reliability.md §3 P8 "auth uniformity"):
 *
 * - reads: {public, private} × {no credentials, Basic with a read key, Basic with a push key,
 *   X-NuGet-ApiKey with a read key, Basic with a wrong password, an expired key, a revoked key,
 *   a malformed Authorization header, a key in the query string} × every GET route of the read API
 *   (taken from its router, with real URLs: nupkg, nuspec, icon, readme, registration index/page/leaf
 *   in each hive, catalog index/page/leaf, query, autocomplete, cursors) × {GET, HEAD};
 * - writes: every credential shape × {push, unlist, relist} on the publish API, with scope and glob escapes.
 *
 * Cases: reliability.md §2 #22 (missing/invalid keys, key in the query string, Basic password that is an
 * API key, one answer for unknown and wrong keys), #23 (scope and glob escapes, expired and revoked keys
 * within the cache window), #24 (private-feed read bypass). Protocol: nuget-protocol.md §4 and §12.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type Koa from 'koa';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey, revokeApiKey, type ApiKeyScope } from '@nucat/auth';
import { createFeedUrls, findFeedId, readLatestItems, type FeedUrls } from '@nucat/catalog';
import { createDb, migrateToLatest, type Db } from '@nucat/db';
import { createFlatContainerProjector, createRegistrationProjector, createSearchProjector } from '@nucat/projections';
import { createPublishApp } from '@nucat/publish-api';
import { createPostgresSearchBackend } from '@nucat/search-postgres';
import { createFilesystemBlobStore, type BlobStore } from '@nucat/storage';
import { buildNupkg, createTestDatabase, type TestDatabase } from '@nucat/testing';
import { createReadApp, type ReadAppDeps } from '../src/index.js';
import { PRIVATE_FEED_MESSAGE } from '../src/read-auth.js';

const log = pino({ level: 'silent' });
const CHALLENGE = 'Basic realm="nucat"';
const UNAUTHORIZED_BODY = { error: { code: 'unauthorized', message: PRIVATE_FEED_MESSAGE } };

// ---------------------------------------------------------------------------------------------
// Raw HTTP (node:http): headers go out exactly as written, bodies come back as bytes.

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

function raw(base: string, path: string, options: { method?: string; headers?: Record<string, string>; body?: Buffer } = {}): Promise<Reply> {
  const { hostname, port } = new URL(base);
  const headers = { ...options.headers, ...(options.body ? { 'Content-Length': String(options.body.length) } : {}) };
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: hostname, port, path, method: options.method ?? 'GET', headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
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

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`;

function multipartPush(nupkg: Buffer): { body: Buffer; contentType: string } {
  const boundary = 'private-feed-boundary';
  return {
    contentType: `multipart/form-data; boundary=${boundary}`,
    body: Buffer.concat([
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="package"; filename="package.nupkg"\r\n\r\n`),
      nupkg,
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ]),
  };
}

// ---------------------------------------------------------------------------------------------
// The feed: one database and blob store, a publish API, a public and a private read API over them.

const PNG = Buffer.from(
  '89504e470d0a1a0a0000000d4948445200000001000000010806000000' + '1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082',
  'hex',
);

let database: TestDatabase;
let db: Db;
let store: BlobStore;
let feedId: number;
let workDir: string;
let urls: FeedUrls;
const servers: Server[] = [];
let publishBase: string;
let publicBase: string;
let privateBase: string;

/** Plain keys by role. */
const keys = {} as Record<'admin' | 'read' | 'push' | 'pushOnly' | 'unlistOnly' | 'contoso' | 'expired' | 'revoked', string>;

/** Paths discovered from the feed's own documents in beforeAll. */
let registrationPagePath: string;
let catalogLeafPath: string;

async function makeKey(name: string, scopes?: ApiKeyScope[], extra: { idGlobs?: string[]; expiresAt?: Date } = {}): Promise<string> {
  return (await createApiKey(db, { feedId, name, ...(scopes ? { scopes } : {}), ...extra })).key;
}

async function startReadApp(access: ReadAppDeps['access']): Promise<{ base: string; app: Koa }> {
  const server = createServer();
  servers.push(server);
  const base = await listen(server);
  const app = createReadApp({
    db,
    store,
    localFiles: { root: join(workDir, 'blobs') },
    feedId,
    urls,
    publishUrl: publishBase,
    log,
    search: createPostgresSearchBackend({ db }),
    ...(access ? { access } : {}),
  });
  server.on('request', app.callback());
  return { base, app };
}

async function pushWith(id: string, version: string, headers: Record<string, string>, extra: Parameters<typeof buildNupkg>[0] = { id, version }): Promise<Reply> {
  const { body, contentType } = multipartPush(buildNupkg({ ...extra, id, version }));
  return raw(publishBase, '/v3/package/', { method: 'PUT', headers: { 'Content-Type': contentType, ...headers }, body });
}

async function project(...lowerIds: string[]): Promise<void> {
  const loadLatestItems = (lowerId: string) => readLatestItems(db, feedId, lowerId);
  const flat = createFlatContainerProjector({ store, loadLatestItems });
  // Small paging thresholds so contoso.lib gets standalone registration pages.
  const registration = createRegistrationProjector({ store, urls, loadLatestItems, paging: { maxInlinedLeaves: 2, leavesPerPage: 2 } });
  const search = createSearchProjector({ backend: createPostgresSearchBackend({ db }), feedId, urls, loadLatestItems });
  for (const lowerId of lowerIds) {
    await flat.project(lowerId);
    await registration.project(lowerId);
    await search.project(lowerId);
  }
}

/** The app's GET route patterns, read from its router (the `routes()` middleware carries the router). */
function routePatterns(app: Koa): string[] {
  const dispatch = app.middleware.find((m) => (m as { router?: unknown }).router !== undefined) as
    | { router: { stack: { path: string | RegExp; methods: string[] }[] } }
    | undefined;
  if (!dispatch) throw new Error('no router middleware found on the read app');
  return dispatch.router.stack.filter((layer) => layer.methods.includes('GET')).map((layer) => String(layer.path));
}

beforeAll(async () => {
  database = await createTestDatabase();
  db = createDb({ url: database.url, poolSize: 20 });
  await migrateToLatest(db);
  feedId = (await findFeedId(db, 'main'))!;
  workDir = await mkdtemp(join(tmpdir(), 'nucat-private-int-'));
  store = createFilesystemBlobStore({ root: join(workDir, 'blobs') });

  keys.admin = await makeKey('admin');
  keys.read = await makeKey('ci-read', ['read']);
  keys.push = await makeKey('ci-push', ['push']);
  keys.pushOnly = keys.push;
  keys.unlistOnly = await makeKey('unlist-only', ['unlist']);
  keys.contoso = await makeKey('contoso-only', undefined, { idGlobs: ['Contoso.*'] });
  keys.expired = await makeKey('expired', ['read', 'push', 'unlist'], { expiresAt: new Date(Date.now() - 60_000) });
  keys.revoked = await makeKey('revoked', ['read', 'push', 'unlist']);
  expect(await revokeApiKey(db, feedId, 'revoked')).toBe(1);

  const publishServer = createServer(
    createPublishApp({ db, store, feedId, log, maxPackageBytes: 1024 * 1024, tempDir: join(workDir, 'uploads') }).callback(),
  );
  servers.push(publishServer);
  publishBase = await listen(publishServer);
  // Documents carry URLs of one configured base; the public and private apps serve the same blobs.
  urls = createFeedUrls('http://feed.test/v3/');

  const adminHeaders = { 'X-NuGet-ApiKey': keys.admin };
  for (const [id, version, extra] of [
    ['Contoso.Assets', '1.0.0', { files: { 'images/icon.png': PNG, 'docs/README.md': '# Assets\n' }, nuspecExtra: '<icon>images/icon.png</icon><readme>docs/README.md</readme>' }],
    ['Contoso.Lib', '1.0.0', {}],
    ['Contoso.Lib', '2.0.0', {}],
    ['Contoso.Lib', '3.0.0-beta', {}],
    ['Contoso.Writes', '1.0.0', {}],
    ['Other.Pkg', '1.0.0', {}],
  ] as const) {
    const reply = await pushWith(id, version, adminHeaders, { id, version, ...extra });
    expect(reply.status, `push ${id} ${version}: ${reply.body.toString()}`).toBe(201);
  }
  await project('contoso.assets', 'contoso.lib', 'contoso.writes', 'other.pkg');

  publicBase = (await startReadApp(undefined)).base;
  privateBase = (await startReadApp({ private: true })).base;

  // Real page and leaf URLs, found the way a client finds them.
  const regIndex = JSON.parse((await raw(publicBase, '/v3/registration5-semver1/contoso.lib/index.json')).body.toString()) as {
    items: { '@id': string; items?: unknown[] }[];
  };
  const page = regIndex.items.find((p) => p.items === undefined);
  if (!page) throw new Error('expected a standalone registration page for contoso.lib');
  registrationPagePath = new URL(page['@id']).pathname;
  const catalogPage = JSON.parse((await raw(publicBase, '/v3/catalog0/page0.json')).body.toString()) as { items: { '@id': string }[] };
  catalogLeafPath = new URL(catalogPage.items[0]!['@id']).pathname;
});

afterAll(async () => {
  for (const server of servers) await close(server);
  await db?.destroy();
  await store?.close();
  await database?.drop();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// The read matrix.

interface Endpoint {
  /** The router pattern this URL exercises. */
  route: string;
  /** What the URL shows. */
  what: string;
  path: () => string;
  /** Status on a public feed (and on a private one with valid credentials). */
  status: 200 | 404;
}

const HIVES = ['registration5-semver1', 'registration5-gz-semver1', 'registration5-gz-semver2'] as const;
const FLAT = '/v3/flatcontainer/contoso.assets/1.0.0';

const ENDPOINTS: Endpoint[] = [
  { route: '/v3/index.json', what: 'service index', path: () => '/v3/index.json', status: 200 },
  { route: '/v3/flatcontainer/:id/index.json', what: 'flat container versions', path: () => '/v3/flatcontainer/contoso.assets/index.json', status: 200 },
  { route: '/v3/flatcontainer/:id/index.json', what: 'flat container versions of an unknown id', path: () => '/v3/flatcontainer/contoso.nothing/index.json', status: 404 },
  { route: '/v3/flatcontainer/:id/:version/:file', what: 'nupkg', path: () => `${FLAT}/contoso.assets.1.0.0.nupkg`, status: 200 },
  { route: '/v3/flatcontainer/:id/:version/:file', what: 'nuspec', path: () => `${FLAT}/contoso.assets.nuspec`, status: 200 },
  { route: '/v3/flatcontainer/:id/:version/:file', what: 'icon', path: () => `${FLAT}/icon`, status: 200 },
  { route: '/v3/flatcontainer/:id/:version/:file', what: 'readme', path: () => `${FLAT}/readme`, status: 200 },
  { route: '/v3/flatcontainer/:id/:version/:file', what: 'nupkg of an unknown version', path: () => '/v3/flatcontainer/contoso.assets/9.0.0/contoso.assets.9.0.0.nupkg', status: 404 },
  ...HIVES.flatMap((hive): Endpoint[] => [
    { route: '/v3/:hive/:id/index.json', what: `${hive} index`, path: () => `/v3/${hive}/contoso.assets/index.json`, status: 200 },
    { route: '/v3/:hive/:id/:leaf', what: `${hive} leaf`, path: () => `/v3/${hive}/contoso.assets/1.0.0.json`, status: 200 },
  ]),
  { route: '/v3/:hive/:id/page/:lower/:upper', what: 'registration page', path: () => registrationPagePath, status: 200 },
  { route: '/v3/:hive/:id/index.json', what: 'registration index of an unknown id', path: () => '/v3/registration5-gz-semver2/contoso.nothing/index.json', status: 404 },
  { route: '/v3/catalog0/index.json', what: 'catalog index', path: () => '/v3/catalog0/index.json', status: 200 },
  { route: '/v3/catalog0/:page', what: 'catalog page', path: () => '/v3/catalog0/page0.json', status: 200 },
  { route: '/v3/catalog0/:page', what: 'catalog page past the end', path: () => '/v3/catalog0/page99.json', status: 404 },
  { route: '/v3/catalog0/data/:stamp/:leaf', what: 'catalog leaf', path: () => catalogLeafPath, status: 200 },
  { route: '/v3/cursors.json', what: 'projection cursors', path: () => '/v3/cursors.json', status: 200 },
  { route: '/v3/query', what: 'search', path: () => '/v3/query?q=contoso&prerelease=true&semVerLevel=2.0.0', status: 200 },
  { route: '/v3/autocomplete', what: 'autocomplete ids', path: () => '/v3/autocomplete?q=cont', status: 200 },
  { route: '/v3/autocomplete', what: 'autocomplete versions', path: () => '/v3/autocomplete?id=contoso.lib&prerelease=true', status: 200 },
  { route: '/metrics', what: 'Prometheus metrics', path: () => '/metrics', status: 200 },
  { route: '(none)', what: 'a path no route serves', path: () => '/v3/nothing-here.json', status: 404 },
  { route: '(none)', what: 'an encoded traversal', path: () => '/v3/flatcontainer/..%2F..%2Fetc%2Fpasswd/index.json', status: 404 },
];

interface Credential {
  what: string;
  headers: () => Record<string, string>;
  /** Query appended to the URL. */
  query?: () => string;
  /** Whether a private feed lets it read. */
  reads: boolean;
}

const CREDENTIALS: Credential[] = [
  { what: 'no credentials', headers: () => ({}), reads: false },
  { what: 'Basic with a read key', headers: () => ({ Authorization: basic('ci', keys.read) }), reads: true },
  { what: 'Basic with a push key', headers: () => ({ Authorization: basic('anything', keys.push) }), reads: true },
  { what: 'X-NuGet-ApiKey with a read key', headers: () => ({ 'X-NuGet-ApiKey': keys.read }), reads: true },
  { what: 'Basic with a wrong password', headers: () => ({ Authorization: basic('ci', `${keys.read.slice(0, -2)}xx`) }), reads: false },
  { what: 'Basic with an expired key', headers: () => ({ Authorization: basic('ci', keys.expired) }), reads: false },
  { what: 'Basic with a revoked key', headers: () => ({ Authorization: basic('ci', keys.revoked) }), reads: false },
  { what: 'a malformed Authorization header', headers: () => ({ Authorization: `Basic ${keys.read}` }), reads: false },
  { what: 'a Bearer token', headers: () => ({ Authorization: `Bearer ${keys.read}` }), reads: false },
  { what: 'a key in the query string', headers: () => ({}), query: () => `apiKey=${keys.read}`, reads: false },
];

const withQuery = (path: string, query: string | undefined) => (query ? `${path}${path.includes('?') ? '&' : '?'}${query}` : path);

const MODES = ['public', 'private'] as const;
const METHODS = ['GET', 'HEAD'] as const;
const READ_MATRIX = MODES.flatMap((mode) =>
  CREDENTIALS.flatMap((credential) =>
    ENDPOINTS.flatMap((endpoint) =>
      METHODS.map((method) => {
        const status = mode === 'private' && !credential.reads ? 401 : endpoint.status;
        return { name: `${mode} × ${credential.what} × ${method} ${endpoint.what} → ${status}`, mode, credential, endpoint, method, status };
      }),
    ),
  ),
);

describe('#24 private-feed read bypass, #22 credentials: the read matrix (P8)', () => {
  it('covers every GET route of the read API', async () => {
    const { app } = await startReadApp({ private: true });
    const routes = new Set(routePatterns(app));
    routes.delete('/health');
    routes.delete('/ready');
    expect(new Set(ENDPOINTS.map((e) => e.route).filter((r) => r !== '(none)'))).toEqual(routes);
  });

  it.each(READ_MATRIX)('$name', async ({ mode, credential, endpoint, method, status }) => {
    const base = mode === 'public' ? publicBase : privateBase;
    const path = withQuery(endpoint.path(), credential.query?.());
    const reply = await raw(base, path, { method, headers: credential.headers() });

    expect(reply.status, `${method} ${path}: ${reply.body.toString().slice(0, 300)}`).toBe(status);
    if (status === 401) {
      expect(reply.headers['www-authenticate']).toBe(CHALLENGE);
      if (method === 'GET') expect(JSON.parse(reply.body.toString())).toEqual(UNAUTHORIZED_BODY);
      else expect(reply.body.length).toBe(0);
    } else {
      expect(reply.headers['www-authenticate']).toBeUndefined();
    }
    if (mode === 'private' && status !== 401) {
      // A shared cache must never hand a private document to the next anonymous client.
      expect(reply.headers['cache-control'] ?? '').not.toMatch(/public/);
      expect(reply.headers['vary'] ?? '').toMatch(/Authorization/i);
    }
  });

  it('serves the same bytes privately with credentials as publicly', async () => {
    // /metrics differs from node to node by nature (each counts its own requests).
    for (const endpoint of ENDPOINTS.filter((e) => e.status === 200 && e.route !== '/v3/query' && e.route !== '/v3/autocomplete' && e.route !== '/metrics')) {
      const open = await raw(publicBase, endpoint.path(), { headers: { 'Accept-Encoding': 'identity' } });
      const closed = await raw(privateBase, endpoint.path(), { headers: { 'Accept-Encoding': 'identity', Authorization: basic('ci', keys.read) } });
      expect(closed.body.equals(open.body), endpoint.what).toBe(true);
    }
  });

  it('keeps GET /health open on a private feed', async () => {
    const reply = await raw(privateBase, '/health');
    expect(reply.status).toBe(200);
    expect(reply.headers['www-authenticate']).toBeUndefined();
  });

  it('keeps GET /ready open on a private feed (a load balancer probes it without credentials)', async () => {
    const reply = await raw(privateBase, '/ready');
    expect(reply.status).toBe(200);
    expect(reply.headers['www-authenticate']).toBeUndefined();
    expect(JSON.parse(reply.body.toString())).toMatchObject({ status: 'ready' });
  });
});

describe('#22 one answer for every refused read', () => {
  it('gives the same status, challenge and body for no key, an unknown key and a wrong secret', async () => {
    const unknown = `nucat_0123456789abcdef_${'x'.repeat(43)}`;
    const replies = await Promise.all(
      [{}, { Authorization: basic('ci', unknown) }, { Authorization: basic('ci', `${keys.read.slice(0, -1)}_`) }].map((headers) =>
        raw(privateBase, '/v3/index.json', { headers }),
      ),
    );
    const shapes = replies.map((r) => JSON.stringify([r.status, r.headers['www-authenticate'], r.body.toString()]));
    expect(new Set(shapes).size).toBe(1);
  });

  it('answers 503, not 500 or 200, when the key cannot be checked because the database is down', async () => {
    const downDb = createDb({ url: 'postgres://nucat:nucat@127.0.0.1:1/none' });
    try {
      const server = createServer(
        createReadApp({ db: downDb, store, feedId, urls, publishUrl: publishBase, log, access: { private: true } }).callback(),
      );
      servers.push(server);
      const base = await listen(server);
      const reply = await raw(base, '/v3/index.json', { headers: { Authorization: basic('ci', keys.read) } });
      expect(reply.status).toBe(503);
      expect(reply.headers['retry-after']).toBeDefined();
      expect((await raw(base, '/v3/index.json')).status).toBe(401);
    } finally {
      await downDb.destroy();
    }
  });
});

describe('#23 an expired or revoked key works nowhere within the cache window', () => {
  it('stops reading with a key revoked after use once the key cache TTL has passed', async () => {
    const ttlMs = 300;
    const { base } = await startReadApp({ private: true, keyCacheTtlMs: ttlMs });
    const key = await makeKey('revoked-later', ['read']);
    const read = async () => (await raw(base, '/v3/flatcontainer/contoso.lib/index.json', { headers: { Authorization: basic('u', key) } })).status;

    expect(await read()).toBe(200);
    expect(await revokeApiKey(db, feedId, 'revoked-later')).toBe(1);
    const revokedAt = Date.now();
    expect(await read(), 'still cached right after revocation').toBe(200);
    await sleep(ttlMs - (Date.now() - revokedAt) + 50);
    expect(await read()).toBe(401);
  });

  it('stops reading with a key the moment it expires, even inside the cache TTL', async () => {
    const { base } = await startReadApp({ private: true, keyCacheTtlMs: 60_000 });
    const expiresAt = new Date(Date.now() + 800);
    const key = await makeKey('expires-soon', ['read'], { expiresAt });
    const read = async () => (await raw(base, '/v3/index.json', { headers: { 'X-NuGet-ApiKey': key } })).status;

    expect(await read()).toBe(200);
    await sleep(expiresAt.getTime() - Date.now() + 50);
    expect(await read()).toBe(401);
  });

  it('reads immediately with a key created after a refused attempt (refusals are not cached)', async () => {
    const { base } = await startReadApp({ private: true, keyCacheTtlMs: 60_000 });
    const wrong = `nucat_0123456789abcdef_${'y'.repeat(43)}`;
    expect((await raw(base, '/v3/index.json', { headers: { Authorization: basic('u', wrong) } })).status).toBe(401);
    const key = await makeKey('fresh', ['read']);
    expect((await raw(base, '/v3/index.json', { headers: { Authorization: basic('u', key) } })).status).toBe(200);
  });
});

// ---------------------------------------------------------------------------------------------
// The write matrix: the publish API takes the key from X-NuGet-ApiKey or the Basic password.

type Action = 'push' | 'unlist' | 'relist';

interface WriteCase {
  what: string;
  headers: () => Record<string, string>;
  /** Package the action targets. */
  id: string;
  expected: Record<Action, number>;
}

const OK = { push: 201, unlist: 204, relist: 200 };
const all = (status: number) => ({ push: status, unlist: status, relist: status });

const WRITE_CASES: WriteCase[] = [
  { what: 'no credentials', headers: () => ({}), id: 'Contoso.Writes', expected: all(401) },
  { what: 'X-NuGet-ApiKey with a full key', headers: () => ({ 'X-NuGet-ApiKey': keys.admin }), id: 'Contoso.Writes', expected: OK },
  { what: 'Basic with a full key as the password', headers: () => ({ Authorization: basic('anyone', keys.admin) }), id: 'Contoso.Writes', expected: OK },
  { what: 'Basic with a wrong password', headers: () => ({ Authorization: basic('anyone', `${keys.admin.slice(0, -2)}zz`) }), id: 'Contoso.Writes', expected: all(401) },
  { what: 'X-NuGet-ApiKey with a wrong key', headers: () => ({ 'X-NuGet-ApiKey': `${keys.admin.slice(0, -2)}zz` }), id: 'Contoso.Writes', expected: all(403) },
  { what: 'Basic with an expired key', headers: () => ({ Authorization: basic('u', keys.expired) }), id: 'Contoso.Writes', expected: all(401) },
  { what: 'X-NuGet-ApiKey with an expired key', headers: () => ({ 'X-NuGet-ApiKey': keys.expired }), id: 'Contoso.Writes', expected: all(403) },
  { what: 'Basic with a revoked key', headers: () => ({ Authorization: basic('u', keys.revoked) }), id: 'Contoso.Writes', expected: all(401) },
  { what: 'X-NuGet-ApiKey with a revoked key', headers: () => ({ 'X-NuGet-ApiKey': keys.revoked }), id: 'Contoso.Writes', expected: all(403) },
  { what: 'a malformed Authorization header', headers: () => ({ Authorization: 'Basic %%%' }), id: 'Contoso.Writes', expected: all(401) },
  { what: 'Basic with a read-only key', headers: () => ({ Authorization: basic('u', keys.read) }), id: 'Contoso.Writes', expected: all(403) },
  { what: 'X-NuGet-ApiKey with a read-only key', headers: () => ({ 'X-NuGet-ApiKey': keys.read }), id: 'Contoso.Writes', expected: all(403) },
  { what: 'an unlist-only key', headers: () => ({ 'X-NuGet-ApiKey': keys.unlistOnly }), id: 'Contoso.Writes', expected: { push: 403, unlist: 204, relist: 200 } },
  { what: 'a push-only key', headers: () => ({ Authorization: basic('u', keys.pushOnly) }), id: 'Contoso.Writes', expected: { push: 201, unlist: 403, relist: 403 } },
  { what: 'a Contoso.* key on Contoso.Writes', headers: () => ({ 'X-NuGet-ApiKey': keys.contoso }), id: 'Contoso.Writes', expected: OK },
  { what: 'a Contoso.* key on Other.Pkg', headers: () => ({ 'X-NuGet-ApiKey': keys.contoso }), id: 'Other.Pkg', expected: all(403) },
  { what: 'a Contoso.* key on ContosoEvil', headers: () => ({ Authorization: basic('u', keys.contoso) }), id: 'ContosoEvil', expected: { push: 403, unlist: 403, relist: 403 } },
];

let pushed = 0;
async function write(action: Action, id: string, headers: Record<string, string>): Promise<Reply> {
  if (action === 'push') {
    pushed += 1;
    return pushWith(id, `1.1.${pushed}`, headers);
  }
  return raw(publishBase, `/v3/package/${id}/1.0.0`, { method: action === 'unlist' ? 'DELETE' : 'POST', headers });
}

const WRITE_MATRIX = WRITE_CASES.flatMap((c) =>
  (['push', 'unlist', 'relist'] as const).map((action) => ({ name: `${c.what} × ${action} ${c.id} → ${c.expected[action]}`, c, action })),
);

describe('#23 scope and glob escapes, #22 credentials on the publish API: the write matrix (P8)', () => {
  it.each(WRITE_MATRIX)('$name', async ({ c, action }) => {
    const reply = await write(action, c.id, c.headers());
    const status = c.expected[action];

    expect(reply.status, reply.body.toString().slice(0, 300)).toBe(status);
    if (status === 401) {
      expect(reply.headers['www-authenticate']).toBe(CHALLENGE);
      expect(JSON.parse(reply.body.toString())).toMatchObject({ error: { code: 'unauthorized' } });
    } else {
      expect(reply.headers['www-authenticate']).toBeUndefined();
    }
    if (status === 403) expect(JSON.parse(reply.body.toString())).toMatchObject({ error: { code: 'forbidden' } });
  });

  it('leaves no catalog item for any refused push', async () => {
    const rows = await db.selectFrom('catalog_items').select(['lower_id', 'lower_version']).where('feed_id', '=', feedId).execute();
    expect(rows.filter((r) => r.lower_id === 'contosoevil' || (r.lower_id === 'other.pkg' && r.lower_version !== '1.0.0'))).toEqual([]);
  });
});
