/**
 * Package ownership: who may push and unlist an id (reliability.md §2 #14 and #15).
 *
 * - Every API key acts for one owner (an account name; `default` unless created with one).
 * - An id is owned by one or more owners, keyed by its ASCII-lowercased form, so `Newtonsoft.Json` and
 *   `newtonsoft.json` are one id with one set of owners. The casing of the claiming push is kept for display.
 * - The first push of a new id claims it for the pushing key's owner, atomically (a primary-key insert:
 *   of two owners pushing a new id at once, exactly one gets it, the other a 403).
 * - Any other owner pushing any casing of a claimed id, or unlisting/relisting one of its versions,
 *   gets 403 `forbidden` ("belongs to another owner"), which names neither the owners nor the casing.
 * - Reserved prefixes (`Contoso.*`) and exact reserved ids: only their owners may claim a *new* id they
 *   cover. When several reservations cover an id, the most specific decides (an exact id, else the
 *   longest prefix). Ids claimed before a reservation, and new versions of them, are unaffected.
 * - Ids with versions but no claim (copied in by a mirror, which ingests without ownership checks) belong
 *   to the `default` owner; the first push or owner change records that claim.
 * - No key bypasses ownership, however broad its scopes and globs: owners are changed only by the
 *   operator (`nucat owners`, `nucat prefixes`), who has database access. A leaked key therefore never
 *   reaches another owner's ids.
 */
import { sql, type Kysely } from 'kysely';
import type { Database } from '@nucat/db';
import { asciiLower, DEFAULT_OWNER, idPatternCovers, parseIdPattern, parseOwnerName, type IdPattern } from './owner-names.js';

type Db = Kysely<Database>;

/** Why a push or unlist was refused by ownership (the `details.reason` of an {@link OwnershipError}). */
export type OwnershipRefusal = 'id_owned_by_another_owner' | 'id_prefix_reserved';

/** Raised when the key's owner may not act on an id (HTTP 403, code `forbidden`). */
export class OwnershipError extends Error {
  readonly code = 'forbidden' as const;
  readonly details: { reason: OwnershipRefusal };
  constructor(reason: OwnershipRefusal, message: string) {
    super(message);
    this.name = 'OwnershipError';
    this.details = { reason };
  }
}

/**
 * Raised by the ownership administration functions (`nucat owners`, `nucat prefixes`) for a bad owner
 * name or pattern (`invalid_request`), an id nobody has claimed (`not_found`), or removing an id's last
 * owner (`last_owner`).
 */
export class OwnershipChangeError extends Error {
  constructor(
    readonly code: 'invalid_request' | 'not_found' | 'last_owner',
    message: string,
  ) {
    super(message);
    this.name = 'OwnershipChangeError';
  }
}

function ownedElsewhere(packageId: string): OwnershipError {
  return new OwnershipError(
    'id_owned_by_another_owner',
    `The package id '${packageId}' belongs to another owner; ask one of its owners to share it with you.`,
  );
}

/** Input of {@link authorizePushOwnership}. */
export interface PushOwnershipInput {
  feedId: number;
  /** The pushing key's owner. */
  owner: string;
  /** The id as the package spells it. */
  packageId: string;
  /** Whether the id already has versions in the feed (deleted ones included). */
  idExists: boolean;
}

/** How many times a claim is re-read when it changes under us (released by `gc`, claimed by another push). */
const CLAIM_ATTEMPTS = 5;

/**
 * Checks that `owner` may push `packageId`, claiming the id for it when nobody has.
 *
 * - A claimed id: allowed when `owner` is one of its owners, else {@link OwnershipError}. While the id has
 *   no version yet, the claim's `touched_at` is refreshed, so `nucat gc` does not release it under a push.
 * - An id with versions but no claim: claimed for {@link DEFAULT_OWNER}, then checked as above.
 * - A new id: refused when a reservation of another owner covers it; otherwise claimed. The claim is an
 *   insert on the `(feed_id, lower_id)` primary key: of concurrent claims exactly one wins; the others
 *   re-read the claim and are allowed (same owner) or refused.
 *
 * The claim is committed at once, before the package: a push that then fails (or dies) leaves its
 * owner holding the id, so a retry succeeds; `nucat gc` releases claims of ids that never got a version
 * once they are older than its minimum age.
 *
 * @throws OwnershipError (code `forbidden`) when another owner owns the id or a reservation covers it.
 */
