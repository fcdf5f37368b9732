import { lowerNormalizedVersion, toLowerId, tryParseVersion } from '@nucat/nuget';
import { compareInstants, parseCatalogTimestamp, type CatalogInstant } from './catalog-timestamp.js';
import { MirrorSourceError } from './errors.js';

/**
 * Pure readers of a source feed's documents (service index, catalog index, pages, leaves) in either
 * nucat's or the official gallery's shape: `@type` as a string or an array, with or without the `nuget:`
 * prefix; leaf URLs of any form (discovered, never built); timestamps with up to 7 fraction digits.
 * https://learn.microsoft.com/nuget/api/catalog-resource
 */

/** The resources the mirror needs from a service index. */
export interface SourceResources {
  /** `Catalog/3.0.0`: the catalog index URL. */
  catalogIndexUrl: string;
  /** `PackageBaseAddress/3.0.0`: the flat container base, ending in `/`. */
  flatContainerBase: string;
  /** `RegistrationsBaseUrl/3.6.0` (SemVer2 hive), ending in `/`; undefined when not advertised. */
  registrationBase?: string;
}

/** Where a catalog page is and the newest commit in it. */
export interface SourcePageRef {
  url: string;
  commitTimeStamp: CatalogInstant;
}

/** A catalog index as the mirror needs it. */
export interface SourceCatalogIndex {
  /** The newest commit of the catalog; undefined for an empty catalog. */
  head?: CatalogInstant;
  pages: SourcePageRef[];
}

/** One item of a catalog page. */
export interface SourceCatalogItem {
  /** The leaf URL. */
  url: string;
  type: 'PackageDetails' | 'PackageDelete';
  commitTimeStamp: CatalogInstant;
  /** Id as the page writes it. */
  id: string;
  /** Version as the page writes it (full for details, normalized for deletes). */
  version: string;
  lowerId: string;
  /** Lowercased normalized version (the flat container's form). */
  lowerVersion: string;
}

