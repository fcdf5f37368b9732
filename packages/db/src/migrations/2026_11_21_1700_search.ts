import { sql, type Kysely } from 'kysely';

/**
 * Search: the PostgreSQL search backend's documents and the download counters.
 *
 * - `search_documents` holds one row per (feed, variant, id): the search document as jsonb plus the
 *   columns the backend queries. The tsvectors are built by the backend (its own tokenizer, written
 *   as tsvector literals), not by a text search parser, so `Newtonsoft.Json` is never one "host" token.
 * - `package_downloads` is the truth for download counts, written in batches by the read-api; the
 *   search worker copies changed rows (by `updated_at`) into the search backend.
 *
 * `pg_trgm` speeds up `lower_id LIKE '%x%'` (the `id:` field). It is a trusted extension since
 * PostgreSQL 13, so the database owner can create it without superuser rights. Where it cannot be
 * created, the migration still succeeds and the trigram index is skipped (queries stay correct,
 * only slower).
 */
export async function up(db: Kysely<any>): Promise<void> {
  // A DO block with an exception handler runs in a subtransaction: a failure here (extension not
  // installed on the server, or no right to create it) must not abort the migration transaction.
  await sql`
    DO $$
    BEGIN
      CREATE EXTENSION IF NOT EXISTS pg_trgm;
    EXCEPTION WHEN OTHERS THEN
      RAISE WARNING 'pg_trgm is unavailable (%); search_documents gets no trigram index', SQLERRM;
    END
    $$`.execute(db);

  await db.schema
    .createTable('search_documents')
    .addColumn('feed_id', 'integer', (c) => c.notNull().references('feeds.id'))
    .addColumn('variant', 'text', (c) =>
      c.notNull().check(sql`variant IN ('semver1-stable', 'semver1-prerelease', 'semver2-stable', 'semver2-prerelease')`),
    )
    // "C" collation: byte order for `ORDER BY lower_id` (ties), and LIKE 'prefix%' can use the primary key.
    .addColumn('lower_id', sql`text COLLATE "C"`, (c) => c.notNull())
    .addColumn('document', 'jsonb', (c) => c.notNull())
    // Weighted: id tokens A, title/tags B, description/authors/summary C.
    .addColumn('search_vector', sql`tsvector`, (c) => c.notNull())
    // Field-tagged lexemes ("title:json", "tags:json", …) for field queries such as `title:json`.
    .addColumn('field_vector', sql`tsvector`, (c) => c.notNull())
    .addColumn('id_tokens', 'text', (c) => c.notNull())
    .addColumn('total_downloads', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('downloads', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('package_types', sql`text[]`, (c) => c.notNull())
    .addColumn('versions', sql`text[]`, (c) => c.notNull())
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('search_documents_pk', ['feed_id', 'variant', 'lower_id'])
    .execute();
  // replacePackage and setDownloads address every variant of an id.
  await db.schema.createIndex('search_documents_id').on('search_documents').columns(['feed_id', 'lower_id']).execute();
  // The empty query (the Visual Studio "Browse" tab) lists by downloads, then id.
  await sql`CREATE INDEX search_documents_browse ON search_documents (feed_id, variant, total_downloads DESC, lower_id)`.execute(db);
  await sql`CREATE INDEX search_documents_search_vector ON search_documents USING gin (search_vector)`.execute(db);
  await sql`CREATE INDEX search_documents_field_vector ON search_documents USING gin (field_vector)`.execute(db);
  await sql`
    DO $$
    BEGIN
      IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        CREATE INDEX search_documents_lower_id_trgm ON search_documents USING gin (lower_id gin_trgm_ops);
      END IF;
    END
    $$`.execute(db);

  await db.schema
    .createTable('package_downloads')
    .addColumn('feed_id', 'integer', (c) => c.notNull().references('feeds.id'))
    .addColumn('lower_id', 'text', (c) => c.notNull())
    .addColumn('lower_version', 'text', (c) => c.notNull())
    .addColumn('downloads', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('package_downloads_pk', ['feed_id', 'lower_id', 'lower_version'])
    .execute();
  await db.schema
    .createIndex('package_downloads_updated')
    .on('package_downloads')
    .columns(['feed_id', 'updated_at'])
    .execute();
}

/** Drops both tables; the pg_trgm extension stays (other objects may use it). */
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('package_downloads').execute();
  await db.schema.dropTable('search_documents').execute();
}
