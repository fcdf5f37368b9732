import { sql, type Kysely } from 'kysely';

/** The search variants (the CHECK constraint of `search_documents.variant`). */
const VARIANTS = ['semver1-stable', 'semver1-prerelease', 'semver2-stable', 'semver2-prerelease'] as const;

/** `search_documents_search_vector_semver2_stable` and the like. */
function partialName(column: 'search_vector' | 'field_vector', variant: (typeof VARIANTS)[number]): string {
  return `search_documents_${column}_${variant.replace('-', '_')}`;
}

/**
 * Search performance: indexes shaped like the PostgreSQL search backend's queries, which always
 * name one variant.
 *
 * - The GIN indexes on `search_vector` and `field_vector` become one partial index per variant.
 *   A variant holds about a quarter of the rows (a stable SemVer1 package has the same document in
 *   all four), and a GIN index knows nothing of the variant: a common word matched the rows of
 *   every variant, each fetched from the heap only to be dropped by `variant = …`, and the planner
 *   often preferred scanning the whole variant. A partial index gives exactly the variant's
 *   matches. (The backend's queries carry the variant as a bound parameter; PostgreSQL plans
 *   unnamed statements with the values, so it picks the matching partial index.)
 * - The browse index `(feed_id, variant, total_downloads DESC, lower_id)` also carries
 *   `package_types`, so that the empty query with a package type (`dotnet tool search`) is counted
 *   and paged by an index-only scan instead of reading every document of the variant.
 *
 * Index builds lock writes to `search_documents` for their duration (seconds per 100k ids).
 */
export async function up(db: Kysely<any>): Promise<void> {
  for (const column of ['search_vector', 'field_vector'] as const) {
    for (const variant of VARIANTS) {
      await sql`CREATE INDEX ${sql.id(partialName(column, variant))} ON search_documents USING gin (${sql.id(column)})
                WHERE variant = ${sql.lit(variant)}`.execute(db);
    }
  }
  await sql`DROP INDEX search_documents_search_vector`.execute(db);
  await sql`DROP INDEX search_documents_field_vector`.execute(db);

  await sql`DROP INDEX search_documents_browse`.execute(db);
  await sql`CREATE INDEX search_documents_browse ON search_documents (feed_id, variant, total_downloads DESC, lower_id)
            INCLUDE (package_types)`.execute(db);
}

/** Restores the indexes of `2026_11_21_1700_search`. */
export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP INDEX search_documents_browse`.execute(db);
  await sql`CREATE INDEX search_documents_browse ON search_documents (feed_id, variant, total_downloads DESC, lower_id)`.execute(db);
  await sql`CREATE INDEX search_documents_search_vector ON search_documents USING gin (search_vector)`.execute(db);
  await sql`CREATE INDEX search_documents_field_vector ON search_documents USING gin (field_vector)`.execute(db);
  for (const column of ['search_vector', 'field_vector'] as const) {
    for (const variant of VARIANTS) await sql`DROP INDEX ${sql.id(partialName(column, variant))}`.execute(db);
  }
}
