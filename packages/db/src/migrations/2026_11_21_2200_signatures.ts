import { sql, type Kysely, type RawBuilder } from 'kysely';

/**
 * Package signatures (reliability.md §2 #19). nucat does not verify signatures; it records that a
 * package carries one, so operators (`nucat info`) and pushers (the push reply) can see it.
 *
 * `packages.signature`: null when the package has no `.signature.p7s` at its root, `'unverified'` when
 * it has one (never read, let alone checked — NuGet clients verify signatures themselves on restore,
 * per their own trust policy). Other states (`verified`, `invalid`) are left for a future verifier.
 *
 * The state is derived from the package's own catalog leaf (its `packageEntries`) by a trigger on
 * `catalog_items`, in the transaction that appends the PackageDetails leaf: it is committed with the
 * package whatever path ingested it (publish API, mirror), and a crash cannot leave a signed package
 * recorded as unsigned. The trigger only runs for leaves listing a `.signature.p7s` entry, so unsigned
 * packages cost nothing more than the `WHEN` test.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('packages')
    .addColumn('signature', 'text', (c) => c.check(sql`signature IN ('unverified')`))
    .execute();

  await sql`
    CREATE FUNCTION nucat_record_package_signature() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      UPDATE packages SET signature = 'unverified'
      WHERE feed_id = NEW.feed_id AND lower_id = NEW.lower_id AND lower_version = NEW.lower_version
        AND signature IS NULL;
      RETURN NULL;
    END
    $$`.execute(db);
  await sql`
    CREATE TRIGGER catalog_items_record_signature
    AFTER INSERT ON catalog_items
    FOR EACH ROW
    WHEN (NEW.type = 'PackageDetails' AND ${hasSignatureEntry(sql`NEW.data`)})
    EXECUTE FUNCTION nucat_record_package_signature()`.execute(db);

  // Packages pushed before this migration: from their leaves.
  await sql`
    UPDATE packages p SET signature = 'unverified'
    WHERE EXISTS (
      SELECT 1 FROM catalog_items c
      WHERE c.feed_id = p.feed_id AND c.lower_id = p.lower_id AND c.lower_version = p.lower_version
        AND c.type = 'PackageDetails' AND ${hasSignatureEntry(sql`c.data`)})`.execute(db);
}

/** True when a PackageDetails leaf lists a root `.signature.p7s` entry (NuGet's package signature file; any casing). */
function hasSignatureEntry(data: RawBuilder<unknown>): RawBuilder<boolean> {
  return sql<boolean>`jsonb_path_exists(${data}, '$.packageEntries[*] ? (@.fullName like_regex "^[.]signature[.]p7s$" flag "i")')`;
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TRIGGER catalog_items_record_signature ON catalog_items`.execute(db);
  await sql`DROP FUNCTION nucat_record_package_signature()`.execute(db);
  await db.schema.alterTable('packages').dropColumn('signature').execute();
}
