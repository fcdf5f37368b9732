import { PackageConflictError, type CommitStamp } from '@nucat/catalog';
import type { Db } from '@nucat/db';
import { ingestPackage, leaseExistingContent, resolvePackageKey, setListed as setVersionListed } from '@nucat/feed';
import type { BlobStore } from '@nucat/storage';
import { authorize, authorizeOwner, authorizePushOwnership, type ApiKeyGrant } from '@nucat/auth';
import type { ReceivedUpload } from './upload.js';

/** Collaborators of the publish operations. */
export interface PublishDeps {
  db: Db;
  store: BlobStore;
  feedId: number;
  /** Longest lock wait of a push, unlist or relist, in ms (see `FeedDeps.lockTimeoutMs`). @defaultValue 10000 */
  lockTimeoutMs?: number;
}

/** The outcome of a push, unlist or relist that changed the feed. */
export interface PublishResult {
  packageId: string;
  version: string;
  commit?: CommitStamp;
  /**
   * Pushes only: `'unverified'` when the package carries a package signature (`.signature.p7s`), which
   * nucat records but does not verify; absent for an unsigned package.
   */
  signature?: 'unverified';
}

/**
 * Pushes an uploaded package: validates it, checks the key may push this id — its scopes and globs (a
 * new id needs `push`, another version of an existing id `push-version`), then ownership (the key's
 * owner must own the id; a new id is claimed for it unless another owner reserved its prefix) — then
 * ingests it with `@nucat/feed` (content blobs first, then one transaction that claims the id+version
 * and appends the PackageDetails commit).
 *
 * When content with this hash is already stored (a retry after a crash, identical bytes), it is leased
 * for the push so that `nucat gc` cannot collect it between the skipped write and the commit.
 *
 * @throws PackageConflictError (409) when the id+version exists or existed (deleted versions are never
 *   reused), whatever the bytes; InvalidPackageError; AuthError from the scope check; OwnershipError
 *   (403) when the id belongs to another owner or is under another owner's reserved prefix.
 */
export async function pushPackage(deps: PublishDeps, grant: ApiKeyGrant, upload: ReceivedUpload): Promise<PublishResult> {
  const lease = await leaseExistingContent(deps, upload.sha512);
  let result;
  try {
    result = await ingestPackage(deps, {
      file: upload.file,
      sha512: upload.sha512,
      size: upload.size,
      listed: true,
      authorize: async (packageId, idExists) => {
        authorize(grant, idExists ? 'push-version' : 'push-new-id', packageId);
        await authorizePushOwnership(deps.db, { feedId: deps.feedId, owner: grant.owner, packageId, idExists });
      },
    });
  } finally {
    await lease.release();
  }
  if (result.kind === 'exists') {
    throw new PackageConflictError(`${result.packageId} ${result.normalizedVersion} already exists in this feed; versions are immutable.`, {
      id: result.packageId,
      version: result.normalizedVersion,
    });
  }
  const signature = await readSignatureState(deps, result.packageId, result.version);
  return { packageId: result.packageId, version: result.version, commit: result.commit, ...(signature ? { signature } : {}) };
}

/** The recorded signature state of a committed version (set in its commit, from its catalog leaf). */
async function readSignatureState(deps: PublishDeps, packageId: string, version: string): Promise<'unverified' | undefined> {
  let key;
  try {
    key = resolvePackageKey(packageId, version);
  } catch {
    return undefined; // cannot happen for a validated nuspec; never turn a stored push into an error
  }
  const { lowerId, lowerVersion } = key;
  const row = await deps.db
    .selectFrom('packages')
    .select('signature')
    .where('feed_id', '=', deps.feedId)
    .where('lower_id', '=', lowerId)
    .where('lower_version', '=', lowerVersion)
    .executeTakeFirst();
  return row?.signature ?? undefined;
}

/**
 * Unlists (`listed = false`) or relists a version (a new PackageDetails leaf; none when the version
 * already is in that state). The delete path carries the id and version as the user typed them
 * (not lowercased or normalized); an id or version that cannot exist answers 404 before the key's
 * scope is checked. The key's owner must own the id (any casing), else 403.
 */
export async function setListed(
  deps: PublishDeps,
  grant: ApiKeyGrant,
  rawId: string,
  rawVersion: string,
  listed: boolean,
): Promise<PublishResult> {
  resolvePackageKey(rawId, rawVersion);
  authorize(grant, 'unlist', rawId);
  await authorizeOwner(deps.db, { feedId: deps.feedId, owner: grant.owner, packageId: rawId });
  return setVersionListed(deps, { id: rawId, version: rawVersion }, listed);
}
