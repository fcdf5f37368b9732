import { gunzipSync, gzipSync } from 'node:zlib';
import type { BlobStore } from '@nucat/storage';
import type { CatalogItem, FeedUrls, PackageDetailsData } from '@nucat/catalog';
import { compareVersions, parseVersion, type NuGetVersion } from '@nucat/nuget';
import { itemsChangedSince, runLimited, type ProjectionResult, type ProjectOptions } from '../shared/projection.js';
import { DEFAULT_MAX_INLINED_LEAVES, layoutRegistration, type HiveLayout, type RegistrationDocument } from './build-registration.js';

/** Dependencies of a registration projector. */
export interface RegistrationProjectorOptions {
  store: BlobStore;
  urls: FeedUrls;
  loadLatestItems(lowerId: string): Promise<CatalogItem[]>;
  /** Paging thresholds, for tests. */
  paging?: { maxInlinedLeaves?: number; leavesPerPage?: number };
  /**
   * Prefix of every hive's keys in the store, `""` or ending in `/` (`"g2/"` puts the hives under
   * `g2/registration5-*`). Document URLs do not change with it. @defaultValue ''
   */
  root?: string;
  /**
   * True: every write is durable when it resolves. False: writes are atomic and visible at once but
   * durable only after `store.sync()`, which the caller must await before it records the projection
   * as done (moves a cursor). @defaultValue true
   */
  durable?: boolean;
  /**
   * How long a page document stays after an index stops linking it, in milliseconds. A reader that
   * fetched the index a moment before (or holds it in its HTTP cache: the NuGet client keeps responses
   * for 30 minutes) still finds the page it links. 0 removes such pages at once. Measured against the
   * store's `lastModified`, so on the same clock as the store.
   * @defaultValue {@link DEFAULT_PAGE_GRACE_MS}
   */
  pageGraceMs?: number;
}

/**
 * One hour: twice the time the NuGet client keeps an HTTP response in its cache, so a client holding a
 * cached index never meets a removed page.
 */
export const DEFAULT_PAGE_GRACE_MS = 3_600_000;

/**
 * gzip level of the gz hives. Every writer must use the same one, or a rebuild is not byte-identical.
 * Level 6 (zlib's default) compresses a page of 64 leaves within a few percent of level 9 at a
 * fraction of the CPU time; leaves and indexes come out the same size.
 */
export const REGISTRATION_GZIP_LEVEL = 6;

/** Documents written at once for one id. */
const WRITE_CONCURRENCY = 8;

/**
 * Projects the three registration hives (RegistrationsBaseUrl) for one id.
 * https://learn.microsoft.com/nuget/api/registration-base-url-resource
 *
 * Documents are rebuilt from the catalog state; the gz hives are stored gzipped (deterministic
 * output, so a rebuild is byte-identical). Pages and leaves are written before the index that
 * points at them; documents the new index no longer references are removed afterwards. Page documents
 * are named by their bounds, so a version added to the last page renames it: the page the previous
 * index linked stays for {@link RegistrationProjectorOptions.pageGraceMs} after the new index replaces
 * it, for the readers that fetched the previous index. Before the new index goes up such pages are
 * rewritten with the same bytes, which starts their grace period (a store's `lastModified`); a page no
 * index links whose grace period is over is removed by the next projection of the id. The leaves of a
 * deleted version go at once: the version is gone.
 *
 * With {@link ProjectOptions.since}, only the documents the items after it can have changed are
 * written: the leaves of the versions whose latest item is newer, the page documents from the first
 * page that holds (or, for a deleted version, held) such a version to the last — an added or removed
 * version shifts every later page — and the index. Every page is written when the id may have had its
 * pages inlined before (no more than `maxInlinedLeaves` unchanged versions). So one more version of an
 * id with 1,000 costs its leaf, the last page or two and the index per hive, not 1,000 leaves.
 */
