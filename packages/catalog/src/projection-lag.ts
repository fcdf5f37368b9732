import { sql, type Kysely } from 'kysely';
import type { Database } from '@nucat/db';
import { listCursors } from './cursors.js';

type Db = Kysely<Database>;

/** How far one projection is behind its feed's catalog, as read by {@link readProjectionLag}. */
export interface ProjectionLag {
  projection: string;
  /** The last commit timestamp fully projected; the epoch for a projection that never ran. */
  cursor: Date;
  /** Catalog head − cursor, in seconds (catalog time); 0 when the cursor is at or past the head. */
  lagSeconds: number;
  /** Catalog commits after the cursor. */
  lagCommits: number;
  /**
   * How long the oldest commit not yet projected has been waiting, in seconds (database clock:
   * `now() − its commit timestamp`); 0 when nothing waits. Unlike {@link ProjectionLag.lagSeconds},
   * this grows while a projection is stopped even when no new commit arrives, and does not jump
   * when the first push after a quiet day is being projected.
   */
  pendingSeconds: number;
}

/** The catalog head and the lag of each projection asked for. */
export interface CatalogLag {
  /** The feed's last commit timestamp; undefined when the catalog is empty. */
  head: Date | undefined;
  /** One entry per projection asked for, in the order asked. */
  projections: ProjectionLag[];
}

/**
 * Reads the catalog head and, for each of `projections`, its cursor and how far it is behind: in
 * catalog time (head − cursor), in commits, and in waiting time. Read-only: a projection without a
 * cursor row counts as at the epoch (it has projected nothing).
 *
 * @returns `head` undefined and every lag 0 when the catalog is empty.
 */
export async function readProjectionLag(db: Db, feedId: number, projections: readonly string[]): Promise<CatalogLag> {
  const headRow = await db.selectFrom('catalog_heads').select('last_commit_timestamp').where('feed_id', '=', feedId).executeTakeFirst();
  const head = headRow?.last_commit_timestamp ?? undefined;
  const cursors = await listCursors(db, feedId);
  const result: ProjectionLag[] = [];
  for (const projection of projections) {
    const cursor = cursors[projection] ?? new Date(0);
    if (head === undefined || cursor.getTime() >= head.getTime()) {
      result.push({ projection, cursor, lagSeconds: 0, lagCommits: 0, pendingSeconds: 0 });
      continue;
    }
    const behind = await db
      .selectFrom('catalog_commits')
      .select([
        sql<string>`count(*)`.as('commits'),
        sql<number | null>`extract(epoch from (now() - min(commit_timestamp)))::float8`.as('pending'),
      ])
      .where('feed_id', '=', feedId)
      .where('commit_timestamp', '>', cursor)
      .executeTakeFirstOrThrow();
    result.push({
      projection,
      cursor,
      lagSeconds: (head.getTime() - cursor.getTime()) / 1000,
      lagCommits: Number(behind.commits),
      pendingSeconds: Math.max(0, behind.pending ?? 0),
    });
  }
  return { head, projections: result };
}
