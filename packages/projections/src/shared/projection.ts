import type { CatalogItem } from '@nucat/catalog';

/** Options of one projection of one id (`project(lowerId, options)`). */
export interface ProjectOptions {
  /**
   * The catalog position up to which this id's stored documents are complete and durable: the cursor
   * of the batch being projected. The stored documents must hold the id's state as of `since` (or a
   * later one), so that every difference from the state given now shows up as a version whose latest
   * item is newer than `since`. Only what those versions can have changed is written — their
   * documents, the registration pages from the first of them on, and the indexes — and nothing at
   * all when there is none. Stored documents are never read back to decide: after a machine crash
   * they may be torn, and every document an attempt not yet made durable wrote is one a replay of the
   * same batch writes again.
   *
   * Undefined: every document of the id is written again, and anything of the id the catalog does not
   * back any more is removed.
   */
  since?: Date;
}

/** What one projection run changed, for logs and tests. */
export interface ProjectionResult {
  written: number;
  deleted: number;
}

/** The items newer than `since` (all of them when `since` is undefined). */
export function itemsChangedSince(items: readonly CatalogItem[], since: Date | undefined): readonly CatalogItem[] {
  if (since === undefined) return items;
  const after = since.getTime();
  return items.filter((item) => item.commitTimestamp.getTime() > after);
}

/** Runs `tasks` with at most `limit` of them in flight; rejects with the first failure once all settled. */
export async function runLimited(tasks: readonly (() => Promise<unknown>)[], limit: number): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const lane = async (): Promise<void> => {
    while (next < tasks.length && failure === undefined) {
      const task = tasks[next++]!;
      try {
        await task();
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, lane));
  if (failure !== undefined) throw failure.error;
}
