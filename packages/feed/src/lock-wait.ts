import type { Db } from '@nucat/db';

/** How long a feed write waits for a lock (the catalog head, a version's row) before giving up. */
export const DEFAULT_LOCK_TIMEOUT_MS = 10_000;

/**
 * Bounds every lock wait of the caller's transaction (`SET LOCAL lock_timeout`), so a write queued
 * behind a stuck appender — a session holding the feed's catalog head lock (reliability.md #41) —
 * fails with SQLSTATE 55P03 `lock_not_available` after `lockTimeoutMs` instead of hanging. The
 * setting ends with the transaction. Serialised appends hold the head lock for about a millisecond,
 * so only a stuck or pathologically slow writer makes anyone wait this long.
 *
 * @param lockTimeoutMs whole milliseconds; 0 waits without limit (PostgreSQL's meaning). @defaultValue {@link DEFAULT_LOCK_TIMEOUT_MS}
 * @throws RangeError when `lockTimeoutMs` is not a whole number ≥ 0.
 */
export async function limitLockWait(trx: Db, lockTimeoutMs: number = DEFAULT_LOCK_TIMEOUT_MS): Promise<void> {
  if (!Number.isSafeInteger(lockTimeoutMs) || lockTimeoutMs < 0) {
    throw new RangeError(`lockTimeoutMs must be a whole number ≥ 0, got ${lockTimeoutMs}`);
  }
  await trx
    .selectNoFrom((eb) => eb.fn('set_config', [eb.val('lock_timeout'), eb.val(`${lockTimeoutMs}ms`), eb.val(true)]).as('lock_timeout'))
    .execute();
}
