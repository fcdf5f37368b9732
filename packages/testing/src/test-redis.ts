import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';

/** Redis URL used when `NUCAT_TEST_REDIS_URL` is not set. */
export const DEFAULT_TEST_REDIS_URL = 'redis://127.0.0.1:6379';

/** A key prefix that isolates one test file's Redis keys (BullMQ queues included). */
export interface TestRedisPrefix {
  /** Redis URL to connect to. */
  readonly url: string;
  /** `test-<uuid>`; pass it as the queue prefix (`NUCAT_REDIS_PREFIX`). */
  readonly prefix: string;
  /** Deletes every key starting with the prefix (SCAN + UNLINK). */
  cleanup(): Promise<void>;
}

/**
 * Returns a fresh `test-<uuid>` prefix on the Redis in `NUCAT_TEST_REDIS_URL`. Nothing is created until
 * the code under test writes keys; `cleanup()` removes them.
 *
 * @defaultValue Redis URL {@link DEFAULT_TEST_REDIS_URL}
 */
export function createTestRedisPrefix(): TestRedisPrefix {
  const url = process.env['NUCAT_TEST_REDIS_URL'] || DEFAULT_TEST_REDIS_URL;
  const prefix = `test-${randomUUID()}`;
  return {
    url,
    prefix,
    async cleanup() {
      const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 2 });
      redis.on('error', () => {
        // Failures surface through the awaited commands below.
      });
      await redis.connect();
      try {
        let cursor = '0';
        do {
          const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
          cursor = next;
          if (keys.length > 0) await redis.unlink(...keys);
        } while (cursor !== '0');
      } finally {
        await redis.quit();
      }
    },
  };
}
