import { sql } from 'kysely';
import type { Logger } from '@nucat/config';
import type { Db } from '@nucat/db';
import type { DownloadTotals, SearchBackend } from '@nucat/search';

/** Options of {@link createDownloadSync}. */
export interface DownloadSyncOptions {
  db: Db;
  feedId: number;
  backend: SearchBackend;
  log: Logger;
  /** @defaultValue 10000 */
  intervalMs?: number;
}

/** Rows written up to this long before the last sync are read again: a flush that committed late is not missed. */
const OVERLAP_MS = 60_000;

/**
 * Copies download counts from PostgreSQL (`package_downloads`, written in batches by the read
 * nodes) into the search backend. Counts are absolute, so copying an id twice is harmless; the
 * first run after start copies everything.
 */
export function createDownloadSync(options: DownloadSyncOptions) {
  const { db, feedId, backend, log } = options;
  let since = new Date(0);
  let running: Promise<void> | undefined;

  async function syncOnce(): Promise<number> {
    const started = new Date();
    const changed = await db
      .selectFrom('package_downloads')
      .select('lower_id')
      .distinct()
      .where('feed_id', '=', feedId)
      .where('updated_at', '>', new Date(since.getTime() - OVERLAP_MS))
      .execute();
    const ids = changed.map((r) => r.lower_id);
    for (let i = 0; i < ids.length; i += 500) {
      const chunk = ids.slice(i, i + 500);
      const rows = await sql<{ lower_id: string; lower_version: string; downloads: string }>`
        SELECT lower_id, lower_version, downloads FROM package_downloads
        WHERE feed_id = ${feedId} AND lower_id = ANY(${chunk}::text[])`.execute(db);
      const byId = new Map<string, DownloadTotals>();
      for (const r of rows.rows) {
        const totals = byId.get(r.lower_id) ?? { lowerId: r.lower_id, versions: {} };
        totals.versions[r.lower_version] = Number(r.downloads);
        byId.set(r.lower_id, totals);
      }
      await backend.setDownloads(feedId, [...byId.values()]);
    }
    since = started;
    return ids.length;
  }

  const tick = () => {
    if (running) return;
    running = syncOnce()
      .then((n) => {
        if (n > 0) log.debug({ ids: n }, 'synced download counts');
      })
      .catch((err) => log.warn({ err: err instanceof Error ? err.message : err }, 'download sync failed; will retry'))
      .finally(() => {
        running = undefined;
      });
  };
  const timer = setInterval(tick, options.intervalMs ?? 10_000);
  timer.unref();

  return {
    syncOnce,
    start: tick,
    async close(): Promise<void> {
      clearInterval(timer);
      await running;
    },
  };
}
