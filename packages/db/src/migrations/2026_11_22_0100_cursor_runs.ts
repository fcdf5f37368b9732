import { sql, type Kysely } from 'kysely';

/**
 * `projection_cursors.run_id`: which run of a projection a cursor belongs to. A reset (`resetCursor`,
 * `nucat rebuild search`) gives the cursor a new run id; a batch carries the run id it was scheduled
 * under and moves the cursor only within that run. Without it, a batch of the run before a reset that
 * BullMQ delivers again (a worker died after moving the cursor, before reporting the job done) found the
 * cursor back at its `from` and moved it past commits the new run had not projected.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE projection_cursors ADD COLUMN run_id uuid NOT NULL DEFAULT gen_random_uuid()`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE projection_cursors DROP COLUMN run_id`.execute(db);
}
