/**
 * Migrations 2100_ownership, 2200_signatures and 2300_content_leases on a database that already holds
 * keys, packages and catalog leaves: existing keys and ids go to the `default` owner, signed packages are
 * found in their leaves, and the signature trigger records new ones.
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '@nucat/testing';
import { createDb, migrateToLatest, type Db } from '../src/index.js';
import * as ownership from '../src/migrations/2026_11_21_2100_ownership.js';
import * as signatures from '../src/migrations/2026_11_21_2200_signatures.js';
import * as contentLeases from '../src/migrations/2026_11_21_2300_content_leases.js';

let database: TestDatabase;
let db: Db;

beforeAll(async () => {
  database = await createTestDatabase();
  db = createDb({ url: database.url, poolSize: 2 });
  expect(await migrateToLatest(db)).toEqual(
    expect.arrayContaining(['2026_11_21_2100_ownership', '2026_11_21_2200_signatures', '2026_11_21_2300_content_leases']),
  );
});

afterAll(async () => {
  await db?.destroy();
  await database?.drop();
});

/** A packages row and its PackageDetails leaf, written with plain SQL (the schema before or after the migrations). */
async function addVersion(id: string, version: string, entries: string[], created: string): Promise<void> {
  const lowerId = id.toLowerCase();
  await sql`INSERT INTO packages (feed_id, lower_id, lower_version, id, version, normalized_version, listed, semver2, package_hash, package_size, created, last_commit_timestamp)
            VALUES (1, ${lowerId}, ${version}, ${id}, ${version}, ${version}, true, false, ${`hash-${id}-${version}`}, 1, ${created}, ${created})`.execute(db);
  const data = JSON.stringify({ packageEntries: entries.map((fullName) => ({ fullName, name: fullName.split('/').pop(), length: 1, compressedLength: 1 })) });
  await sql`INSERT INTO catalog_items (feed_id, commit_timestamp, commit_id, page_number, type, lower_id, lower_version, data)
            VALUES (1, ${created}, ${randomUUID()}, 0, 'PackageDetails', ${lowerId}, ${version}, ${data}::jsonb)`.execute(db);
}

describe('ownership and signature migrations', () => {
  it('go down, and up again over existing keys, packages and leaves', async () => {
    await contentLeases.down(db);
    await signatures.down(db);
    await ownership.down(db);

    await sql`INSERT INTO api_keys (feed_id, name, lookup, secret_hash, scopes, id_globs) VALUES (1, 'old', 'aaaaaaaaaaaaaaaa', '\\x00', '{push}', '{*}')`.execute(db);
    await addVersion('Contoso.Signed', '1.0.0', ['Contoso.Signed.nuspec', '.signature.p7s'], '2026-01-01T00:00:00Z');
    await addVersion('contoso.signed', '2.0.0', ['contoso.signed.nuspec'], '2026-01-02T00:00:00Z');
    await addVersion('Contoso.Plain', '1.0.0', ['Contoso.Plain.nuspec', 'content/.signature.p7s'], '2026-01-03T00:00:00Z');

    // Applied directly, not through the migrator: a later migration may already be recorded as applied.
    await ownership.up(db);
    await signatures.up(db);
    await contentLeases.up(db);

    expect((await db.selectFrom('api_keys').select('owner').where('name', '=', 'old').executeTakeFirstOrThrow()).owner).toBe('default');
    const ids = await db.selectFrom('package_ids').select(['lower_id', 'id']).orderBy('lower_id').execute();
    expect(ids).toEqual([
      { lower_id: 'contoso.plain', id: 'Contoso.Plain' },
      { lower_id: 'contoso.signed', id: 'Contoso.Signed' },
    ]);
    const owners = await db.selectFrom('package_owners').select(['lower_id', 'owner']).orderBy('lower_id').execute();
    expect(owners).toEqual([
      { lower_id: 'contoso.plain', owner: 'default' },
      { lower_id: 'contoso.signed', owner: 'default' },
    ]);
    const signed = await db.selectFrom('packages').select(['id', 'version', 'signature']).orderBy('id').orderBy('version').execute();
    expect(signed).toEqual([
      { id: 'Contoso.Plain', version: '1.0.0', signature: null }, // a .signature.p7s in a subfolder is no package signature
      { id: 'Contoso.Signed', version: '1.0.0', signature: 'unverified' },
      { id: 'contoso.signed', version: '2.0.0', signature: null },
    ]);
  });

  it('#19 signature: a PackageDetails leaf listing .signature.p7s (any casing) marks its version signed-unverified in the same transaction', async () => {
    await addVersion('Fabrikam.Signed', '1.0.0', ['Fabrikam.Signed.nuspec', '.SIGNATURE.P7S'], '2026-02-01T00:00:00Z');
    await addVersion('Fabrikam.Plain', '1.0.0', ['Fabrikam.Plain.nuspec'], '2026-02-02T00:00:00Z');
    const rows = await db.selectFrom('packages').select(['id', 'signature']).where('lower_id', 'like', 'fabrikam.%').orderBy('id').execute();
    expect(rows).toEqual([
      { id: 'Fabrikam.Plain', signature: null },
      { id: 'Fabrikam.Signed', signature: 'unverified' },
    ]);
    await expect(sql`UPDATE packages SET signature = 'verified'`.execute(db)).rejects.toThrow(/check constraint/);
  });

  it('refuses owner names and patterns the code would never write', async () => {
    await expect(sql`INSERT INTO package_ids (feed_id, lower_id, id) VALUES (1, 'x', 'X')`.execute(db)).resolves.toBeDefined();
    await expect(sql`INSERT INTO package_owners (feed_id, lower_id, owner) VALUES (1, 'x', 'Upper')`.execute(db)).rejects.toThrow(/check constraint/);
    await expect(sql`INSERT INTO package_owners (feed_id, lower_id, owner) VALUES (1, 'nope', 'alice')`.execute(db)).rejects.toThrow(/foreign key/);
    await expect(sql`INSERT INTO reserved_prefixes (feed_id, pattern, display, owner) VALUES (1, 'contoso*', 'Contoso*', 'a')`.execute(db)).rejects.toThrow(
      /check constraint/,
    );
    await expect(sql`INSERT INTO reserved_prefixes (feed_id, pattern, display, owner) VALUES (1, 'contoso.*', 'Contoso.*', 'a')`.execute(db)).resolves.toBeDefined();
  });
});
