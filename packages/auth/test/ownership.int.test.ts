/**
 * Package ownership against a real PostgreSQL database: claims by lowercase id (#14), reserved
 * prefixes (#15), concurrent claims, shared ids, the default owner of existing and mirrored ids, and
 * the release of stale claims. The same rules over HTTP: apps/publish-api/test/ownership.int.test.ts.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb, migrateToLatest, type Db } from '@nucat/db';
import { createTestDatabase, type TestDatabase } from '@nucat/testing';
import {
  addOwner,
  authorizeOwner,
  authorizePushOwnership,
  createApiKey,
  DEFAULT_OWNER,
  idPatternCovers,
  listApiKeys,
  listOwnerChanges,
  listOwners,
  listReservations,
  OwnershipChangeError,
  OwnershipError,
  parseIdPattern,
  parseOwnerName,
  readOwnerNames,
  releaseIdPattern,
  releaseStaleClaims,
  removeOwner,
  reserveIdPattern,
  verifyApiKey,
} from '../src/index.js';

let database: TestDatabase;
let db: Db;
let feedId: number;

beforeAll(async () => {
  database = await createTestDatabase();
  db = createDb({ url: database.url, poolSize: 8 });
  await migrateToLatest(db);
  feedId = (await db.selectFrom('feeds').select('id').where('name', '=', 'main').executeTakeFirstOrThrow()).id;
});

afterAll(async () => {
  await db?.destroy();
  await database?.drop();
});

/** Pushes "as" an owner: resolves 'ok' or the refusal reason. */
async function push(owner: string, packageId: string, idExists = false): Promise<string> {
  try {
    await authorizePushOwnership(db, { feedId, owner, packageId, idExists });
    return 'ok';
  } catch (error) {
    if (error instanceof OwnershipError) return error.details.reason;
    throw error;
  }
}

/** A committed version (what ingest writes), so the id "has versions". */
async function insertVersion(id: string, version = '1.0.0'): Promise<void> {
  const now = new Date();
  await db
    .insertInto('packages')
    .values({
      feed_id: feedId,
      lower_id: id.toLowerCase(),
      lower_version: version,
      id,
      version,
      normalized_version: version,
      listed: true,
      semver2: false,
      package_hash: Buffer.alloc(64, id.length).toString('base64'),
      package_size: 1,
      created: now,
      last_commit_timestamp: now,
    })
    .execute();
}

describe('names and patterns', () => {
  it('owner names are ASCII-lowercased and limited to letters, digits, . _ -', () => {
    expect(parseOwnerName('Contoso')).toBe('contoso');
    expect(parseOwnerName(' ci-bot_2.x ')).toBe('ci-bot_2.x');
    for (const bad of ['', '-lead', 'a b', 'ä', 'a/b', 'x'.repeat(65), 'İstanbul']) expect(parseOwnerName(bad), bad).toBeUndefined();
  });

  it("#15 reserved prefix: 'Contoso.*' and 'Contoso.' are one prefix, 'Contoso' an exact id; other wildcards are refused", () => {
    expect(parseIdPattern('Contoso.*')).toEqual({ pattern: 'contoso.*', display: 'Contoso.*', kind: 'prefix' });
    expect(parseIdPattern('Contoso.')).toEqual({ pattern: 'contoso.*', display: 'Contoso.*', kind: 'prefix' });
    expect(parseIdPattern('Contoso')).toEqual({ pattern: 'contoso', display: 'Contoso', kind: 'exact' });
    for (const bad of ['Contoso*', '*.Foo', '*', 'Con*so.*', 'a..b.*', '.*', 'a/b', 'Contoso.**']) expect(parseIdPattern(bad), bad).toBeUndefined();
    const covers = (pattern: string, id: string) => idPatternCovers(parseIdPattern(pattern)!.pattern, id.toLowerCase());
    expect(covers('Contoso.*', 'Contoso.Foo')).toBe(true);
    expect(covers('Contoso.*', 'CONTOSO.foo.bar')).toBe(true);
    expect(covers('Contoso.*', 'Contoso')).toBe(false);
    expect(covers('Contoso.*', 'ContosoEvil')).toBe(false);
    expect(covers('Contoso', 'contoso')).toBe(true);
    expect(covers('Contoso', 'Contoso.Foo')).toBe(false);
  });
});

