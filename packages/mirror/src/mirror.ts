import { randomUUID } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import type { Logger } from '@nucat/config';
import type { Db } from '@nucat/db';
import { deletePackage, ingestPackage, setListed, PackageMismatchError, type FeedDeps } from '@nucat/feed';
import type { BlobStore } from '@nucat/storage';
import { compareInstants, parseCatalogTimestamp, type CatalogInstant } from './catalog-timestamp.js';
import { InvalidMirrorOptionError, NotAPackageError } from './errors.js';
import { createHttpClient, type Download, type FetchFn, type HttpClientOptions } from './http-client.js';
import { compileIdGlobs } from './id-globs.js';
import {
  advanceMirrorCursor,
  clearMirrorConflict,
  loadMirrorState,
  recordMirrorConflict,
  recordMirrorError,
  recordSourceHead,
  type MirrorConflict,
} from './mirror-cursors.js';
import { mapPool, runPool } from './pool.js';
import {
  flatContainerNupkgUrl,
  readCatalogIndex,
  readCatalogPage,
  readDetailsLeaf,
  readServiceIndex,
  type SourceCatalogItem,
  type SourceDetailsLeaf,
  type SourceResources,
} from './source-documents.js';

/** Options of {@link createMirror}. */
export interface MirrorOptions {
  db: Db;
  store: BlobStore;
  /** The local feed the source is mirrored into. */
  feedId: number;
  /** The source feed's service index URL (another nucat, or any feed with a catalog in the official gallery's format). */
  source: string;
  /** Mirror only ids matching one of these globs (`Contoso.*`). @defaultValue every id */
  idGlobs?: readonly string[];
  /** Ids applied at the same time (each id's items stay in commit order). @defaultValue {@link DEFAULT_MIRROR_CONCURRENCY} */
  concurrency?: number;
  /** @defaultValue globalThis.fetch */
  fetch?: FetchFn;
  /**
   * Retry and timeout settings of the HTTP client, and whether it may fetch from link-local or cloud
   * metadata addresses (`allowLinkLocal`, off by default: such a source is refused).
   */
  http?: Omit<HttpClientOptions, 'fetch'>;
  log: Logger;
  /** Folder for packages being downloaded (best on the blob store's filesystem). @defaultValue the OS temp folder */
  tempDir?: string;
  /** Called after every item and at the end of each batch of pages. */
  onProgress?(progress: MirrorProgress): void;
  /** Catalog pages read and applied per batch (a batch's items are held in memory). @defaultValue 8 */
  pagesPerBatch?: number;
  /**
   * How long to keep asking for a package its catalog leaf names but the source's flat container does not
   * serve yet (feeds project their flat container from their catalog, so the leaf can come first).
   * @defaultValue 8000
   */
  waitForPackageMs?: number;
}

/** Counters of a run so far. */
export interface MirrorCounters {
  /** Catalog items the cursor moved over or that are done (applied, unchanged, skipped, conflicts). */
  itemsProcessed: number;
  /** Items that changed this feed (a version created, listed state changed, deleted). */
  applied: number;
  /** Items that needed no change here (already in line). */
  unchanged: number;
  /** Items not applied by design: outside the id globs, or superseded by a later item of the same version. */
  skipped: number;
  leavesFetched: number;
  packagesDownloaded: number;
  bytesDownloaded: number;
}

/** A snapshot of a run's progress, for a progress display. */
export interface MirrorProgress extends MirrorCounters {
  source: string;
  /** Items known to this run so far (grows batch by batch). */
  itemsKnown: number;
  conflicts: number;
  errors: number;
  /** The cursor (last source commit fully applied), catalog timestamp text. */
  cursor?: string;
  /** The source catalog's newest commit when this run read it. */
  head?: string;
  /** Seconds between `head` and `cursor`. */
  lagSeconds?: number;
  elapsedMs: number;
}

/** An item that could not be applied; the cursor stays before its commit. */
export interface MirrorItemError {
  id: string;
  version: string;
  type: 'PackageDetails' | 'PackageDelete';
  commitTimeStamp: string;
  /** The leaf URL. */
  url: string;
  /**
   * The error's stable code: `package_mismatch` (hash mismatch), `not_a_package` (a web page or other
   * non-zip bytes for a package path), `blocked_address` (a link-local or metadata host), `mirror_source`
   * (other answers of the source).
   */
  code: string;
  message: string;
}

