import { InvalidCatalogInputError } from './errors.js';
import type { FeedUrls } from './feed-urls.js';
import { byCodeUnit } from './json-order.js';
import { catalogLeafUrl } from './leaf.js';
import type { CatalogItem } from './package-details.js';
import { formatCatalogTimestamp } from './timestamps.js';

const XSD_DATE_TIME = 'http://www.w3.org/2001/XMLSchema#dateTime';

/** JSON-LD context shared by the catalog index and pages. */
const INDEX_CONTEXT = {
  '@vocab': 'http://schema.nuget.org/catalog#',
  nuget: 'http://schema.nuget.org/schema#',
  items: { '@id': 'item', '@container': '@set' },
  parent: { '@type': '@id' },
  commitTimeStamp: { '@type': XSD_DATE_TIME },
  'nuget:lastCreated': { '@type': XSD_DATE_TIME },
  'nuget:lastEdited': { '@type': XSD_DATE_TIME },
  'nuget:lastDeleted': { '@type': XSD_DATE_TIME },
} as const;

/** `commitId` of an empty catalog's index (no commit yet). */
export const EMPTY_CATALOG_COMMIT_ID = '00000000-0000-0000-0000-000000000000';

/** `commitTimeStamp` of an empty catalog's index: .NET's DateTime.MinValue, 0001-01-01. */
export const EMPTY_CATALOG_COMMIT_TIMESTAMP: Date = (() => {
  const d = new Date(0);
  d.setUTCFullYear(1, 0, 1);
  return d;
})();

/** URL of the catalog index: `{catalogBase}index.json`. */
export function catalogIndexUrl(urls: FeedUrls): string {
  return `${urls.catalogBase}index.json`;
}

/** URL of catalog page `pageNumber` (from 0): `{catalogBase}page{N}.json`. */
export function catalogPageUrl(urls: FeedUrls, pageNumber: number): string {
  if (!Number.isSafeInteger(pageNumber) || pageNumber < 0) {
    throw new InvalidCatalogInputError(`A catalog page number must be a non-negative integer, got ${pageNumber}.`, { pageNumber });
  }
  return `${urls.catalogBase}page${pageNumber}.json`;
}

/**
 * Renders one catalog page. Items are written in commit order (then id, then version), and the
 * page's `commitId`/`commitTimeStamp` are those of its newest item. Item `@type` is a plain string
 * (`nuget:PackageDetails` / `nuget:PackageDelete`), which catalog readers require.
 *
 * @see https://learn.microsoft.com/en-us/nuget/api/catalog-resource#catalog-page
 * @throws InvalidCatalogInputError when the page has no items (a page is never empty).
 */
export function renderCatalogPage(urls: FeedUrls, page: { pageNumber: number; items: CatalogItem[] }): object {
  if (page.items.length === 0) {
    throw new InvalidCatalogInputError(`Catalog page ${page.pageNumber} has no items.`, { pageNumber: page.pageNumber });
  }
  const items = [...page.items].sort(compareItems);
  const newest = items[items.length - 1]!;
  return {
    '@id': catalogPageUrl(urls, page.pageNumber),
    '@type': 'CatalogPage',
    commitId: newest.commitId,
    commitTimeStamp: formatCatalogTimestamp(newest.commitTimestamp),
    count: items.length,
    parent: catalogIndexUrl(urls),
    items: items.map((item) => ({
      '@id': catalogLeafUrl(urls, item),
      '@type': item.type === 'PackageDelete' ? 'nuget:PackageDelete' : 'nuget:PackageDetails',
      commitId: item.commitId,
      commitTimeStamp: formatCatalogTimestamp(item.commitTimestamp),
      'nuget:id': item.data.id,
      'nuget:version': item.data.version,
    })),
    '@context': INDEX_CONTEXT,
  };
}

/**
 * Renders the catalog index from a summary of each page. Pages are listed by number; the index's
 * `commitId`/`commitTimeStamp` are those of the newest page. With no pages (nothing committed yet)
 * the index has `count` 0, the all-zero commit id and the timestamp 0001-01-01.
 *
 * @see https://learn.microsoft.com/en-us/nuget/api/catalog-resource#catalog-index
 */
export function renderCatalogIndex(
  urls: FeedUrls,
  pages: { pageNumber: number; count: number; commitId: string; commitTimestamp: Date }[],
): object {
  const sorted = [...pages].sort((a, b) => a.pageNumber - b.pageNumber);
  let newest: { commitId: string; commitTimestamp: Date } = {
    commitId: EMPTY_CATALOG_COMMIT_ID,
    commitTimestamp: EMPTY_CATALOG_COMMIT_TIMESTAMP,
  };
  for (const p of sorted) {
    if (compareCommits(p, newest) > 0) newest = p;
  }
  return {
    '@id': catalogIndexUrl(urls),
    '@type': ['CatalogRoot', 'AppendOnlyCatalog', 'Permalink'],
    commitId: newest.commitId,
    commitTimeStamp: formatCatalogTimestamp(newest.commitTimestamp),
    count: sorted.length,
    items: sorted.map((p) => ({
      '@id': catalogPageUrl(urls, p.pageNumber),
      '@type': 'CatalogPage',
      commitId: p.commitId,
      commitTimeStamp: formatCatalogTimestamp(p.commitTimestamp),
      count: p.count,
    })),
    '@context': INDEX_CONTEXT,
  };
}

function compareCommits(a: { commitId: string; commitTimestamp: Date }, b: { commitId: string; commitTimestamp: Date }): number {
  return a.commitTimestamp.getTime() - b.commitTimestamp.getTime() || byCodeUnit(a.commitId, b.commitId);
}

function compareItems(a: CatalogItem, b: CatalogItem): number {
  return (
    compareCommits(a, b) ||
    byCodeUnit(a.lowerId, b.lowerId) ||
    byCodeUnit(a.lowerVersion, b.lowerVersion) ||
    byCodeUnit(a.type, b.type)
  );
}