describe('API key owners', () => {
  it(`keys belong to '${DEFAULT_OWNER}' unless created with an owner; the grant carries it`, async () => {
    const plain = await createApiKey(db, { feedId, name: 'no-owner' });
    const owned = await createApiKey(db, { feedId, name: 'alice-ci', owner: 'Alice' });
    expect((await verifyApiKey(db, feedId, plain.key)).owner).toBe('default');
    expect((await verifyApiKey(db, feedId, owned.key)).owner).toBe('alice');
    const listed = await listApiKeys(db, feedId);
    expect(listed.find((k) => k.name === 'alice-ci')?.owner).toBe('alice');
    await expect(createApiKey(db, { feedId, name: 'bad', owner: 'not an owner' })).rejects.toMatchObject({ code: 'invalid_request' });
  });
});

describe('claims (#14)', () => {
  it('#14 case-variant id squatting: the first push claims the lowercase id; any casing by another owner is refused', async () => {
    expect(await push('alice', 'Newtonsoft.Json')).toBe('ok');
    expect(await push('mallory', 'newtonsoft.json')).toBe('id_owned_by_another_owner');
    expect(await push('mallory', 'NEWTONSOFT.JSON')).toBe('id_owned_by_another_owner');
    expect(await push('alice', 'newtonsoft.JSON')).toBe('ok');
    const owners = await listOwners(db, feedId, 'NewtonSoft.json');
    expect(owners).toMatchObject({ id: 'Newtonsoft.Json', lowerId: 'newtonsoft.json', owners: ['alice'] });
  });

  it('#14 case-variant id squatting: the refusal names neither the owners nor the original casing', async () => {
    await push('alice', 'Quiet.Owner');
    const error = await authorizePushOwnership(db, { feedId, owner: 'mallory', packageId: 'quiet.owner', idExists: false }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OwnershipError);
    expect((error as OwnershipError).code).toBe('forbidden');
    expect((error as OwnershipError).message).toContain("'quiet.owner' belongs to another owner");
    expect((error as OwnershipError).message).not.toContain('alice');
    expect((error as OwnershipError).message).not.toContain('Quiet.Owner');
  });

  it('#14 case-variant id squatting: of two owners claiming a new id at once, exactly one wins, every time', async () => {
    for (let round = 0; round < 20; round++) {
      const results = await Promise.all([push('alice', `Race.R${round}`), push('bob', `race.r${round}`), push('bob', `RACE.R${round}`)]);
      const owners = (await listOwners(db, feedId, `race.r${round}`))!.owners;
      expect(owners, `round ${round}`).toHaveLength(1);
      const expected = owners[0] === 'alice' ? ['ok', 'id_owned_by_another_owner', 'id_owned_by_another_owner'] : ['id_owned_by_another_owner', 'ok', 'ok'];
      expect(results, `round ${round}`).toEqual(expected);
    }
  });

  it('an id shared with `owners add` may be pushed by both; the last owner cannot be removed', async () => {
    await push('alice', 'Shared.Lib');
    expect(await push('bob', 'shared.lib')).toBe('id_owned_by_another_owner');
    expect(await addOwner(db, feedId, 'SHARED.LIB', 'Bob')).toBe('added');
    expect(await addOwner(db, feedId, 'shared.lib', 'bob')).toBe('unchanged');
    expect(await push('bob', 'Shared.Lib')).toBe('ok');
    expect(await removeOwner(db, feedId, 'Shared.Lib', 'alice')).toBe('removed');
    expect(await push('alice', 'Shared.Lib')).toBe('id_owned_by_another_owner');
    await expect(removeOwner(db, feedId, 'Shared.Lib', 'bob')).rejects.toMatchObject({ code: 'last_owner' });
    expect(await removeOwner(db, feedId, 'Shared.Lib', 'carol')).toBe('unchanged');
    await expect(addOwner(db, feedId, 'Never.Pushed', 'bob')).rejects.toBeInstanceOf(OwnershipChangeError);
    await expect(addOwner(db, feedId, 'Shared.Lib', 'not valid')).rejects.toMatchObject({ code: 'invalid_request' });
  });

  it('unlist and relist need ownership too; an id that does not exist passes (the caller answers 404)', async () => {
    await push('alice', 'Unlist.Me');
    await expect(authorizeOwner(db, { feedId, owner: 'alice', packageId: 'unlist.me' })).resolves.toBeUndefined();
    await expect(authorizeOwner(db, { feedId, owner: 'mallory', packageId: 'UNLIST.ME' })).rejects.toMatchObject({
      code: 'forbidden',
      details: { reason: 'id_owned_by_another_owner' },
    });
    await expect(authorizeOwner(db, { feedId, owner: 'mallory', packageId: 'No.Such.Id' })).resolves.toBeUndefined();
  });

  it(`an id with versions but no claim (copied in by a mirror) belongs to '${DEFAULT_OWNER}'`, async () => {
    await insertVersion('Mirrored.Pkg');
    await expect(authorizeOwner(db, { feedId, owner: 'alice', packageId: 'mirrored.pkg' })).rejects.toBeInstanceOf(OwnershipError);
    expect(await push('alice', 'Mirrored.Pkg', true)).toBe('id_owned_by_another_owner');
    expect(await push(DEFAULT_OWNER, 'mirrored.pkg', true)).toBe('ok');
    expect(await listOwners(db, feedId, 'mirrored.pkg')).toMatchObject({ id: 'Mirrored.Pkg', owners: ['default'] });
  });
});