/** The outcome of {@link Mirror.runOnce}. */
export interface MirrorRunResult extends MirrorCounters {
  /**
   * - `caught-up`: every commit up to the source's head is applied (for a nucat source: up to the commit
   *   its flat container has projected, which `lagSeconds` then counts);
   * - `partial`: stopped early (`maxItems` or the signal), nothing failed;
   * - `failed`: some items failed (see `errors`); the cursor stays before the first of them;
   * - `busy`: another run of the same mirror holds its lock; nothing was done.
   */
  outcome: 'caught-up' | 'partial' | 'failed' | 'busy';
  /** Conflicts found in this run (versions here with other bytes; skipped). */
  conflicts: MirrorConflict[];
  errors: MirrorItemError[];
  cursor?: string;
  head?: string;
  lagSeconds?: number;
  durationMs: number;
}

/** A mirror of one source into one feed. */
export interface Mirror {
  readonly source: string;
  /**
   * Applies the source's catalog from the stored cursor up to the head it finds (or `maxItems`
   * items, whole commits), moving the cursor after each run of whole commits is durable here.
   * Idempotent and resumable: a run that was killed is simply run again.
   * @throws MirrorSourceError when the service index or catalog index cannot be read; database errors.
   */
  runOnce(options?: { maxItems?: number; signal?: AbortSignal }): Promise<MirrorRunResult>;
  /**
   * Runs until `signal` aborts: {@link Mirror.runOnce}, then waits `intervalMs` when caught up
   * (at once again when partial; backing off up to 5 minutes after failures). Never throws:
   * failures are logged and retried.
   */
  follow(options: { intervalMs: number; signal: AbortSignal }): Promise<void>;
}

const DEFAULT_PAGES_PER_BATCH = 8;
/**
 * Ids applied at once by default. Each item waits on two requests to the source and a durable
 * ingest here, so throughput grows with concurrency until this machine's CPU or disk is the limit
 * (bench/mirror.ts on a 2-core VM: 69 leaves/s at 4, 104 at 16, 121 at 32, 104 at 64).
 */
export const DEFAULT_MIRROR_CONCURRENCY = 16;
const PAGE_CONCURRENCY = 4;
const DEFAULT_WAIT_FOR_PACKAGE_MS = 8_000;
const MAX_BACKOFF_MS = 5 * 60_000;

/** A commit of the source: items sharing one commit timestamp. */
interface SourceCommit {
  instant: CatalogInstant;
  items: SourceCatalogItem[];
}

interface LocalRow {
  id: string;
  normalized_version: string;
  listed: boolean;
  deleted: boolean;
  package_hash: string;
}

type ItemOutcome = 'applied' | 'unchanged' | 'skipped' | 'conflict';

function validateOptions(options: MirrorOptions): void {
  const concurrency = options.concurrency ?? DEFAULT_MIRROR_CONCURRENCY;
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) {
    throw new InvalidMirrorOptionError(`concurrency must be a whole number from 1 to 64, got ${concurrency}`, { concurrency });
  }
  const pagesPerBatch = options.pagesPerBatch ?? DEFAULT_PAGES_PER_BATCH;
  if (!Number.isInteger(pagesPerBatch) || pagesPerBatch < 1) {
    throw new InvalidMirrorOptionError(`pagesPerBatch must be a positive whole number, got ${pagesPerBatch}`, { pagesPerBatch });
  }
  let url: URL;
  try {
    url = new URL(options.source);
  } catch {
    throw new InvalidMirrorOptionError(`the source '${options.source}' is not a URL; give the feed's service index URL`, { source: options.source });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InvalidMirrorOptionError(`the source '${options.source}' is not an http(s) URL`, { source: options.source });
  }
}