export async function authorizePushOwnership(db: Db, input: PushOwnershipInput): Promise<void> {
  const { feedId, owner, packageId } = input;
  const lowerId = asciiLower(packageId);
  for (let attempt = 0; attempt < CLAIM_ATTEMPTS; attempt++) {
    const owners = await readOwners(db, feedId, lowerId);
    if (owners !== undefined) {
      if (!owners.includes(owner)) throw ownedElsewhere(packageId);
      if (input.idExists) return;
      const touched = await db
        .updateTable('package_ids')
        .set({ touched_at: sql`now()` })
        .where('feed_id', '=', feedId)
        .where('lower_id', '=', lowerId)
        .executeTakeFirst();
      if (touched.numUpdatedRows > 0n) return;
      continue; // released meanwhile (gc): claim it again
    }
    if (input.idExists) {
      await claimForDefaultOwner(db, feedId, lowerId);
      continue;
    }
    await assertNotReservedForOthers(db, feedId, lowerId, owner, packageId);
    const claimed = await db.transaction().execute(async (trx) => {
      const row = await trx
        .insertInto('package_ids')
        .values({ feed_id: feedId, lower_id: lowerId, id: packageId })
        .onConflict((oc) => oc.columns(['feed_id', 'lower_id']).doNothing())
        .returning('lower_id')
        .executeTakeFirst();
      if (!row) return false;
      await trx.insertInto('package_owners').values({ feed_id: feedId, lower_id: lowerId, owner }).execute();
      return true;
    });
    if (claimed) return;
  }
  throw new Error(`the ownership of '${packageId}' kept changing while it was being checked`);
}

/**
 * Checks that `owner` may unlist or relist versions of `packageId`: it owns the id, or the id has
 * versions but no claim and `owner` is {@link DEFAULT_OWNER}. An id that does not exist at all passes
 * (the caller answers 404).
 * @throws OwnershipError (code `forbidden`)
 */
export async function authorizeOwner(db: Db, input: { feedId: number; owner: string; packageId: string }): Promise<void> {
  const { feedId, owner, packageId } = input;
  const lowerId = asciiLower(packageId);
  const owners = await readOwners(db, feedId, lowerId);
  if (owners !== undefined) {
    if (!owners.includes(owner)) throw ownedElsewhere(packageId);
    return;
  }
  if (owner === DEFAULT_OWNER) return;
  if (await hasVersions(db, feedId, lowerId)) throw ownedElsewhere(packageId);
}

/** The owners of a claimed id (possibly none), or undefined when the id is not claimed. */
async function readOwners(db: Db, feedId: number, lowerId: string): Promise<string[] | undefined> {
  const rows = await db
    .selectFrom('package_ids as i')
    .leftJoin('package_owners as o', (join) => join.onRef('o.feed_id', '=', 'i.feed_id').onRef('o.lower_id', '=', 'i.lower_id'))
    .select('o.owner')
    .where('i.feed_id', '=', feedId)
    .where('i.lower_id', '=', lowerId)
    .execute();
  if (rows.length === 0) return undefined;
  return rows.flatMap((r) => (r.owner === null ? [] : [r.owner]));
}

async function hasVersions(db: Db, feedId: number, lowerId: string): Promise<boolean> {
  const row = await db
    .selectFrom('packages')
    .select('lower_id')
    .where('feed_id', '=', feedId)
    .where('lower_id', '=', lowerId)
    .limit(1)
    .executeTakeFirst();
  return row !== undefined;
}

/**
 * Records the claim of an id that has versions but none (a mirror copied it in): the default owner's,
 * with the casing of its first version. Returns false when the id has no version (nothing claimed).
 */
async function claimForDefaultOwner(db: Db, feedId: number, lowerId: string): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    const inserted = await sql<{ lower_id: string }>`
      INSERT INTO package_ids (feed_id, lower_id, id, claimed_at, touched_at)
      SELECT feed_id, lower_id, id, created, created FROM packages
      WHERE feed_id = ${feedId} AND lower_id = ${lowerId}
      ORDER BY created LIMIT 1
      ON CONFLICT (feed_id, lower_id) DO NOTHING
      RETURNING lower_id`.execute(trx);
    if (inserted.rows.length > 0) {
      await trx.insertInto('package_owners').values({ feed_id: feedId, lower_id: lowerId, owner: DEFAULT_OWNER }).execute();
      return true;
    }
    return (await hasVersions(trx, feedId, lowerId)) || (await readOwners(trx, feedId, lowerId)) !== undefined;
  });
}

