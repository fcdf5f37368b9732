import {
  catalogLeafUrl,
  dependencyGroupId,
  formatCatalogTimestamp,
  HIVE_NAMES,
  type FeedUrls,
  type HiveName,
  type PackageDetailsData,
} from '@nucat/catalog';
import {
  compareVersions,
  isSemVer2Package,
  lowerNormalizedVersion,
  normalizeVersion,
  parseVersion,
  toLowerId,
  type NuGetVersion,
} from '@nucat/nuget';
import { packageIconUrl, packageLicenseUrl } from '../shared/package-urls.js';
import { InvalidRegistrationInputError } from './errors.js';

/** The latest PackageDetails catalog leaf of one version of the id being built. */
export interface RegistrationLeafInput {
  commitId: string;
  commitTimestamp: Date;
  lowerId: string;
  /** Lowercased normalized version; must match `data.version`. */
  lowerVersion: string;
  data: PackageDetailsData;
}

/** One registration blob. */
export interface RegistrationDocument {
  /**
   * Path relative to the hive base: `contoso.widgets/index.json`,
   * `contoso.widgets/page/1.0.0/2.0.0.json` or `contoso.widgets/1.0.0.json`.
   */
  path: string;
  json: object;
}

/** The documents of one id in one hive. */
export interface HiveOutput {
  hive: HiveName;
  /** True for the hives served with `Content-Encoding: gzip`. */
  gzip: boolean;
  /** Index first, then standalone pages (when not inlined), then leaves, all ascending by version. Empty = the id is absent from this hive (404). */
  documents: RegistrationDocument[];
}

/** Paging knobs of {@link buildRegistration}. */
export interface BuildRegistrationOptions {
  /**
   * Largest number of versions whose pages are all inlined in the index; above it every page is a
   * separate document. The default follows the official gallery's catalog2registration heuristic
   * (`MaxInlinedLeafItems = 127`, see the protocol reference §7 "Paging heuristic"): up to 127
   * versions every page is inlined, from 128 versions on no page is.
   * @defaultValue 127
   */
  maxInlinedLeaves?: number;
  /**
   * Versions per page.
   * @defaultValue 64
   */
  leavesPerPage?: number;
}

/** Default of {@link BuildRegistrationOptions.maxInlinedLeaves}. */
export const DEFAULT_MAX_INLINED_LEAVES = 127;
/** Default of {@link BuildRegistrationOptions.leavesPerPage}. */
export const DEFAULT_LEAVES_PER_PAGE = 64;

const SCHEMA = 'http://schema.nuget.org/schema#';
const CATALOG_SCHEMA = 'http://schema.nuget.org/catalog#';
const XSD = 'http://www.w3.org/2001/XMLSchema#';

/** JSON-LD context of the registration index and standalone pages. */
const INDEX_CONTEXT = {
  '@vocab': SCHEMA,
  catalog: CATALOG_SCHEMA,
  xsd: XSD,
  items: { '@id': 'catalog:item', '@container': '@set' },
  commitTimeStamp: { '@id': 'catalog:commitTimeStamp', '@type': 'xsd:dateTime' },
  commitId: { '@id': 'catalog:commitId' },
  count: { '@id': 'catalog:count' },
  parent: { '@id': 'catalog:parent', '@type': '@id' },
  tags: { '@id': 'tag', '@container': '@set' },
  reasons: { '@container': '@set' },
  packageTargetFrameworks: { '@id': 'packageTargetFramework', '@container': '@set' },
  dependencyGroups: { '@id': 'dependencyGroup', '@container': '@set' },
  dependencies: { '@id': 'dependency', '@container': '@set' },
  packageContent: { '@type': '@id' },
  published: { '@type': 'xsd:dateTime' },
  registration: { '@type': '@id' },
} as const;

/** JSON-LD context of a standalone registration leaf. */
const LEAF_CONTEXT = {
  '@vocab': SCHEMA,
  xsd: XSD,
  catalogEntry: { '@type': '@id' },
  registration: { '@type': '@id' },
  packageContent: { '@type': '@id' },
  published: { '@type': 'xsd:dateTime' },
} as const;

