import { sql, type Kysely } from 'kysely';
import type { Database } from '@nucat/db';
import type { CatalogItem, PackageDeleteData, PackageDetailsData } from './documents/index.js';

type Reader = Kysely<Database>;

/** A `catalog_items` row as the readers select it. */
export interface CatalogItemRow {
  commit_id: string;
  commit_timestamp: Date;
  type: 'PackageDetails' | 'PackageDelete';
  lower_id: string;
  lower_version: string;
  data: unknown;
}

/** The catalog item of a selected `catalog_items` row. */
export function rowToCatalogItem(row: CatalogItemRow): CatalogItem {
  return {
    commitId: row.commit_id,
    commitTimestamp: row.commit_timestamp,
    type: row.type,
    lowerId: row.lower_id,
    lowerVersion: row.lower_version,
    data: row.data as PackageDetailsData | PackageDeleteData,
  };
}

const itemColumns = ['commit_id', 'commit_timestamp', 'type', 'lower_id', 'lower_version', 'data'] as const;

/** Summary of one catalog page, for the catalog index. */
export interface CatalogPageSummary {
  pageNumber: number;
  count: number;
  commitId: string;
  commitTimestamp: Date;
}

/** The pages of a feed's catalog, ascending; empty when nothing was ever committed. */
export async function listCatalogPages(db: Reader, feedId: number): Promise<CatalogPageSummary[]> {
  const result = await sql<{ page_number: number; count: string; commit_id: string; commit_timestamp: Date }>`
    SELECT DISTINCT ON (page_number) page_number,
           sum(item_count) OVER (PARTITION BY page_number) AS count,
           commit_id, commit_timestamp
    FROM catalog_commits WHERE feed_id = ${feedId}
    ORDER BY page_number, commit_timestamp DESC`.execute(db);
  return result.rows.map((r) => ({
    pageNumber: r.page_number,
    count: Number(r.count),
    commitId: r.commit_id,
    commitTimestamp: r.commit_timestamp,
  }));
}

/** The items of one catalog page in commit order; undefined when the page does not exist. */
export async function findCatalogPage(db: Reader, feedId: number, pageNumber: number): Promise<CatalogItem[] | undefined> {
  const rows = await db
    .selectFrom('catalog_items')
    .select(itemColumns)
    .where('feed_id', '=', feedId)
    .where('page_number', '=', pageNumber)
    .orderBy('commit_timestamp')
    .orderBy('seq')
    .execute();
  return rows.length === 0 ? undefined : rows.map(rowToCatalogItem);
}

/** The leaf committed at `commitTimestamp` for `{lowerId}.{lowerVersion}`; undefined when absent. */
export async function findCatalogLeaf(
  db: Reader,
  feedId: number,
  commitTimestamp: Date,
  leafName: string,
): Promise<CatalogItem | undefined> {
  const row = await db
    .selectFrom('catalog_items')
    .select(itemColumns)
    .where('feed_id', '=', feedId)
    .where('commit_timestamp', '=', commitTimestamp)
    .where(sql<string>`lower_id || '.' || lower_version`, '=', leafName)
    .executeTakeFirst();
  return row ? rowToCatalogItem(row) : undefined;
}

/** A bounded run of whole commits after a cursor. */
export interface CatalogBatch {
  /** The cursor the batch starts after (exclusive). */
  from: Date;
  /** The last commit timestamp in the batch (inclusive): the cursor after projecting it. */
  to: Date;
  items: CatalogItem[];
}

/**
 * Where the next batch after `from` ends: whole commits with `from < commitTimestamp ≤ upTo`, about
 * `maxItems` items at most (a commit is never split; a first commit larger than that is taken whole).
 * @returns the last commit timestamp of the batch and its item count; undefined when nothing follows.
 */
export async function readCatalogBatchEnd(
  db: Reader,
  feedId: number,
  from: Date,
  maxItems: number,
  upTo?: Date,
): Promise<{ to: Date; items: number } | undefined> {
  let commits = db
    .selectFrom('catalog_commits')
    .select(['commit_timestamp', 'item_count'])
    .where('feed_id', '=', feedId)
    .where('commit_timestamp', '>', from);
  if (upTo) commits = commits.where('commit_timestamp', '<=', upTo);
  const heads = await commits.orderBy('commit_timestamp').limit(Math.max(1, maxItems)).execute();
  if (heads.length === 0) return undefined;
  let items = 0;
  let to = heads[0]!.commit_timestamp;
  for (const c of heads) {
    if (items > 0 && items + c.item_count > maxItems) break;
    items += c.item_count;
    to = c.commit_timestamp;
  }
  return { to, items };
}

/**
 * Reads whole commits with `from < commitTimestamp ≤ upTo`, at most about `maxItems` items
 * (a commit is never split; see {@link readCatalogBatchEnd}). Undefined when there is nothing after the cursor.
 */
export async function readCatalogBatch(
  db: Reader,
  feedId: number,
  from: Date,
  maxItems: number,
  upTo?: Date,
): Promise<CatalogBatch | undefined> {
  const end = await readCatalogBatchEnd(db, feedId, from, maxItems, upTo);
  if (!end) return undefined;
  const { to } = end;
  const rows = await db
    .selectFrom('catalog_items')
    .select(itemColumns)
    .where('feed_id', '=', feedId)
    .where('commit_timestamp', '>', from)
    .where('commit_timestamp', '<=', to)
    .orderBy('commit_timestamp')
    .orderBy('seq')
    .execute();
  return { from, to, items: rows.map(rowToCatalogItem) };
}

/**
 * The latest catalog item of each version of an id (details or delete), ascending by lower
 * version string. This is the catalog state a projection rebuilds an id from.
 */
export async function readLatestItems(db: Reader, feedId: number, lowerId: string): Promise<CatalogItem[]> {
  const result = await sql<CatalogItemRow>`
    SELECT DISTINCT ON (lower_version) commit_id, commit_timestamp, type, lower_id, lower_version, data
    FROM catalog_items
    WHERE feed_id = ${feedId} AND lower_id = ${lowerId}
    ORDER BY lower_version, commit_timestamp DESC, seq DESC`.execute(db);
  return result.rows.map(rowToCatalogItem);
}

/** The latest item for one id+version; undefined when it was never committed. */
export async function findLatestItem(db: Reader, feedId: number, lowerId: string, lowerVersion: string): Promise<CatalogItem | undefined> {
  const row = await db
    .selectFrom('catalog_items')
    .select(itemColumns)
    .where('feed_id', '=', feedId)
    .where('lower_id', '=', lowerId)
    .where('lower_version', '=', lowerVersion)
    .orderBy('commit_timestamp', 'desc')
    .orderBy('seq', 'desc')
    .limit(1)
    .executeTakeFirst();
  return row ? rowToCatalogItem(row) : undefined;
}

/** The id of a feed by name; undefined when there is no such feed. */
export async function findFeedId(db: Reader, name: string): Promise<number | undefined> {
  const row = await db.selectFrom('feeds').select('id').where('name', '=', name).executeTakeFirst();
  return row?.id;
}
