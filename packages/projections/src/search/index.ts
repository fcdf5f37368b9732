export { buildSearchDocuments, type SearchLeafInput } from './build-search-documents.js';
export { InvalidSearchInputError } from './errors.js';
export { createSearchProjector, type SearchProjector, type SearchProjectorOptions } from './search-projector.js';