/** A validated leaf with its parsed version. */
interface Leaf {
  input: RegistrationLeafInput;
  version: NuGetVersion;
  /** Normalized, no metadata, label case kept: the page bound form. */
  normalized: string;
  semVer2: boolean;
}

/** URLs of one id inside one hive. */
interface HiveUrls {
  hive: HiveName;
  base: string;
  index: string;
  flatContainerBase: string;
}

/**
 * Builds every registration document of one id in the three hives, as a pure function of the
 * id's catalog state (the latest PackageDetails leaf per non-deleted version). Rebuilding from the
 * same leaves gives byte-identical JSON: each document's `commitId`/`commitTimeStamp` come from the
 * newest leaf it contains, never from the clock.
 *
 * - Versions ascend within pages and pages ascend; pages hold `leavesPerPage` versions.
 * - With at most `maxInlinedLeaves` versions every page is inlined in the index; otherwise the
 *   index lists page bounds only and each page is its own document.
 * - The SemVer1 hives leave out SemVer2 packages (version, verbatim version or a dependency range);
 *   a hive with no version left gets no documents.
 * - Unlisted versions stay, with `listed: false`.
 *
 * @see https://learn.microsoft.com/en-us/nuget/api/registration-base-url-resource
 * @returns the three hives, always in the order of `HIVE_NAMES`.
 * @throws InvalidRegistrationInputError when a leaf belongs to another id, its `lowerVersion` does
 *   not match its data, or an option is not a positive integer.
 * @throws InvalidVersionError (from `@nucat/nuget`) when a leaf's version does not parse.
 */
export function buildRegistration(input: {
  lowerId: string;
  leaves: RegistrationLeafInput[];
  urls: FeedUrls;
  options?: BuildRegistrationOptions;
}): HiveOutput[] {
  const maxInlinedLeaves = checkCount('maxInlinedLeaves', input.options?.maxInlinedLeaves ?? DEFAULT_MAX_INLINED_LEAVES, 0);
  const leavesPerPage = checkCount('leavesPerPage', input.options?.leavesPerPage ?? DEFAULT_LEAVES_PER_PAGE, 1);
  const leaves = prepareLeaves(input.lowerId, input.leaves);

  return HIVE_NAMES.map((hive) => {
    const inHive = hive === 'registration5-gz-semver2' ? leaves : leaves.filter((l) => !l.semVer2);
    const base = input.urls.registrationBase(hive);
    const urls: HiveUrls = {
      hive,
      base,
      index: `${base}${input.lowerId}/index.json`,
      flatContainerBase: input.urls.flatContainerBase,
    };
    return {
      hive,
      gzip: hive !== 'registration5-semver1',
      documents: inHive.length === 0 ? [] : buildHive(input.lowerId, inHive, urls, input.urls, maxInlinedLeaves, leavesPerPage),
    };
  });
}

function checkCount(name: string, value: number, min: number): number {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new InvalidRegistrationInputError(`Registration option ${name} must be an integer ≥ ${min}, got ${value}.`, { [name]: value });
  }
  return value;
}

/** Validates the leaves, keeps the newest leaf per version, and sorts them by version. */
function prepareLeaves(lowerId: string, inputs: RegistrationLeafInput[]): Leaf[] {
  const byVersion = new Map<string, Leaf>();
  for (const leaf of inputs) {
    const version = parseVersion(leaf.data.version);
    const lowerVersion = lowerNormalizedVersion(version);
    if (leaf.lowerId !== lowerId || toLowerId(leaf.data.id) !== lowerId) {
      throw new InvalidRegistrationInputError(`A leaf of "${leaf.data.id}" was given while building "${lowerId}".`, {
        lowerId,
        leafLowerId: leaf.lowerId,
        leafId: leaf.data.id,
      });
    }
    if (leaf.lowerVersion !== lowerVersion) {
      throw new InvalidRegistrationInputError(
        `Leaf lowerVersion "${leaf.lowerVersion}" does not match its version "${leaf.data.version}".`,
        { lowerId, lowerVersion: leaf.lowerVersion, version: leaf.data.version },
      );
    }
    const prepared: Leaf = {
      input: leaf,
      version,
      normalized: normalizeVersion(version),
      semVer2: isSemVer2Package({
        version: leaf.data.version,
        verbatimVersion: leaf.data.verbatimVersion,
        ...(leaf.data.dependencyGroups !== undefined ? { dependencyGroups: leaf.data.dependencyGroups } : {}),
      }),
    };
    // The caller passes one leaf per version; if it passes more, the newest commit is the truth.
    const existing = byVersion.get(lowerVersion);
    if (existing === undefined || compareCommits(leaf, existing.input) > 0) byVersion.set(lowerVersion, prepared);
  }
  return [...byVersion.values()].sort((a, b) => compareVersions(a.version, b.version));
}

