import { sql, type Kysely } from 'kysely';

/**
 * Collecting orphaned content blobs (reliability.md §2 #32: a push that dies between its blob write and
 * its commit leaves a content blob no `packages` row references; `nucat gc` deletes such blobs).
 *
 * - `packages_package_hash`: which blobs are referenced, looked up by hash (across every feed: content
 *   blobs are content-addressed and shared by feeds).
 * - `content_leases`: a push that is about to rely on a content blob that already exists (its write
 *   is skipped: same bytes, content-addressed) leases the hash first, so the collector never deletes a
 *   blob between that skipped write and the push's commit. Leases are taken and checked under one
 *   advisory lock per hash (`@nucat/feed` collect-orphans.ts). A lease left by a crash expires.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.createIndex('packages_package_hash').on('packages').column('package_hash').execute();
  await db.schema
    .createTable('content_leases')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('package_hash', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('content_leases_package_hash').on('content_leases').column('package_hash').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('content_leases').execute();
  await db.schema.dropIndex('packages_package_hash').execute();
}