export function createRegistrationProjector(options: RegistrationProjectorOptions) {
  const { store, urls, loadLatestItems } = options;
  const root = options.root ?? '';
  if (root !== '' && !root.endsWith('/')) throw new Error(`registration root must be empty or end in '/', got '${root}'`);
  const maxInlinedLeaves = options.paging?.maxInlinedLeaves ?? DEFAULT_MAX_INLINED_LEAVES;
  const write = { durable: options.durable !== false };
  const pageGraceMs = options.pageGraceMs ?? DEFAULT_PAGE_GRACE_MS;
  if (!Number.isSafeInteger(pageGraceMs) || pageGraceMs < 0) throw new Error(`pageGraceMs must be a whole number ≥ 0, got ${pageGraceMs}`);

  return {
    async project(lowerId: string, projectOptions: ProjectOptions = {}): Promise<ProjectionResult> {
      const since = projectOptions.since;
      const items = await loadLatestItems(lowerId);
      const changed = itemsChangedSince(items, since);
      if (changed.length === 0 && since !== undefined) return { written: 0, deleted: 0 };
      const leaves = items
        .filter((i) => i.type === 'PackageDetails')
        .map((i) => ({
          commitId: i.commitId,
          commitTimestamp: i.commitTimestamp,
          lowerId: i.lowerId,
          lowerVersion: i.lowerVersion,
          data: i.data as PackageDetailsData,
        }));
      const layouts = layoutRegistration({ lowerId, leaves, urls, options: options.paging ?? {} });
      // Undefined: everything changed (no `since`).
      const changedVersions = since === undefined ? undefined : new Set(changed.map((i) => i.lowerVersion));
      const lowestChange = since === undefined ? undefined : lowest(changed.map((i) => parseVersion(i.lowerVersion)));

      let written = 0;
      let deleted = 0;
      const put = (doc: RegistrationDocument, layout: HiveLayout) => async () => {
        const json = Buffer.from(JSON.stringify(doc.json));
        await store.put(`${root}${layout.hive}/${doc.path}`, layout.gzip ? gzipSync(json, { level: REGISTRATION_GZIP_LEVEL }) : json, write);
        written += 1;
      };
      const remove = (key: string) => async () => {
        if (await store.delete(key, write)) deleted += 1;
      };
      const touch = async (key: string) => {
        const bytes = await store.read(key);
        if (bytes !== undefined) await store.put(key, bytes, write);
      };
      /** Removes a page document no index links, once its grace period is over. */
      const removePage = (key: string) => async () => {
        if (pageGraceMs > 0) {
          const info = await store.stat(key);
          if (info === undefined || info.lastModified.getTime() > Date.now() - pageGraceMs) return;
        }
        await remove(key)();
      };

      // 1. Leaves and pages of every hive, then 2. the indexes that link them.
      const content: (() => Promise<void>)[] = [];
      for (const layout of layouts) {
        if (layout.leaves.length === 0) continue;
        layout.leaves.forEach((leaf, i) => {
          if (changedVersions === undefined || changedVersions.has(leaf.lowerVersion)) content.push(() => put(layout.renderLeaf(i), layout)());
        });
        const firstPage = firstPageToWrite(layout, changedVersions, lowestChange, maxInlinedLeaves);
        for (let i = firstPage; i < layout.pages.length; i++) content.push(() => put(layout.renderPage(i), layout)());
      }
      await runLimited(content, WRITE_CONCURRENCY);
      // Pages the stored index links and the new one will not: their grace period starts now, before the
      // index that drops them goes up (a crash in between leaves them touched, which is harmless).
      if (pageGraceMs > 0) {
        const touches: (() => Promise<void>)[] = [];
        for (const layout of layouts) {
          if (layout.leaves.length === 0 || !mayHavePageDocuments(layout, changedVersions, maxInlinedLeaves)) continue;
          const idPrefix = `${root}${layout.hive}/${lowerId}/`;
          const linked = new Set(layout.pages.map((page) => `${root}${layout.hive}/${page.path}`));
          for (const key of await linkedPageKeys(store, idPrefix, layout.gzip)) {
            if (!linked.has(key)) touches.push(() => touch(key));
          }
        }
        await runLimited(touches, WRITE_CONCURRENCY);
      }
      await runLimited(
        layouts.filter((layout) => layout.leaves.length > 0).map((layout) => () => put(layout.renderIndex(), layout)()),
        WRITE_CONCURRENCY,
      );

      // 3. What no index links any more. A hive the id left loses its index first (404), then the rest.
      const removals: (() => Promise<void>)[] = [];
      for (const layout of layouts) {
        const idPrefix = `${root}${layout.hive}/${lowerId}/`;
        const indexKey = `${idPrefix}index.json`;
        if (layout.leaves.length === 0) {
          await remove(indexKey)();
          for await (const key of store.list(idPrefix)) removals.push(remove(key));
        } else if (changedVersions === undefined) {
          const wanted = new Set([
            indexKey,
            ...layout.pages.map((page) => `${root}${layout.hive}/${page.path}`),
            ...layout.leaves.map((leaf) => `${idPrefix}${leaf.lowerVersion}.json`),
          ]);
          for await (const key of store.list(idPrefix)) {
            if (!wanted.has(key)) removals.push(key.startsWith(`${idPrefix}page/`) ? removePage(key) : remove(key));
          }
        } else {
          const inHive = new Set(layout.leaves.map((leaf) => leaf.lowerVersion));
          for (const version of changedVersions) if (!inHive.has(version)) removals.push(remove(`${idPrefix}${version}.json`));
          if (mayHavePageDocuments(layout, changedVersions, maxInlinedLeaves)) {
            const pages = new Set(layout.pages.map((page) => `${root}${layout.hive}/${page.path}`));
            for await (const key of store.list(`${idPrefix}page/`)) if (!pages.has(key)) removals.push(removePage(key));
          }
        }
      }
      await runLimited(removals, WRITE_CONCURRENCY);
      return { written, deleted };
    },
  };
}