function compareCommits(a: { commitId: string; commitTimestamp: Date }, b: { commitId: string; commitTimestamp: Date }): number {
  const byTime = a.commitTimestamp.getTime() - b.commitTimestamp.getTime();
  if (byTime !== 0) return byTime;
  return a.commitId < b.commitId ? -1 : a.commitId > b.commitId ? 1 : 0;
}

function newestCommit(leaves: readonly Leaf[]): { commitId: string; commitTimeStamp: string } {
  let newest = leaves[0]!.input;
  for (const leaf of leaves) if (compareCommits(leaf.input, newest) > 0) newest = leaf.input;
  return { commitId: newest.commitId, commitTimeStamp: formatCatalogTimestamp(newest.commitTimestamp) };
}

function buildHive(
  lowerId: string,
  leaves: Leaf[],
  urls: HiveUrls,
  feed: FeedUrls,
  maxInlinedLeaves: number,
  leavesPerPage: number,
): RegistrationDocument[] {
  const inline = leaves.length <= maxInlinedLeaves;
  const pages: Leaf[][] = [];
  for (let i = 0; i < leaves.length; i += leavesPerPage) pages.push(leaves.slice(i, i + leavesPerPage));

  const pageDocuments: RegistrationDocument[] = [];
  const indexItems = pages.map((page) => {
    const first = page[0]!;
    const last = page[page.length - 1]!;
    const bounds = `${lowerNormalizedVersion(first.version)}/${lowerNormalizedVersion(last.version)}`;
    const pagePath = `${lowerId}/page/${bounds}.json`;
    const pageId = inline ? `${urls.index}#page/${bounds}` : urls.base + pagePath;
    const head = { '@id': pageId, '@type': 'catalog:CatalogPage', ...newestCommit(page), count: page.length };
    const bound = { lower: first.normalized, upper: last.normalized };
    const full = { ...head, items: page.map((leaf) => leafItem(lowerId, leaf, urls, feed)), parent: urls.index, ...bound };
    if (inline) return full;
    pageDocuments.push({ path: pagePath, json: { ...full, '@context': INDEX_CONTEXT } });
    return { ...head, ...bound };
  });

  const index: RegistrationDocument = {
    path: `${lowerId}/index.json`,
    json: {
      '@id': urls.index,
      '@type': ['catalog:CatalogRoot', 'PackageRegistration', 'catalog:Permalink'],
      ...newestCommit(leaves),
      count: pages.length,
      items: indexItems,
      '@context': INDEX_CONTEXT,
    },
  };
  const leafDocuments = leaves.map((leaf) => standaloneLeaf(lowerId, leaf, urls, feed));
  return [index, ...pageDocuments, ...leafDocuments];
}

function leafUrl(lowerId: string, leaf: Leaf, urls: HiveUrls): string {
  return `${urls.base}${lowerId}/${leaf.input.lowerVersion}.json`;
}

function packageContentUrl(lowerId: string, leaf: Leaf, urls: HiveUrls): string {
  const v = leaf.input.lowerVersion;
  return `${urls.flatContainerBase}${lowerId}/${v}/${lowerId}.${v}.nupkg`;
}

