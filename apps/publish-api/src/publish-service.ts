import {
  appendCatalogCommit,
  buildPackageDetails,
  findLatestItem,
  formatCatalogTimestamp,
  packageContentKeys,
  NotFoundError,
  PackageConflictError,
  type CommitStamp,
  type PackageDetailsData,
} from '@nucat/catalog';
import type { Db } from '@nucat/db';
import {
  fullVersion,
  isSemVer2Package,
  lowerNormalizedVersion,
  normalizeVersion,
  toLowerId,
  tryParseVersion,
  InvalidPackageError,
  type NupkgContents,
} from '@nucat/nuget';
import type { BlobStore } from '@nucat/storage';
import { authorize, type ApiKeyGrant } from '@nucat/auth';
import type { ReceivedUpload } from './upload.js';
import { readNupkgFile } from './zip-source.js';

/** Collaborators of the publish operations. */
export interface PublishDeps {
  db: Db;
  store: BlobStore;
  feedId: number;
}

/** The outcome of a push, unlist or relist that changed the feed. */
export interface PublishResult {
  packageId: string;
  version: string;
  commit?: CommitStamp;
}

/** nuget.org's convention for the `published` date of an unlisted version. */
const UNLISTED_PUBLISHED = formatCatalogTimestamp(new Date(Date.UTC(1900, 0, 1)));

/**
 * Validates an uploaded package, stores its bytes (content-addressed, durable) and appends a
 * PackageDetails commit in the same transaction that claims the id+version.
 *
 * Order: validation and blob writes happen before the transaction, so the catalog lock is held
 * only for the inserts; a crash before commit leaves an unreferenced content blob and no visible
 * package, and a retry succeeds. The id+version claim is the primary key, so concurrent pushes of
 * one version produce exactly one commit.
 */
export async function pushPackage(deps: PublishDeps, grant: ApiKeyGrant, upload: ReceivedUpload): Promise<PublishResult> {
  // Read from the temp file piece by piece: memory stays bounded whatever the package size.
  const contents: NupkgContents = await readNupkgFile(upload.file);
  if (contents.isSymbolsPackage) {
    throw new InvalidPackageError('This is a symbols package (SymbolsPackage type); push .snupkg files to the symbol package endpoint.');
  }
  const manifest = contents.manifest;
  const lowerId = toLowerId(manifest.id);
  const lowerVersion = lowerNormalizedVersion(manifest.version);

  const existingId = await deps.db
    .selectFrom('packages')
    .select(['lower_version'])
    .where('feed_id', '=', deps.feedId)
    .where('lower_id', '=', lowerId)
    .limit(1)
    .executeTakeFirst();
  authorize(grant, existingId ? 'push-version' : 'push-new-id', manifest.id);

  const conflict = () =>
    new PackageConflictError(`${manifest.id} ${normalizeVersion(manifest.version)} already exists in this feed; versions are immutable.`, {
      id: manifest.id,
      version: normalizeVersion(manifest.version),
    });
  const existing = await deps.db
    .selectFrom('packages')
    .select('lower_version')
    .where('feed_id', '=', deps.feedId)
    .where('lower_id', '=', lowerId)
    .where('lower_version', '=', lowerVersion)
    .executeTakeFirst();
  if (existing) throw conflict();

  // Durable bytes first (content-addressed: identical uploads share a key, different ones never collide).
  const keys = packageContentKeys(upload.sha512);
  await deps.store.put(keys.nupkg, { file: upload.file }, { onlyIfAbsent: true });
  await deps.store.put(keys.nuspec, contents.nuspecBytes, { onlyIfAbsent: true });
  if (contents.icon) await deps.store.put(keys.icon, contents.icon.bytes, { onlyIfAbsent: true });
  if (contents.readme) await deps.store.put(keys.readme, contents.readme.bytes, { onlyIfAbsent: true });

  const semver2 = isSemVer2Package({
    version: fullVersion(manifest.version),
    verbatimVersion: manifest.verbatimVersion,
    dependencyGroups: manifest.dependencyGroups,
  });

  const commit = await deps.db.transaction().execute(async (trx) => {
    const claimed = await trx
      .insertInto('packages')
      .values({
        feed_id: deps.feedId,
        lower_id: lowerId,
        lower_version: lowerVersion,
        id: manifest.id,
        version: fullVersion(manifest.version),
        normalized_version: normalizeVersion(manifest.version),
        listed: true,
        semver2,
        package_hash: upload.sha512,
        package_size: upload.size,
        created: new Date(),
        last_commit_timestamp: new Date(),
      })
      .onConflict((oc) => oc.doNothing())
      .returning('lower_id')
      .executeTakeFirst();
    if (!claimed) throw conflict();
    const stamp = await appendCatalogCommit(trx, deps.feedId, [
      {
        type: 'PackageDetails',
        lowerId,
        lowerVersion,
        build: (c) =>
          buildPackageDetails({
            manifest,
            packageHash: upload.sha512,
            packageSize: upload.size,
            entries: contents.entries,
            created: c.commitTimestamp,
            published: c.commitTimestamp,
            listed: true,
          }),
      },
    ]);
    await trx
      .updateTable('packages')
      .set({ created: stamp.commitTimestamp, last_commit_timestamp: stamp.commitTimestamp })
      .where('feed_id', '=', deps.feedId)
      .where('lower_id', '=', lowerId)
      .where('lower_version', '=', lowerVersion)
      .execute();
    return stamp;
  });
  return { packageId: manifest.id, version: fullVersion(manifest.version), commit };
}

/**
 * Unlists (`listed = false`) or relists a version by appending a new PackageDetails leaf: a
 * complete snapshot of the latest leaf with the listing changed. No commit when the version is
 * already in the requested state. The delete path carries the id and version as the user typed
 * them (not lowercased or normalized), so both are normalized here.
 */
export async function setListed(
  deps: PublishDeps,
  grant: ApiKeyGrant,
  rawId: string,
  rawVersion: string,
  listed: boolean,
): Promise<PublishResult> {
  const version = tryParseVersion(rawVersion);
  const notFound = () => new NotFoundError(`${rawId} ${rawVersion} does not exist in this feed.`);
  if (!version || !/^[A-Za-z0-9_.-]{1,100}$/.test(rawId)) throw notFound();
  const lowerId = toLowerId(rawId);
  const lowerVersion = lowerNormalizedVersion(version);
  authorize(grant, 'unlist', rawId);

  return deps.db.transaction().execute(async (trx) => {
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
    const commit = await appendCatalogCommit(trx, deps.feedId, [
      {
        type: 'PackageDetails',
        lowerId,
        lowerVersion,
        build: (c) => ({
          ...previous,
          listed,
          published: listed ? formatCatalogTimestamp(c.commitTimestamp) : UNLISTED_PUBLISHED,
        }),
      },
    ]);
    await trx
      .updateTable('packages')
      .set({ listed, last_commit_timestamp: commit.commitTimestamp })
      .where('feed_id', '=', deps.feedId)
      .where('lower_id', '=', lowerId)
      .where('lower_version', '=', lowerVersion)
      .execute();
    return { packageId: row.id, version: row.version, commit };
  });
}