/**
 * Creates a mirror that follows `source`'s catalog into the local feed: per PackageDetails leaf it
 * downloads the `.nupkg` from the source's flat container, checks it against the leaf's
 * `packageHash`, and ingests it here with the leaf's listed state (an existing version with the
 * same bytes only gets its listed state brought in line; one with other bytes is a conflict,
 * recorded and skipped); per PackageDelete it deletes the version here.
 *
 * The cursor rule is the catalog's (https://learn.microsoft.com/nuget/api/catalog-resource#cursor):
 * pages with `commitTimeStamp > cursor`, items with `cursor < commitTimeStamp ≤ head`, in
 * timestamp order, whole commits; the cursor (table `mirror_cursors`, per feed and source URL)
 * moves only past commits whose items are all durable here. Items of one id are applied in
 * commit order; different ids run concurrently. Only one run per (feed, source) at a time
 * (PostgreSQL advisory lock); a second one returns `busy`.
 *
 * @throws InvalidMirrorOptionError (code `invalid_mirror_option`) for a bad concurrency, source URL or id glob.
 */
export function createMirror(options: MirrorOptions): Mirror {
  validateOptions(options);
  const { db, feedId, source } = options;
  const log = options.log.child({ mirror: source });
  const concurrency = options.concurrency ?? DEFAULT_MIRROR_CONCURRENCY;
  const matches = compileIdGlobs(options.idGlobs);
  const http = createHttpClient({ ...options.http, ...(options.fetch ? { fetch: options.fetch } : {}) });
  const tempDir = options.tempDir ?? tmpdir();
  const deps: FeedDeps = { db, store: options.store, feedId };
  const lockKey = `${feedId} ${source}`;
  const pagesPerBatch = options.pagesPerBatch ?? DEFAULT_PAGES_PER_BATCH;
  const waitForPackageMs = options.waitForPackageMs ?? DEFAULT_WAIT_FOR_PACKAGE_MS;

  /**
   * The flat container cursor a nucat source publishes next to its service index (`…/v3/cursors.json`);
   * undefined for other feeds (404, or not that document).
   */
  async function readFlatContainerBound(serviceIndexUrl: string): Promise<CatalogInstant | undefined> {
    if (!/\/index\.json$/.test(new URL(serviceIndexUrl).pathname)) return undefined;
    try {
      const document = await http.findJson(new URL('cursors.json', serviceIndexUrl).href);
      const value = (document as { flatcontainer?: unknown } | undefined)?.flatcontainer;
      return typeof value === 'string' ? parseCatalogTimestamp(value) : undefined;
    } catch {
      return undefined;
    }
  }

  async function runOnce(runOptions: { maxItems?: number; signal?: AbortSignal } = {}): Promise<MirrorRunResult> {
    const started = Date.now();
    const counters: MirrorCounters = { itemsProcessed: 0, applied: 0, unchanged: 0, skipped: 0, leavesFetched: 0, packagesDownloaded: 0, bytesDownloaded: 0 };
    // One connection holds the advisory lock for the whole run; the work itself uses the pool.
    return db.connection().execute(async (conn) => {
      const locked = await sql<{ locked: boolean }>`SELECT pg_try_advisory_lock(hashtext('nucat-mirror'), hashtext(${lockKey})) AS locked`.execute(conn);
      if (!locked.rows[0]?.locked) {
        log.info({}, 'another run of this mirror is in progress');
        return { ...counters, outcome: 'busy', conflicts: [], errors: [], durationMs: Date.now() - started };
      }
      try {
        const result = await run(runOptions, counters, started);
        await recordMirrorError(db, feedId, source, result.errors[0] ? `${result.errors[0].code}: ${result.errors[0].message}` : undefined);
        return result;
      } catch (error) {
        await recordMirrorError(db, feedId, source, error instanceof Error ? error.message : String(error)).catch(() => {});
        throw error;
      } finally {
        await sql`SELECT pg_advisory_unlock(hashtext('nucat-mirror'), hashtext(${lockKey}))`.execute(conn);
      }
    });
  }

  async function run(runOptions: { maxItems?: number; signal?: AbortSignal }, counters: MirrorCounters, started: number): Promise<MirrorRunResult> {
    const { signal } = runOptions;
    await mkdir(tempDir, { recursive: true });
    const state = await loadMirrorState(db, feedId, source);
    const knownConflicts = new Set(state.conflicts.map((c) => `${c.lowerId}/${c.lowerVersion}`));
    let cursor = state.cursor;
    const conflicts: MirrorConflict[] = [];
    const errors: MirrorItemError[] = [];
    let itemsKnown = 0;

    const resources = readServiceIndex(await http.getJson(source), source);
    const index = readCatalogIndex(await http.getJson(resources.catalogIndexUrl), resources.catalogIndexUrl);
    const head = index.head;
    await recordSourceHead(db, feedId, source, head);

    // Before the first commit is applied, the lag runs from the oldest commit still to apply.
    let oldestPending: CatalogInstant | undefined;
    const lagSeconds = (): number | undefined => {
      const from = cursor ?? oldestPending;
      return head ? Math.max(0, (head.ms - (from?.ms ?? head.ms)) / 1000) : undefined;
    };
    const finish = (outcome: MirrorRunResult['outcome']): MirrorRunResult => ({
      ...counters,
      outcome,
      conflicts,
      errors,
      ...(cursor ? { cursor: cursor.text } : {}),
      ...(head ? { head: head.text } : {}),
      ...(head ? { lagSeconds: lagSeconds()! } : {}),
      durationMs: Date.now() - started,
    });
    const progress = (): void => {
      options.onProgress?.({
        ...counters,
        source,
        itemsKnown,
        conflicts: conflicts.length,
        errors: errors.length,
        ...(cursor ? { cursor: cursor.text } : {}),
        ...(head ? { head: head.text, lagSeconds: lagSeconds()! } : {}),
        elapsedMs: Date.now() - started,
      });
    };

    // The upper bound: the head, or earlier when the source says its flat container has not projected
    // that far yet (a nucat source's /v3/cursors.json), so packages are not asked for before they are served.
    const bound = head && !(cursor && compareInstants(cursor, head) >= 0) ? await readFlatContainerBound(source) : undefined;
    let upper = head && bound && compareInstants(bound, head) < 0 ? bound : head;
    if (!head || !upper || (cursor && compareInstants(cursor, upper) >= 0)) {
      progress();
      return finish('caught-up');
    }
    log.info({ cursor: cursor?.text ?? null, head: head.text, ...(upper !== head ? { upTo: upper.text } : {}) }, 'mirror run started');

    let budget = runOptions.maxItems ?? Number.POSITIVE_INFINITY;
    const lookAheadCache = new Map<string, SourceCatalogItem[]>();

    /** Applies the items after the cursor up to `upTo` (≤ head); an outcome when the run must end there. */
    const applyUpTo = async (upTo: CatalogInstant): Promise<MirrorRunResult['outcome'] | undefined> => {
      const pages = index.pages.filter((p) => !cursor || compareInstants(p.commitTimeStamp, cursor) > 0);
      let carried: SourceCatalogItem[] = [];
      const startCursor = cursor;
      for (let first = 0; first < pages.length; first += pagesPerBatch) {
        if (signal?.aborted) return 'partial';
        const batchPages = pages.slice(first, first + pagesPerBatch);
        const lastBatch = first + pagesPerBatch >= pages.length;
        const pageItems = await mapPool(batchPages, PAGE_CONCURRENCY, async (p) => readCatalogPage(await http.getJson(p.url), p.url));
        const fresh = pageItems.flat().filter((item) => !startCursor || compareInstants(item.commitTimeStamp, startCursor) > 0);
        const items = [...carried, ...fresh.filter((item) => compareInstants(item.commitTimeStamp, upTo) <= 0)];
        // Read already, for a later round: what they delete or replace is not worth waiting for now.
        const beyond = fresh.filter((item) => compareInstants(item.commitTimeStamp, upTo) > 0);
        let commits = groupCommits(items);
        oldestPending ??= commits[0]?.instant;
        // A commit is never split across pages by nucat or the official gallery, but hold the batch's last commit back
        // until the next batch anyway: its items could continue on the next page.
        carried = [];
        if (!lastBatch && commits.length > 0) carried = commits.pop()!.items;

        let cut = false;
        const notTaken: SourceCatalogItem[] = [];
        if (budget !== Number.POSITIVE_INFINITY) {
          const taken: SourceCommit[] = [];
          for (const commit of commits) {
            if (budget <= 0) {
              cut = true;
              notTaken.push(...commit.items);
              continue;
            }
            taken.push(commit);
            budget -= commit.items.length;
          }
          commits = taken;
        }
        itemsKnown += commits.reduce((n, c) => n + c.items.length, 0);

        const laterPages = pages.slice(first + pagesPerBatch);
        const heldBack = [...carried, ...notTaken, ...beyond];
        const supersededLater = async (item: SourceCatalogItem): Promise<boolean> => {
          const later = (other: SourceCatalogItem): boolean =>
            other.lowerId === item.lowerId &&
            other.lowerVersion === item.lowerVersion &&
            compareInstants(other.commitTimeStamp, item.commitTimeStamp) > 0 &&
            compareInstants(other.commitTimeStamp, head) <= 0;
          if (heldBack.some(later)) return true;
          for (const page of laterPages) {
            let found = lookAheadCache.get(page.url);
            if (!found) {
              found = readCatalogPage(await http.getJson(page.url), page.url);
              lookAheadCache.set(page.url, found);
            }
            if (found.some(later)) return true;
          }
          return false;
        };
        const batch = await applyCommits(commits, { counters, conflicts, errors, knownConflicts, resources, signal, progress, supersededLater }, (instant) => {
          cursor = instant;
        });
        progress();
        log.info({ items: batch.items, cursor: cursor?.text ?? null, applied: counters.applied, conflicts: conflicts.length, errors: errors.length }, 'mirrored batch');
        if (errors.length > 0) return 'failed';
        if (batch.aborted) return 'partial';
        if (cut || (budget <= 0 && (carried.length > 0 || !lastBatch))) return 'partial';
      }
      return undefined;
    };

    for (;;) {
      const outcome = await applyUpTo(upper);
      if (outcome) return finish(outcome);
      if (compareInstants(upper, head) >= 0) return finish('caught-up');
      // The source's flat container was behind its catalog (it projects continuously): wait for it to
      // move on, then take the rest up to the head read at the start. It not moving is not an error
      // here: the cursor is exact, and the next run goes on from it.
      const next = await waitForBoundPast(upper, signal);
      if (!next) {
        log.info({ head: head.text, upTo: upper.text }, "the source's flat container did not move on; the rest is for the next run");
        return finish('partial');
      }
      upper = compareInstants(next, head) < 0 ? next : head;
      log.info({ upTo: upper.text }, "the source's flat container moved on");
    }
  }

  /** Polls the source's flat container cursor until it passes `after` (up to `waitForPackageMs`); undefined if it did not. */
  async function waitForBoundPast(after: CatalogInstant, signal: AbortSignal | undefined): Promise<CatalogInstant | undefined> {
    const deadline = Date.now() + waitForPackageMs;
    for (let delay = 50; ; delay = Math.min(delay * 2, 250)) {
      const bound = await readFlatContainerBound(source);
      if (!bound) return undefined;
      if (compareInstants(bound, after) > 0) return bound;
      if (Date.now() + delay > deadline || signal?.aborted) return undefined;
      await sleep(delay);
    }
  }

  interface BatchContext {
    counters: MirrorCounters;
    conflicts: MirrorConflict[];
    errors: MirrorItemError[];
    knownConflicts: Set<string>;
    resources: SourceResources;
    signal: AbortSignal | undefined;
    progress(): void;
    /** Whether the source has a later item for the same id+version beyond this batch (it was deleted or replaced). */
    supersededLater(item: SourceCatalogItem): Promise<boolean>;
  }

  /**
   * Applies whole commits: each id's items in order, ids concurrently. The cursor follows the
   * oldest commit that still has an item in flight (a low-water mark), so it never passes an item
   * that is not durable, and it is saved as it moves.
   */
  async function applyCommits(
    commits: SourceCommit[],
    ctx: BatchContext,
    onCursor: (instant: CatalogInstant) => void,
  ): Promise<{ items: number; aborted: boolean }> {
    const pending = commits.map((c) => c.items.length);
    const commitIndex = new Map<SourceCatalogItem, number>();
    commits.forEach((c, n) => c.items.forEach((item) => commitIndex.set(item, n)));
    let lowWater = 0;
    let appliedSinceSave = 0;
    const saver = createSaver(async () => {
      const n = appliedSinceSave;
      appliedSinceSave = 0;
      await advanceMirrorCursor(db, feedId, source, lowWater > 0 ? commits[lowWater - 1]!.instant : undefined, n);
    });
    const done = (item: SourceCatalogItem): void => {
      ctx.counters.itemsProcessed += 1;
      pending[commitIndex.get(item)!]! -= 1;
      const before = lowWater;
      while (lowWater < commits.length && pending[lowWater] === 0) lowWater += 1;
      if (lowWater > before) {
        onCursor(commits[lowWater - 1]!.instant);
        saver.request();
      }
      ctx.progress();
    };
    // Commits with no items cannot exist, but a batch of none is possible.
    const all = commits.flatMap((c) => c.items);

    // Outside the id globs, or superseded by a later item of the same version in this batch (the
    // cursor rule allows keeping only the latest per id+version): done without work.
    const latest = new Map<string, SourceCatalogItem>();
    for (const item of all) if (matches(item.id)) latest.set(`${item.lowerId}/${item.lowerVersion}`, item);
    const byId = new Map<string, SourceCatalogItem[]>();
    for (const item of all) {
      if (latest.get(`${item.lowerId}/${item.lowerVersion}`) !== item) {
        ctx.counters.skipped += 1;
        done(item);
        continue;
      }
      const list = byId.get(item.lowerId);
      if (list) list.push(item);
      else byId.set(item.lowerId, [item]);
    }

    let aborted = false;
    await runPool([...byId.values()], concurrency, async (items) => {
      for (const item of items) {
        if (ctx.signal?.aborted) {
          aborted = true;
          return;
        }
        try {
          const outcome = await applyItem(item, ctx);
          if (outcome === 'applied') {
            ctx.counters.applied += 1;
            appliedSinceSave += 1;
          } else if (outcome === 'unchanged') {
            ctx.counters.unchanged += 1;
          } else if (outcome === 'skipped') {
            ctx.counters.skipped += 1;
          }
          done(item);
        } catch (error) {
          const failure = describeError(item, error);
          ctx.errors.push(failure);
          log.warn({ id: item.id, version: item.version, commitTimeStamp: item.commitTimeStamp.text, code: failure.code, err: failure.message }, 'mirror item failed');
          ctx.progress();
          return; // later items of this id wait for the next run
        }
      }
    });
    if (appliedSinceSave > 0) saver.request(); // counts of items applied in commits the cursor could not pass
    await saver.flush();
    return { items: all.length, aborted };
  }

  async function findLocal(lowerId: string, lowerVersion: string): Promise<LocalRow | undefined> {
    return db
      .selectFrom('packages')
      .select(['id', 'normalized_version', 'listed', 'deleted', 'package_hash'])
      .where('feed_id', '=', feedId)
      .where('lower_id', '=', lowerId)
      .where('lower_version', '=', lowerVersion)
      .executeTakeFirst();
  }

  async function applyItem(item: SourceCatalogItem, ctx: BatchContext): Promise<ItemOutcome> {
    const key = `${item.lowerId}/${item.lowerVersion}`;
    if (item.type === 'PackageDelete') {
      const result = await deletePackage(deps, { id: item.id, version: item.version });
      if (ctx.knownConflicts.delete(key)) await clearMirrorConflict(db, feedId, source, item.lowerId, item.lowerVersion);
      log.debug({ id: item.id, version: item.version, result: result.kind }, 'mirrored delete');
      return result.kind === 'deleted' ? 'applied' : 'unchanged';
    }

    const leaf = readDetailsLeaf(await http.getJson(item.url), item.url);
    ctx.counters.leavesFetched += 1;
    const existing = await findLocal(item.lowerId, item.lowerVersion);
    if (existing) return reconcile(item, leaf, existing, ctx);

    const url = flatContainerNupkgUrl(ctx.resources.flatContainerBase, item.lowerId, item.lowerVersion);
    const file = join(tempDir, `mirror-${randomUUID()}.nupkg`);
    try {
      const downloadOptions = leaf.packageSize !== undefined ? { maxBytes: leaf.packageSize } : {};
      let download;
      let waited = 0;
      for (let attempt = 0; ; attempt++) {
        try {
          download = await http.download(url, file, downloadOptions);
          break;
        } catch (error) {
          if ((error as { details?: { status?: unknown } }).details?.status !== 404) throw error;
          // Gone from the source's flat container: fine when a later commit deletes or replaces the
          // version (this batch did not reach it). Otherwise it is not there yet: feeds project their
          // flat container from their catalog (nucat and the official gallery alike), so the leaf can come first.
          if (attempt === 0 && (await ctx.supersededLater(item))) return 'skipped';
          const delay = 100 * 2 ** attempt;
          waited += delay;
          if (waited > waitForPackageMs || ctx.signal?.aborted) throw error;
          await sleep(delay);
        }
      }
      ctx.counters.packagesDownloaded += 1;
      ctx.counters.bytesDownloaded += download.size;
      // A web page (an error or login page answered with 200) is never a package, whatever the hash says.
      assertPackageBytes(url, download);
      if (download.sha512 !== leaf.packageHash) {
        throw new PackageMismatchError(`${url} has SHA-512 ${download.sha512}, but its catalog leaf ${item.url} says ${leaf.packageHash}; not ingested`, {
          url,
          leaf: item.url,
          expected: leaf.packageHash,
          actual: download.sha512,
        });
      }
      let result;
      try {
        result = await ingestPackage(deps, {
          file,
          sha512: download.sha512,
          size: download.size,
          listed: leaf.listed,
          expectedHash: leaf.packageHash,
          expectedIdentity: { id: item.id, version: item.version },
        });
      } catch (error) {
        if ((error as { code?: unknown }).code === 'invalid_package') {
          // Refused by this feed's validation: retrying can never succeed, so record it and move on.
          await addConflict(item, leaf, '', 'invalid-package', ctx, (error as Error).message);
          return 'conflict';
        }
        throw error;
      }
      if (result.kind === 'created') {
        log.debug({ id: item.id, version: item.version, listed: leaf.listed }, 'mirrored package');
        if (ctx.knownConflicts.delete(key)) await clearMirrorConflict(db, feedId, source, item.lowerId, item.lowerVersion);
        return 'applied';
      }
      const raced = await findLocal(item.lowerId, item.lowerVersion);
      if (!raced) throw new Error(`${item.id} ${item.version} exists and does not exist`);
      return reconcile(item, leaf, raced, ctx);
    } finally {
      await rm(file, { force: true });
    }
  }

  /** An existing (or deleted) version here: bring its listed state in line, or record a conflict. */
  async function reconcile(item: SourceCatalogItem, leaf: SourceDetailsLeaf, row: LocalRow, ctx: BatchContext): Promise<ItemOutcome> {
    if (row.deleted) {
      // Same bytes: a replay of a version deleted later at the source (or deleted here on purpose).
      if (row.package_hash === leaf.packageHash) return 'unchanged';
      await addConflict(item, leaf, row.package_hash, 'deleted-here', ctx);
      return 'conflict';
    }
    if (row.package_hash !== leaf.packageHash) {
      await addConflict(item, leaf, row.package_hash, 'different-bytes', ctx);
      return 'conflict';
    }
    const change = await setListed(deps, { id: row.id, version: row.normalized_version }, leaf.listed);
    const key = `${item.lowerId}/${item.lowerVersion}`;
    if (ctx.knownConflicts.delete(key)) await clearMirrorConflict(db, feedId, source, item.lowerId, item.lowerVersion);
    return change.commit ? 'applied' : 'unchanged';
  }

  async function addConflict(
    item: SourceCatalogItem,
    leaf: SourceDetailsLeaf,
    localHash: string,
    reason: MirrorConflict['reason'],
    ctx: BatchContext,
    message?: string,
  ): Promise<void> {
    const conflict: MirrorConflict = {
      id: item.id,
      version: item.version,
      lowerId: item.lowerId,
      lowerVersion: item.lowerVersion,
      reason,
      sourceHash: leaf.packageHash,
      localHash,
      commitTimeStamp: item.commitTimeStamp.text,
      detectedAt: new Date().toISOString(),
      ...(message ? { message } : {}),
    };
    await recordMirrorConflict(db, feedId, source, conflict);
    ctx.knownConflicts.add(`${item.lowerId}/${item.lowerVersion}`);
    ctx.conflicts.push(conflict);
    log.warn({ id: item.id, version: item.version, reason }, 'mirror conflict: version skipped');
  }

  async function follow(followOptions: { intervalMs: number; signal: AbortSignal }): Promise<void> {
    const { intervalMs, signal } = followOptions;
    if (!Number.isFinite(intervalMs) || intervalMs < 0) throw new InvalidMirrorOptionError(`intervalMs must be a non-negative number, got ${intervalMs}`);
    let failures = 0;
    while (!signal.aborted) {
      let outcome: MirrorRunResult['outcome'] | 'error';
      try {
        outcome = (await runOnce({ signal })).outcome;
      } catch (error) {
        outcome = 'error';
        log.error({ err: error instanceof Error ? error.message : String(error) }, 'mirror run failed');
      }
      if (signal.aborted) break;
      if (outcome === 'partial') continue;
      failures = outcome === 'failed' || outcome === 'error' ? failures + 1 : 0;
      const delay = failures === 0 ? intervalMs : Math.min(MAX_BACKOFF_MS, Math.max(intervalMs, 1000) * 2 ** (failures - 1));
      await sleep(delay, undefined, { signal }).catch(() => {});
    }
  }

  return { source, runOnce, follow };
}

