import { NotFoundError } from '@nucat/catalog';
import { lowerNormalizedVersion, normalizeVersion, toLowerId, tryParseVersion } from '@nucat/nuget';

/** The identity of one version in the feed, in its key forms. */
export interface PackageKey {
  lowerId: string;
  /** Lowercased normalized version (the `packages` / catalog key). */
  lowerVersion: string;
  /** Normalized version, casing of labels kept. */
  normalizedVersion: string;
}

/** Characters a package id may hold, as the URL and CLI forms of unlist/relist/delete accept them. */
const ID_PATTERN = /^[A-Za-z0-9_.-]{1,100}$/;

/**
 * Resolves an id and version as a person or client typed them (any casing, any version form:
 * `1.0`, `1.0.0.0`, `1.0.0+build`) into the feed's key.
 *
 * @throws NotFoundError (code `not_found`) when the id or version cannot name a package; a
 *   malformed key is "not in this feed" to a caller, like an unknown one.
 */
export function resolvePackageKey(rawId: string, rawVersion: string): PackageKey {
  const version = tryParseVersion(rawVersion);
  if (!version || !ID_PATTERN.test(rawId)) throw new NotFoundError(`${rawId} ${rawVersion} does not exist in this feed.`);
  return { lowerId: toLowerId(rawId), lowerVersion: lowerNormalizedVersion(version), normalizedVersion: normalizeVersion(version) };
}
