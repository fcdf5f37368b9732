/**
 * @nucat/search — the search contract (documents, query model, {@link SearchBackend}), the pure
 * helpers that turn a request into a {@link SearchQuery}, and (under `@nucat/search/contract`) the
 * vitest suite every backend must pass.
 */
export type {
  AutocompleteIdsOptions,
  AutocompleteVersionsOptions,
  DownloadTotals,
  PackageOwners,
  ParsedQuery,
  SearchBackend,
  SearchDocument,
  SearchDocumentVersion,
  SearchField,
  SearchHit,
  SearchQuery,
  SearchResult,
  SearchVariant,
} from './types.js';
export { SEARCH_VARIANTS } from './types.js';
export { InvalidSearchParameterError, InvalidSearchDocumentError } from './errors.js';
export {
  DEFAULT_SEARCH_TAKE,
  MAX_SEARCH_SKIP,
  MAX_SEARCH_TAKE,
  parseSearchParameters,
  selectVariant,
  type QueryParameters,
  type SearchParameters,
} from './variant.js';
export { MAX_QUERY_TERMS, MAX_TERM_LENGTH, parseSearchQuery } from './query-parser.js';
export { cleanQueryText, MAX_QUERY_LENGTH } from './text.js';
export { tokenizeId } from './tokenize.js';
export { createMemorySearchBackend } from './memory-backend.js';
export { assertDocumentsOf, sortedOwners } from './check-documents.js';
