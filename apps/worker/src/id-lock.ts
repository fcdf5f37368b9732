import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';

/** Another worker is projecting this id right now; the job is retried with backoff. */
export class IdBusyError extends Error {
  /** Stable error code. */
  readonly code = 'id_busy' as const;

  constructor(lowerId: string) {
    super(`${lowerId} is being projected by another worker`);
    this.name = 'IdBusyError';
  }
}

const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;
const RENEW = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;

/** The Redis key of the lock on one id of a projection (shared by every generation of it). */
export function idLockKey(prefix: string, projection: string, feedId: number, lowerId: string): string {
  return `${prefix}:lock:${projection}:${feedId}:${lowerId}`;
}

/**
 * Runs `work` holding a per-(projection, id) lock, so one id is never projected concurrently
 * with itself by any copy of the worker: two runs that read the catalog at different moments
 * could otherwise finish in the wrong order and leave the older snapshot in place. The lock
 * expires by itself if its holder dies and is renewed while the work runs.
 */
export async function withIdLock<T>(redis: Redis, key: string, lowerId: string, work: () => Promise<T>, ttlMs = 30_000): Promise<T> {
  const token = randomUUID();
  const ok = await redis.set(key, token, 'PX', ttlMs, 'NX');
  if (ok !== 'OK') throw new IdBusyError(lowerId);
  const renew = setInterval(() => {
    redis.eval(RENEW, 1, key, token, String(ttlMs)).catch(() => {});
  }, ttlMs / 3);
  try {
    return await work();
  } finally {
    clearInterval(renew);
    await redis.eval(RELEASE, 1, key, token).catch(() => {});
  }
}

/** Options of {@link withIdLocks}. */
export interface IdLocksOptions {
  /** Lock lifetime, renewed while the work runs. @defaultValue 30000 */
  ttlMs?: number;
  /** How long to keep trying for ids another holder has, before giving up with {@link IdBusyError}. @defaultValue 2000 */
  waitMs?: number;
}

/**
 * {@link withIdLock} for many ids at once, with one Redis round trip to take, renew or release them
 * all (a pipeline of single-key commands, so it also works on a Redis cluster). `work` runs on the
 * ids it got; the ids another holder has are tried again every few tens of milliseconds for
 * `waitMs`, and `work` runs again on those it gets then. Ids still held elsewhere after that make it
 * throw {@link IdBusyError} (the job is retried later; the work already done is idempotent).
 * Every lock taken is released before it returns or throws.
 */
export async function withIdLocks(
  redis: Redis,
  keyOf: (lowerId: string) => string,
  lowerIds: readonly string[],
  work: (lowerIds: string[]) => Promise<void>,
  options: IdLocksOptions = {},
): Promise<void> {
  const ttlMs = options.ttlMs ?? 30_000;
  const waitMs = options.waitMs ?? 2_000;
  const token = randomUUID();
  const held: string[] = [];
  const each = async (keys: readonly string[], command: (pipeline: ReturnType<Redis['pipeline']>, key: string) => void) => {
    const pipeline = redis.pipeline();
    for (const key of keys) command(pipeline, key);
    return (await pipeline.exec()) ?? [];
  };
  /** Takes the free ones among `ids`; returns the ids still held by someone else. */
  const take = async (ids: readonly string[]): Promise<string[]> => {
    const replies = await each(ids.map(keyOf), (p, key) => p.set(key, token, 'PX', ttlMs, 'NX'));
    const got: string[] = [];
    const busy: string[] = [];
    let failure: Error | null | undefined;
    ids.forEach((id, i) => {
      const [error, reply] = replies[i] ?? [new Error('no reply from Redis')];
      if (error) failure ??= error;
      else (reply === 'OK' ? got : busy).push(id);
    });
    held.push(...got.map(keyOf));
    if (failure) throw failure;
    if (got.length > 0) await work(got);
    return busy;
  };
  const renew = setInterval(() => {
    each([...held], (p, key) => p.eval(RENEW, 1, key, token, String(ttlMs))).catch(() => {});
  }, ttlMs / 3);
  try {
    let busy = await take(lowerIds);
    const deadline = Date.now() + waitMs;
    while (busy.length > 0) {
      if (Date.now() >= deadline) throw new IdBusyError(busy[0]!);
      await new Promise((resolve) => setTimeout(resolve, 25));
      busy = await take(busy);
    }
  } finally {
    clearInterval(renew);
    await each(held, (p, key) => p.eval(RELEASE, 1, key, token)).catch(() => {});
  }
}
