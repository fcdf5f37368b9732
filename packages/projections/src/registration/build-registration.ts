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
 * One hive of one id, laid out (which versions, which pages) but not yet rendered: documents are
 * rendered on demand, so a projector can write only those a change touches.
 */
export interface HiveLayout {
  hive: HiveName;
  /** True for the hives served with `Content-Encoding: gzip`. */
  gzip: boolean;
  /** The versions in this hive, ascending. Empty = the id is absent from this hive (404). */
  leaves: readonly { lowerVersion: string; version: NuGetVersion }[];
  /** True when every page is inlined in the index (no page documents). */
  inline: boolean;
  /** Versions per page. */
  leavesPerPage: number;
  /** The page documents (none when `inline`), ascending: each one's path and first leaf index. */
  pages: readonly { path: string; first: number }[];
  /** The index document `{lowerId}/index.json`. Throws when the hive is empty. */
  renderIndex(): RegistrationDocument;
  /** Page document `pages[i]`. */
  renderPage(i: number): RegistrationDocument;
  /** The standalone leaf document of `leaves[i]`. */
  renderLeaf(i: number): RegistrationDocument;
}

/**
 * Lays out the registration of one id in the three hives, as a pure function of the id's catalog
 * state (the latest PackageDetails leaf per non-deleted version); see {@link buildRegistration} for
 * the rules. Rendering every document of every layout gives exactly what `buildRegistration` returns.
 *
 * @returns the three hives, always in the order of `HIVE_NAMES`.
 * @throws InvalidRegistrationInputError as {@link buildRegistration} does.
 */
export function layoutRegistration(input: {
  lowerId: string;
  leaves: RegistrationLeafInput[];
  urls: FeedUrls;
  options?: BuildRegistrationOptions;
}): HiveLayout[] {
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
    return layoutHive(input.lowerId, inHive, urls, input.urls, maxInlinedLeaves, leavesPerPage);
  });
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
  return layoutRegistration(input).map((layout) => ({
    hive: layout.hive,
    gzip: layout.gzip,
    documents:
      layout.leaves.length === 0
        ? []
        : [
            layout.renderIndex(),
            ...layout.pages.map((_, i) => layout.renderPage(i)),
            ...layout.leaves.map((_, i) => layout.renderLeaf(i)),
          ],
  }));
}

function checkCount(name: string, value: number, min: number): number {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new InvalidRegistrationInputError(`Registration option ${name} must be an integer ≥ ${min}, got ${value}.`, { [name]: value });
  }
  return value;
}

/** Validates the leaves, keeps the newest leaf per version, and sorts them by version. */
/** What {@link prepareLeaves} derives from a leaf's data. */
interface Derived {
  version: NuGetVersion;
  lowerVersion: string;
  normalized: string;
  semVer2: boolean;
  dataLowerId: string;
}

/**
 * Memo of {@link Derived} by the leaf's `data` object (never changed once built): a caller that hands
 * the same item objects again (the worker keeps an id's catalog state between batches) does not
 * parse 1,000 versions and their dependency ranges again for one more version.
 */
const derivedByData = new WeakMap<object, Derived>();

function derive(data: PackageDetailsData): Derived {
  let derived = derivedByData.get(data);
  if (derived === undefined) {
    const version = parseVersion(data.version);
    derived = {
      version,
      lowerVersion: lowerNormalizedVersion(version),
      normalized: normalizeVersion(version),
      semVer2: isSemVer2Package({
        version: data.version,
        verbatimVersion: data.verbatimVersion,
        ...(data.dependencyGroups !== undefined ? { dependencyGroups: data.dependencyGroups } : {}),
      }),
      dataLowerId: toLowerId(data.id),
    };
    derivedByData.set(data, derived);
  }
  return derived;
}

function prepareLeaves(lowerId: string, inputs: RegistrationLeafInput[]): Leaf[] {
  const byVersion = new Map<string, Leaf>();
  for (const leaf of inputs) {
    const { version, lowerVersion, normalized, semVer2, dataLowerId } = derive(leaf.data);
    if (leaf.lowerId !== lowerId || dataLowerId !== lowerId) {
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
    const prepared: Leaf = { input: leaf, version, normalized, semVer2 };
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

function layoutHive(
  lowerId: string,
  leaves: Leaf[],
  urls: HiveUrls,
  feed: FeedUrls,
  maxInlinedLeaves: number,
  leavesPerPage: number,
): HiveLayout {
  const inline = leaves.length <= maxInlinedLeaves;
  const pages: Leaf[][] = [];
  for (let i = 0; i < leaves.length; i += leavesPerPage) pages.push(leaves.slice(i, i + leavesPerPage));

  const bounds = (page: Leaf[]) => `${lowerNormalizedVersion(page[0]!.version)}/${lowerNormalizedVersion(page[page.length - 1]!.version)}`;
  const pagePath = (page: Leaf[]) => `${lowerId}/page/${bounds(page)}.json`;
  const pageHead = (page: Leaf[]) => {
    const pageId = inline ? `${urls.index}#page/${bounds(page)}` : urls.base + pagePath(page);
    return { '@id': pageId, '@type': 'catalog:CatalogPage', ...newestCommit(page), count: page.length };
  };
  const pageBound = (page: Leaf[]) => ({ lower: page[0]!.normalized, upper: page[page.length - 1]!.normalized });
  const fullPage = (page: Leaf[]) => ({
    ...pageHead(page),
    items: page.map((leaf) => leafItem(lowerId, leaf, urls, feed)),
    parent: urls.index,
    ...pageBound(page),
  });

  return {
    hive: urls.hive,
    gzip: urls.hive !== 'registration5-semver1',
    leaves: leaves.map((leaf) => ({ lowerVersion: leaf.input.lowerVersion, version: leaf.version })),
    inline,
    leavesPerPage,
    pages: inline ? [] : pages.map((page, i) => ({ path: pagePath(page), first: i * leavesPerPage })),
    renderIndex(): RegistrationDocument {
      if (leaves.length === 0) throw new Error(`no registration index for ${lowerId} in ${urls.hive}: the id has no version there`);
      return {
        path: `${lowerId}/index.json`,
        json: {
          '@id': urls.index,
          '@type': ['catalog:CatalogRoot', 'PackageRegistration', 'catalog:Permalink'],
          ...newestCommit(leaves),
          count: pages.length,
          items: pages.map((page) => (inline ? fullPage(page) : { ...pageHead(page), ...pageBound(page) })),
          '@context': INDEX_CONTEXT,
        },
      };
    },
    renderPage(i: number): RegistrationDocument {
      const page = pages[i];
      if (inline || page === undefined) throw new Error(`no page document ${i} for ${lowerId} in ${urls.hive}`);
      return { path: pagePath(page), json: { ...fullPage(page), '@context': INDEX_CONTEXT } };
    },
    renderLeaf(i: number): RegistrationDocument {
      const leaf = leaves[i];
      if (leaf === undefined) throw new Error(`no leaf ${i} for ${lowerId} in ${urls.hive}`);
      return standaloneLeaf(lowerId, leaf, urls, feed);
    },
  };
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
