import Koa from 'koa';
import Router from '@koa/router';
import {
  findCatalogLeaf,
  findCatalogPage,
  formatCatalogTimestamp,
  listCatalogPages,
  listCursors,
  renderCatalogIndex,
  renderCatalogLeaf,
  renderCatalogPage,
  type FeedUrls,
  type HiveName,
} from '@nucat/catalog';
import type { Logger } from '@nucat/config';
import type { Db } from '@nucat/db';
import { createErrorMiddleware, createRequestContext, sendJson, type HttpMetrics } from '@nucat/http';
import { lowerNormalizedVersion, toLowerId, tryParseVersion } from '@nucat/nuget';
import type { BlobStore } from '@nucat/storage';
import type { SearchBackend } from '@nucat/search';
import type { DownloadCounter } from './download-counter.js';
import { createGenerationResolver, type GenerationResolver, type ResolvedGenerations } from './generations.js';
import { BlobDocument, createLocalBlobReader, createStoreBlobSource, type BlobSource, type LocalBlobReaderOptions } from './local-blobs.js';
import { createReadOps } from './ops.js';
import { createReadAuth } from './read-auth.js';
import type { AuthFailureLimiter } from '@nucat/http';
import { sendDocument, sendLargeBlob, type DocumentResponse } from './respond.js';
import { mountSearchRoutes } from './search-routes.js';
import { buildServiceIndex } from './service-index.js';

/** Collaborators of the read API. */
export interface ReadAppDeps {
  db: Db;
  store: BlobStore;
  /**
   * Read flat container and registration files straight from `localFiles.root`, the folder of the
   * filesystem blob store that `store` is (`createFilesystemBlobStore({ root })`): synchronous reads,
   * large `.nupkg` files sent with synchronous chunked reads, small documents cached in memory within
   * `localFiles.cacheBytes` (see {@link createLocalBlobReader}). Without it every read goes through
   * `store` (any `BlobStore`, e.g. the memory store of tests), uncached.
   */
  localFiles?: LocalBlobReaderOptions;
  feedId: number;
  urls: FeedUrls;
  publishUrl: string;
  log: Logger;
  /** Serves SearchQueryService and SearchAutocompleteService when present. */
  search?: SearchBackend;
  /** Counts `.nupkg` downloads (GET with a body, not HEAD or 304) when present. */
  downloads?: DownloadCounter;
  /**
   * Who may read. With `private: true` every path but `/health` and `/ready` needs an API key as the Basic password
   * or in `X-NuGet-ApiKey` (see {@link createReadAuth}); the cache settings are for tests; `failedKeyLimiter` rate-limits
   * refused keys per client address (reliability.md §2 #22).
   * @defaultValue public
   */
  access?: { private: boolean; keyCacheTtlMs?: number; keyCacheMaxEntries?: number; failedKeyLimiter?: AuthFailureLimiter };
  /**
   * Which generation of the flat container and registration keys to serve (`nucat rebuild`).
   * @defaultValue `createGenerationResolver(store)`: the pointer in the blob store, refreshed every 2 s
   */
  generations?: GenerationResolver;
  /** Prometheus metrics served at `/metrics`. @defaultValue new metrics with `app="read-api"` */
  metrics?: HttpMetrics;
  /** Aborted when the process shuts down: `/health` and `/ready` then answer 503. */
  shutdownSignal?: AbortSignal;
  /** What `/ready` requires (see {@link createReadOps}). @defaultValue maxLagSeconds 300 */
  ready?: { maxLagSeconds: number };
}

