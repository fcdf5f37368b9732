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
}

export interface Database {
  feeds: FeedsTable;
  api_keys: ApiKeysTable;
  packages: PackagesTable;
  catalog_heads: CatalogHeadsTable;
  catalog_commits: CatalogCommitsTable;
  catalog_items: CatalogItemsTable;
  projection_cursors: ProjectionCursorsTable;
}

export type PackageRow = Selectable<PackagesTable>;
export type NewPackageRow = Insertable<PackagesTable>;
export type ApiKeyRow = Selectable<ApiKeysTable>;
export type CatalogItemRow = Selectable<CatalogItemsTable>;
