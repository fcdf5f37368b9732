import type { ColumnType, Generated, Insertable, Selectable } from 'kysely';

/** `feeds`: one row per feed; `main` is created by the first migration. */
export interface FeedsTable {
  id: Generated<number>;
  name: string;
  created_at: Generated<Date>;
}

/** `api_keys`: only a hash of each key's secret is stored. */
export interface ApiKeysTable {
  id: Generated<string>;
  feed_id: number;
  name: string;
  lookup: string;
  secret_hash: Buffer;
  scopes: string[];
  id_globs: string[];
  created_at: Generated<Date>;
  expires_at: Date | null;
  revoked_at: Date | null;
  /** The account the key acts for (ownership of ids and prefixes); `default` unless given. */
  owner: ColumnType<string, string | undefined, string>;
}

/** `packages`: the write-side state of every id+version ever pushed. */
export interface PackagesTable {
  feed_id: number;
  lower_id: string;
  lower_version: string;
  id: string;
  version: string;
  normalized_version: string;
  listed: boolean;
  deleted: ColumnType<boolean, boolean | undefined, boolean>;
  semver2: boolean;
  package_hash: string;
  package_size: ColumnType<string, number | bigint | string, number | bigint | string>;
  created: Date;
  last_commit_timestamp: Date;
  /**
   * Null: no package signature. `'unverified'`: the package has a `.signature.p7s` that nucat neither
   * read nor verified. Set from the catalog leaf by a database trigger (migration 2200_signatures).
   */
  signature: ColumnType<'unverified' | null, never, never>;
}

/** `catalog_heads`: the append lock and the current page of each feed's catalog. */
export interface CatalogHeadsTable {
  feed_id: number;
  last_commit_timestamp: Date | null;
  page_number: Generated<number>;
  page_item_count: Generated<number>;
}

/** `catalog_commits`: one row per catalog commit. */
export interface CatalogCommitsTable {
  feed_id: number;
  commit_timestamp: Date;
  commit_id: string;
  page_number: number;
  item_count: number;
}

/** `catalog_items`: the append-only catalog leaves. */
export interface CatalogItemsTable {
  seq: Generated<string>;
  feed_id: number;
  commit_timestamp: Date;
  commit_id: string;
  page_number: number;
  type: 'PackageDetails' | 'PackageDelete';
  lower_id: string;
  lower_version: string;
  data: ColumnType<unknown, string, string>;
}

/** `projection_cursors`: the last commit timestamp each projection has fully projected. */
export interface ProjectionCursorsTable {
  feed_id: number;
  projection: string;
  cursor: Generated<Date>;
  updated_at: Generated<Date>;
  /** The run the cursor belongs to: a new random id each time it is reset (a uuid). */
  run_id: Generated<string>;
}

/**
 * `search_documents`: the PostgreSQL search backend's index, one row per (feed, variant, id).
 * The tsvectors are written as tsvector literals built by `@nucat/search-postgres`.
 */
export interface SearchDocumentsTable {
  feed_id: number;
  variant: 'semver1-stable' | 'semver1-prerelease' | 'semver2-stable' | 'semver2-prerelease';
  lower_id: string;
  /** The whole search document; written as JSON text. */
  document: ColumnType<unknown, string, string>;
  /** Weighted lexemes: id tokens A, title/tags B, description/authors/summary C. */
  search_vector: string;
  /** Field-tagged lexemes (`title:json`, `tags:json`, …) for field queries. */
  field_vector: string;
  /** The id's tokens, space-separated (the whole lowercased id first). */
  id_tokens: string;
  total_downloads: ColumnType<string, number | bigint | string | undefined, number | bigint | string>;
  /** Downloads per lower-case normalized version; written as JSON text. */
  downloads: ColumnType<Record<string, number>, string | undefined, string>;
  /** Lower-cased package type names. */
  package_types: string[];
  /** Lower-case normalized versions of the document. */
  versions: string[];
  /** The id's owner names, lowercase and sorted (not inside `document`: the owner sync changes them alone). */
  owners: ColumnType<string[], string[] | undefined, string[]>;
  updated_at: Generated<Date>;
}

