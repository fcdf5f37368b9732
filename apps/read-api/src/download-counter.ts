import { sql } from 'kysely';
import type { Logger } from '@nucat/config';
import type { Db } from '@nucat/db';

/** Options of {@link createDownloadCounter}. */
export interface DownloadCounterOptions {
  db: Db;
  feedId: number;
  log: Logger;
  /** How often counts are written. @defaultValue 5000 */
  flushIntervalMs?: number;
  /** Most distinct id+versions held between flushes; further downloads of new keys are dropped (and logged). @defaultValue 100000 */
  maxKeys?: number;
}

/**
 * Counts `.nupkg` downloads in memory and adds them to `package_downloads` in one statement per
 * flush — no database write per request. When the database is unreachable the counts are kept
 * (bounded by `maxKeys`) and written by a later flush, so a read node keeps serving and loses no
 * counts across a short outage.
 */
export function createDownloadCounter(options: DownloadCounterOptions) {
  const { db, feedId, log } = options;
  const maxKeys = options.maxKeys ?? 100_000;
  let pending = new Map<string, number>();
  let dropped = 0;
  let flushing: Promise<void> | undefined;

  async function writeBatch(batch: Map<string, number>): Promise<void> {
    const rows = [...batch].map(([key, count]) => {
      const slash = key.indexOf('/');
      return { lowerId: key.slice(0, slash), lowerVersion: key.slice(slash + 1), count };
    });
    for (let i = 0; i < rows.length; i += 1000) {
      const chunk = rows.slice(i, i + 1000);
      await sql`
        INSERT INTO package_downloads (feed_id, lower_id, lower_version, downloads, updated_at)
        SELECT ${feedId}, t.lower_id, t.lower_version, t.count, now()
        FROM unnest(${chunk.map((r) => r.lowerId)}::text[], ${chunk.map((r) => r.lowerVersion)}::text[], ${chunk.map((r) => r.count)}::bigint[])
          AS t(lower_id, lower_version, count)
        ON CONFLICT (feed_id, lower_id, lower_version)
        DO UPDATE SET downloads = package_downloads.downloads + excluded.downloads, updated_at = now()`.execute(db);
    }
  }

  async function flush(): Promise<void> {
    if (flushing) return flushing;
    if (pending.size === 0) return;
    const batch = pending;
    pending = new Map();
    flushing = writeBatch(batch)
      .catch((err) => {
        // Put the counts back; they go out with the next flush.
        for (const [key, count] of batch) {
          if (pending.size >= maxKeys && !pending.has(key)) {
            dropped += count;
            continue;
          }
          pending.set(key, (pending.get(key) ?? 0) + count);
        }
        log.warn({ err: err instanceof Error ? err.message : err, keys: batch.size }, 'download counts not written; will retry');
      })
      .finally(() => {
        flushing = undefined;
        if (dropped > 0) {
          log.warn({ dropped }, 'download counts dropped: too many distinct packages between flushes');
          dropped = 0;
        }
      });
    return flushing;
  }

  const timer = setInterval(() => void flush(), options.flushIntervalMs ?? 5000);
  timer.unref();

  return {
    /** Counts one download of id+version (both lowercase, validated by the caller). */
    count(lowerId: string, lowerVersion: string): void {
      const key = `${lowerId}/${lowerVersion}`;
      const current = pending.get(key);
      if (current === undefined && pending.size >= maxKeys) {
        dropped += 1;
        return;
      }
      pending.set(key, (current ?? 0) + 1);
    },
    flush,
    /** Stops the timer and writes what is left. */
    async close(): Promise<void> {
      clearInterval(timer);
      await flush();
    },
  };
}

export type DownloadCounter = ReturnType<typeof createDownloadCounter>;
