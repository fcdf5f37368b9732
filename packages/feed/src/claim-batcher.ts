import { claimAndAppendCommits, type ClaimRequest, type CommitStamp } from '@nucat/catalog';
import type { Db } from '@nucat/db';
import { DEFAULT_LOCK_TIMEOUT_MS } from './lock-wait.js';

/** At most this many pushes share one transaction. */
const MAX_BATCH_REQUESTS = 32;
/** …and at most about this many package entries (the bulk of a PackageDetails leaf) between them. */
const MAX_BATCH_ENTRIES = 20_000;

interface Waiting {
  request: ClaimRequest;
  weight: number;
  /** Longest lock wait allowed, counted from `queuedAt` (0: no limit). */
  lockTimeoutMs: number;
  queuedAt: number;
  resolve(stamp: CommitStamp | undefined): void;
  reject(error: unknown): void;
}

/**
 * Group commit of the pushes of one feed in one process: each push's claim and catalog commit is
 * queued; one transaction at a time takes everything queued so far (up to a bound) and runs it with
 * {@link claimAndAppendCommits}. While a transaction is in flight the next pushes queue, so under load
 * many pushes share one catalog lock acquisition and one WAL flush, and alone a push is not delayed.
 *
 * Every caller's promise settles only after its transaction's COMMIT returned: a resolved claim is
 * durable. When a batch fails with an error that one request may have caused (a PostgreSQL error other
 * than a connection, server-availability or lock-timeout one), its requests are retried one transaction
 * each, so one bad request cannot fail the others; any other error fails the whole batch.
 *
 * Lock waits (`lockTimeoutMs`, reliability.md #41) count from when a request was queued: a batch's
 * transaction gets the smallest remaining budget of its requests, so time spent queued behind an earlier
 * batch is not waited again.
 */
export class ClaimBatcher {
  readonly #db: Db;
  readonly #feedId: number;
  readonly #queue: Waiting[] = [];
  #running = false;

  constructor(db: Db, feedId: number) {
    this.#db = db;
    this.#feedId = feedId;
  }

  /**
   * Claims the request's id+version and appends its commit.
   * @param options.weight how large the commit is (package entries): bounds how many share a transaction. @defaultValue 1
   * @param options.lockTimeoutMs longest wait for the catalog lock, in ms, counted from now; 0 waits without
   *   limit. @defaultValue {@link DEFAULT_LOCK_TIMEOUT_MS}
   * @returns the commit, or undefined when the id+version was already claimed.
   * @throws PostgreSQL's 55P03 `lock_not_available` when the lock wait ran out; database errors as they come.
   */
  claim(request: ClaimRequest, options: { weight?: number | undefined; lockTimeoutMs?: number | undefined } = {}): Promise<CommitStamp | undefined> {
    const lockTimeoutMs = options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS;
    if (!Number.isSafeInteger(lockTimeoutMs) || lockTimeoutMs < 0) {
      return Promise.reject(new RangeError(`lockTimeoutMs must be a whole number ≥ 0, got ${lockTimeoutMs}`));
    }
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const settle = <T>(fn: (value: T) => void) => (value: T) => {
        clearTimeout(timer);
        fn(value);
      };
      const waiting: Waiting = { request, weight: options.weight ?? 1, lockTimeoutMs, queuedAt: performance.now(), resolve: settle(resolve), reject: settle(reject) };
      this.#queue.push(waiting);
      // Queued behind a transaction of this process that does not finish (a stuck append, reliability.md #41):
      // give up when the budget runs out while still queued, as PostgreSQL does for a lock wait. Once taken into
      // a batch, its transaction's lock_timeout bounds the wait instead.
      if (lockTimeoutMs > 0) {
        timer = setTimeout(() => {
          const at = this.#queue.indexOf(waiting);
          if (at < 0) return;
          this.#queue.splice(at, 1);
          reject(Object.assign(new Error(`catalog append queued for ${lockTimeoutMs} ms behind another write of this feed: canceled (lock timeout)`), { code: '55P03' }));
        }, lockTimeoutMs);
        timer.unref();
      }
      if (!this.#running) void this.#drain();
    });
  }

  async #drain(): Promise<void> {
    this.#running = true;
    try {
      while (this.#queue.length > 0) {
        let count = 0;
        let weight = 0;
        while (count < this.#queue.length && count < MAX_BATCH_REQUESTS) {
          const next = this.#queue[count]!.weight;
          if (count > 0 && weight + next > MAX_BATCH_ENTRIES) break;
          weight += next;
          count += 1;
        }
        await this.#run(this.#queue.splice(0, count));
      }
    } finally {
      this.#running = false;
    }
  }

  async #run(batch: Waiting[]): Promise<void> {
    try {
      const stamps = await this.#commit(batch);
      batch.forEach((w, i) => w.resolve(stamps[i]));
    } catch (error) {
      if (batch.length === 1 || !mayBeCausedByOneRequest(error)) {
        for (const w of batch) w.reject(error);
        return;
      }
      for (const w of batch) {
        try {
          w.resolve((await this.#commit([w]))[0]);
        } catch (single) {
          w.reject(single);
        }
      }
    }
  }

  #commit(batch: Waiting[]): Promise<(CommitStamp | undefined)[]> {
    const lockTimeoutMs = lockBudget(batch);
    return this.#db.transaction().execute((trx) =>
      claimAndAppendCommits(
        trx,
        this.#feedId,
        batch.map((w) => w.request),
        { lockTimeoutMs },
      ),
    );
  }
}

/** The smallest lock-wait budget left among the batch's requests, in whole ms (0: none has a limit). */
function lockBudget(batch: Waiting[]): number {
  const now = performance.now();
  let budget = Infinity;
  for (const w of batch) {
    if (w.lockTimeoutMs > 0) budget = Math.min(budget, Math.max(1, Math.floor(w.lockTimeoutMs - (now - w.queuedAt))));
  }
  return budget === Infinity ? 0 : budget;
}

/**
 * A PostgreSQL error (SQLSTATE) that the statement's data may have caused; not a lost connection
 * (class 08), a lack of resources (53), a lock not granted in time (55), an operator intervention such as
 * a shutdown (57) or a system error (58).
 */
function mayBeCausedByOneRequest(error: unknown): boolean {
  const code = typeof error === 'object' && error !== null && 'code' in error ? (error as { code: unknown }).code : undefined;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) && !['08', '53', '55', '57', '58'].includes(code.slice(0, 2));
}

const batchers = new WeakMap<Db, Map<number, ClaimBatcher>>();

/** The process's batcher of `feedId` on `db` (one per database handle and feed). */
export function claimBatcherOf(db: Db, feedId: number): ClaimBatcher {
  let byFeed = batchers.get(db);
  if (!byFeed) batchers.set(db, (byFeed = new Map()));
  let batcher = byFeed.get(feedId);
  if (!batcher) byFeed.set(feedId, (batcher = new ClaimBatcher(db, feedId)));
  return batcher;
}
