import { sql, type Kysely } from 'kysely';

/**
 * Mirror cursors: how far a feed has followed another feed's catalog (`nucat mirror`), one row per
 * (feed, source service index URL).
 *
 * - `cursor` is the last source commit timestamp whose items are all durable locally (microsecond
 *   precision, floored); `cursor_exact` keeps the source's own value with all 7 fraction digits, which
 *   the mirror compares against (two source commits can fall inside one microsecond).
 * - `source_head` is the source catalog's latest commit timestamp when last read (lag = head − cursor).
 * - `conflicts` lists versions that exist here with other bytes than the source's (skipped, never
 *   overwritten); `last_error` is the error that stopped the last run, null after a clean run.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('mirror_cursors')
    .addColumn('feed_id', 'integer', (c) => c.notNull().references('feeds.id'))
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('cursor', 'timestamptz')
    .addColumn('cursor_exact', 'text')
    .addColumn('source_head', 'timestamptz')
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('items_applied', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('conflicts', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
    .addColumn('last_error', 'text')
    .addPrimaryKeyConstraint('mirror_cursors_pk', ['feed_id', 'source'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('mirror_cursors').execute();
}