/** Throws unless no reservation covers the id, or `owner` holds the most specific one that does. */
async function assertNotReservedForOthers(db: Db, feedId: number, lowerId: string, owner: string, packageId: string): Promise<void> {
  const rows = await db
    .selectFrom('reserved_prefixes')
    .select(['pattern', 'owner'])
    .where('feed_id', '=', feedId)
    .where((eb) =>
      eb.or([eb('pattern', '=', lowerId), eb.and([eb('pattern', 'like', '%.*'), sql<boolean>`starts_with(${lowerId}, left(pattern, -1))`])]),
    )
    .execute();
  const covering = rows.filter((r) => idPatternCovers(r.pattern, lowerId));
  if (covering.length === 0) return;
  const specificity = (pattern: string) => (pattern.endsWith('.*') ? pattern.length : Number.MAX_SAFE_INTEGER);
  const best = covering.reduce((a, b) => (specificity(b.pattern) > specificity(a.pattern) ? b : a)).pattern;
  if (covering.some((r) => r.pattern === best && r.owner === owner)) return;
  throw new OwnershipError(
    'id_prefix_reserved',
    `The package id '${packageId}' is reserved: only the owners of its prefix may push new ids under it.`,
  );
}

// -------------------------------------------------------------------------------------------------
// Administration (the CLI): owners of an id, reserved prefixes, stale claims.

/**
 * The owner names of ids (lowercased ids), as search shows them: a claimed id's owners, sorted; an id
 * nobody claimed (copied in by a mirror) is the default owner's, as {@link listOwners} reports it.
 */
export async function readOwnerNames(db: Db, feedId: number, lowerIds: readonly string[]): Promise<Map<string, string[]>> {
  const owners = new Map<string, string[]>(lowerIds.map((lowerId) => [lowerId, [DEFAULT_OWNER]]));
  if (lowerIds.length === 0) return owners;
  const rows = await sql<{ lower_id: string; owners: string[] }>`
    SELECT i.lower_id, coalesce(array_agg(o.owner ORDER BY o.owner) FILTER (WHERE o.owner IS NOT NULL), '{}') AS owners
      FROM package_ids i
      LEFT JOIN package_owners o ON o.feed_id = i.feed_id AND o.lower_id = i.lower_id
     WHERE i.feed_id = ${feedId} AND i.lower_id = ANY(${[...lowerIds]}::text[])
     GROUP BY i.lower_id`.execute(db);
  for (const row of rows.rows) owners.set(row.lower_id, row.owners);
  return owners;
}

/** Ids whose owners changed after `since` (a claim, an owner added or removed), oldest first. */
export async function listOwnerChanges(db: Db, feedId: number, since: Date): Promise<{ lowerId: string; changedAt: Date }[]> {
  const rows = await db
    .selectFrom('package_ids')
    .select(['lower_id', 'owners_changed_at'])
    .where('feed_id', '=', feedId)
    .where('owners_changed_at', '>', since)
    .orderBy('owners_changed_at')
    .execute();
  return rows.map((r) => ({ lowerId: r.lower_id, changedAt: r.owners_changed_at }));
}

/** Records that an id's owners changed, for the search owner sync (a claim sets it when inserted). */
async function markOwnersChanged(db: Db, feedId: number, lowerId: string): Promise<void> {
  await db.updateTable('package_ids').set({ owners_changed_at: sql`now()` }).where('feed_id', '=', feedId).where('lower_id', '=', lowerId).execute();
}

function ownerOrThrow(text: string): string {
  const owner = parseOwnerName(text);
  if (owner === undefined) {
    throw new OwnershipChangeError('invalid_request', `invalid owner name '${text}' (letters, digits, '.', '_', '-'; at most 64)`);
  }
  return owner;
}

/** A claimed id and its owners, as {@link listOwners} returns it. */
export interface IdOwners {
  /** The casing of the push that claimed it. */
  id: string;
  lowerId: string;
  owners: string[];
  claimedAt: Date;
}

/**
 * The owners of an id (any casing). An id with versions but no claim is reported (and recorded) as the
 * default owner's. @returns undefined when the id is neither claimed nor has versions.
 */
