import { sql } from 'kysely';
import type { Db } from '@nucat/db';
import { instantFromDate, instantToMicrosText, parseCatalogTimestamp, type CatalogInstant } from './catalog-timestamp.js';

/** A version that exists here with other bytes than the source's: skipped, never overwritten. */
export interface MirrorConflict {
  id: string;
  version: string;
  lowerId: string;
  lowerVersion: string;
  /**
   * - `different-bytes`: both feeds have the version, with other bytes;
   * - `deleted-here`: deleted here, and the source has it with other bytes;
   * - `invalid-package`: this feed's validation refuses the source's package (`message` says why).
   */
  reason: 'different-bytes' | 'deleted-here' | 'invalid-package';
  sourceHash: string;
  /** The local package's hash; `''` when there is none. */
  localHash: string;
  message?: string;
  /** The source commit that showed the conflict. */
  commitTimeStamp: string;
  detectedAt: string;
}

/** The stored state of one mirror (a feed following one source). */
export interface MirrorState {
  /** The source's service index URL. */
  source: string;
  /** The last source commit fully applied here; undefined before the first. */
  cursor?: CatalogInstant;
  /** The source catalog's newest commit when last read. */
  sourceHead?: Date;
  /** Catalog items that changed this feed, over all runs. */
  itemsApplied: number;
  conflicts: MirrorConflict[];
  /** What stopped the last run; undefined after a clean run. */
  lastError?: string;
  updatedAt: Date;
  /** Seconds between the source head and the cursor (0 when caught up); undefined before the source was read. */
  lagSeconds?: number;
}

interface Row {
  source: string;
  cursor: Date | null;
  cursor_exact: string | null;
  source_head: Date | null;
  items_applied: string;
  conflicts: unknown;
  last_error: string | null;
  updated_at: Date;
}

function rowToMirrorState(row: Row): MirrorState {
  const cursor = row.cursor_exact ? parseCatalogTimestamp(row.cursor_exact) : row.cursor ? instantFromDate(row.cursor) : undefined;
  const head = row.source_head ?? undefined;
  return {
    source: row.source,
    ...(cursor ? { cursor } : {}),
    ...(head ? { sourceHead: head } : {}),
    itemsApplied: Number(row.items_applied),
    conflicts: Array.isArray(row.conflicts) ? (row.conflicts as MirrorConflict[]) : [],
    ...(row.last_error ? { lastError: row.last_error } : {}),
    updatedAt: row.updated_at,
    ...(head ? { lagSeconds: Math.max(0, (head.getTime() - (cursor?.ms ?? head.getTime())) / 1000) } : {}),
  };
}

const columns = ['source', 'cursor', 'cursor_exact', 'source_head', 'items_applied', 'conflicts', 'last_error', 'updated_at'] as const;

/** The state of the mirror of `source`, creating its row (no cursor yet) on first use. */
export async function loadMirrorState(db: Db, feedId: number, source: string): Promise<MirrorState> {
  await db.insertInto('mirror_cursors').values({ feed_id: feedId, source }).onConflict((oc) => oc.doNothing()).execute();
  const row = await db.selectFrom('mirror_cursors').select(columns).where('feed_id', '=', feedId).where('source', '=', source).executeTakeFirstOrThrow();
  return rowToMirrorState(row);
}

/** Every mirror of a feed (for `nucat status` and metrics), by source URL. */
export async function listMirrorStates(db: Db, feedId: number): Promise<MirrorState[]> {
  const rows = await db.selectFrom('mirror_cursors').select(columns).where('feed_id', '=', feedId).orderBy('source').execute();
  return rows.map(rowToMirrorState);
}

/**
 * Moves the cursor forward to `cursor` (never back; undefined leaves it) and adds `applied` to the
 * item count. Call it only once every item of every commit up to `cursor` is durable here.
 */
export async function advanceMirrorCursor(db: Db, feedId: number, source: string, cursor: CatalogInstant | undefined, applied: number): Promise<void> {
  if (!cursor) {
    await sql`UPDATE mirror_cursors SET items_applied = items_applied + ${applied}, updated_at = now() WHERE feed_id = ${feedId} AND source = ${source}`.execute(db);
    return;
  }
  await sql`
    UPDATE mirror_cursors
    SET cursor_exact = CASE WHEN cursor_exact IS NULL OR cursor_exact COLLATE "C" < ${cursor.text} THEN ${cursor.text} ELSE cursor_exact END,
        cursor = GREATEST(cursor, ${instantToMicrosText(cursor)}::timestamptz),
        items_applied = items_applied + ${applied},
        updated_at = now()
    WHERE feed_id = ${feedId} AND source = ${source}`.execute(db);
}

/** Records the source catalog's newest commit, for lag. */
export async function recordSourceHead(db: Db, feedId: number, source: string, head: CatalogInstant | undefined): Promise<void> {
  await db
    .updateTable('mirror_cursors')
    .set({ source_head: head ? new Date(head.ms) : null, updated_at: new Date() })
    .where('feed_id', '=', feedId)
    .where('source', '=', source)
    .execute();
}

/** Records what stopped a run (or clears it with undefined). */
export async function recordMirrorError(db: Db, feedId: number, source: string, message: string | undefined): Promise<void> {
  await db
    .updateTable('mirror_cursors')
    .set({ last_error: message ?? null, updated_at: new Date() })
    .where('feed_id', '=', feedId)
    .where('source', '=', source)
    .execute();
}

/** Adds a conflict, replacing an earlier one for the same id+version. */
export async function recordMirrorConflict(db: Db, feedId: number, source: string, conflict: MirrorConflict): Promise<void> {
  await sql`
    UPDATE mirror_cursors
    SET conflicts = COALESCE((SELECT jsonb_agg(c) FROM jsonb_array_elements(conflicts) AS c
                              WHERE NOT (c->>'lowerId' = ${conflict.lowerId} AND c->>'lowerVersion' = ${conflict.lowerVersion})), '[]'::jsonb)
                    || jsonb_build_array(${JSON.stringify(conflict)}::jsonb),
        updated_at = now()
    WHERE feed_id = ${feedId} AND source = ${source}`.execute(db);
}

/** Drops the conflict of an id+version (it was resolved: deleted at the source, or now in line). */
export async function clearMirrorConflict(db: Db, feedId: number, source: string, lowerId: string, lowerVersion: string): Promise<void> {
  await sql`
    UPDATE mirror_cursors
    SET conflicts = COALESCE((SELECT jsonb_agg(c) FROM jsonb_array_elements(conflicts) AS c
                              WHERE NOT (c->>'lowerId' = ${lowerId} AND c->>'lowerVersion' = ${lowerVersion})), '[]'::jsonb),
        updated_at = now()
    WHERE feed_id = ${feedId} AND source = ${source}`.execute(db);
}