/**
 * Follows `source` into the local feed until `signal` aborts (see {@link Mirror.follow}). For a
 * long-running process such as the worker:
 *
 * @example
 * const controller = new AbortController();
 * const following = followMirror({ db, store, feedId, source: process.env.NUCAT_MIRROR_SOURCE!, log, intervalMs: 5_000, signal: controller.signal });
 * // on shutdown: controller.abort(); await following;
 */
export function followMirror(options: MirrorOptions & { intervalMs: number; signal: AbortSignal }): Promise<void> {
  const { intervalMs, signal, ...mirrorOptions } = options;
  return createMirror(mirrorOptions).follow({ intervalMs, signal });
}

/** Media types of documents, never of a package: `text/*`, HTML, XHTML, XML, JSON (`+json`/`+xml` too). */
const DOCUMENT_TYPE = /^(text\/|[^;]*[/+](html|xhtml|xml|json)\s*(;|$))/i;
/** A `.nupkg` is a zip whose first entry's local header starts the file. */
const ZIP_LOCAL_HEADER = Buffer.from([0x50, 0x4b, 0x03, 0x04]);

/**
 * Refuses a download that cannot be a `.nupkg`: one served as a document (HTML, JSON, text) or whose
 * bytes do not start with a zip local file header (reliability.md #44: never store a web page as a
 * package).
 * @throws NotAPackageError (code `not_a_package`).
 */