export async function listOwners(db: Db, feedId: number, packageId: string): Promise<IdOwners | undefined> {
  const lowerId = asciiLower(packageId.trim());
  const read = () =>
    db
      .selectFrom('package_ids as i')
      .leftJoin('package_owners as o', (join) => join.onRef('o.feed_id', '=', 'i.feed_id').onRef('o.lower_id', '=', 'i.lower_id'))
      .select(['i.id', 'i.claimed_at', 'o.owner'])
      .where('i.feed_id', '=', feedId)
      .where('i.lower_id', '=', lowerId)
      .orderBy('o.owner')
      .execute();
  let rows = await read();
  if (rows.length === 0) {
    if (!(await claimForDefaultOwner(db, feedId, lowerId))) return undefined;
    rows = await read();
  }
  const first = rows[0]!;
  return { id: first.id, lowerId, owners: rows.flatMap((r) => (r.owner === null ? [] : [r.owner])), claimedAt: first.claimed_at };
}

/**
 * Adds an owner to an id that is claimed or has versions (to set aside an id nobody pushed yet, reserve
 * it: {@link reserveIdPattern} with the exact id).
 * @returns `added`, or `unchanged` when it already was an owner.
 * @throws OwnershipChangeError `not_found` for an unknown id, `invalid_request` for a bad owner name.
 */
export async function addOwner(db: Db, feedId: number, packageId: string, ownerName: string): Promise<'added' | 'unchanged'> {
  const owner = ownerOrThrow(ownerName);
  const current = await listOwners(db, feedId, packageId);
  if (!current) throw new OwnershipChangeError('not_found', `no package id '${packageId}' in this feed (push it first, or reserve it)`);
  return db.transaction().execute(async (trx) => {
    const result = await trx
      .insertInto('package_owners')
      .values({ feed_id: feedId, lower_id: current.lowerId, owner })
      .onConflict((oc) => oc.columns(['feed_id', 'lower_id', 'owner']).doNothing())
      .executeTakeFirst();
    if ((result.numInsertedOrUpdatedRows ?? 0n) === 0n) return 'unchanged' as const;
    await markOwnersChanged(trx, feedId, current.lowerId);
    return 'added' as const;
  });
}

/**
 * Removes an owner from an id. The last owner cannot be removed (add the new owner first), so an id
 * always has someone who may push it; concurrent removals are serialised on the id's claim row.
 * @returns `removed`, or `unchanged` when it was not an owner.
 * @throws OwnershipChangeError `not_found`, `last_owner`, `invalid_request`.
 */
export async function removeOwner(db: Db, feedId: number, packageId: string, ownerName: string): Promise<'removed' | 'unchanged'> {
  const owner = ownerOrThrow(ownerName);
  const current = await listOwners(db, feedId, packageId);
  if (!current) throw new OwnershipChangeError('not_found', `no package id '${packageId}' in this feed`);
  return db.transaction().execute(async (trx) => {
    await trx
      .selectFrom('package_ids')
      .select('lower_id')
      .where('feed_id', '=', feedId)
      .where('lower_id', '=', current.lowerId)
      .forUpdate()
      .executeTakeFirst();
    const owners = (
      await trx.selectFrom('package_owners').select('owner').where('feed_id', '=', feedId).where('lower_id', '=', current.lowerId).execute()
    ).map((r) => r.owner);
    if (!owners.includes(owner)) return 'unchanged' as const;
    if (owners.length === 1) {
      throw new OwnershipChangeError('last_owner', `'${owner}' is the last owner of '${current.id}'; add another owner before removing it`);
    }
    await trx
      .deleteFrom('package_owners')
      .where('feed_id', '=', feedId)
      .where('lower_id', '=', current.lowerId)
      .where('owner', '=', owner)
      .execute();
    await markOwnersChanged(trx, feedId, current.lowerId);
    return 'removed' as const;
  });
}

/** A reservation, as {@link listReservations} returns it. */
export interface IdReservation {
  /** `Contoso.*` or an exact id, with the casing given when reserved. */
  display: string;
  /** Stored (lowercase) form. */
  pattern: string;
  kind: IdPattern['kind'];
  owner: string;
  createdAt: Date;
}

function patternOrThrow(text: string): IdPattern {
  const pattern = parseIdPattern(text);
  if (!pattern) {
    throw new OwnershipChangeError(
      'invalid_request',
      `invalid id pattern '${text}': use a prefix ending in '.*' or '.' (Contoso.* covers Contoso.Foo) or an exact id (Contoso)`,
    );
  }
  return pattern;
}