/** `package_downloads`: the truth for download counts, per id and version. */
export interface PackageDownloadsTable {
  feed_id: number;
  lower_id: string;
  lower_version: string;
  downloads: ColumnType<string, number | bigint | string | undefined, number | bigint | string>;
  updated_at: Generated<Date>;
}

/**
 * `mirror_cursors`: how far this feed has followed another feed's catalog, per source service index.
 * `cursor_exact` is the source's commit timestamp with its 7 fraction digits; `cursor` is it floored to
 * microseconds. Both are null before the first commit is applied.
 */
export interface MirrorCursorsTable {
  feed_id: number;
  source: string;
  cursor: Date | null;
  cursor_exact: string | null;
  source_head: Date | null;
  updated_at: Generated<Date>;
  items_applied: ColumnType<string, number | bigint | string | undefined, number | bigint | string>;
  /** Written as JSON text. */
  conflicts: ColumnType<unknown, string | undefined, string>;
  last_error: string | null;
}

/**
 * `projection_generations`: which key-prefix generation of a blob projection is served (`active`),
 * being rebuilt (`building`), or being retired (`retired`, written alongside until `retire_after`,
 * then deleted). No row = generation 0.
 */
export interface ProjectionGenerationsTable {
  feed_id: number;
  projection: string;
  active: ColumnType<number, number | undefined, number>;
  building: number | null;
  started_at: Date | null;
  switched_at: Date | null;
  retired: number | null;
  retire_after: Date | null;
}

/**
 * `package_ids`: one row per claimed package id (ownership is keyed by the lowercase id); `id` keeps the
 * casing of the push that claimed it. `touched_at`: when an owner last pushed it while it had no version.
 */
export interface PackageIdsTable {
  feed_id: number;
  lower_id: string;
  id: string;
  claimed_at: Generated<Date>;
  touched_at: Generated<Date>;
  /** When the id's owners last changed (claim, owner added or removed): what the search owner sync follows. */
  owners_changed_at: Generated<Date>;
}

/** `package_owners`: the owners (account names) of each claimed id. */
export interface PackageOwnersTable {
  feed_id: number;
  lower_id: string;
  owner: string;
  added_at: Generated<Date>;
}

/**
 * `reserved_prefixes`: id patterns only their owners may push new ids under. `pattern` is ASCII
 * lowercase: `contoso.*` (ids starting with `contoso.`) or an exact id; `display` keeps the casing given.
 */
export interface ReservedPrefixesTable {
  feed_id: number;
  pattern: string;
  display: string;
  owner: string;
  created_at: Generated<Date>;
}

/** `content_leases`: content blobs a push relies on and the orphan collector must leave alone until `expires_at`. */
export interface ContentLeasesTable {
  id: Generated<string>;
  package_hash: string;
  expires_at: Date;
  created_at: Generated<Date>;
}

export interface Database {
  feeds: FeedsTable;
  api_keys: ApiKeysTable;
  packages: PackagesTable;
  catalog_heads: CatalogHeadsTable;
  catalog_commits: CatalogCommitsTable;
  catalog_items: CatalogItemsTable;
  projection_cursors: ProjectionCursorsTable;
  search_documents: SearchDocumentsTable;
  package_downloads: PackageDownloadsTable;
  mirror_cursors: MirrorCursorsTable;
  projection_generations: ProjectionGenerationsTable;
  package_ids: PackageIdsTable;
  package_owners: PackageOwnersTable;
  reserved_prefixes: ReservedPrefixesTable;
  content_leases: ContentLeasesTable;
}

export type PackageRow = Selectable<PackagesTable>;
export type NewPackageRow = Insertable<PackagesTable>;
export type ApiKeyRow = Selectable<ApiKeysTable>;
export type CatalogItemRow = Selectable<CatalogItemsTable>;
export type SearchDocumentRow = Selectable<SearchDocumentsTable>;
export type PackageDownloadRow = Selectable<PackageDownloadsTable>;
export type MirrorCursorRow = Selectable<MirrorCursorsTable>;
export type ProjectionGenerationRow = Selectable<ProjectionGenerationsTable>;
