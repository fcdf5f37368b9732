import { sql, type Kysely } from 'kysely';
import type { Database } from '@nucat/db';
import { CURSOR_NOTIFY_CHANNEL } from './cursors.js';
import { generationCursorName, INITIAL_GENERATIONS, type BlobGenerations, type BlobProjection } from './generation-keys.js';

type Db = Kysely<Database>;

/** Where a blob projection's generations stand. */
export interface ProjectionGeneration {
  projection: BlobProjection;
  /** The generation served, and projected into by the live cursor. */
  active: number;
  /** The generation a rebuild is filling; undefined when no rebuild is under way. */
  building?: number;
  /** When the rebuild in progress (or the last one) was asked for. */
  startedAt?: Date;
  /** When `active` last changed. */
  switchedAt?: Date;
  /** The generation switched away from, until it is deleted. */
  retired?: number;
  /** Until when the retired generation is still written alongside the active one. */
  retireAfter?: Date;
}

/** A rebuild was asked for while one is under way (or its predecessor is still being retired). */
export class RebuildInProgressError extends Error {
  readonly code = 'rebuild_in_progress';
  constructor(message: string, readonly details?: Record<string, unknown>) {
    super(message);
    this.name = 'RebuildInProgressError';
  }
}

interface GenerationRow {
  active: number;
  building: number | null;
  started_at: Date | null;
  switched_at: Date | null;
  retired: number | null;
  retire_after: Date | null;
}

function rowToGeneration(projection: BlobProjection, row: GenerationRow | undefined): ProjectionGeneration {
  if (!row) return { projection, active: 0 };
  return {
    projection,
    active: row.active,
    ...(row.building !== null ? { building: row.building } : {}),
    ...(row.started_at ? { startedAt: row.started_at } : {}),
    ...(row.switched_at ? { switchedAt: row.switched_at } : {}),
    ...(row.retired !== null ? { retired: row.retired } : {}),
    ...(row.retire_after ? { retireAfter: row.retire_after } : {}),
  };
}

const COLUMNS = ['active', 'building', 'started_at', 'switched_at', 'retired', 'retire_after'] as const;

/** The generations of a blob projection; generation 0 and no rebuild when never rebuilt. */
export async function findProjectionGeneration(db: Db, feedId: number, projection: BlobProjection): Promise<ProjectionGeneration> {
  const row = await db
    .selectFrom('projection_generations')
    .select(COLUMNS)
    .where('feed_id', '=', feedId)
    .where('projection', '=', projection)
    .executeTakeFirst();
  return rowToGeneration(projection, row);
}

/** The active generation of every blob projection of a feed (what the pointer document must say). */
export async function listActiveGenerations(db: Db, feedId: number): Promise<BlobGenerations> {
  const rows = await db.selectFrom('projection_generations').select(['projection', 'active']).where('feed_id', '=', feedId).execute();
  const found = Object.fromEntries(rows.map((r) => [r.projection, r.active]));
  return {
    flatcontainer: found['flatcontainer'] ?? INITIAL_GENERATIONS.flatcontainer,
    registration: found['registration'] ?? INITIAL_GENERATIONS.registration,
  };
}

/**
 * The generations the live cursor of a projection writes into: the active one first, then the
 * retired one while it is still being served to read nodes whose pointer is not yet refreshed
 * (until `retire_after`, compared on the database clock).
 */
export async function listWriteGenerations(db: Db, feedId: number, projection: BlobProjection): Promise<number[]> {
  const row = await db
    .selectFrom('projection_generations')
    .select(['active', sql<number | null>`CASE WHEN retired IS NOT NULL AND now() < retire_after THEN retired END`.as('also')])
    .where('feed_id', '=', feedId)
    .where('projection', '=', projection)
    .executeTakeFirst();
  if (!row) return [0];
  return row.also === null ? [row.active] : [row.active, row.also];
}

/**
 * Asks for a rebuild: the next generation (`active + 1`) is to be filled from the start of the
 * catalog (its cursor is set to the epoch) by the workers, which switch to it once it has caught up.
 * A cancelled attempt's leftovers under that prefix are overwritten or removed by the replay (every
 * key there belongs to an id the replay projects again). Returns the generation being built.
 *
 * @throws RebuildInProgressError when a rebuild is under way, or the generation switched away from
 * last time is not deleted yet.
 */
