import type { FeedUrls, PackageDetailsData } from '@nucat/catalog';
import {
  compareVersions,
  fullVersion,
  isPrerelease,
  isSemVer2Package,
  lowerNormalizedVersion,
  parseVersion,
  toLowerId,
  type NuGetVersion,
} from '@nucat/nuget';
import { SEARCH_VARIANTS, sortedOwners, type SearchDocument, type SearchVariant } from '@nucat/search';
import { packageIconUrl, packageLicenseUrl } from '../shared/package-urls.js';
import { InvalidSearchInputError } from './errors.js';

/** The latest PackageDetails catalog leaf of one version of the id being built. */
export interface SearchLeafInput {
  /** Lowercased normalized version; must match `data.version`. */
  lowerVersion: string;
  commitTimestamp: Date;
  data: PackageDetailsData;
}

/** A validated leaf with what the variant filters need. */
interface Leaf {
  input: SearchLeafInput;
  version: NuGetVersion;
  prerelease: boolean;
  semVer2: boolean;
}

/** The package type a package has when its nuspec declares none. */
const DEFAULT_PACKAGE_TYPE = 'Dependency';

/**
 * Builds the search documents of one id, one per {@link SearchVariant} that has something to show,
 * as a pure function of the id's catalog state (the latest PackageDetails leaf per non-deleted
 * version). The same leaves always give the same documents.
 *
 * - Unlisted versions are left out; an id whose versions are all unlisted gets no documents.
 * - Stable variants leave out prerelease versions; SemVer1 variants leave out SemVer2 packages
 *   (version, verbatim version or a dependency range; `isSemVer2Package`).
 * - A variant's metadata comes from its latest passing version in NuGet order; `versions` lists
 *   every passing version ascending.
 * - `iconUrl` and `licenseUrl` follow the registration `catalogEntry` rules.
 * - `owners` are the given owner names (not catalog data), lowercase and sorted; none when not given.
 *
 * @see https://learn.microsoft.com/en-us/nuget/api/search-query-service-resource#search-result
 * @returns 0 to 4 documents, in the order of `SEARCH_VARIANTS`; `[]` means "remove the id".
 * @throws InvalidSearchInputError when a leaf belongs to another id or its `lowerVersion` does not
 *   match its data.
 * @throws InvalidVersionError (from `@nucat/nuget`) when a leaf's version does not parse.
 */
export function buildSearchDocuments(input: { lowerId: string; leaves: SearchLeafInput[]; urls: FeedUrls; owners?: readonly string[] }): SearchDocument[] {
  const leaves = prepareLeaves(input.lowerId, input.leaves);
  if (leaves.length === 0) return [];
  // The newest commit among all of the id's leaves, unlisted ones included: unlisting changes the documents.
  const lastCommit = new Date(Math.max(...leaves.map((leaf) => leaf.input.commitTimestamp.getTime())));
  const listed = leaves.filter((leaf) => leaf.input.data.listed);

  const documents: SearchDocument[] = [];
  for (const variant of SEARCH_VARIANTS) {
    const passing = listed.filter((leaf) => passes(leaf, variant));
    if (passing.length === 0) continue;
    documents.push({ ...buildDocument(input.lowerId, variant, passing, lastCommit, input.urls), owners: sortedOwners(input.owners ?? []) });
  }
  return documents;
}

function passes(leaf: Leaf, variant: SearchVariant): boolean {
  const wantsPrerelease = variant === 'semver1-prerelease' || variant === 'semver2-prerelease';
  const wantsSemVer2 = variant === 'semver2-stable' || variant === 'semver2-prerelease';
  return (wantsPrerelease || !leaf.prerelease) && (wantsSemVer2 || !leaf.semVer2);
}

/** Validates the leaves, keeps the newest leaf per version, and sorts them by version (ascending). */
function prepareLeaves(lowerId: string, inputs: SearchLeafInput[]): Leaf[] {
  const byVersion = new Map<string, Leaf>();
  for (const input of inputs) {
    if (toLowerId(input.data.id) !== lowerId) {
      throw new InvalidSearchInputError(`A leaf of "${input.data.id}" was given while building "${lowerId}".`, {
        lowerId,
        leafId: input.data.id,
      });
    }
    const version = parseVersion(input.data.version);
    const lowerVersion = lowerNormalizedVersion(version);
    if (input.lowerVersion !== lowerVersion) {
      throw new InvalidSearchInputError(`Leaf lowerVersion "${input.lowerVersion}" does not match its version "${input.data.version}".`, {
        lowerId,
        lowerVersion: input.lowerVersion,
        version: input.data.version,
      });
    }
    const leaf: Leaf = {
      input,
      version,
      prerelease: isPrerelease(version),
      semVer2: isSemVer2Package({
        version: input.data.version,
        verbatimVersion: input.data.verbatimVersion,
        ...(input.data.dependencyGroups !== undefined ? { dependencyGroups: input.data.dependencyGroups } : {}),
      }),
    };
    // The caller passes one leaf per version; if it passes more, the newest commit is the truth.
    const existing = byVersion.get(lowerVersion);
    if (existing === undefined || input.commitTimestamp.getTime() > existing.input.commitTimestamp.getTime()) {
      byVersion.set(lowerVersion, leaf);
    }
  }
  return [...byVersion.values()].sort((a, b) => compareVersions(a.version, b.version));
}

function buildDocument(lowerId: string, variant: SearchVariant, passing: Leaf[], lastCommit: Date, urls: FeedUrls): Omit<SearchDocument, 'owners'> {
  const latest = passing[passing.length - 1]!;
  const data = latest.input.data;
  const packageTypes = unique((data.packageTypes ?? []).map((type) => type.name).filter((name) => name !== ''));
  return {
    lowerId,
    variant,
    id: data.id,
    version: fullVersion(latest.version),
    versions: passing.map((leaf) => ({ version: fullVersion(leaf.version), lowerVersion: leaf.input.lowerVersion })),
    title: data.title ?? '',
    description: data.description,
    summary: data.summary ?? '',
    tags: unique(data.tags.filter((tag) => tag !== '')),
    authors: splitAuthors(data.authors),
    iconUrl: packageIconUrl(data, urls.flatContainerBase, lowerId, latest.input.lowerVersion),
    licenseUrl: packageLicenseUrl(data),
    projectUrl: data.projectUrl ?? '',
    packageTypes: packageTypes.length > 0 ? packageTypes : [DEFAULT_PACKAGE_TYPE],
    lastCommitTimestamp: lastCommit.toISOString(),
  };
}

/** The nuspec `authors` text split on `,` and trimmed, empties dropped. */
function splitAuthors(authors: string): string[] {
  return authors
    .split(',')
    .map((author) => author.trim())
    .filter((author) => author !== '');
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}
