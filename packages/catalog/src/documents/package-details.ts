import { fullVersion, isPrerelease, type PackageEntry, type PackageManifest } from '@nucat/nuget';
import { formatCatalogTimestamp, UNLISTED_PUBLISHED_DATE } from './timestamps.js';

/**
 * The stored body of a PackageDetails catalog leaf: every field the official gallery's leaf has, minus `@id`,
 * `@type`, `@context` and the `catalog:*` commit fields (those are added by {@link renderCatalogLeaf}).
 * Optional fields are absent (never `undefined`) when the package does not have them.
 *
 * @see https://learn.microsoft.com/en-us/nuget/api/catalog-resource#package-details-catalog-items
 */
export interface PackageDetailsData {
  /** Package id with the casing of this version's nuspec. */
  id: string;
  /** Full version: normalized, plus `+metadata` when the package has it. */
  version: string;
  /** The version exactly as written in the nuspec. */
  verbatimVersion: string;
  authors: string;
  description: string;
  /** First time the server received the package (catalog timestamp format). */
  created: string;
  /** Last listing time; `1900-01-01T00:00:00.0000000Z` when unlisted. */
  published: string;
  /** Last metadata edit, absent when never edited. */
  lastEdited?: string;
  listed: boolean;
  isPrerelease: boolean;
  /** Standard Base64 SHA-512 of the `.nupkg` bytes as stored. */
  packageHash: string;
  packageHashAlgorithm: 'SHA512';
  /** Size of the `.nupkg` in bytes. */
  packageSize: number;
  requireLicenseAcceptance: boolean;
  tags: string[];
  title?: string;
  summary?: string;
  releaseNotes?: string;
  copyright?: string;
  language?: string;
  projectUrl?: string;
  licenseUrl?: string;
  licenseExpression?: string;
  licenseFile?: string;
  iconUrl?: string;
  iconFile?: string;
  readmeFile?: string;
  minClientVersion?: string;
  developmentDependency?: boolean;
  serviceable?: boolean;
  repository?: { type?: string; url?: string; branch?: string; commit?: string };
  /** Present only when the nuspec declares package types. */
  packageTypes?: { name: string; version?: string }[];
  /** Present only when the nuspec declares dependencies; `range` is normalized or `""`. */
  dependencyGroups?: { targetFramework?: string; dependencies?: { id: string; range: string }[] }[];
  /** The zip entries of the `.nupkg`, in archive order. */
  packageEntries: { fullName: string; name: string; length: number; compressedLength: number }[];
}

/**
 * The stored body of a PackageDelete catalog leaf.
 * @see https://learn.microsoft.com/en-us/nuget/api/catalog-resource#package-delete-catalog-items
 */
export interface PackageDeleteData {
  id: string;
  /** Same as `id` (the official gallery writes both). */
  originalId: string;
  /** Normalized version (no metadata). */
  version: string;
  /** Deletion time (catalog timestamp format). */
  published: string;
}

/** One catalog item as stored: a leaf body plus the commit it belongs to. */
export interface CatalogItem {
  commitId: string;
  /** Whole milliseconds; strictly increasing across commits, shared by the items of one commit. */
  commitTimestamp: Date;
  type: 'PackageDetails' | 'PackageDelete';
  lowerId: string;
  /** Lowercased normalized version. */
  lowerVersion: string;
  data: PackageDetailsData | PackageDeleteData;
}

/** Narrows a catalog item to a PackageDetails item. */
export function isPackageDetailsItem(item: CatalogItem): item is CatalogItem & { type: 'PackageDetails'; data: PackageDetailsData } {
  return item.type === 'PackageDetails';
}

/** Narrows a catalog item to a PackageDelete item. */
export function isPackageDeleteItem(item: CatalogItem): item is CatalogItem & { type: 'PackageDelete'; data: PackageDeleteData } {
  return item.type === 'PackageDelete';
}

/** Inputs of {@link buildPackageDetails}. */
export interface BuildPackageDetailsInput {
  manifest: PackageManifest;
  /** Base64 SHA-512 of the stored `.nupkg`. */
  packageHash: string;
  packageSize: number;
  entries: PackageEntry[];
  /** First time the server received the package. */
  created: Date;
  /** Last listing time; ignored (written as 1900-01-01) when `listed` is false. */
  published: Date;
  listed: boolean;
  /** Last metadata edit; omitted from the result when undefined. */
  lastEdited?: Date;
}

