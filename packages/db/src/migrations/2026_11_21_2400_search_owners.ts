import { sql, type Kysely } from 'kysely';

/**
 * Owners in search (`owner:` queries, and `owners` in search results).
 *
 * - `search_documents.owners`: the id's owner names, written by the search projection with the
 *   documents and changed afterwards by the worker's owner sync; a GIN index answers `owner:x`.
 * - `package_ids.owners_changed_at`: when the owners of an id last changed (claim, `nucat owners
 *   add|remove`), so the sync reads only ids changed since its last pass.
 *
 * Rows already in the index get their owners from the first sync of an upgraded worker (it starts
 * from the beginning); ids with versions but no claim (copied in by a mirror) from their next
 * projection, or `nucat rebuild search`.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE search_documents ADD COLUMN owners text[] NOT NULL DEFAULT '{}'`.execute(db);
  await sql`CREATE INDEX search_documents_owners ON search_documents USING gin (owners)`.execute(db);
  await sql`ALTER TABLE package_ids ADD COLUMN owners_changed_at timestamptz NOT NULL DEFAULT now()`.execute(db);
  await sql`CREATE INDEX package_ids_owners_changed ON package_ids (feed_id, owners_changed_at)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP INDEX package_ids_owners_changed`.execute(db);
  await sql`ALTER TABLE package_ids DROP COLUMN owners_changed_at`.execute(db);
  await sql`DROP INDEX search_documents_owners`.execute(db);
  await sql`ALTER TABLE search_documents DROP COLUMN owners`.execute(db);
}
