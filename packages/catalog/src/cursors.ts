import { sql, type Kysely } from 'kysely';
import type { Database } from '@nucat/db';

type Db = Kysely<Database>;

/** PostgreSQL channel notified when a projection cursor moves; payload `{feedId}:{projection}`. */
export const CURSOR_NOTIFY_CHANNEL = 'nucat_cursor';

/** The cursor of a projection (the last commit timestamp fully projected); epoch when new. */
export async function getCursor(db: Db, feedId: number, projection: string): Promise<Date> {
  await db
    .insertInto('projection_cursors')
    .values({ feed_id: feedId, projection })
    .onConflict((oc) => oc.doNothing())
    .execute();
  const row = await db
    .selectFrom('projection_cursors')
    .select('cursor')
    .where('feed_id', '=', feedId)
    .where('projection', '=', projection)
    .executeTakeFirstOrThrow();
  return row.cursor;
}

/** Every projection cursor of a feed, by projection name. */
export async function listCursors(db: Db, feedId: number): Promise<Record<string, Date>> {
  const rows = await db.selectFrom('projection_cursors').select(['projection', 'cursor']).where('feed_id', '=', feedId).execute();
  return Object.fromEntries(rows.map((r) => [r.projection, r.cursor]));
}

/**
 * Moves a cursor from `from` to `to`, only if it is still at `from` and `to` is later
 * (compare-and-set): a duplicate or stale batch can never move a cursor backwards or skip.
 * Returns whether this call moved it.
 */
export async function advanceCursor(db: Db, feedId: number, projection: string, from: Date, to: Date): Promise<boolean> {
  const result = await db
    .updateTable('projection_cursors')
    .set({ cursor: to, updated_at: sql`now()` })
    .where('feed_id', '=', feedId)
    .where('projection', '=', projection)
    .where('cursor', '=', from)
    .where('cursor', '<', to)
    .executeTakeFirst();
  const moved = Number(result.numUpdatedRows) === 1;
  // A wake-up for projections that depend on this one (search waits for the restore projections).
  if (moved) await sql`SELECT pg_notify(${CURSOR_NOTIFY_CHANNEL}, ${`${feedId}:${projection}`})`.execute(db);
  return moved;
}

/** Sets a cursor back to the start, so the projection replays the whole catalog. */
export async function resetCursor(db: Db, feedId: number, projection: string): Promise<void> {
  await db
    .updateTable('projection_cursors')
    .set({ cursor: new Date(0), updated_at: sql`now()` })
    .where('feed_id', '=', feedId)
    .where('projection', '=', projection)
    .execute();
}
