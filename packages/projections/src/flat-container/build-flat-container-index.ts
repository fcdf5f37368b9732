import { compareVersions, lowerNormalizedVersion, parseVersion, type NuGetVersion } from '@nucat/nuget';

/** Versions parsed before (an id of 1,000 versions is listed again for each new one), bounded. */
const parsedVersions = new Map<string, NuGetVersion>();

function parsed(text: string): NuGetVersion {
  let version = parsedVersions.get(text);
  if (version === undefined) {
    version = parseVersion(text);
    if (parsedVersions.size >= 100_000) parsedVersions.clear();
    parsedVersions.set(text, version);
  }
  return version;
}

/**
 * Builds the flat container version list of one id (`{flat}{lowerId}/index.json`): lowercased
 * normalized versions without metadata, duplicates removed, ascending in NuGet version order.
 * The caller passes listed and unlisted versions and leaves out deleted ones; an empty result means
 * the id is absent (404).
 *
 * @see https://learn.microsoft.com/en-us/nuget/api/package-base-address-resource#enumerate-package-versions
 * @param versions - versions of the id in any order and form (they are parsed and normalized again).
 * @throws InvalidVersionError (from `@nucat/nuget`) when a string is not a NuGet version.
 */
export function buildFlatContainerIndex(versions: string[]): { versions: string[] } {
  const byKey = new Map<string, NuGetVersion>();
  for (const text of versions) {
    const version = parsed(text);
    const key = lowerNormalizedVersion(version);
    if (!byKey.has(key)) byKey.set(key, version);
  }
  const sorted = [...byKey.entries()].sort(([ka, a], [kb, b]) => compareVersions(a, b) || (ka < kb ? -1 : ka > kb ? 1 : 0));
  return { versions: sorted.map(([key]) => key) };
}
