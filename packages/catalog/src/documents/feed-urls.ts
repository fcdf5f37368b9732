import { InvalidCatalogInputError } from './errors.js';

/**
 * The three registration hives, named as the official gallery names them.
 * @see https://learn.microsoft.com/en-us/nuget/api/registration-base-url-resource#versioning
 */
export type HiveName = 'registration5-semver1' | 'registration5-gz-semver1' | 'registration5-gz-semver2';

/** Every hive, in a fixed order (SemVer1 identity, SemVer1 gzip, SemVer2 gzip). */
export const HIVE_NAMES: readonly HiveName[] = Object.freeze([
  'registration5-semver1',
  'registration5-gz-semver1',
  'registration5-gz-semver2',
] as const);

/** Absolute base URLs of the V3 resources a document links to. Every value ends in `/`. */
export interface FeedUrls {
  /** The V3 root, e.g. `http://127.0.0.1:5000/v3/`. */
  readonly v3Base: string;
  /** The catalog root: `{v3Base}catalog0/`. */
  readonly catalogBase: string;
  /** The flat container (PackageBaseAddress) root: `{v3Base}flatcontainer/`. */
  readonly flatContainerBase: string;
  /** The root of one registration hive: `{v3Base}{hive}/`. */
  registrationBase(hive: HiveName): string;
}

/**
 * Builds the resource base URLs under one V3 root.
 *
 * @param v3Base - absolute http(s) URL of the V3 root; a missing trailing `/` is added.
 * @returns frozen URLs, each ending in `/`.
 * @throws InvalidCatalogInputError when `v3Base` is not an absolute http(s) URL.
 * @example
 * createFeedUrls('http://127.0.0.1:5000/v3').flatContainerBase // 'http://127.0.0.1:5000/v3/flatcontainer/'
 */
export function createFeedUrls(v3Base: string): FeedUrls {
  let parsed: URL;
  try {
    parsed = new URL(v3Base);
  } catch {
    throw new InvalidCatalogInputError(`The V3 base URL must be an absolute URL, got "${v3Base}".`, { v3Base });
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new InvalidCatalogInputError(`The V3 base URL must use http or https, got "${v3Base}".`, { v3Base });
  }
  const base = v3Base.endsWith('/') ? v3Base : `${v3Base}/`;
  const hives = new Map<HiveName, string>(HIVE_NAMES.map((hive) => [hive, `${base}${hive}/`]));
  return Object.freeze({
    v3Base: base,
    catalogBase: `${base}catalog0/`,
    flatContainerBase: `${base}flatcontainer/`,
    registrationBase(hive: HiveName): string {
      const url = hives.get(hive);
      if (url === undefined) throw new InvalidCatalogInputError(`Unknown registration hive "${String(hive)}".`, { hive });
      return url;
    },
  });
}
