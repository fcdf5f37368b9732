import { sql, type Kysely } from 'kysely';

/**
 * Projection generations: blob projections (flat container, registration) can be rebuilt from the
 * catalog into a new key prefix while the current one keeps serving, then switched to at once.
 *
 * - `active` is the generation readers are served from and the live cursor (`projection_cursors`
 *   row named after the projection) projects into. Generation 0 is the unprefixed key layout.
 * - `building` is the generation a rebuild is filling (cursor `<projection>@g<N>`), null when none.
 * - `retired` is the generation switched away from: still written alongside the active one until
 *   `retire_after` (so read nodes whose cached pointer is a little old stay current), then deleted,
 *   then set back to null.
 *
 * A row exists only once a projection has been rebuilt (or asked to be): no row = generation 0.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('projection_generations')
    .addColumn('feed_id', 'integer', (c) => c.notNull().references('feeds.id'))
    .addColumn('projection', 'text', (c) => c.notNull())
    .addColumn('active', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('building', 'integer')
    .addColumn('started_at', 'timestamptz')
    .addColumn('switched_at', 'timestamptz')
    .addColumn('retired', 'integer')
    .addColumn('retire_after', 'timestamptz')
    .addPrimaryKeyConstraint('projection_generations_pk', ['feed_id', 'projection'])
    .addCheckConstraint('projection_generations_building_ck', sql`building IS NULL OR building > active`)
    .addCheckConstraint('projection_generations_retired_ck', sql`retired IS NULL OR (retired < active AND retire_after IS NOT NULL)`)
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('projection_generations').execute();
}
