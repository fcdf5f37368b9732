/**
 * The search contract: documents, the parsed query model and the {@link SearchBackend} interface
 * that every search backend implements.
 *
 * Search is a projection of the catalog. Per package id, the search worker rebuilds that id's
 * documents (one per {@link SearchVariant}) and replaces them in the backend.
 *
 * @see https://learn.microsoft.com/en-us/nuget/api/search-query-service-resource
 * @see https://learn.microsoft.com/en-us/nuget/api/search-autocomplete-service-resource
 */

/**
 * One search "filter", as nuget.org keeps them: each id has at most one document per variant.
 *
 * - `semver1-stable`: prerelease=false, semVerLevel below 2.0.0
 * - `semver1-prerelease`: prerelease=true, semVerLevel below 2.0.0
 * - `semver2-stable`: prerelease=false, semVerLevel 2.0.0 or higher
 * - `semver2-prerelease`: prerelease=true, semVerLevel 2.0.0 or higher
 */
export type SearchVariant = 'semver1-stable' | 'semver1-prerelease' | 'semver2-stable' | 'semver2-prerelease';

/** Every variant, in a fixed order (stable before prerelease, semver1 before semver2). */
export const SEARCH_VARIANTS: readonly SearchVariant[] = [
  'semver1-stable',
  'semver1-prerelease',
  'semver2-stable',
  'semver2-prerelease',
];

/** One version listed in a {@link SearchDocument}. */
export interface SearchDocumentVersion {
  /** Full version (normalized, with `+metadata` when present). */
  version: string;
  /** Lower-case normalized version (the key used for download counts and URLs). */
  lowerVersion: string;
}

/**
 * The search document of one package id in one variant. It exists only when the id has at least one
 * listed version passing the variant's filter; its metadata comes from the latest such version.
 */
export interface SearchDocument {
  lowerId: string;
  variant: SearchVariant;
  /** Id casing of the latest passing version. */
  id: string;
  /** Full version (with `+metadata`) of the latest passing version. */
  version: string;
  /** Every listed version passing the variant's filter, ascending in NuGet order. */
  versions: SearchDocumentVersion[];
  /** `""` when absent. */
  title: string;
  /** `""` when absent. */
  description: string;
  /** `""` when absent. */
  summary: string;
  tags: string[];
  /** The nuspec authors split on `,` and trimmed. */
  authors: string[];
  /** `""` when absent (same rules as the registration catalogEntry). */
  iconUrl: string;
  /** `""` when absent (same rules as the registration catalogEntry). */
  licenseUrl: string;
  /** `""` when absent (same rules as the registration catalogEntry). */
  projectUrl: string;
  /** Package type names; `['Dependency']` when the nuspec declares none. */
  packageTypes: string[];
  /** ISO timestamp of the newest commit among the id's items (for debugging and determinism). */
  lastCommitTimestamp: string;
  /**
   * The id's owners (nucat's owner names: lowercase, sorted). Not catalog data: the search projection
   * reads them when it builds the documents, and {@link SearchBackend.setOwners} changes them later.
   */
  owners: string[];
}

/** Canonical field names of the query syntax. */
export type SearchField =
  | 'id'
  | 'packageid'
  | 'version'
  | 'title'
  | 'description'
  | 'tags'
  | 'authors'
  | 'summary'
  | 'owners';

/** A search `q` parsed with the nuget.org query syntax. */
export interface ParsedQuery {
  /** Free-text terms (lowercased). */
  terms: string[];
  /** Field terms by canonical field: id, packageid, version, title, description, tags, authors, summary, owners. */
  fields: Partial<Record<SearchField, string[]>>;
}

/** One search request as a backend sees it. */
export interface SearchQuery {
  query: ParsedQuery;
  variant: SearchVariant;
  skip: number;
  take: number;
  /** Package type name, matched case-insensitively; undefined = any type. */
  packageType?: string;
}

/** One search result: a document plus its download counts. */
export interface SearchHit {
  document: SearchDocument;
  totalDownloads: number;
  /** Downloads per lower-case normalized version. */
  downloads: Record<string, number>;
}

/** The result of {@link SearchBackend.search}. */
export interface SearchResult {
  /** Number of matches, ignoring skip/take. */
  totalHits: number;
  hits: SearchHit[];
}

/** Absolute download counts for one id. */
export interface DownloadTotals {
  lowerId: string;
  /** Downloads per lower-case normalized version. */
  versions: Record<string, number>;
}

/** The owners of one id. */
export interface PackageOwners {
  lowerId: string;
  /** Owner names (lowercase); stored sorted. */
  owners: string[];
}

/** Options of {@link SearchBackend.autocompleteIds}. */
export interface AutocompleteIdsOptions {
  prefix: string;
  variant: SearchVariant;
  skip: number;
  take: number;
  /** Package type name, matched case-insensitively; undefined = any type. */
  packageType?: string;
}

/** Options of {@link SearchBackend.autocompleteVersions}. */
export interface AutocompleteVersionsOptions {
  lowerId: string;
  variant: SearchVariant;
}

/**
 * A search index. Every implementation passes `runSearchBackendContract` from `@nucat/search/contract`.
 * Feeds (by `feedId`) are isolated from each other.
 */
export interface SearchBackend {
  /** Replaces every document of an id (all variants) with `documents` (empty = remove the id). Idempotent; atomic per id for readers. */
  replacePackage(feedId: number, lowerId: string, documents: SearchDocument[]): Promise<void>;
  /** Sets absolute download counts for ids (ids not in the index are ignored). */
  setDownloads(feedId: number, totals: DownloadTotals[]): Promise<void>;
  /** Replaces the owners of ids in every variant (ids not in the index are ignored; the last entry of an id wins). */
  setOwners(feedId: number, owners: PackageOwners[]): Promise<void>;
  /**
   * Ranking: exact id match first, then id prefix / id token matches, then matches in
   * title/tags/description/authors/summary, then totalDownloads; ties by lowerId. Empty query =
   * everything, ranked by downloads then id. totalHits counts all matches (ignores skip/take).
   */
  search(feedId: number, query: SearchQuery): Promise<SearchResult>;
  /** Ids (display casing) whose id starts with `prefix` or has a token starting with it (case-insensitive), ranked like search; totalHits counts all. */
  autocompleteIds(
    feedId: number,
    options: { prefix: string; variant: SearchVariant; skip: number; take: number; packageType?: string },
  ): Promise<{ totalHits: number; ids: string[] }>;
  /** Versions (full strings, ascending) of one id in a variant; undefined when the id has no document in that variant. */
  autocompleteVersions(feedId: number, options: { lowerId: string; variant: SearchVariant }): Promise<string[] | undefined>;
  /** Waits until earlier writes are visible to search (Meilisearch tasks); no-op for PostgreSQL. */
  flush(): Promise<void>;
  close(): Promise<void>;
}