describe('owners for search', () => {
  it('reads the owners of many ids at once: sorted; an id nobody claimed is the default owner\'s', async () => {
    await push('zed', 'Search.Owned');
    await addOwner(db, feedId, 'Search.Owned', 'amy');
    const owners = await readOwnerNames(db, feedId, ['search.owned', 'nobody.claimed.this']);
    expect(Object.fromEntries(owners)).toEqual({ 'search.owned': ['amy', 'zed'], 'nobody.claimed.this': [DEFAULT_OWNER] });
    expect(await readOwnerNames(db, feedId, [])).toEqual(new Map());
  });

  it('records when an id\'s owners change (claim, add, remove) and not otherwise, for the search owner sync', async () => {
    const changedAt = async (lowerId: string) => (await listOwnerChanges(db, feedId, new Date(0))).find((c) => c.lowerId === lowerId)?.changedAt;
    await push('zed', 'Sync.Me');
    const claimed = await changedAt('sync.me');
    expect(claimed).toBeInstanceOf(Date);
    const later = async (what: string, since: Date) =>
      expect((await listOwnerChanges(db, feedId, since)).map((c) => c.lowerId), what).toContain('sync.me');

    expect(await addOwner(db, feedId, 'Sync.Me', 'zed')).toBe('unchanged');
    expect(await changedAt('sync.me'), 'an owner added twice changes nothing').toEqual(claimed);
    expect(await addOwner(db, feedId, 'Sync.Me', 'amy')).toBe('added');
    const added = (await changedAt('sync.me'))!;
    expect(added.getTime()).toBeGreaterThan(claimed!.getTime());
    await later('after add', claimed!);
    expect(await removeOwner(db, feedId, 'Sync.Me', 'zed')).toBe('removed');
    expect((await changedAt('sync.me'))!.getTime()).toBeGreaterThan(added.getTime());
    await later('after remove', added);
    // (Dates carry milliseconds, the column microseconds: one millisecond later is past the change.)
    const after = new Date((await changedAt('sync.me'))!.getTime() + 1);
    expect((await listOwnerChanges(db, feedId, after)).map((c) => c.lowerId)).not.toContain('sync.me');
  });
});

