import { sql } from 'kysely';
import { rowToCatalogItem, type CatalogItem, type CatalogItemRow } from '@nucat/catalog';
import type { Db } from '@nucat/db';

/**
 * The catalog state of each of `lowerIds` in one query: the latest item of each version (details or
 * delete), ascending by lower version string per id, as `readLatestItems` (@nucat/catalog) gives it
 * for one id — as of `upTo` (items committed after it left out) when given. Ids with no item map to
 * an empty list.
 */
export async function readLatestItemsOf(db: Db, feedId: number, lowerIds: readonly string[], upTo?: Date): Promise<Map<string, CatalogItem[]>> {
  const state = new Map<string, CatalogItem[]>(lowerIds.map((lowerId) => [lowerId, []]));
  if (lowerIds.length === 0) return state;
  const result = await sql<CatalogItemRow>`
    SELECT DISTINCT ON (lower_id, lower_version) commit_id, commit_timestamp, type, lower_id, lower_version, data
    FROM catalog_items
    WHERE feed_id = ${feedId} AND lower_id = ANY(${[...lowerIds]}::text[])
      ${upTo === undefined ? sql`` : sql`AND commit_timestamp <= ${upTo}`}
    ORDER BY lower_id, lower_version, commit_timestamp DESC, seq DESC`.execute(db);
  for (const row of result.rows) state.get(row.lower_id)?.push(rowToCatalogItem(row));
  return state;
}

/** Options of {@link createCatalogStateCache}. */
export interface CatalogStateCacheOptions {
  db: Db;
  feedId: number;
  /** Most items kept (least recently used ids go first). @defaultValue 20000 */
  maxItems?: number;
}

interface Entry {
  /** The state holds every item of the id committed up to here. */
  asOf: Date;
  byVersion: Map<string, CatalogItem>;
}

/**
 * The catalog state of ids as of a point (a batch's last commit), kept between batches. The catalog is
 * append-only and commits become visible in timestamp order, so the state of an id as of a later
 * point is the state kept for it plus the items committed in between: one more version of an id with
 * 1,000 costs reading that version, not 1,000. Whoever projected the id in between (another process)
 * does not matter: the items in between are always read from the database.
 *
 * States are handed out as the same item objects every time (memoised work on them, such as the
 * parsed versions of the registration builder, is reused). Only ever asked for states at or after
 * the point kept; an earlier point (a replay) is read whole. A database restored to an earlier point
 * needs a restart of the worker.
 */
export function createCatalogStateCache(options: CatalogStateCacheOptions) {
  const { db, feedId } = options;
  const maxItems = options.maxItems ?? 20_000;
  const entries = new Map<string, Entry>(); // insertion order: least recently used first
  let items = 0;

  const keep = (lowerId: string, entry: Entry) => {
    const old = entries.get(lowerId);
    if (old) {
      items -= old.byVersion.size;
      entries.delete(lowerId);
    }
    entries.set(lowerId, entry);
    items += entry.byVersion.size;
    for (const [oldest, evicted] of entries) {
      if (items <= maxItems || oldest === lowerId) break;
      entries.delete(oldest);
      items -= evicted.byVersion.size;
    }
  };

  return {
    /** The state of each of `lowerIds` as of `upTo`, as {@link readLatestItemsOf} reads it. */
    async load(lowerIds: readonly string[], upTo: Date): Promise<Map<string, CatalogItem[]>> {
      const known = new Map<string, Entry>();
      const unknown: string[] = [];
      for (const lowerId of lowerIds) {
        const entry = entries.get(lowerId);
        if (entry !== undefined && entry.asOf.getTime() <= upTo.getTime()) known.set(lowerId, entry);
        else unknown.push(lowerId);
      }
      const state = new Map<string, CatalogItem[]>();
      if (unknown.length > 0) {
        for (const [lowerId, latest] of await readLatestItemsOf(db, feedId, unknown, upTo)) {
          state.set(lowerId, latest);
          const entry = entries.get(lowerId);
          // Keep the later of two states (a replay reads earlier ones).
          if (entry === undefined || entry.asOf.getTime() <= upTo.getTime()) {
            keep(lowerId, { asOf: upTo, byVersion: new Map(latest.map((item) => [item.lowerVersion, item])) });
          }
        }
      }
      if (known.size > 0) {
        let since = upTo;
        for (const entry of known.values()) if (entry.asOf.getTime() < since.getTime()) since = entry.asOf;
        const rows = await sql<CatalogItemRow>`
          SELECT commit_id, commit_timestamp, type, lower_id, lower_version, data
          FROM catalog_items
          WHERE feed_id = ${feedId} AND lower_id = ANY(${[...known.keys()]}::text[])
            AND commit_timestamp > ${since} AND commit_timestamp <= ${upTo}
          ORDER BY commit_timestamp, seq`.execute(db);
        // Updated copies: a concurrent load of the same id keeps reading the entry it found.
        const updated = new Map([...known].map(([lowerId, entry]) => [lowerId, new Map(entry.byVersion)]));
        for (const row of rows.rows) {
          // Ascending: a later row is the newer item. Rows the entry already holds change nothing.
          if (row.commit_timestamp.getTime() > known.get(row.lower_id)!.asOf.getTime()) updated.get(row.lower_id)!.set(row.lower_version, rowToCatalogItem(row));
        }
        for (const [lowerId, byVersion] of updated) {
          const current = entries.get(lowerId);
          if (current === undefined || current.asOf.getTime() <= upTo.getTime()) keep(lowerId, { asOf: upTo, byVersion });
          state.set(lowerId, [...byVersion.values()].sort((a, b) => (a.lowerVersion < b.lowerVersion ? -1 : a.lowerVersion > b.lowerVersion ? 1 : 0)));
        }
      }
      return state;
    },
    /** Items held now (for tests and metrics). */
    get size(): number {
      return items;
    },
  };
}

export type CatalogStateCache = ReturnType<typeof createCatalogStateCache>;
