import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { sql } from 'kysely';
import {
  CURSOR_NOTIFY_CHANNEL,
  GENERATIONS_POINTER_KEY,
  INITIAL_GENERATIONS,
  advanceCursor,
  clearRetiredGeneration,
  completeGenerationSwitch,
  findProjectionGeneration,
  findRetirementDue,
  generationCursorName,
  generationKeyPrefixes,
  getCursor,
  listActiveGenerations,
  listWriteGenerations,
  lockCatalogHead,
  lockProjectionGeneration,
  parseGenerationsPointer,
  readCatalogBatch,
  renderGenerationsPointer,
  type BlobGenerations,
  type BlobProjection,
} from '@nucat/catalog';
import type { Logger } from '@nucat/config';
import type { Db } from '@nucat/db';
import type { BlobStore } from '@nucat/storage';
import { IdBusyError, idLockKey, withIdLock } from './id-lock.js';
import type { ProjectionRunner } from './projection-runner.js';

/** Advisory lock class for writing the pointer document (second key: the feed id). */
const POINTER_LOCK = 0x6e756367;

function sameGenerations(a: BlobGenerations | undefined, b: BlobGenerations): boolean {
  return a !== undefined && a.flatcontainer === b.flatcontainer && a.registration === b.registration;
}

/** Options of {@link createGenerationsPointer}. */
export interface GenerationsPointerOptions {
  db: Db;
  store: BlobStore;
  feedId: number;
  log: Logger;
}

/**
 * Keeps the blob store's pointer document (`generations.json`, read by read nodes without the
 * database) equal to the active generations recorded in PostgreSQL, which are the truth.
 */
export function createGenerationsPointer(options: GenerationsPointerOptions) {
  const { db, store, feedId, log } = options;

  /** What the pointer says; undefined when it is absent or unreadable. */
  async function readPointer(): Promise<BlobGenerations | undefined> {
    const bytes = await store.read(GENERATIONS_POINTER_KEY);
    return bytes ? parseGenerationsPointer(bytes) : undefined;
  }

  return {
    /**
     * Writes the pointer when it differs from the database, and returns the generations it says
     * afterwards. Writers take one advisory lock and read the database under it, so two of them
     * (two worker copies, or a switch racing a periodic check) can never leave an older value last.
     * An absent pointer already means generation 0 everywhere and is left absent then.
     */
    async sync(): Promise<BlobGenerations> {
      const before = await readPointer();
      const wanted = await listActiveGenerations(db, feedId);
      if (sameGenerations(before ?? INITIAL_GENERATIONS, wanted) && (before !== undefined || !(await store.stat(GENERATIONS_POINTER_KEY)))) {
        return wanted;
      }
      return db.transaction().execute(async (trx) => {
        await sql`SELECT pg_advisory_xact_lock(${POINTER_LOCK}, ${feedId})`.execute(trx);
        const fresh = await listActiveGenerations(trx, feedId);
        if (!sameGenerations(await readPointer(), fresh)) {
          await store.put(GENERATIONS_POINTER_KEY, renderGenerationsPointer(fresh));
          log.info({ generations: fresh }, 'wrote generation pointer');
        }
        return fresh;
      });
    },
  };
}

export type GenerationsPointer = ReturnType<typeof createGenerationsPointer>;

/** Options of {@link createGenerationManager}. */
export interface GenerationManagerOptions {
  db: Db;
  store: BlobStore;
  feedId: number;
  projection: BlobProjection;
  /** Redis for the per-id locks (shared with the runners of this projection). */
  connection: Redis;
  redisPrefix: string;
  /** Rebuilds one id's documents in one generation (idempotent). */
  projectInto(generation: number, lowerId: string): Promise<unknown>;
  /** A runner that follows the cursor of `generation` (being rebuilt) into that generation. */
  createRunner(generation: number): ProjectionRunner;
  pointer: GenerationsPointer;
  /**
   * How long a generation switched away from is still written (and so stays current for read nodes
   * whose cached pointer predates the switch) before it is deleted. Must exceed the read nodes'
   * pointer refresh interval. @defaultValue 60000
   */
  retireAfterMs?: number;
  /** Further wait before deleting, so that writes begun just before `retireAfterMs` have landed. @defaultValue 5000 */
  settleMs?: number;
  /**
   * The switch happens once the rebuild is at most this many catalog items behind the head: the
   * catalog is locked (appends wait), those items' ids are projected into the new generation, and
   * the switch commits. Bounds how long appends wait. @defaultValue 100
   */
  finalCatchUpItems?: number;
  /** How long the final catch-up waits for an id locked by a runner. @defaultValue 10000 */
  lockWaitMs?: number;
  /** Least time between two looks at the rebuild state. @defaultValue 250 */
  minTickIntervalMs?: number;
  log: Logger;
}