/**
 * Reserves an id prefix (`Contoso.*`, same as `Contoso.`) or an exact id (`Contoso`) for an owner: from
 * now on only the owners of the most specific reservation covering a new id may claim it. Ids already
 * claimed keep their owners. Several owners may hold the same reservation.
 * @returns the stored pattern and whether it was added (`unchanged` when the owner already held it).
 */
export async function reserveIdPattern(
  db: Db,
  feedId: number,
  patternText: string,
  ownerName: string,
): Promise<{ pattern: IdPattern; result: 'reserved' | 'unchanged' }> {
  const pattern = patternOrThrow(patternText);
  const owner = ownerOrThrow(ownerName);
  const result = await db
    .insertInto('reserved_prefixes')
    .values({ feed_id: feedId, pattern: pattern.pattern, display: pattern.display, owner })
    .onConflict((oc) => oc.columns(['feed_id', 'pattern', 'owner']).doNothing())
    .executeTakeFirst();
  return { pattern, result: (result.numInsertedOrUpdatedRows ?? 0n) > 0n ? 'reserved' : 'unchanged' };
}

/**
 * Releases a reservation (any casing of the pattern), for one owner or for all of them.
 * @returns how many reservations were removed.
 */
export async function releaseIdPattern(db: Db, feedId: number, patternText: string, ownerName?: string): Promise<number> {
  const pattern = patternOrThrow(patternText);
  let query = db.deleteFrom('reserved_prefixes').where('feed_id', '=', feedId).where('pattern', '=', pattern.pattern);
  if (ownerName !== undefined) query = query.where('owner', '=', ownerOrThrow(ownerName));
  const result = await query.executeTakeFirst();
  return Number(result.numDeletedRows);
}

/** Every reservation of the feed, by pattern then owner. */
export async function listReservations(db: Db, feedId: number): Promise<IdReservation[]> {
  const rows = await db
    .selectFrom('reserved_prefixes')
    .select(['pattern', 'display', 'owner', 'created_at'])
    .where('feed_id', '=', feedId)
    .orderBy('pattern')
    .orderBy('owner')
    .execute();
  return rows.map((r) => ({
    display: r.display,
    pattern: r.pattern,
    kind: r.pattern.endsWith('.*') ? 'prefix' : 'exact',
    owner: r.owner,
    createdAt: r.created_at,
  }));
}

/** A claim {@link releaseStaleClaims} released (or would release). */
export interface StaleClaim {
  feedId: number;
  id: string;
  owners: string[];
  touchedAt: Date;
}

/**
 * Releases claims whose push never committed a version (it failed or died after claiming the id), once
 * no owner has pushed the id for `minAgeMs`. A push that relies on such a claim refreshes it first, and
 * the delete re-checks age and versions on the row it removes, so a claim is never released under a push
 * (a push that finds its claim gone claims again). Every feed.
 * @returns the claims released, or with `dryRun` the ones that would be.
 */
export async function releaseStaleClaims(db: Db, options: { minAgeMs: number; dryRun?: boolean }): Promise<StaleClaim[]> {
  const stale = sql`i.touched_at < now() - make_interval(secs => ${options.minAgeMs / 1000})
    AND NOT EXISTS (SELECT 1 FROM packages p WHERE p.feed_id = i.feed_id AND p.lower_id = i.lower_id)`;
  // In one statement every part reads the same snapshot: the owners are read as they were before the
  // delete (which cascades to them).
  const claims = options.dryRun
    ? sql`SELECT i.feed_id, i.lower_id, i.id, i.touched_at FROM package_ids i WHERE ${stale}`
    : sql`DELETE FROM package_ids i WHERE ${stale} RETURNING i.feed_id, i.lower_id, i.id, i.touched_at`;
  const result = await sql<{ feed_id: number; id: string; owners: string[]; touched_at: Date }>`
    WITH claims AS (${claims})
    SELECT c.feed_id, c.id, c.touched_at,
      COALESCE((SELECT array_agg(o.owner ORDER BY o.owner) FROM package_owners o
                WHERE o.feed_id = c.feed_id AND o.lower_id = c.lower_id), '{}') AS owners
    FROM claims c ORDER BY c.feed_id, c.lower_id`.execute(db);
  return result.rows.map((r) => ({ feedId: r.feed_id, id: r.id, owners: r.owners, touchedAt: r.touched_at }));
}
