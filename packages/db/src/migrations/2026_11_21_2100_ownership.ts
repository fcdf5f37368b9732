import { sql, type Kysely } from 'kysely';

/** Owner names: ASCII lowercase letters, digits, `.`, `_`, `-`; 1–64 characters, starting with a letter or digit. */
const OWNER_NAME_CHECK = sql`~ '^[a-z0-9][a-z0-9._-]{0,63}$'`;

/**
 * Package ownership (reliability.md §2 #14 and #15).
 *
 * - `api_keys.owner`: the account a key acts for. Existing keys, and keys created without an owner,
 *   belong to the owner `default`.
 * - `package_ids`: one row per claimed id, keyed by its lowercase form, so every casing of an id has
 *   the same owners. `id` keeps the casing of the push that claimed it (for display). The first push of
 *   a new id claims it (`INSERT … ON CONFLICT DO NOTHING`: of two concurrent claims exactly one wins).
 *   `touched_at` is when an owner last pushed the id while it had no version yet: `nucat gc` releases
 *   claims whose push never committed a version, once they are older than its minimum age.
 * - `package_owners`: the owners of each claimed id (one or more; shared with `nucat owners add`).
 * - `reserved_prefixes`: id patterns (`contoso.*` = ids starting with `contoso.`; `contoso` = that id
 *   exactly), stored ASCII-lowercased, with the casing given for display; only their owners may push a
 *   *new* id that matches.
 *
 * Every id that already has versions is claimed here for the `default` owner, so existing setups keep
 * working unchanged.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('api_keys')
    .addColumn('owner', 'text', (c) => c.notNull().defaultTo('default').check(sql`owner ${OWNER_NAME_CHECK}`))
    .execute();

  await db.schema
    .createTable('package_ids')
    .addColumn('feed_id', 'integer', (c) => c.notNull().references('feeds.id'))
    .addColumn('lower_id', 'text', (c) => c.notNull())
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('claimed_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('touched_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('package_ids_pk', ['feed_id', 'lower_id'])
    .execute();

  await db.schema
    .createTable('package_owners')
    .addColumn('feed_id', 'integer', (c) => c.notNull())
    .addColumn('lower_id', 'text', (c) => c.notNull())
    .addColumn('owner', 'text', (c) => c.notNull().check(sql`owner ${OWNER_NAME_CHECK}`))
    .addColumn('added_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('package_owners_pk', ['feed_id', 'lower_id', 'owner'])
    .addForeignKeyConstraint('package_owners_id_fk', ['feed_id', 'lower_id'], 'package_ids', ['feed_id', 'lower_id'], (fk) =>
      fk.onDelete('cascade'),
    )
    .execute();

  await db.schema
    .createTable('reserved_prefixes')
    .addColumn('feed_id', 'integer', (c) => c.notNull().references('feeds.id'))
    .addColumn('pattern', 'text', (c) => c.notNull())
    .addColumn('display', 'text', (c) => c.notNull())
    .addColumn('owner', 'text', (c) => c.notNull().check(sql`owner ${OWNER_NAME_CHECK}`))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('reserved_prefixes_pk', ['feed_id', 'pattern', 'owner'])
    .addCheckConstraint('reserved_prefixes_pattern_ck', sql`pattern = lower(pattern) AND pattern ~ '^[a-z0-9_]+([.-][a-z0-9_]+)*(\\.\\*)?$'`)
    .execute();

  // Existing ids: claimed for the default owner, with the casing of their first version.
  await sql`
    INSERT INTO package_ids (feed_id, lower_id, id, claimed_at, touched_at)
    SELECT DISTINCT ON (feed_id, lower_id) feed_id, lower_id, id, created, created
    FROM packages
    ORDER BY feed_id, lower_id, created`.execute(db);
  await sql`INSERT INTO package_owners (feed_id, lower_id, owner) SELECT feed_id, lower_id, 'default' FROM package_ids`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('reserved_prefixes').execute();
  await db.schema.dropTable('package_owners').execute();
  await db.schema.dropTable('package_ids').execute();
  await db.schema.alterTable('api_keys').dropColumn('owner').execute();
}
