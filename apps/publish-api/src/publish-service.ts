import { PackageConflictError, type CommitStamp } from '@nucat/catalog';
import type { Db } from '@nucat/db';
import { ingestPackage, resolvePackageKey, setListed as setVersionListed } from '@nucat/feed';
import type { BlobStore } from '@nucat/storage';
import { authorize, type ApiKeyGrant } from '@nucat/auth';
import type { ReceivedUpload } from './upload.js';

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

/**
 * Pushes an uploaded package: validates it, checks the key may push this id (a new id needs
 * `push`, another version of an existing id `push-version`), then ingests it with `@nucat/feed`
 * (content blobs first, then one transaction that claims the id+version and appends the
 * PackageDetails commit).
 *
 * @throws PackageConflictError (409) when the id+version exists or existed (deleted versions are never
 *   reused), whatever the bytes; InvalidPackageError; AuthError from the scope check.
 */
export async function pushPackage(deps: PublishDeps, grant: ApiKeyGrant, upload: ReceivedUpload): Promise<PublishResult> {
  const result = await ingestPackage(deps, {
    file: upload.file,
    sha512: upload.sha512,
    size: upload.size,
    listed: true,
    authorize: (packageId, idExists) => authorize(grant, idExists ? 'push-version' : 'push-new-id', packageId),
  });
  if (result.kind === 'exists') {
    throw new PackageConflictError(`${result.packageId} ${result.normalizedVersion} already exists in this feed; versions are immutable.`, {
      id: result.packageId,
      version: result.normalizedVersion,
    });
  }
  return { packageId: result.packageId, version: result.version, commit: result.commit };
}

/**
 * Unlists (`listed = false`) or relists a version (a new PackageDetails leaf; none when the version
 * already is in that state). The delete path carries the id and version as the user typed them
 * (not lowercased or normalized); an id or version that cannot exist answers 404 before the key's
 * scope is checked.
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
  return setVersionListed(deps, { id: rawId, version: rawVersion }, listed);
}
