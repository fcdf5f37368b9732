export {
  createMirror,
  DEFAULT_MIRROR_CONCURRENCY,
  followMirror,
  type Mirror,
  type MirrorOptions,
  type MirrorCounters,
  type MirrorProgress,
  type MirrorRunResult,
  type MirrorItemError,
} from './mirror.js';
export { listMirrorStates, loadMirrorState, type MirrorConflict, type MirrorState } from './mirror-cursors.js';
export { verifyFeeds, formatFeedDifference, type FeedDifference, type VerifyOptions, type VerifyResult } from './verify.js';
export { compileIdGlobs, splitIdGlobs } from './id-globs.js';
export { parseCatalogTimestamp, compareInstants, type CatalogInstant } from './catalog-timestamp.js';
export { MirrorSourceError, InvalidMirrorOptionError, BlockedAddressError, NotAPackageError } from './errors.js';
export { isBlockedAddress, type LookupFn } from './address-guard.js';
export type { FetchFn } from './http-client.js';
