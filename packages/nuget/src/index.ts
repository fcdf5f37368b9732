/**
 * @nucat/nuget — NuGet ids, versions, ranges, nuspec and nupkg reading. Pure: no I/O.
 */
export { InvalidPackageError, InvalidVersionError } from './errors.js';
export {
  compareVersions,
  fullVersion,
  isPrerelease,
  isSemVer2,
  lowerNormalizedVersion,
  normalizeVersion,
  parseVersion,
  tryParseVersion,
  type NuGetVersion,
} from './version.js';
export {
  formatVersionRange,
  normalizeDependencyRange,
  rangeSatisfies,
  tryParseVersionRange,
  type VersionRange,
} from './version-range.js';
export { toLowerId, validatePackageId } from './package-id.js';
export { isSemVer2Package } from './semver2.js';
export { splitTags } from './tags.js';
export {
  DEFAULT_NUSPEC_LIMITS,
  parseNuspec,
  type Dependency,
  type DependencyGroup,
  type NuspecLimits,
  type PackageManifest,
  type PackageType,
} from './nuspec.js';
export {
  DEFAULT_NUPKG_LIMITS,
  readNupkg,
  readNupkgFrom,
  type NupkgContents,
  type NupkgLimits,
  type PackageEntry,
} from './nupkg.js';
export { createBufferZipSource, type ZipSource } from './zip-source.js';
