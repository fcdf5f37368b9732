/**
 * Owner (account) names and id patterns: pure parsing, shared by API keys and ownership.
 */

/**
 * The owner of keys created without one, and of every id that existed before ownership did (or that
 * a mirror copied in without an owner). A feed that never names owners behaves as before: all its keys
 * and ids belong to `default`.
 */
export const DEFAULT_OWNER = 'default';

const OWNER_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;

/** ASCII-only lowercasing, as NuGet compares ids (never locale- or Unicode-aware). */
export function asciiLower(text: string): string {
  return text.replace(/[A-Z]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 32));
}

/**
 * An owner name in its stored form (ASCII-lowercased: `Contoso` and `contoso` are one owner), or
 * undefined when it is not one: 1–64 characters of letters, digits, `.`, `_`, `-`, starting with a
 * letter or digit.
 */
export function parseOwnerName(text: string): string | undefined {
  const name = asciiLower(text.trim());
  return OWNER_NAME.test(name) ? name : undefined;
}

/** A reserved id pattern, as {@link parseIdPattern} reads it. */
export interface IdPattern {
  /**
   * Stored form, ASCII lowercase: `contoso.*` for a prefix (the ids starting with `contoso.`), or an
   * exact id (`contoso`).
   */
  pattern: string;
  /** The casing given, in stored form (`Contoso.*`), for display. */
  display: string;
  kind: 'prefix' | 'exact';
}

/** NuGet's id grammar: word characters separated by single `.` or `-`. */
const ID_STEM = /^[A-Za-z0-9_]+(?:[.-][A-Za-z0-9_]+)*$/;
const MAX_ID_LENGTH = 100;

/**
 * Reads a reservation pattern:
 * - `Contoso.*` or `Contoso.` — a prefix: every id starting with `Contoso.` (any casing), such as
 *   `Contoso.Foo` and `contoso.foo.bar`; not `Contoso` itself and not `ContosoEvil`;
 * - `Contoso` — exactly that id (any casing).
 *
 * A `*` anywhere else (`Contoso*`, `*.Foo`) is refused: a prefix ends at a `.` so that reserving
 * `Contoso.*` never covers an unrelated `ContosoEvil`. Reserve `Contoso` as well to cover the bare name.
 * @returns undefined when the text is not a pattern.
 */
export function parseIdPattern(text: string): IdPattern | undefined {
  const trimmed = text.trim();
  let stem: string;
  let kind: IdPattern['kind'];
  if (trimmed.endsWith('.*')) {
    stem = trimmed.slice(0, -2);
    kind = 'prefix';
  } else if (trimmed.endsWith('.')) {
    stem = trimmed.slice(0, -1);
    kind = 'prefix';
  } else {
    stem = trimmed;
    kind = 'exact';
  }
  if (!ID_STEM.test(stem) || stem.length + (kind === 'prefix' ? 2 : 0) > MAX_ID_LENGTH) return undefined;
  const display = kind === 'prefix' ? `${stem}.*` : stem;
  return { pattern: asciiLower(display), display, kind };
}

/** Whether a stored pattern (`contoso.*` or an exact lowercase id) covers a lowercase id. */
export function idPatternCovers(pattern: string, lowerId: string): boolean {
  return pattern.endsWith('.*') ? lowerId.startsWith(pattern.slice(0, -1)) : lowerId === pattern;
}
