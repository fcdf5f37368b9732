import {
  appendCatalogCommit,
  findLatestItem,
  formatCatalogTimestamp,
  NotFoundError,
  UNLISTED_PUBLISHED_DATE,
  type CommitStamp,
  type PackageDetailsData,
} from '@nucat/catalog';
import type { FeedDeps } from './feed-deps.js';
import { limitLockWait } from './lock-wait.js';
import { resolvePackageKey } from './package-key.js';

/** The outcome of an operation on one existing version. */
export interface VersionChange {
  /** Id with the casing of the version's nuspec. */
  packageId: string;
  /** Full version as stored. */
  version: string;
  /** The commit written; absent when the version already was in the requested state. */
  commit?: CommitStamp;
}

/**
 * Unlists (`listed = false`) or relists a version by appending a new PackageDetails leaf: a
 * complete snapshot of the latest leaf with the listing changed (`published` becomes 1900-01-01
 * when unlisted, the commit time when relisted). No commit when the version already is in the
 * requested state. `id` and `version` may be in any casing and version form.
 *
 * @throws NotFoundError (code `not_found`) when the version is not in the feed or was deleted.
 */
export async function setListed(
  deps: Pick<FeedDeps, 'db' | 'feedId' | 'lockTimeoutMs'>,
  target: { id: string; version: string },
  listed: boolean,
): Promise<VersionChange> {
  const { lowerId, lowerVersion } = resolvePackageKey(target.id, target.version);
  const notFound = () => new NotFoundError(`${target.id} ${target.version} does not exist in this feed.`);

  return deps.db.transaction().execute(async (trx) => {
    await limitLockWait(trx, deps.lockTimeoutMs);
    const row = await trx
      .selectFrom('packages')
      .select(['id', 'version', 'listed', 'deleted'])
      .where('feed_id', '=', deps.feedId)
      .where('lower_id', '=', lowerId)
      .where('lower_version', '=', lowerVersion)
      .forUpdate()
      .executeTakeFirst();
    if (!row || row.deleted) throw notFound();
    if (row.listed === listed) return { packageId: row.id, version: row.version };
    const latest = await findLatestItem(trx, deps.feedId, lowerId, lowerVersion);
    if (!latest || latest.type !== 'PackageDetails') throw notFound();
    const previous = latest.data as PackageDetailsData;
    // One statement appends the leaf and updates the row; the catalog lock is held from it to the COMMIT.
    const commit = await appendCatalogCommit(trx, deps.feedId, [
      {
        type: 'PackageDetails',
        lowerId,
        lowerVersion,
        build: (c) => ({
          ...previous,
          listed,
          published: formatCatalogTimestamp(listed ? c.commitTimestamp : UNLISTED_PUBLISHED_DATE),
        }),
        package: { listed },
      },
    ]);
    return { packageId: row.id, version: row.version, commit };
  });
}
