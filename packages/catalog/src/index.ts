export * from './documents/index.js';
export { PackageConflictError, NotFoundError } from './errors.js';
export {
  appendCatalogCommit,
  MAX_CATALOG_PAGE_ITEMS,
  CATALOG_NOTIFY_CHANNEL,
  type PendingCatalogItem,
  type CommitStamp,
} from './writer.js';
export {
  listCatalogPages,
  findCatalogPage,
  findCatalogLeaf,
  readCatalogBatch,
  readLatestItems,
  findLatestItem,
  findFeedId,
  type CatalogPageSummary,
  type CatalogBatch,
} from './reader.js';
export { getCursor, listCursors, advanceCursor, resetCursor, CURSOR_NOTIFY_CHANNEL } from './cursors.js';
export { packageContentKeys, type PackageContentKeys } from './content-keys.js';