/** A leaf as it appears in a page's `items`. */
function leafItem(lowerId: string, leaf: Leaf, urls: HiveUrls, feed: FeedUrls): object {
  return {
    '@id': leafUrl(lowerId, leaf, urls),
    '@type': 'Package',
    commitId: leaf.input.commitId,
    commitTimeStamp: formatCatalogTimestamp(leaf.input.commitTimestamp),
    catalogEntry: catalogEntry(lowerId, leaf, urls, feed),
    packageContent: packageContentUrl(lowerId, leaf, urls),
    registration: urls.index,
  };
}

/** The standalone leaf document `{lowerId}/{lowerVersion}.json`, whose `catalogEntry` is a URL. */
function standaloneLeaf(lowerId: string, leaf: Leaf, urls: HiveUrls, feed: FeedUrls): RegistrationDocument {
  return {
    path: `${lowerId}/${leaf.input.lowerVersion}.json`,
    json: {
      '@id': leafUrl(lowerId, leaf, urls),
      '@type': ['Package', 'http://schema.nuget.org/catalog#Permalink'],
      catalogEntry: catalogLeafUrl(feed, leaf.input),
      listed: leaf.input.data.listed,
      packageContent: packageContentUrl(lowerId, leaf, urls),
      published: leaf.input.data.published,
      registration: urls.index,
      '@context': LEAF_CONTEXT,
    },
  };
}

/**
 * The `catalogEntry` object, filled as the official gallery fills it: absent text fields are `""`,
 * `readmeUrl` only when the package embeds a readme, `dependencyGroups` only when it has any.
 */
function catalogEntry(lowerId: string, leaf: Leaf, urls: HiveUrls, feed: FeedUrls): object {
  const data = leaf.input.data;
  const catalogUrl = catalogLeafUrl(feed, leaf.input);
  const flatVersionBase = `${urls.flatContainerBase}${lowerId}/${leaf.input.lowerVersion}/`;
  const entry: Record<string, unknown> = {
    '@id': catalogUrl,
    '@type': 'PackageDetails',
    authors: data.authors,
  };
  const groups = data.dependencyGroups ?? [];
  if (groups.length > 0) entry.dependencyGroups = groups.map((g) => dependencyGroup(catalogUrl, g, urls));
  entry.description = data.description;
  entry.iconUrl = packageIconUrl(data, urls.flatContainerBase, lowerId, leaf.input.lowerVersion);
  entry.id = data.id;
  entry.language = data.language ?? '';
  entry.licenseExpression = data.licenseExpression ?? '';
  entry.licenseUrl = packageLicenseUrl(data);
  entry.listed = data.listed;
  entry.minClientVersion = data.minClientVersion ?? '';
  entry.packageContent = packageContentUrl(lowerId, leaf, urls);
  entry.projectUrl = data.projectUrl ?? '';
  entry.published = data.published;
  if (data.readmeFile !== undefined) entry.readmeUrl = `${flatVersionBase}readme`;
  entry.requireLicenseAcceptance = data.requireLicenseAcceptance;
  entry.summary = data.summary ?? '';
  // The official gallery writes [""] for a package without tags; clients accept it.
  entry.tags = data.tags.length > 0 ? [...data.tags] : [''];
  entry.title = data.title ?? '';
  entry.version = data.version;
  return entry;
}

function dependencyGroup(
  catalogUrl: string,
  group: NonNullable<PackageDetailsData['dependencyGroups']>[number],
  urls: HiveUrls,
): object {
  const groupId = dependencyGroupId(catalogUrl, group.targetFramework);
  const out: Record<string, unknown> = { '@id': groupId, '@type': 'PackageDependencyGroup' };
  const deps = group.dependencies ?? [];
  if (deps.length > 0) {
    out.dependencies = deps.map((d) => {
      const lowerDepId = toLowerId(d.id);
      return {
        '@id': `${groupId}/${lowerDepId}`,
        '@type': 'PackageDependency',
        id: d.id,
        range: d.range,
        registration: `${urls.base}${lowerDepId}/index.json`,
      };
    });
  }
  if (group.targetFramework !== undefined && group.targetFramework !== '') out.targetFramework = group.targetFramework;
  return out;
}
