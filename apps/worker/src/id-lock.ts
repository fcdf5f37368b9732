import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';

/** Another worker is projecting this id right now; the job is retried with backoff. */
export class IdBusyError extends Error {
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
