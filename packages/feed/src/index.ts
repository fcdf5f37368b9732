export type { FeedDeps } from './feed-deps.js';
export { ingestPackage, type IngestInput, type IngestResult, type IngestSource } from './ingest-package.js';
export { setListed, type VersionChange } from './set-listed.js';
export { deletePackage, type DeleteResult } from './delete-package.js';
export { resolvePackageKey, type PackageKey } from './package-key.js';
export { PackageMismatchError } from './errors.js';
export { openFileZipSource, readNupkgFile, hashFile, type FileZipSource } from './file-zip-source.js';