/** What the mirror takes from a PackageDetails leaf. */
export interface SourceDetailsLeaf {
  id: string;
  version: string;
  listed: boolean;
  /** Standard base64 SHA-512 of the `.nupkg`. */
  packageHash: string;
  /** Size of the `.nupkg` in bytes, when the leaf says. */
  packageSize?: number;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function invalid(url: string, what: string): MirrorSourceError {
  return new MirrorSourceError(`${url}: ${what}`, { url });
}

/** The `@type` values of a node, without a `nuget:` or `catalog:` prefix. */
function typesOf(node: Record<string, unknown>): string[] {
  const raw = node['@type'];
  const list = Array.isArray(raw) ? raw : [raw];
  return list.filter((t): t is string => typeof t === 'string').map((t) => t.replace(/^(nuget|catalog):/, ''));
}

function timestampOf(node: Record<string, unknown>, key: string, url: string): CatalogInstant {
  const raw = node[key];
  const instant = typeof raw === 'string' ? parseCatalogTimestamp(raw) : undefined;
  if (!instant) throw invalid(url, `${key} ${JSON.stringify(raw)} is not a catalog timestamp`);
  return instant;
}

/**
 * Finds the catalog and flat container (and the SemVer2 registration hive) in a service index.
 * @throws MirrorSourceError when the document is not a service index or has no catalog or flat container.
 */
export function readServiceIndex(document: unknown, url: string): SourceResources {
  if (!isObject(document) || !Array.isArray(document['resources'])) throw invalid(url, 'not a service index (no resources array)');
  const resources = document['resources'].filter(isObject);
  const find = (...types: string[]): string | undefined => {
    for (const type of types) {
      const hit = resources.find((r) => r['@type'] === type && typeof r['@id'] === 'string');
      if (hit) return hit['@id'] as string;
    }
    return undefined;
  };
  const catalogIndexUrl = find('Catalog/3.0.0');
  if (!catalogIndexUrl) throw invalid(url, 'the feed advertises no catalog (Catalog/3.0.0), so it cannot be mirrored');
  const flat = find('PackageBaseAddress/3.0.0');
  if (!flat) throw invalid(url, 'the feed advertises no flat container (PackageBaseAddress/3.0.0)');
  const registration = find('RegistrationsBaseUrl/3.6.0', 'RegistrationsBaseUrl/Versioned');
  return {
    catalogIndexUrl,
    flatContainerBase: withSlash(flat),
    ...(registration ? { registrationBase: withSlash(registration) } : {}),
  };
}

function withSlash(url: string): string {
  return url.endsWith('/') ? url : `${url}/`;
}

/**
 * Reads a catalog index: its newest commit and its pages (any order in the document; returned in
 * commit order).
 * @throws MirrorSourceError when it is not a catalog index.
 */
export function readCatalogIndex(document: unknown, url: string): SourceCatalogIndex {
  if (!isObject(document) || !Array.isArray(document['items'])) throw invalid(url, 'not a catalog index (no items array)');
  const pages = document['items'].map((item, n) => {
    if (!isObject(item) || typeof item['@id'] !== 'string') throw invalid(url, `page entry ${n} has no @id`);
    return { url: item['@id'], commitTimeStamp: timestampOf(item, 'commitTimeStamp', url) };
  });
  pages.sort((a, b) => compareInstants(a.commitTimeStamp, b.commitTimeStamp));
  const head = pages.length > 0 ? timestampOf(document, 'commitTimeStamp', url) : undefined;
  return { ...(head ? { head } : {}), pages };
}

/**
 * Reads the items of a catalog page. Page items carry `@type` `nuget:PackageDetails` /
 * `nuget:PackageDelete` (a string; arrays are accepted too), `commitTimeStamp`, `nuget:id` and
 * `nuget:version`.
 * @throws MirrorSourceError when it is not a catalog page or an item cannot be understood.
 */
export function readCatalogPage(document: unknown, url: string): SourceCatalogItem[] {
  if (!isObject(document) || !Array.isArray(document['items'])) throw invalid(url, 'not a catalog page (no items array)');
  return document['items'].map((item, n) => {
    if (!isObject(item) || typeof item['@id'] !== 'string') throw invalid(url, `item ${n} has no @id`);
    const types = typesOf(item);
    const type = types.includes('PackageDelete') ? 'PackageDelete' : types.includes('PackageDetails') ? 'PackageDetails' : undefined;
    if (!type) throw invalid(url, `item ${item['@id']} has @type ${JSON.stringify(item['@type'])}, not PackageDetails or PackageDelete`);
    const id = item['nuget:id'];
    const versionText = item['nuget:version'];
    if (typeof id !== 'string' || id === '' || typeof versionText !== 'string') throw invalid(url, `item ${item['@id']} has no nuget:id / nuget:version`);
    const version = tryParseVersion(versionText);
    if (!version) throw invalid(url, `item ${item['@id']} has an invalid version '${versionText}'`);
    return {
      url: item['@id'],
      type,
      commitTimeStamp: timestampOf(item, 'commitTimeStamp', url),
      id,
      version: versionText,
      lowerId: toLowerId(id),
      lowerVersion: lowerNormalizedVersion(version),
    };
  });
}

/** The official gallery marks an unlisted version with a `published` date in 1900. */
const UNLISTED_YEAR = '1900-';

/**
 * Reads a PackageDetails leaf. `listed` comes from the leaf's `listed`, or, when a leaf has none (older
 * gallery leaves), from `published` (1900 = unlisted).
 * @throws MirrorSourceError when it is not a PackageDetails leaf or has no SHA-512 `packageHash`.
 */
export function readDetailsLeaf(document: unknown, url: string): SourceDetailsLeaf {
  if (!isObject(document)) throw invalid(url, 'not a catalog leaf');
  if (!typesOf(document).includes('PackageDetails')) throw invalid(url, `@type ${JSON.stringify(document['@type'])} is not PackageDetails`);
  const { id, version, packageHash, packageHashAlgorithm, packageSize, listed, published } = document;
  if (typeof id !== 'string' || typeof version !== 'string') throw invalid(url, 'the leaf has no id / version');
  if (typeof packageHash !== 'string' || !/^[A-Za-z0-9+/]{86}==$/.test(packageHash)) throw invalid(url, 'the leaf has no base64 SHA-512 packageHash');
  if (packageHashAlgorithm !== undefined && String(packageHashAlgorithm).toUpperCase() !== 'SHA512') {
    throw invalid(url, `packageHashAlgorithm ${JSON.stringify(packageHashAlgorithm)} is not SHA512`);
  }
  const isListed = typeof listed === 'boolean' ? listed : !(typeof published === 'string' && published.startsWith(UNLISTED_YEAR));
  return {
    id,
    version,
    listed: isListed,
    packageHash,
    ...(typeof packageSize === 'number' && Number.isSafeInteger(packageSize) && packageSize >= 0 ? { packageSize } : {}),
  };
}

/** `{base}{lowerId}/{lowerVersion}/{lowerId}.{lowerVersion}.nupkg` (PackageBaseAddress). */
export function flatContainerNupkgUrl(base: string, lowerId: string, lowerVersion: string): string {
  return `${withSlash(base)}${lowerId}/${lowerVersion}/${lowerId}.${lowerVersion}.nupkg`;
}
