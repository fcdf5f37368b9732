import { sql, type Kysely } from 'kysely';

/**
 * The initial schema. Everything is feed-scoped (`feed_id`) so that several feeds can share one
 * database later without a rewrite; one default feed, `main`, is created here.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('feeds')
    .addColumn('id', 'serial', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.insertInto('feeds').values({ name: 'main' }).execute();

  await db.schema
    .createTable('api_keys')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('feed_id', 'integer', (c) => c.notNull().references('feeds.id'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('lookup', 'text', (c) => c.notNull().unique())
    .addColumn('secret_hash', 'bytea', (c) => c.notNull())
    .addColumn('scopes', sql`text[]`, (c) => c.notNull())
    .addColumn('id_globs', sql`text[]`, (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('expires_at', 'timestamptz')
    .addColumn('revoked_at', 'timestamptz')
    .execute();

  // Write-side state of every id+version ever pushed. Uniqueness (409) is enforced by the primary
  // key, in the same transaction as the catalog append. Deleted rows stay so a version is never reused.
  await db.schema
    .createTable('packages')
    .addColumn('feed_id', 'integer', (c) => c.notNull().references('feeds.id'))
    .addColumn('lower_id', 'text', (c) => c.notNull())
    .addColumn('lower_version', 'text', (c) => c.notNull())
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('version', 'text', (c) => c.notNull())
    .addColumn('normalized_version', 'text', (c) => c.notNull())
    .addColumn('listed', 'boolean', (c) => c.notNull())
    .addColumn('deleted', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('semver2', 'boolean', (c) => c.notNull())
    .addColumn('package_hash', 'text', (c) => c.notNull())
    .addColumn('package_size', 'bigint', (c) => c.notNull())
    .addColumn('created', 'timestamptz', (c) => c.notNull())
    .addColumn('last_commit_timestamp', 'timestamptz', (c) => c.notNull())
    .addPrimaryKeyConstraint('packages_pk', ['feed_id', 'lower_id', 'lower_version'])
    .execute();

  // One row per feed, locked FOR UPDATE by every catalog append: appends are serialised, so
  // commit order equals commit-timestamp order (architecture.md, "Source of truth").
  await db.schema
    .createTable('catalog_heads')
    .addColumn('feed_id', 'integer', (c) => c.primaryKey().references('feeds.id'))
    .addColumn('last_commit_timestamp', 'timestamptz')
    .addColumn('page_number', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('page_item_count', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await sql`INSERT INTO catalog_heads (feed_id) SELECT id FROM feeds`.execute(db);

  await db.schema
    .createTable('catalog_commits')
    .addColumn('feed_id', 'integer', (c) => c.notNull().references('feeds.id'))
    .addColumn('commit_timestamp', 'timestamptz', (c) => c.notNull())
    .addColumn('commit_id', 'uuid', (c) => c.notNull().unique())
    .addColumn('page_number', 'integer', (c) => c.notNull())
    .addColumn('item_count', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('catalog_commits_pk', ['feed_id', 'commit_timestamp'])
    .execute();
  await db.schema
    .createIndex('catalog_commits_page')
    .on('catalog_commits')
    .columns(['feed_id', 'page_number'])
    .execute();

  // The catalog itself: append-only, never updated or deleted.
  await db.schema
    .createTable('catalog_items')
    .addColumn('seq', 'bigserial', (c) => c.primaryKey())
    .addColumn('feed_id', 'integer', (c) => c.notNull().references('feeds.id'))
    .addColumn('commit_timestamp', 'timestamptz', (c) => c.notNull())
    .addColumn('commit_id', 'uuid', (c) => c.notNull())
    .addColumn('page_number', 'integer', (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull().check(sql`type IN ('PackageDetails', 'PackageDelete')`))
    .addColumn('lower_id', 'text', (c) => c.notNull())
    .addColumn('lower_version', 'text', (c) => c.notNull())
    .addColumn('data', 'jsonb', (c) => c.notNull())
    .addUniqueConstraint('catalog_items_commit_package', ['feed_id', 'commit_timestamp', 'lower_id', 'lower_version'])
    .execute();
  await db.schema
    .createIndex('catalog_items_page')
    .on('catalog_items')
    .columns(['feed_id', 'page_number', 'commit_timestamp'])
    .execute();
  await db.schema
    .createIndex('catalog_items_package')
    .on('catalog_items')
    .columns(['feed_id', 'lower_id', 'lower_version', 'commit_timestamp'])
    .execute();

  await db.schema
    .createTable('projection_cursors')
    .addColumn('feed_id', 'integer', (c) => c.notNull().references('feeds.id'))
    .addColumn('projection', 'text', (c) => c.notNull())
    .addColumn('cursor', 'timestamptz', (c) => c.notNull().defaultTo(sql`'epoch'`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('projection_cursors_pk', ['feed_id', 'projection'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of ['projection_cursors', 'catalog_items', 'catalog_commits', 'catalog_heads', 'packages', 'api_keys', 'feeds']) {
    await db.schema.dropTable(table).execute();
  }
}
