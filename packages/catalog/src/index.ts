export * from './documents/index.js';
export { PackageConflictError, NotFoundError } from './errors.js';
export {
  appendCatalogCommit,
  prepareCatalogCommit,
  claimAndAppendCommits,
  UnsupportedCatalogItemError,
  MAX_CATALOG_PAGE_ITEMS,
  CATALOG_NOTIFY_CHANNEL,
  type PendingCatalogItem,
  type PackageRowChange,
  type PreparedCatalogCommit,
  type PackageClaim,
  type ClaimRequest,
  type CommitStamp,
} from './writer.js';
export {
  listCatalogPages,
  findCatalogPage,
  findCatalogLeaf,
  readCatalogBatch,
  readCatalogBatchEnd,
  rowToCatalogItem,
  readLatestItems,
  findLatestItem,
  findFeedId,
  type CatalogPageSummary,
  type CatalogBatch,
  type CatalogItemRow,
} from './reader.js';
export { getCursor, getCursorState, readCursorState, listCursors, advanceCursor, resetCursor, CURSOR_NOTIFY_CHANNEL, type CursorState } from './cursors.js';
export { packageContentKeys, type PackageContentKeys } from './content-keys.js';
export { readProjectionLag, type CatalogLag, type ProjectionLag } from './projection-lag.js';
export {
  BLOB_PROJECTIONS,
  GENERATIONS_POINTER_KEY,
  INITIAL_GENERATIONS,
  isBlobProjection,
  generationRoot,
  flatContainerPrefix,
  generationKeyPrefixes,
  generationCursorName,
  renderGenerationsPointer,
  parseGenerationsPointer,
  type BlobProjection,
  type BlobGenerations,
} from './generation-keys.js';
export {
  findProjectionGeneration,
  listActiveGenerations,
  listWriteGenerations,
  requestRebuild,
  cancelRebuild,
  lockCatalogHead,
  lockProjectionGeneration,
  completeGenerationSwitch,
  findRetirementDue,
  clearRetiredGeneration,
  RebuildInProgressError,
  type ProjectionGeneration,
} from './generations.js';
