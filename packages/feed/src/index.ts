export type { FeedDeps } from './feed-deps.js';
export { ingestPackage, type IngestInput, type IngestResult, type IngestSource } from './ingest-package.js';
export { setListed, type VersionChange } from './set-listed.js';
export { deletePackage, type DeleteResult } from './delete-package.js';
export { resolvePackageKey, type PackageKey } from './package-key.js';
export { PackageMismatchError } from './errors.js';
export { limitLockWait, DEFAULT_LOCK_TIMEOUT_MS } from './lock-wait.js';
export { openFileZipSource, readNupkgFile, hashFile, type FileZipSource } from './file-zip-source.js';
export {
  collectOrphanBlobs,
  leaseExistingContent,
  InvalidCollectOptionsError,
  CONTENT_LEASE_MS,
  DEFAULT_ORPHAN_MIN_AGE_MS,
  MIN_ORPHAN_MIN_AGE_MS,
  type CollectOrphansOptions,
  type CollectOrphansReport,
  type CollectedContent,
  type ContentLease,
} from './collect-orphans.js';
