export { InvalidCatalogInputError } from './errors.js';
export { createFeedUrls, HIVE_NAMES, type FeedUrls, type HiveName } from './feed-urls.js';
export { formatCatalogTimestamp, UNLISTED_PUBLISHED_DATE } from './timestamps.js';
export { catalogLeafPath, catalogLeafUrl, dependencyGroupId, renderCatalogLeaf } from './leaf.js';
export {
  catalogIndexUrl,
  catalogPageUrl,
  EMPTY_CATALOG_COMMIT_ID,
  EMPTY_CATALOG_COMMIT_TIMESTAMP,
  renderCatalogIndex,
  renderCatalogPage,
} from './page.js';
export {
  buildPackageDetails,
  isPackageDeleteItem,
  isPackageDetailsItem,
  type BuildPackageDetailsInput,
  type CatalogItem,
  type PackageDeleteData,
  type PackageDetailsData,
} from './package-details.js';
