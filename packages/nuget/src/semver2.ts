import { tryParseVersionRange } from './version-range.js';
import { isSemVer2, tryParseVersion } from './version.js';

/**
 * True when a package must be treated as SemVer 2.0.0 (hidden from SemVer1 registration hives and
 * from search without `semVerLevel=2.0.0`). The NuGet Gallery's rule: the version is SemVer2, **or** the
 * verbatim (nuspec) version is SemVer2, **or** any dependency range has a min or max that is SemVer2.
 *
 * Strings that do not parse count as "not SemVer2".
 *
 * @example isSemVer2Package({ version: '1.0.0', dependencyGroups: [{ dependencies: [{ range: '[1.0.0-beta.1, )' }] }] }) // true
 */
export function isSemVer2Package(p: {
  version: string;
  verbatimVersion?: string;
  dependencyGroups?: readonly { dependencies?: readonly { range?: string }[] }[];
}): boolean {
  if (isSemVer2Text(p.version)) return true;
  if (p.verbatimVersion !== undefined && isSemVer2Text(p.verbatimVersion)) return true;
  for (const group of p.dependencyGroups ?? []) {
    for (const dependency of group.dependencies ?? []) {
      if (!dependency.range) continue;
      const range = tryParseVersionRange(dependency.range);
      if (!range) continue;
      if ((range.min && isSemVer2(range.min)) || (range.max && isSemVer2(range.max))) return true;
    }
  }
  return false;
}

function isSemVer2Text(text: string): boolean {
  const version = tryParseVersion(text);
  return version !== undefined && isSemVer2(version);
}
