import { InvalidVersionError } from './errors.js';

/**
 * A parsed NuGet version: `Major.Minor.Patch[.Revision][-label(.label)*][+metadata]`.
 *
 * Follows the NuGet client's `NuGetVersion` (NuGet.Versioning). See
 * https://learn.microsoft.com/nuget/concepts/package-versioning#normalized-version-numbers
 */
export interface NuGetVersion {
  readonly major: number;
  readonly minor: number;
  readonly patch: number;
  /** The fourth part; 0 when absent. */
  readonly revision: number;
  /** Dot-separated prerelease identifiers, case preserved; empty for a stable version. */
  readonly releaseLabels: readonly string[];
  /** Build metadata after `+`; absent when the version has none. */
  readonly metadata?: string;
  /** The input as given (trimmed, spaces removed), e.g. `01.2.0.0-RC.1+build.7`. */
  readonly original: string;
}

/** Largest value of a numeric version part (.NET `int.MaxValue`). */
const MAX_PART = 2_147_483_647;

/**
 * The whitespace .NET's integer parsing skips around a number (tab, LF, VT, FF, CR, space).
 * The client parses each numeric part that way, so `1 .0` is a valid version.
 */
const NUMERIC_PART = /^[\t\n\v\f\r ]*([0-9]+)[\t\n\v\f\r ]*$/;
const IDENTIFIER = /^[0-9A-Za-z-]+$/;
const ALL_DIGITS = /^[0-9]+$/;

/** Outcome of {@link explainVersion}: the version, or why the text is not one. */
export type VersionParseResult = { ok: true; version: NuGetVersion } | { ok: false; reason: string };

/**
 * Parses `text` like the client's `NuGetVersion.TryParse` and explains a failure in words a person
 * can act on. Used by {@link tryParseVersion}, {@link parseVersion} and the nuspec reader.
 */
export function explainVersion(text: string): VersionParseResult {
  const value = text.trim();
  if (value === '') return { ok: false, reason: 'the version is empty' };

  // Sections: the numbers end at the first '-' or '+'; a '-' starts the release label, which ends
  // at the first '+'; everything after that '+' is metadata.
  const firstSeparator = value.search(/[-+]/);
  let numbers = value;
  let label: string | undefined;
  let metadata: string | undefined;
  if (firstSeparator >= 0) {
    numbers = value.slice(0, firstSeparator);
    const rest = value.slice(firstSeparator + 1);
    if (value[firstSeparator] === '+') {
      metadata = rest;
    } else {
      const plus = rest.indexOf('+');
      label = plus >= 0 ? rest.slice(0, plus) : rest;
      metadata = plus >= 0 ? rest.slice(plus + 1) : undefined;
    }
  }

  if (numbers === '') return { ok: false, reason: 'it does not start with a number' };
  const parts = numbers.split('.');
  if (parts.length > 4) return { ok: false, reason: `it has ${parts.length} numeric parts; at most 4 are allowed` };
  const values: number[] = [];
  for (const part of parts) {
    if (part === '') {
      return { ok: false, reason: 'a numeric part is empty (look for a leading, trailing or doubled dot)' };
    }
    const match = NUMERIC_PART.exec(part);
    if (!match) return { ok: false, reason: `the numeric part '${part}' is not a whole number` };
    const digits = match[1]!.replace(/^0+(?=\d)/, '');
    if (digits.length > 10 || Number(digits) > MAX_PART) {
      return { ok: false, reason: `the numeric part '${part.trim()}' is larger than ${MAX_PART}` };
    }
    values.push(Number(digits));
  }

  let releaseLabels: string[] = [];
  if (label !== undefined) {
    if (label === '') return { ok: false, reason: "the release label after '-' is empty" };
    releaseLabels = label.split('.');
    for (const identifier of releaseLabels) {
      const problem = checkIdentifier(identifier, 'release label');
      if (problem) return { ok: false, reason: problem };
      if (identifier.length > 1 && identifier.startsWith('0') && ALL_DIGITS.test(identifier)) {
        return {
          ok: false,
          reason: `the numeric release label part '${identifier}' has a leading zero`,
        };
      }
    }
  }
  if (metadata !== undefined) {
    if (metadata === '') return { ok: false, reason: "the build metadata after '+' is empty" };
    for (const identifier of metadata.split('.')) {
      const problem = checkIdentifier(identifier, 'build metadata');
      if (problem) return { ok: false, reason: problem };
    }
  }

  const version: NuGetVersion = {
    major: values[0] ?? 0,
    minor: values[1] ?? 0,
    patch: values[2] ?? 0,
    revision: values[3] ?? 0,
    releaseLabels,
    ...(metadata !== undefined ? { metadata } : {}),
    original: value.replaceAll(' ', ''),
  };
  return { ok: true, version };
}

function checkIdentifier(identifier: string, what: string): string | undefined {
  if (identifier === '') return `the ${what} has an empty part (look for a leading, trailing or doubled dot)`;
  if (!IDENTIFIER.test(identifier)) {
    return `the ${what} part '${identifier}' may only contain ASCII letters, digits and '-'`;
  }
  return undefined;
}