/**
 * Maps a parsed nuspec and the facts about the stored package into the body of a PackageDetails leaf.
 * Empty or missing optional nuspec values are left out; `published` becomes 1900-01-01 when unlisted,
 * as on the official gallery.
 *
 * @see https://learn.microsoft.com/en-us/nuget/api/catalog-resource#package-details-catalog-items
 */
export function buildPackageDetails(input: BuildPackageDetailsInput): PackageDetailsData {
  const { manifest } = input;
  const data: PackageDetailsData = {
    id: manifest.id,
    version: fullVersion(manifest.version),
    verbatimVersion: manifest.verbatimVersion,
    authors: manifest.authors,
    description: manifest.description,
    created: formatCatalogTimestamp(input.created),
    published: formatCatalogTimestamp(input.listed ? input.published : UNLISTED_PUBLISHED_DATE),
    listed: input.listed,
    isPrerelease: isPrerelease(manifest.version),
    packageHash: input.packageHash,
    packageHashAlgorithm: 'SHA512',
    packageSize: input.packageSize,
    requireLicenseAcceptance: manifest.requireLicenseAcceptance,
    tags: [...manifest.tags],
    packageEntries: input.entries.map((e) => ({
      fullName: e.fullName,
      name: e.name,
      length: e.length,
      compressedLength: e.compressedLength,
    })),
  };
  if (input.lastEdited !== undefined) data.lastEdited = formatCatalogTimestamp(input.lastEdited);

  setText(data, 'title', manifest.title);
  setText(data, 'summary', manifest.summary);
  setText(data, 'releaseNotes', manifest.releaseNotes);
  setText(data, 'copyright', manifest.copyright);
  setText(data, 'language', manifest.language);
  setText(data, 'projectUrl', manifest.projectUrl);
  setText(data, 'licenseUrl', manifest.licenseUrl);
  setText(data, 'iconUrl', manifest.iconUrl);
  setText(data, 'iconFile', manifest.icon);
  setText(data, 'readmeFile', manifest.readme);
  setText(data, 'minClientVersion', manifest.minClientVersion);
  if (manifest.license?.type === 'expression') setText(data, 'licenseExpression', manifest.license.value);
  if (manifest.license?.type === 'file') setText(data, 'licenseFile', manifest.license.value);
  if (manifest.developmentDependency !== undefined) data.developmentDependency = manifest.developmentDependency;
  if (manifest.serviceable !== undefined) data.serviceable = manifest.serviceable;

  if (manifest.repository !== undefined) {
    const repository: NonNullable<PackageDetailsData['repository']> = {};
    for (const key of ['type', 'url', 'branch', 'commit'] as const) {
      const value = manifest.repository[key];
      if (value !== undefined && value !== '') repository[key] = value;
    }
    if (Object.keys(repository).length > 0) data.repository = repository;
  }
  if (manifest.packageTypes.length > 0) {
    data.packageTypes = manifest.packageTypes.map((t) => (t.version === undefined ? { name: t.name } : { name: t.name, version: t.version }));
  }
  if (manifest.dependencyGroups.length > 0) {
    data.dependencyGroups = manifest.dependencyGroups.map((g) => {
      const group: NonNullable<PackageDetailsData['dependencyGroups']>[number] = {};
      if (g.targetFramework !== undefined && g.targetFramework !== '') group.targetFramework = g.targetFramework;
      if (g.dependencies.length > 0) group.dependencies = g.dependencies.map((d) => ({ id: d.id, range: d.range }));
      return group;
    });
  }
  return data;
}

type OptionalTextKey =
  | 'title' | 'summary' | 'releaseNotes' | 'copyright' | 'language' | 'projectUrl' | 'licenseUrl'
  | 'licenseExpression' | 'licenseFile' | 'iconUrl' | 'iconFile' | 'readmeFile' | 'minClientVersion';

function setText(data: PackageDetailsData, key: OptionalTextKey, value: string | undefined): void {
  if (value !== undefined && value !== '') data[key] = value;
}