export async function requestRebuild(db: Db, feedId: number, projection: BlobProjection): Promise<number> {
  return db.transaction().execute(async (trx) => {
    await trx
      .insertInto('projection_generations')
      .values({ feed_id: feedId, projection, active: 0 })
      .onConflict((oc) => oc.doNothing())
      .execute();
    const row = await trx
      .selectFrom('projection_generations')
      .select(COLUMNS)
      .where('feed_id', '=', feedId)
      .where('projection', '=', projection)
      .forUpdate()
      .executeTakeFirstOrThrow();
    if (row.building !== null) {
      throw new RebuildInProgressError(`a rebuild of ${projection} into generation ${row.building} is already under way; cancel it first`, {
        projection,
        building: row.building,
      });
    }
    if (row.retired !== null) {
      throw new RebuildInProgressError(
        `generation ${row.retired} of ${projection} (switched away from at ${row.switched_at?.toISOString()}) is not deleted yet; try again after its grace period`,
        { projection, retired: row.retired },
      );
    }
    const building = row.active + 1;
    const cursor = generationCursorName(projection, building);
    await trx
      .insertInto('projection_cursors')
      .values({ feed_id: feedId, projection: cursor, cursor: new Date(0) })
      .onConflict((oc) => oc.columns(['feed_id', 'projection']).doUpdateSet({ cursor: new Date(0), updated_at: sql`now()` }))
      .execute();
    await trx
      .updateTable('projection_generations')
      .set({ building, started_at: sql`now()` })
      .where('feed_id', '=', feedId)
      .where('projection', '=', projection)
      .execute();
    // A wake-up for the workers (delivered on commit), which start following the new cursor.
    await sql`SELECT pg_notify(${CURSOR_NOTIFY_CHANNEL}, ${`${feedId}:${cursor}`})`.execute(trx);
    return building;
  });
}

/** Abandons the rebuild under way; returns the generation that was being built, undefined when none. */
export async function cancelRebuild(db: Db, feedId: number, projection: BlobProjection): Promise<number | undefined> {
  return db.transaction().execute(async (trx) => {
    const row = await lockProjectionGeneration(trx, feedId, projection);
    if (row.building === undefined) return undefined;
    await trx
      .updateTable('projection_generations')
      .set({ building: null })
      .where('feed_id', '=', feedId)
      .where('projection', '=', projection)
      .execute();
    return row.building;
  });
}

/**
 * Locks the feed's catalog head (the append lock) until the transaction ends: no commit can be
 * appended meanwhile. Returns the last commit timestamp, undefined for an empty catalog.
 */
export async function lockCatalogHead(trx: Db, feedId: number): Promise<Date | undefined> {
  const row = await trx
    .selectFrom('catalog_heads')
    .select('last_commit_timestamp')
    .where('feed_id', '=', feedId)
    .forUpdate()
    .executeTakeFirst();
  return row?.last_commit_timestamp ?? undefined;
}

/** Locks a projection's generations row until the transaction ends and returns it. */
export async function lockProjectionGeneration(trx: Db, feedId: number, projection: BlobProjection): Promise<ProjectionGeneration> {
  const row = await trx
    .selectFrom('projection_generations')
    .select(COLUMNS)
    .where('feed_id', '=', feedId)
    .where('projection', '=', projection)
    .forUpdate()
    .executeTakeFirst();
  return rowToGeneration(projection, row);
}

/**
 * Makes `generation` (the one being built) active. The generation switched away from becomes
 * `retired`: still written by the live cursor for `retireAfterMs`, then deleted. Returns false
 * (and changes nothing) when `generation` is not the one being built any more.
 */
export async function completeGenerationSwitch(
  trx: Db,
  feedId: number,
  projection: BlobProjection,
  generation: number,
  retireAfterMs: number,
): Promise<boolean> {
  const result = await trx
    .updateTable('projection_generations')
    .set({
      active: generation,
      building: null,
      retired: sql`active`,
      switched_at: sql`now()`,
      retire_after: sql`now() + make_interval(secs => ${retireAfterMs / 1000})`,
    })
    .where('feed_id', '=', feedId)
    .where('projection', '=', projection)
    .where('building', '=', generation)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

/**
 * The retired generation of a projection once it is no longer written (`retire_after` passed) and
 * a further `settleMs` has gone by (so writes that started just before have landed); undefined when
 * there is nothing to delete yet.
 */
export async function findRetirementDue(db: Db, feedId: number, projection: BlobProjection, settleMs: number): Promise<number | undefined> {
  const row = await db
    .selectFrom('projection_generations')
    .select('retired')
    .where('feed_id', '=', feedId)
    .where('projection', '=', projection)
    .where('retired', 'is not', null)
    .where(sql<boolean>`now() >= retire_after + make_interval(secs => ${settleMs / 1000})`)
    .executeTakeFirst();
  return row?.retired ?? undefined;
}

/** Records that a retired generation is deleted; false when it was not the retired one any more. */
export async function clearRetiredGeneration(db: Db, feedId: number, projection: BlobProjection, generation: number): Promise<boolean> {
  const result = await db
    .updateTable('projection_generations')
    .set({ retired: null, retire_after: null })
    .where('feed_id', '=', feedId)
    .where('projection', '=', projection)
    .where('retired', '=', generation)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}