/**
 * Parses a NuGet version like the client's `NuGetVersion.TryParse`: the input is trimmed; 1 to 4
 * numeric parts (missing parts are 0, leading zeros allowed, each at most 2147483647); an optional
 * `-label` of dot-separated `[0-9A-Za-z-]` identifiers (numeric ones without leading zeros); an
 * optional `+metadata`.
 *
 * @returns the version, or `undefined` when `text` is not a valid version.
 * @example tryParseVersion('01.2.0.0-RC.1+build.7') // { major: 1, minor: 2, ..., releaseLabels: ['RC', '1'], metadata: 'build.7' }
 */
export function tryParseVersion(text: string): NuGetVersion | undefined {
  const result = explainVersion(text);
  return result.ok ? result.version : undefined;
}

/**
 * Like {@link tryParseVersion}, but throws.
 *
 * @throws InvalidVersionError (code `invalid_version`) naming the value and what is wrong with it.
 */
export function parseVersion(text: string): NuGetVersion {
  const result = explainVersion(text);
  if (!result.ok) throw new InvalidVersionError(`'${text}' is not a valid NuGet version: ${result.reason}.`);
  return result.version;
}

/**
 * The normalized version string, the identity of a version: `Major.Minor.Patch`, `.Revision` only
 * when it is not 0, `-labels` when prerelease; no metadata, no leading zeros, label case kept.
 *
 * @example normalizeVersion(parseVersion('1.01.0.0-Beta.1+abc')) // '1.1.0-Beta.1'
 */
export function normalizeVersion(v: NuGetVersion): string {
  let text = `${v.major}.${v.minor}.${v.patch}`;
  if (v.revision > 0) text += `.${v.revision}`;
  if (v.releaseLabels.length > 0) text += `-${v.releaseLabels.join('.')}`;
  return text;
}

/** The normalized version plus `+metadata` when there is metadata (NuGet's `ToFullString`). */
export function fullVersion(v: NuGetVersion): string {
  return v.metadata !== undefined ? `${normalizeVersion(v)}+${v.metadata}` : normalizeVersion(v);
}

/** The lowercase normalized version, used in URLs and storage keys (`1.0.0-beta.1`). */
export function lowerNormalizedVersion(v: NuGetVersion): string {
  // Versions are ASCII only, so toLowerCase cannot be locale-sensitive here.
  return normalizeVersion(v).toLowerCase();
}

/**
 * Orders versions like the client's `VersionComparer.Default`: Major, Minor, Patch, Revision
 * numerically; a stable version above any prerelease of the same numbers; labels compared part by
 * part (both numeric: as numbers; numeric below alphanumeric; otherwise ordinal, ignoring case);
 * when all shared parts are equal, fewer parts sort lower. Metadata is ignored.
 *
 * @returns a negative number, 0 or a positive number (-1, 0 or 1).
 */
export function compareVersions(a: NuGetVersion, b: NuGetVersion): number {
  const numbers =
    compareNumbers(a.major, b.major) ||
    compareNumbers(a.minor, b.minor) ||
    compareNumbers(a.patch, b.patch) ||
    compareNumbers(a.revision, b.revision);
  if (numbers !== 0) return numbers;

  const aPre = a.releaseLabels.length > 0;
  const bPre = b.releaseLabels.length > 0;
  if (aPre !== bPre) return aPre ? -1 : 1;

  const count = Math.max(a.releaseLabels.length, b.releaseLabels.length);
  for (let i = 0; i < count; i++) {
    const x = a.releaseLabels[i];
    const y = b.releaseLabels[i];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    const result = compareLabelPart(x, y);
    if (result !== 0) return result;
  }
  return 0;
}

function compareNumbers(a: number, b: number): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The client treats a label part as numeric when .NET `int.TryParse` accepts it (so `-1` is numeric). */
function labelPartAsNumber(part: string): number | undefined {
  if (!/^-?[0-9]+$/.test(part)) return undefined;
  const value = Number(part);
  return value >= -2_147_483_648 && value <= MAX_PART ? value : undefined;
}

function compareLabelPart(x: string, y: string): number {
  const xn = labelPartAsNumber(x);
  const yn = labelPartAsNumber(y);
  if (xn !== undefined && yn !== undefined) return compareNumbers(xn, yn);
  if (xn !== undefined) return -1;
  if (yn !== undefined) return 1;
  // Ordinal ignoring case: labels are ASCII, so comparing upper-cased code units matches .NET.
  const xu = x.toUpperCase();
  const yu = y.toUpperCase();
  return xu < yu ? -1 : xu > yu ? 1 : 0;
}

/** True when the version has a release label (`1.0.0-beta`). */
export function isPrerelease(v: NuGetVersion): boolean {
  return v.releaseLabels.length > 0;
}

/**
 * True when the version needs SemVer 2.0.0 to be understood: its release label has more than one
 * dot-separated part (`1.0.0-alpha.1`) or it has metadata (`1.0.0+sha`). Mirrors `NuGetVersion.IsSemVer2`.
 */
export function isSemVer2(v: NuGetVersion): boolean {
  return v.releaseLabels.length > 1 || v.metadata !== undefined;
}
