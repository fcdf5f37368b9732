import { compareVersions, normalizeVersion, tryParseVersion, type NuGetVersion } from './version.js';

/**
 * A NuGet version range (interval notation), as used by nuspec `dependency/@version`.
 * A missing bound means "unbounded" on that side; its inclusive flag is then meaningless.
 *
 * See https://learn.microsoft.com/nuget/concepts/package-versioning#version-ranges
 */
export interface VersionRange {
  readonly min?: NuGetVersion;
  readonly minInclusive: boolean;
  readonly max?: NuGetVersion;
  readonly maxInclusive: boolean;
}

/**
 * Parses a version range like the client's `VersionRange.TryParse`, except that floating ranges
 * (`*`, `1.*`) are refused: they are not valid in nuspec dependencies.
 *
 * | input | meaning |
 * |---|---|
 * | `1.0` | ≥ 1.0 |
 * | `[1.0,)` / `(1.0,)` | ≥ / > 1.0 |
 * | `[1.0]` | = 1.0 |
 * | `(,1.0]` / `(,1.0)` | ≤ / < 1.0 |
 * | `[1.0,2.0)` | 1.0 ≤ x < 2.0 |
 * | `(, )` | any version (note the space: `(,)` is invalid) |
 *
 * Invalid: `(1.0)`, `[1.0)`, `(1.0]`, `(,)`, `[,]`, min > max, `[1.0,1.0)`, more than two parts.
 * Whitespace around the parts is tolerated.
 *
 * @returns the range, or `undefined` when `text` is not a valid (non-floating) range.
 */
export function tryParseVersionRange(text: string): VersionRange | undefined {
  const value = text.trim();
  if (value === '') return undefined;

  let minText: string;
  let maxText: string | undefined;
  let minInclusive: boolean;
  let maxInclusive: boolean;

  const first = value[0];
  if (first === '[' || first === '(') {
    const last = value[value.length - 1];
    if (value.length < 2 || (last !== ']' && last !== ')')) return undefined;
    minInclusive = first === '[';
    maxInclusive = last === ']';
    const parts = value.slice(1, -1).split(',');
    if (parts.length > 2) return undefined;
    // The client only rejects bounds that are empty, not ones that are blank: "(,)" is invalid but
    // "(, )" is the range with no bounds.
    if (parts.every((part) => part === '')) return undefined;
    if (parts.length === 1 && !(minInclusive && maxInclusive)) return undefined;
    minText = parts[0]!;
    maxText = parts.length === 2 ? parts[1]! : parts[0]!;
  } else {
    minInclusive = true;
    maxInclusive = false;
    minText = value;
  }

  let min: NuGetVersion | undefined;
  let max: NuGetVersion | undefined;
  if (minText.trim() !== '') {
    if (minText.includes('*')) return undefined;
    min = tryParseVersion(minText);
    if (!min) return undefined;
  }
  if (maxText !== undefined && maxText.trim() !== '') {
    max = tryParseVersion(maxText);
    if (!max) return undefined;
  }

  if (min && max) {
    const order = compareVersions(min, max);
    if (order > 0) return undefined;
    if (order === 0 && minInclusive !== maxInclusive) return undefined;
  }

  return { ...(min ? { min } : {}), minInclusive, ...(max ? { max } : {}), maxInclusive };
}

/**
 * Formats a range like the client's `VersionRange.ToNormalizedString()`, which is what the catalog
 * and registration store: bracket, normalized min, comma **and space**, normalized max, bracket.
 * An unbounded side is written as `(` or `)`.
 *
 * @example formatVersionRange(tryParseVersionRange('1.0')!) // '[1.0.0, )'
 * @example formatVersionRange(tryParseVersionRange('[1.0]')!) // '[1.0.0, 1.0.0]'
 * @example formatVersionRange(tryParseVersionRange('(,2.0)')!) // '(, 2.0.0)'
 */
export function formatVersionRange(r: VersionRange): string {
  const lower = r.min ? `${r.minInclusive ? '[' : '('}${normalizeVersion(r.min)}` : '(';
  const upper = r.max ? `${normalizeVersion(r.max)}${r.maxInclusive ? ']' : ')'}` : ')';
  return `${lower}, ${upper}`;
}

/**
 * Normalizes a nuspec dependency range for storage (catalog `range`).
 *
 * @returns the normalized range (`[1.0.0, )`), or `""` when `text` is missing, empty, invalid or
 * floating. Clients read `""` as "any version".
 */
export function normalizeDependencyRange(text: string | undefined): string {
  if (text === undefined) return '';
  const range = tryParseVersionRange(text);
  return range ? formatVersionRange(range) : '';
}

/**
 * True when `v` lies inside `r`, like the client's `VersionRange.Satisfies` (prerelease versions
 * are not treated specially; metadata is ignored).
 */
export function rangeSatisfies(r: VersionRange, v: NuGetVersion): boolean {
  if (r.min) {
    const order = compareVersions(r.min, v);
    if (r.minInclusive ? order > 0 : order >= 0) return false;
  }
  if (r.max) {
    const order = compareVersions(v, r.max);
    if (r.maxInclusive ? order > 0 : order >= 0) return false;
  }
  return true;
}