/**
 * Generations of one blob projection (flat container or registration): serves `nucat rebuild`.
 *
 * - The live cursor (named after the projection) projects into the active generation, and also into
 *   the generation switched away from while it is retiring ({@link GenerationManager.projectLive}).
 * - While a rebuild is asked for (`building = N`), a second runner follows cursor `<projection>@gN`
 *   from the epoch into generation N's key prefix.
 * - Once that cursor is within `finalCatchUpItems` of the catalog head, the switch runs in one
 *   transaction holding the catalog's append lock: the remaining ids are projected into N (so N
 *   holds the whole catalog up to the head, and so everything the active generation can hold),
 *   then `active = N`. After it commits, the pointer document is rewritten. The live cursor does
 *   not move: it already is within what N holds, and it goes on writing N (and the old one).
 * - After the grace period the old generation's keys are deleted.
 *
 * Every step is idempotent and the state is in PostgreSQL, so any worker copy may run any step,
 * and a crash anywhere is resumed by the next tick.
 */
/** A rebuild step slower than this is logged as a warning. */
const SLOW_TICK_MS = 10_000;

export function createGenerationManager(options: GenerationManagerOptions) {
  const { db, store, feedId, projection, connection, redisPrefix, pointer, log } = options;
  const retireAfterMs = options.retireAfterMs ?? 60_000;
  const settleMs = options.settleMs ?? 5_000;
  const finalCatchUpItems = options.finalCatchUpItems ?? 100;
  const lockWaitMs = options.lockWaitMs ?? 10_000;
  const minTickIntervalMs = options.minTickIntervalMs ?? 250;
  if (!(retireAfterMs >= 0) || !(settleMs >= 0)) throw new Error('retireAfterMs and settleMs must be ≥ 0');
  if (!Number.isInteger(finalCatchUpItems) || finalCatchUpItems < 1) throw new Error(`finalCatchUpItems must be a positive integer, got ${finalCatchUpItems}`);

  let building: { generation: number; runner: ProjectionRunner } | undefined;
  let retiring: Promise<void> | undefined;
  let ticking: Promise<void> | undefined;
  let lastTickAt = Number.NEGATIVE_INFINITY;
  let deferred: NodeJS.Timeout | undefined;
  let closed = false;

  /** Projects one id into a generation, waiting (bounded) for a runner that holds its lock. */
  async function projectLocked(generation: number, lowerId: string, deadline: number): Promise<void> {
    for (;;) {
      try {
        await withIdLock(connection, idLockKey(redisPrefix, projection, feedId, lowerId), lowerId, () => options.projectInto(generation, lowerId));
        return;
      } catch (err) {
        if (!(err instanceof IdBusyError) || Date.now() > deadline) throw err;
        await sleep(20);
      }
    }
  }

  async function catalogHead(): Promise<Date | undefined> {
    const row = await db.selectFrom('catalog_heads').select('last_commit_timestamp').where('feed_id', '=', feedId).executeTakeFirst();
    return row?.last_commit_timestamp ?? undefined;
  }

  /** Whether the catch-up from `cursor` to `head` fits in one final step; the ids to project when it does. */
  async function remainingIds(reader: Db, cursor: Date, head: Date | undefined): Promise<string[] | undefined> {
    if (!head || cursor.getTime() >= head.getTime()) return [];
    const batch = await readCatalogBatch(reader, feedId, cursor, finalCatchUpItems, head);
    if (!batch) return [];
    if (batch.to.getTime() < head.getTime()) return undefined;
    return [...new Set(batch.items.map((i) => i.lowerId))].sort();
  }

  /** Switches to `generation` when its rebuild has (nearly) caught up; true when it did. */
  async function trySwitch(generation: number): Promise<boolean> {
    const cursorName = generationCursorName(projection, generation);
    // Cheap look first, without blocking appends: is the rebuild close enough to the head?
    if ((await remainingIds(db, await getCursor(db, feedId, cursorName), await catalogHead())) === undefined) return false;

    const switched = await db.transaction().execute(async (trx) => {
      const head = await lockCatalogHead(trx, feedId);
      const state = await lockProjectionGeneration(trx, feedId, projection);
      if (state.building !== generation) return false;
      const cursor = await getCursor(trx, feedId, cursorName);
      const ids = await remainingIds(trx, cursor, head);
      if (ids === undefined) return false;
      // Appends wait on the lock held here, so these ids' catalog state is final up to `head`.
      const deadline = Date.now() + lockWaitMs;
      for (let i = 0; i < ids.length; i += 8) {
        await Promise.all(ids.slice(i, i + 8).map((lowerId) => projectLocked(generation, lowerId, deadline)));
      }
      if (head && cursor.getTime() < head.getTime()) await advanceCursor(trx, feedId, cursorName, cursor, head);
      if (!(await completeGenerationSwitch(trx, feedId, projection, generation, retireAfterMs))) return false;
      // Wakes the other worker copies (delivered on commit): their rebuild runners stop.
      await sql`SELECT pg_notify(${CURSOR_NOTIFY_CHANNEL}, ${`${feedId}:${projection}`})`.execute(trx);
      log.info({ generation, from: state.active, finalIds: ids.length, head: head?.toISOString() }, 'switching generation');
      return true;
    });
    if (!switched) return false;
    // Readers follow the pointer; until it is rewritten they read the old generation, which the
    // live cursor keeps writing until the grace period ends. A failure here is retried each tick.
    await pointer.sync();
    log.info({ generation }, 'switched generation');
    return true;
  }

  /** Deletes every key of a retired generation, then records it as gone. */
  async function deleteGeneration(generation: number): Promise<void> {
    let deleted = 0;
    for (const prefix of generationKeyPrefixes(projection, generation)) {
      for (;;) {
        const keys: string[] = [];
        for await (const key of store.list(prefix)) {
          keys.push(key);
          if (keys.length >= 1000) break;
        }
        if (keys.length === 0 || closed) break;
        for (const key of keys) if (await store.delete(key)) deleted += 1;
      }
      if (closed) return; // resumed by the next worker: `retired` is still set
    }
    await clearRetiredGeneration(db, feedId, projection, generation);
    log.info({ generation, deleted }, 'deleted retired generation');
  }

  async function tickOnce(): Promise<void> {
    const state = await findProjectionGeneration(db, feedId, projection);

    // Follow the rebuild asked for, if any, with its own runner; stop one no longer wanted.
    if (building && building.generation !== state.building) {
      const old = building;
      building = undefined;
      await old.runner.close();
      log.info({ generation: old.generation }, 'stopped rebuild runner');
    }
    if (state.building !== undefined && !closed) {
      if (!building) {
        building = { generation: state.building, runner: options.createRunner(state.building) };
        log.info({ generation: state.building }, 'started rebuild runner');
      }
      await building.runner.schedule();
      if (await trySwitch(state.building)) {
        const old = building;
        building = undefined;
        await old.runner.close();
      }
    }

    // The pointer must name the active generations before anything else is deleted.
    const published = await pointer.sync();
    if (state.retired !== undefined && !retiring && !closed) {
      const due = await findRetirementDue(db, feedId, projection, settleMs);
      if (due !== undefined && published[projection] !== due) {
        retiring = deleteGeneration(due)
          .catch((err) => log.error({ err, generation: due }, 'deleting retired generation failed'))
          .finally(() => {
            retiring = undefined;
          });
      }
    }
  }

  const manager = {
    projection,
    /**
     * Projects one id for the live cursor: into the active generation, then into the retiring one
     * while its grace period lasts. The generations are read from PostgreSQL on every call, so a
     * job that starts after a switch writes the new generation.
     */
    async projectLive(lowerId: string): Promise<void> {
      for (const generation of await listWriteGenerations(db, feedId, projection)) await options.projectInto(generation, lowerId);
    },
    /**
     * Looks at the rebuild state and acts on it. Called on every catalog or cursor notification, so
     * calls coalesce: at most one tick per `minTickIntervalMs`, and a call that comes too early (or
     * while a tick runs) turns into one later tick.
     */
    async tick(): Promise<void> {
      if (closed) return;
      const wait = lastTickAt + minTickIntervalMs - Date.now();
      if (ticking || wait > 0) {
        deferred ??= setTimeout(() => {
          deferred = undefined;
          manager.tick().catch((err) => log.warn({ err: err instanceof Error ? err.message : err }, 'rebuild step failed'));
        }, Math.max(wait, 10));
        return;
      }
      const started = (lastTickAt = Date.now());
      ticking = tickOnce().finally(() => {
        ticking = undefined;
        // A step that takes this long holds up every later one on this copy: say so, with how long.
        const tookMs = Date.now() - started;
        if (tookMs > SLOW_TICK_MS) log.warn({ tookMs }, 'rebuild step was slow');
      });
      return ticking;
    },
    /** The generation being rebuilt by this process, if any. */
    get building(): number | undefined {
      return building?.generation;
    },
    async close(): Promise<void> {
      closed = true;
      if (deferred) clearTimeout(deferred);
      await ticking?.catch(() => {});
      await building?.runner.close();
      building = undefined;
      await retiring;
    },
  };
  return manager;
}

export type GenerationManager = ReturnType<typeof createGenerationManager>;
