/**
 * @nucat/search-meilisearch — the `SearchBackend` on Meilisearch (official `meilisearch` client).
 * One index per feed; matching and ranking follow the `@nucat/search` contract through filters on
 * precomputed lists (see `search-plan.ts`).
 */
export { createMeilisearchSearchBackend, type MeilisearchSearchBackendOptions } from './meilisearch-search-backend.js';
export { MeilisearchBackendError, MeilisearchInvalidDocumentError, MeilisearchUnavailableError } from './errors.js';
export { decodeDocumentKey, encodeDocumentKey, feedIndexUid } from './keys.js';
export { buildIndexSettings } from './settings.js';
export { buildAutocompletePlan, buildSearchPlan, pageTiers, type SearchPlan, type TierRequest, type TierWindow } from './search-plan.js';