const IMMUTABLE = 'public, max-age=31536000, immutable';
const SHORT = 'public, max-age=10';
const REVALIDATE = 'public, max-age=0, must-revalidate';
const HIVES: readonly HiveName[] = ['registration5-semver1', 'registration5-gz-semver1', 'registration5-gz-semver2'];
const JSON_TYPE = 'application/json; charset=utf-8';
const JSON_SHORT: DocumentResponse = { contentType: JSON_TYPE, cacheControl: SHORT };
const JSON_SHORT_GZIP: DocumentResponse = { contentType: JSON_TYPE, cacheControl: SHORT, storedGzip: true };
const NUPKG: DocumentResponse = { contentType: 'application/octet-stream', cacheControl: IMMUTABLE, tag: 'file' };
/** The gz hives store gzip bytes; the SemVer1 hive stores plain JSON. */
const registrationResponse = (hive: HiveName): DocumentResponse => (hive === 'registration5-semver1' ? JSON_SHORT : JSON_SHORT_GZIP);

/** Read-side id check: validated against the id grammar before any storage key is built. */
function lowerIdOrUndefined(raw: string | undefined): string | undefined {
  if (!raw || !/^[A-Za-z0-9_]+([.-][A-Za-z0-9_]+)*$/.test(raw) || raw.length > 100) return undefined;
  return toLowerId(raw);
}

/** Version path segment → lower normalized version; undefined when it is not a version. */
function lowerVersionOrUndefined(raw: string | undefined): string | undefined {
  if (!raw || raw.length > 128 || !/^[0-9A-Za-z.+-]+$/.test(raw)) return undefined;
  const v = tryParseVersion(raw);
  return v ? lowerNormalizedVersion(v) : undefined;
}