export type RegistrationProjector = ReturnType<typeof createRegistrationProjector>;

/**
 * Whether the id can have page documents in the hive: it has more than maxInlinedLeaves versions now,
 * or had before (at most the unchanged ones plus every changed one). Always, without a change set.
 */
function mayHavePageDocuments(layout: HiveLayout, changedVersions: ReadonlySet<string> | undefined, maxInlinedLeaves: number): boolean {
  if (changedVersions === undefined || !layout.inline) return true;
  return layout.leaves.length - countIn(layout, changedVersions) + changedVersions.size > maxInlinedLeaves;
}

/** `page/{lower}/{upper}.json`, bounds without a path separator or a leading dot. */
const PAGE_PATH = /^page\/[^/.][^/]*\/[^/.][^/]*\.json$/;

/**
 * The keys of the page documents the stored index under `idPrefix` links (none when there is no index,
 * its pages are inlined, or it cannot be read: a torn index is rewritten by this projection anyway).
 */
async function linkedPageKeys(store: BlobStore, idPrefix: string, gzip: boolean): Promise<string[]> {
  const bytes = await store.read(`${idPrefix}index.json`);
  if (bytes === undefined || bytes.length === 0) return [];
  let index: unknown;
  try {
    index = JSON.parse((gzip ? gunzipSync(bytes) : bytes).toString('utf8'));
  } catch {
    return [];
  }
  const items = (index as { items?: unknown } | null)?.items;
  if (!Array.isArray(items)) return [];
  const keys: string[] = [];
  for (const item of items as { '@id'?: unknown; items?: unknown }[]) {
    const url = item?.['@id'];
    if (item?.items !== undefined || typeof url !== 'string') continue;
    // `…/{lowerId}/page/{lower}/{upper}.json`: the key is the id prefix and what follows it.
    const at = url.lastIndexOf('/page/');
    const path = at >= 0 ? url.slice(at + 1) : '';
    if (PAGE_PATH.test(path)) keys.push(`${idPrefix}${path}`);
  }
  return keys;
}

/** How many of the hive's versions are in `versions`. */
function countIn(layout: HiveLayout, versions: ReadonlySet<string>): number {
  let count = 0;
  for (const leaf of layout.leaves) if (versions.has(leaf.lowerVersion)) count += 1;
  return count;
}

function lowest(versions: NuGetVersion[]): NuGetVersion | undefined {
  let min: NuGetVersion | undefined;
  for (const v of versions) if (min === undefined || compareVersions(v, min) < 0) min = v;
  return min;
}

/**
 * The first page document a change can have altered. Pages below the lowest changed version hold the
 * same versions as before (nothing below it was added, removed or changed) and are kept — unless the
 * stored layout may have been inlined (no page documents at all).
 */
function firstPageToWrite(
  layout: HiveLayout,
  changedVersions: ReadonlySet<string> | undefined,
  lowestChange: NuGetVersion | undefined,
  maxInlinedLeaves: number,
): number {
  if (layout.inline || changedVersions === undefined || lowestChange === undefined) return 0;
  if (layout.leaves.length - countIn(layout, changedVersions) <= maxInlinedLeaves) return 0;
  // Leaves ascend: count those below the lowest change.
  let lo = 0;
  let hi = layout.leaves.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (compareVersions(layout.leaves[mid]!.version, lowestChange) < 0) lo = mid + 1;
    else hi = mid;
  }
  return Math.floor(lo / layout.leavesPerPage);
}
