import { sql, type Kysely } from 'kysely';
import type { Database } from '@nucat/db';

type Db = Kysely<Database>;

/** PostgreSQL channel notified when a projection cursor moves; payload `{feedId}:{projection}`. */
export const CURSOR_NOTIFY_CHANNEL = 'nucat_cursor';

/** A projection cursor and the run it belongs to. */
export interface CursorState {
  /** The last commit timestamp fully projected; epoch when new. */
  cursor: Date;
  /** Changes each time the cursor is reset: work scheduled in one run cannot move the cursor of the next. */
  runId: string;
}

/** The cursor of a projection and its run; undefined when the cursor does not exist yet. */
export async function readCursorState(db: Db, feedId: number, projection: string): Promise<CursorState | undefined> {
  const row = await db
    .selectFrom('projection_cursors')
    .select(['cursor', 'run_id'])
    .where('feed_id', '=', feedId)
    .where('projection', '=', projection)
    .executeTakeFirst();
  return row && { cursor: row.cursor, runId: row.run_id };
}

/** The cursor of a projection and its run, creating the cursor (at the epoch) when new. */
export async function getCursorState(db: Db, feedId: number, projection: string): Promise<CursorState> {
  await db
    .insertInto('projection_cursors')
    .values({ feed_id: feedId, projection })
    .onConflict((oc) => oc.doNothing())
    .execute();
  const state = await readCursorState(db, feedId, projection);
  if (!state) throw new Error(`projection cursor ${feedId}:${projection} vanished as it was created`);
  return state;
}

/** The cursor of a projection (the last commit timestamp fully projected); epoch when new. */
export async function getCursor(db: Db, feedId: number, projection: string): Promise<Date> {
  return (await getCursorState(db, feedId, projection)).cursor;
}

/** Every projection cursor of a feed, by projection name. */
export async function listCursors(db: Db, feedId: number): Promise<Record<string, Date>> {
  const rows = await db.selectFrom('projection_cursors').select(['projection', 'cursor']).where('feed_id', '=', feedId).execute();
  return Object.fromEntries(rows.map((r) => [r.projection, r.cursor]));
}

/**
 * Moves a cursor from `from` to `to`, only if it is still at `from` and `to` is later
 * (compare-and-set): a duplicate or stale batch can never move a cursor backwards or skip.
 * With `runId`, only within that run: a batch of the run before a reset, delivered again after it,
 * finds the cursor back at its `from` but in another run, and leaves it.
 * Returns whether this call moved it.
 */
export async function advanceCursor(db: Db, feedId: number, projection: string, from: Date, to: Date, runId?: string): Promise<boolean> {
  let update = db
    .updateTable('projection_cursors')
    .set({ cursor: to, updated_at: sql`now()` })
    .where('feed_id', '=', feedId)
    .where('projection', '=', projection)
    .where('cursor', '=', from)
    .where('cursor', '<', to);
  if (runId !== undefined) update = update.where('run_id', '=', runId);
  const result = await update.executeTakeFirst();
  const moved = Number(result.numUpdatedRows) === 1;
  // A wake-up for projections that depend on this one (search waits for the restore projections).
  if (moved) await sql`SELECT pg_notify(${CURSOR_NOTIFY_CHANNEL}, ${`${feedId}:${projection}`})`.execute(db);
  return moved;
}

/**
 * Sets a cursor back to the start, so the projection replays the whole catalog, in a new run: the
 * batches of the run before can no longer move it.
 */
export async function resetCursor(db: Db, feedId: number, projection: string): Promise<void> {
  await db
    .updateTable('projection_cursors')
    .set({ cursor: new Date(0), updated_at: sql`now()`, run_id: sql`gen_random_uuid()` })
    .where('feed_id', '=', feedId)
    .where('projection', '=', projection)
    .execute();
}