function sniffImageType(bytes: Buffer): string {
  if (bytes.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return 'image/png';
  if (bytes[0] === 0xff && bytes[1] === 0xd8) return 'image/jpeg';
  return 'application/octet-stream';
}

/**
 * The read side: service index, flat container, registration hives and catalog. Stateless;
 * flat container and registration come from the blob store (prepared by the projections) and
 * keep serving when the database is down; the catalog is read from PostgreSQL. A private feed
 * (`deps.access.private`) checks credentials before any route runs.
 */
export function createReadApp(deps: ReadAppDeps): Koa {
  const { store, urls } = deps;
  const app = new Koa();
  const router = new Router();
  const notFound = (ctx: Koa.Context) => {
    ctx.status = 404;
    ctx.body = { error: { code: 'not_found', message: 'Not found.' } };
  };

  // Every key of a request is built from one resolved generation; a miss re-reads the pointer
  // once, in case the generation moved on (and the old one is gone) since it was cached.
  const generations = deps.generations ?? createGenerationResolver(store);
  const findBlob = async <T>(keyOf: (g: ResolvedGenerations) => string, fetch: (key: string) => Promise<T | undefined>): Promise<T | undefined> => {
    const seen = await generations.current();
    const found = await fetch(keyOf(seen));
    if (found !== undefined) return found;
    const newer = await generations.afterMiss(seen);
    return newer ? fetch(keyOf(newer)) : undefined;
  };
  const blobs: BlobSource = deps.localFiles !== undefined ? createLocalBlobReader(deps.localFiles) : createStoreBlobSource(store);
  const readBlob = (keyOf: (g: ResolvedGenerations) => string) => findBlob(keyOf, (key) => blobs.document(key));

  const serveJsonBlob = async (ctx: Koa.Context, keyOf: (g: ResolvedGenerations) => string, response: DocumentResponse) => {
    const doc = await readBlob(keyOf);
    if (!doc) return notFound(ctx);
    sendDocument(ctx, doc, response);
  };

  // Operations: /health, /ready and /metrics (ops.ts).
  const ops = createReadOps({
    db: deps.db,
    feedId: deps.feedId,
    servesSearch: deps.search !== undefined,
    ...(deps.downloads ? { downloads: deps.downloads } : {}),
    ...(deps.metrics ? { metrics: deps.metrics } : {}),
    ...(deps.shutdownSignal ? { shutdownSignal: deps.shutdownSignal } : {}),
    ...(deps.ready ? { maxLagSeconds: deps.ready.maxLagSeconds } : {}),
  });
  router.get('/health', ops.probes.health);
  router.get('/ready', ops.probes.ready);
  router.get('/metrics', ops.metrics.handler);

  const serviceIndex = buildServiceIndex(urls, deps.publishUrl, { search: deps.search !== undefined });
  if (deps.search) mountSearchRoutes(router, { search: deps.search, feedId: deps.feedId, urls });
  router.get('/v3/index.json', (ctx) => sendJson(ctx, serviceIndex, { cacheControl: 'public, max-age=300' }));

  // --- Flat container (PackageBaseAddress) ---
  router.get('/v3/flatcontainer/:id/index.json', async (ctx) => {
    const lowerId = lowerIdOrUndefined(ctx.params.id);
    if (!lowerId) return notFound(ctx);
    await serveJsonBlob(ctx, (g) => `${g.flatContainer}/${lowerId}/index.json`, JSON_SHORT);
  });
  router.get('/v3/flatcontainer/:id/:version/:file', async (ctx) => {
    const lowerId = lowerIdOrUndefined(ctx.params.id);
    const lowerVersion = lowerVersionOrUndefined(ctx.params.version);
    if (!lowerId || !lowerVersion) return notFound(ctx);
    const file = ctx.params.file!.toLowerCase();
    const dir = (g: ResolvedGenerations) => `${g.flatContainer}/${lowerId}/${lowerVersion}`;
    if (file === `${lowerId}.${lowerVersion}.nupkg`) {
      const found = await findBlob((g) => `${dir(g)}/${lowerId}.${lowerVersion}.nupkg`, (key) => blobs.blob(key));
      if (!found) return notFound(ctx);
      if (found instanceof BlobDocument) sendDocument(ctx, found, NUPKG);
      else sendLargeBlob(ctx, found, NUPKG);
      if (ctx.method === 'GET' && ctx.status === 200) ops.countDownload(lowerId, lowerVersion);
      return;
    }
    if (file === `${lowerId}.nuspec`) {
      const doc = await readBlob((g) => `${dir(g)}/${lowerId}.nuspec`);
      if (!doc) return notFound(ctx);
      return sendDocument(ctx, doc, { contentType: 'application/xml', cacheControl: IMMUTABLE });
    }
    if (file === 'icon' || file === 'readme') {
      const doc = await readBlob((g) => `${dir(g)}/${file}`);
      if (!doc) return notFound(ctx);
      const contentType = file === 'icon' ? sniffImageType(doc.bytes) : 'text/markdown; charset=utf-8';
      // Icons and READMEs are the package author's bytes: never let a browser sniff them into HTML.
      ctx.set('X-Content-Type-Options', 'nosniff');
      ctx.set('Content-Security-Policy', "default-src 'none'; sandbox");
      return sendDocument(ctx, doc, { contentType, cacheControl: IMMUTABLE });
    }
    return notFound(ctx);
  });

  // --- Registration hives (RegistrationsBaseUrl) ---
  const hive = (ctx: Koa.Context): HiveName | undefined => HIVES.find((h) => h === ctx.params.hive);
  router.get('/v3/:hive/:id/index.json', async (ctx) => {
    const h = hive(ctx);
    const lowerId = lowerIdOrUndefined(ctx.params.id);
    if (!h || !lowerId) return notFound(ctx);
    await serveJsonBlob(ctx, (g) => `${g.registrationRoot}${h}/${lowerId}/index.json`, registrationResponse(h));
  });
  router.get('/v3/:hive/:id/page/:lower/:upper', async (ctx) => {
    const h = hive(ctx);
    const lowerId = lowerIdOrUndefined(ctx.params.id);
    const upperRaw = ctx.params.upper!;
    const lower = lowerVersionOrUndefined(ctx.params.lower);
    const upper = upperRaw.endsWith('.json') ? lowerVersionOrUndefined(upperRaw.slice(0, -5)) : undefined;
    if (!h || !lowerId || !lower || !upper) return notFound(ctx);
    await serveJsonBlob(ctx, (g) => `${g.registrationRoot}${h}/${lowerId}/page/${lower}/${upper}.json`, registrationResponse(h));
  });
  router.get('/v3/:hive/:id/:leaf', async (ctx) => {
    const h = hive(ctx);
    const lowerId = lowerIdOrUndefined(ctx.params.id);
    const leaf = ctx.params.leaf!;
    const lowerVersion = leaf.endsWith('.json') ? lowerVersionOrUndefined(leaf.slice(0, -5)) : undefined;
    if (!h || !lowerId || !lowerVersion) return notFound(ctx);
    await serveJsonBlob(ctx, (g) => `${g.registrationRoot}${h}/${lowerId}/${lowerVersion}.json`, registrationResponse(h));
  });

  // --- Catalog ---
  router.get('/v3/catalog0/index.json', async (ctx) => {
    const pages = await listCatalogPages(deps.db, deps.feedId);
    sendJson(ctx, renderCatalogIndex(urls, pages), { cacheControl: REVALIDATE });
  });
  router.get('/v3/catalog0/:page', async (ctx) => {
    const match = /^page(0|[1-9][0-9]{0,8})\.json$/.exec(ctx.params.page!);
    if (!match) return notFound(ctx);
    const pageNumber = Number(match[1]);
    const items = await findCatalogPage(deps.db, deps.feedId, pageNumber);
    if (!items) return notFound(ctx);
    const pages = await listCatalogPages(deps.db, deps.feedId);
    const last = pages.length === 0 ? 0 : pages[pages.length - 1]!.pageNumber;
    // A page is full and never changes once a newer page exists.
    sendJson(ctx, renderCatalogPage(urls, { pageNumber, items }), { cacheControl: pageNumber < last ? IMMUTABLE : REVALIDATE });
  });
  router.get('/v3/catalog0/data/:stamp/:leaf', async (ctx) => {
    const m = /^(\d{4})\.(\d{2})\.(\d{2})\.(\d{2})\.(\d{2})\.(\d{2})\.(\d{3})$/.exec(ctx.params.stamp!);
    const leaf = ctx.params.leaf!;
    if (!m || !leaf.endsWith('.json') || leaf.length > 300) return notFound(ctx);
    const [, y, mo, d, h, mi, s, ms] = m.map(Number) as number[];
    const at = new Date(Date.UTC(y!, mo! - 1, d!, h!, mi!, s!, ms!));
    if (Number.isNaN(at.getTime())) return notFound(ctx);
    const item = await findCatalogLeaf(deps.db, deps.feedId, at, leaf.slice(0, -5).toLowerCase());
    if (!item) return notFound(ctx);
    sendJson(ctx, renderCatalogLeaf(urls, item), { cacheControl: IMMUTABLE });
  });

  // Projection cursors: lets a client wait until its push is restorable (read-your-writes).
  router.get('/v3/cursors.json', async (ctx) => {
    const cursors = await listCursors(deps.db, deps.feedId);
    ctx.set('Cache-Control', 'no-store');
    // Rebuild cursors (`flatcontainer@g2`) are not what readers are served from: left out.
    ctx.body = Object.fromEntries(Object.entries(cursors).filter(([k]) => !k.includes('@')).map(([k, v]) => [k, formatCatalogTimestamp(v)]));
  });

  app.use(ops.metrics.middleware);
  app.use(createRequestContext(deps.log));
  app.use(createErrorMiddleware());
  if (deps.access?.private) {
    app.use(
      createReadAuth({
        db: deps.db,
        feedId: deps.feedId,
        ...(deps.access.keyCacheTtlMs !== undefined ? { keyCacheTtlMs: deps.access.keyCacheTtlMs } : {}),
        ...(deps.access.keyCacheMaxEntries !== undefined ? { keyCacheMaxEntries: deps.access.keyCacheMaxEntries } : {}),
        ...(deps.access.failedKeyLimiter ? { failedKeyLimiter: deps.access.failedKeyLimiter } : {}),
      }),
    );
  }
  app.use(router.routes());
  app.use(router.allowedMethods());
  app.use(async (ctx) => {
    if (ctx.status === 404 && !ctx.body) notFound(ctx);
  });
  app.on('error', (err, ctx) => {
    (ctx?.state?.log ?? deps.log).error({ err }, 'request failed');
  });
  return app;
}
