import { appendCatalogCommit, formatCatalogTimestamp, type CommitStamp } from '@nucat/catalog';
import type { FeedDeps } from './feed-deps.js';
import { limitLockWait } from './lock-wait.js';
import { resolvePackageKey } from './package-key.js';

/** The outcome of {@link deletePackage}. */
export type DeleteResult =
  | { kind: 'deleted'; packageId: string; version: string; commit: CommitStamp }
  /** Deleted before: nothing written. */
  | { kind: 'already-deleted'; packageId: string; version: string }
  /** Never pushed (or not a valid id/version): nothing written. */
  | { kind: 'not-found' };

/**
 * Hard-deletes a version: marks its `packages` row deleted and appends a PackageDelete leaf
 * (`id` and `originalId` = the id as pushed, `version` = normalized, `published` = the commit time).
 * The projections then remove it from the flat container, registration and search. The row stays,
 * so the id+version can never be pushed again (409). Content blobs are left in place: they are
 * content-addressed and may back other feeds.
 *
 * @see https://learn.microsoft.com/en-us/nuget/api/catalog-resource#package-delete-catalog-items
 */
export async function deletePackage(
  deps: Pick<FeedDeps, 'db' | 'feedId' | 'lockTimeoutMs'>,
  target: { id: string; version: string },
): Promise<DeleteResult> {
  let key;
  try {
    key = resolvePackageKey(target.id, target.version);
  } catch {
    return { kind: 'not-found' };
  }
  const { lowerId, lowerVersion } = key;
  return deps.db.transaction().execute(async (trx) => {
    await limitLockWait(trx, deps.lockTimeoutMs);
    const row = await trx
      .selectFrom('packages')
      .select(['id', 'version', 'normalized_version', 'deleted'])
      .where('feed_id', '=', deps.feedId)
      .where('lower_id', '=', lowerId)
      .where('lower_version', '=', lowerVersion)
      .forUpdate()
      .executeTakeFirst();
    if (!row) return { kind: 'not-found' as const };
    if (row.deleted) return { kind: 'already-deleted' as const, packageId: row.id, version: row.version };
    // One statement appends the leaf and marks the row deleted; the catalog lock is held from it to the COMMIT.
    const commit = await appendCatalogCommit(trx, deps.feedId, [
      {
        type: 'PackageDelete',
        lowerId,
        lowerVersion,
        build: (c) => ({
          id: row.id,
          originalId: row.id,
          version: row.normalized_version,
          published: formatCatalogTimestamp(c.commitTimestamp),
        }),
        package: { deleted: true },
      },
    ]);
    return { kind: 'deleted' as const, packageId: row.id, version: row.version, commit };
  });
}