describe('reserved prefixes (#15)', () => {
  it('#15 reserved prefix: only its owners may push a NEW id under it; ids claimed before keep their owners', async () => {
    expect(await push('bob', 'Contoso.Legacy')).toBe('ok'); // before the reservation
    expect((await reserveIdPattern(db, feedId, 'Contoso.*', 'contoso')).result).toBe('reserved');
    expect((await reserveIdPattern(db, feedId, 'contoso.', 'Contoso')).result).toBe('unchanged');

    expect(await push('bob', 'Contoso.New')).toBe('id_prefix_reserved');
    expect(await push('bob', 'CONTOSO.new.Deeper')).toBe('id_prefix_reserved');
    expect(await push('bob', 'ContosoEvil')).toBe('ok');
    expect(await push('bob', 'Contoso')).toBe('ok'); // the bare name is not under 'Contoso.*'
    expect(await push('contoso', 'Contoso.New')).toBe('ok');
    expect(await push('bob', 'contoso.legacy', true)).toBe('ok'); // existing id, its owner
    expect(await push('contoso', 'Contoso.Legacy', true)).toBe('id_owned_by_another_owner'); // the reservation does not take ids

    const error = await authorizePushOwnership(db, { feedId, owner: 'bob', packageId: 'Contoso.Other', idExists: false }).catch((e: unknown) => e);
    expect((error as OwnershipError).message).toBe("The package id 'Contoso.Other' is reserved: only the owners of its prefix may push new ids under it.");
  });

  it('#15 reserved prefix: the most specific reservation decides; an exact id reservation sets a name aside', async () => {
    await reserveIdPattern(db, feedId, 'Fabrikam.*', 'fabrikam');
    await reserveIdPattern(db, feedId, 'Fabrikam.Internal.*', 'fabrikam-internal');
    await reserveIdPattern(db, feedId, 'Fabrikam.Internal.Shared', 'fabrikam');
    expect(await push('fabrikam', 'Fabrikam.Internal.Tool')).toBe('id_prefix_reserved');
    expect(await push('fabrikam-internal', 'Fabrikam.Internal.Tool')).toBe('ok');
    expect(await push('fabrikam-internal', 'Fabrikam.Web')).toBe('id_prefix_reserved');
    expect(await push('fabrikam-internal', 'Fabrikam.Internal.Shared')).toBe('id_prefix_reserved');
    expect(await push('fabrikam', 'fabrikam.internal.shared')).toBe('ok');

    await reserveIdPattern(db, feedId, 'Fabrikam.*', 'partner');
    expect(await push('partner', 'Fabrikam.Partner')).toBe('ok'); // several owners may share a reservation
    const listed = (await listReservations(db, feedId)).filter((r) => r.pattern.startsWith('fabrikam'));
    expect(listed.map((r) => `${r.display}:${r.kind}:${r.owner}`)).toEqual([
      'Fabrikam.*:prefix:fabrikam',
      'Fabrikam.*:prefix:partner',
      'Fabrikam.Internal.*:prefix:fabrikam-internal',
      'Fabrikam.Internal.Shared:exact:fabrikam',
    ]);
    expect(await releaseIdPattern(db, feedId, 'fabrikam.*', 'partner')).toBe(1);
    expect(await releaseIdPattern(db, feedId, 'FABRIKAM.internal.*')).toBe(1);
    expect(await push('fabrikam', 'Fabrikam.Internal.Other')).toBe('ok');
    await expect(reserveIdPattern(db, feedId, 'Fabrikam*', 'fabrikam')).rejects.toMatchObject({ code: 'invalid_request' });
  });
});

describe('stale claims', () => {
  it('a claim whose push never committed a version is released after the minimum age, never one with versions', async () => {
    await push('alice', 'Stale.Claim');
    await push('alice', 'Kept.Claim');
    await insertVersion('Kept.Claim');
    await push('alice', 'Fresh.Claim');
    await sql`UPDATE package_ids SET touched_at = now() - interval '2 hours' WHERE lower_id IN ('stale.claim', 'kept.claim')`.execute(db);

    const preview = await releaseStaleClaims(db, { minAgeMs: 3_600_000, dryRun: true });
    expect(preview.map((c) => [c.id, c.owners])).toEqual([['Stale.Claim', ['alice']]]);
    expect(await listOwners(db, feedId, 'stale.claim')).toBeDefined();

    const released = await releaseStaleClaims(db, { minAgeMs: 3_600_000 });
    expect(released.map((c) => [c.id, c.owners])).toEqual([['Stale.Claim', ['alice']]]);
    expect(await listOwners(db, feedId, 'stale.claim')).toBeUndefined();
    expect((await listOwners(db, feedId, 'kept.claim'))?.owners).toEqual(['alice']);
    expect(await push('bob', 'Stale.Claim')).toBe('ok'); // free again
  });

  it('a push by an owner refreshes its claim, so the claim is not released under that push', async () => {
    await push('alice', 'Retried.Claim');
    await sql`UPDATE package_ids SET touched_at = now() - interval '2 hours' WHERE lower_id = 'retried.claim'`.execute(db);
    expect(await push('alice', 'Retried.Claim')).toBe('ok'); // the retry after a failed first push
    expect(await releaseStaleClaims(db, { minAgeMs: 3_600_000 })).toEqual([]);
    expect((await listOwners(db, feedId, 'retried.claim'))?.owners).toEqual(['alice']);
  });
});
