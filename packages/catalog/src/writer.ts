import { randomUUID } from 'node:crypto';
import { sql, type Transaction } from 'kysely';
import type { Database } from '@nucat/db';
import type { PackageDeleteData, PackageDetailsData } from './documents/index.js';

/** Catalog pages hold at most this many items; a commit is never split across pages. */
export const MAX_CATALOG_PAGE_ITEMS = 550;

/** The PostgreSQL channel notified (on commit) after every catalog append; payload = feed id. */
export const CATALOG_NOTIFY_CHANNEL = 'nucat_catalog';

/** One item of a commit; its data is built once the commit's id and timestamp are known. */
export type PendingCatalogItem =
  | { type: 'PackageDetails'; lowerId: string; lowerVersion: string; build(commit: CommitStamp): PackageDetailsData }
  | { type: 'PackageDelete'; lowerId: string; lowerVersion: string; build(commit: CommitStamp): PackageDeleteData };

/** The identity of a catalog commit. */
export interface CommitStamp {
  commitId: string;
  /** Whole milliseconds; strictly greater than every earlier commit of the feed. */
  commitTimestamp: Date;
}

/**
 * Appends one commit to a feed's catalog inside the caller's transaction.
 *
 * Ordering invariant (architecture.md): the feed's `catalog_heads` row is locked FOR UPDATE and
 * held until the caller commits, so appends are serialised and commit order equals timestamp
 * order. The timestamp is `max(now, last + 1 ms)` in whole milliseconds, taken from the database
 * clock, so cursor consumers (which compare timestamps) can never see a later commit before an
 * earlier one, and JavaScript `Date`s keep a strict order. A `NOTIFY` is queued; PostgreSQL
 * delivers it only when the transaction commits.
 *
 * Keep the lock short: do validation and blob writes before calling this.
 */
export async function appendCatalogCommit(
  trx: Transaction<Database>,
  feedId: number,
  items: readonly PendingCatalogItem[],
): Promise<CommitStamp> {
  if (items.length === 0) throw new Error('a catalog commit needs at least one item');
  const head = await sql<{ last: Date | null; page_number: number; page_item_count: number; now: Date }>`
    SELECT last_commit_timestamp AS last, page_number, page_item_count,
           date_trunc('milliseconds', clock_timestamp()) AS now
    FROM catalog_heads WHERE feed_id = ${feedId} FOR UPDATE`.execute(trx);
  const row = head.rows[0];
  if (!row) throw new Error(`feed ${feedId} has no catalog head`);

  const nowMs = row.now.getTime();
  const commitTimestamp = new Date(row.last ? Math.max(nowMs, row.last.getTime() + 1) : nowMs);
  const commitId = randomUUID();
  const stamp: CommitStamp = { commitId, commitTimestamp };

  // A new page starts when this commit would push the current one past the limit.
  let pageNumber = row.page_number;
  let pageCount = row.page_item_count;
  if (pageCount > 0 && pageCount + items.length > MAX_CATALOG_PAGE_ITEMS) {
    pageNumber += 1;
    pageCount = 0;
  }
  pageCount += items.length;

  await trx
    .insertInto('catalog_commits')
    .values({ feed_id: feedId, commit_timestamp: commitTimestamp, commit_id: commitId, page_number: pageNumber, item_count: items.length })
    .execute();
  await trx
    .insertInto('catalog_items')
    .values(
      items.map((item) => ({
        feed_id: feedId,
        commit_timestamp: commitTimestamp,
        commit_id: commitId,
        page_number: pageNumber,
        type: item.type,
        lower_id: item.lowerId,
        lower_version: item.lowerVersion,
        data: JSON.stringify(item.build(stamp)),
      })),
    )
    .execute();
  await trx
    .updateTable('catalog_heads')
    .set({ last_commit_timestamp: commitTimestamp, page_number: pageNumber, page_item_count: pageCount })
    .where('feed_id', '=', feedId)
    .execute();
  await sql`SELECT pg_notify(${CATALOG_NOTIFY_CHANNEL}, ${String(feedId)})`.execute(trx);
  return stamp;
}