function assertPackageBytes(url: string, download: Download): void {
  const contentType = download.contentType?.trim();
  const documentType = contentType !== undefined && DOCUMENT_TYPE.test(contentType);
  const zip = download.leading.subarray(0, 4).equals(ZIP_LOCAL_HEADER);
  if (!documentType && zip) return;
  const leading = download.leading.toString('latin1').replace(/[^\x20-\x7e]/g, '.');
  const what = documentType ? `a ${contentType} document` : 'bytes that are not a zip';
  throw new NotAPackageError(
    `${url} answered ${what} (${download.size} bytes starting "${leading}"), not a .nupkg; not ingested`,
    { url, contentType: contentType ?? null, leading, size: download.size },
  );
}

function groupCommits(items: SourceCatalogItem[]): SourceCommit[] {
  const sorted = [...items].sort((a, b) => compareInstants(a.commitTimeStamp, b.commitTimeStamp));
  const commits: SourceCommit[] = [];
  for (const item of sorted) {
    const last = commits[commits.length - 1];
    if (last && compareInstants(last.instant, item.commitTimeStamp) === 0) last.items.push(item);
    else commits.push({ instant: item.commitTimeStamp, items: [item] });
  }
  return commits;
}

function describeError(item: SourceCatalogItem, error: unknown): MirrorItemError {
  const code = typeof (error as { code?: unknown })?.code === 'string' ? (error as { code: string }).code : 'error';
  return {
    id: item.id,
    version: item.version,
    type: item.type,
    commitTimeStamp: item.commitTimeStamp.text,
    url: item.url,
    code,
    message: error instanceof Error ? error.message : String(error),
  };
}

/** Serialises cursor saves: at most one in flight, the latest request always written. */
function createSaver(save: () => Promise<void>): { request(): void; flush(): Promise<void> } {
  let dirty = false;
  let running: Promise<void> | undefined;
  let failure: { error: unknown } | undefined;
  const loop = async (): Promise<void> => {
    try {
      while (dirty) {
        dirty = false;
        await save();
      }
    } catch (error) {
      failure ??= { error };
    } finally {
      running = undefined;
    }
  };
  return {
    request() {
      dirty = true;
      running ??= loop();
    },
    async flush() {
      while (running) await running;
      if (failure) throw failure.error;
    },
  };
}
