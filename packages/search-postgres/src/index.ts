/**
 * @nucat/search-postgres — the `SearchBackend` over PostgreSQL full-text search and pg_trgm.
 * Tables come from the `2026_11_21_1700_search` migration of `@nucat/db`.
 */
export { createPostgresSearchBackend, type PostgresSearchBackendOptions } from './postgres-search-backend.js';
export { SearchUnavailableError } from './errors.js';
