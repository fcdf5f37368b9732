import { sql } from 'kysely';
import type { Logger } from '@nucat/config';
import type { Db } from '@nucat/db';
import { listOwnerChanges, readOwnerNames } from '@nucat/auth';
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

/** Ids per owners read and `setOwners` call. */
const OWNERS_CHUNK = 500;

/**
 * Copies what search shows but the catalog does not hold into the search backend, on a timer:
 *
 * - download counts from `package_downloads` (written in batches by the read nodes);
 * - owners of the ids whose owners changed (`package_ids.owners_changed_at`: a claim, `nucat owners
 *   add|remove`). The search projection writes the owners it reads with each id's documents; this
 *   brings them up to date when they change without a catalog commit.
 *
 * Both are absolute, so copying an id twice is harmless; the first run after start copies
 * everything, and each run reads again what changed shortly before the last one (a write that
 * committed late, or a projection that wrote owners read just before they changed, is not missed).
 */
export function createDownloadSync(options: DownloadSyncOptions) {
  const { db, feedId, backend, log } = options;
  let since = new Date(0);
  /** The newest `owners_changed_at` seen (database clock). */
  let ownersSince = new Date(0);
  let running: Promise<void> | undefined;

  async function syncOwners(): Promise<number> {
    const changes = await listOwnerChanges(db, feedId, new Date(ownersSince.getTime() - OVERLAP_MS));
    const ids = [...new Set(changes.map((c) => c.lowerId))];
    for (let i = 0; i < ids.length; i += OWNERS_CHUNK) {
      const owners = await readOwnerNames(db, feedId, ids.slice(i, i + OWNERS_CHUNK));
      await backend.setOwners(feedId, [...owners].map(([lowerId, names]) => ({ lowerId, owners: names })));
    }
    const newest = changes[changes.length - 1]?.changedAt;
    if (newest && newest.getTime() > ownersSince.getTime()) ownersSince = newest;
    return ids.length;
  }

  async function syncOnce(): Promise<number> {
    return (await syncDownloads()) + (await syncOwners());
  }

  async function syncDownloads(): Promise<number> {
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
        if (n > 0) log.debug({ ids: n }, 'synced download counts and owners');
      })
      .catch((err) => log.warn({ err: err instanceof Error ? err.message : err }, 'download and owner sync failed; will retry'))
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
