/** Maximum length of a package id (NuGet client and NuGet Gallery). */
export const MAX_PACKAGE_ID_LENGTH = 100;

const ID_PATTERN = /^[A-Za-z0-9_]+([.-][A-Za-z0-9_]+)*$/;
const ID_CHAR = /^[A-Za-z0-9_.-]$/;
const SEPARATOR = /^[.-]$/;
/** Windows device names: a package folder with one of these names cannot be created there. */
const DEVICE_NAMES = /^(con|prn|aux|nul|com[1-9]|lpt[1-9])$/i;
const ALLOWED = "package ids may only use ASCII letters, digits, '_', '.' and '-'";

/**
 * Checks the id of a package being pushed, with the NuGet Gallery's rules for new packages: ASCII only,
 * `^[A-Za-z0-9_]+([.-][A-Za-z0-9_]+)*$`, at most 100 characters, not the `$id$` placeholder, and
 * (nucat's addition) not a Windows device name such as `con`, which restore could not extract.
 *
 * Confusable ids (a Cyrillic `о`, a zero-width joiner, a Turkish `İ`) are refused because they are
 * not ASCII; the message names the character and its position.
 *
 * @returns `undefined` when the id is valid; otherwise a message a person can act on.
 * @example validatePackageId('Newtonsoft.Jsоn') // "The package id contains the non-ASCII character 'о' (U+043E) at position 14; ..."
 */
export function validatePackageId(id: string): string | undefined {
  if (id.length === 0) return 'The package id is empty.';
  if (id === '$id$') {
    return "The package id is the placeholder '$id$'; put the real package id in the nuspec <id> element.";
  }
  if (id.length > MAX_PACKAGE_ID_LENGTH) {
    return `The package id is ${id.length} characters long; the maximum is ${MAX_PACKAGE_ID_LENGTH}.`;
  }

  const chars = Array.from(id);
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i]!;
    if (ID_CHAR.test(ch)) continue;
    const kind = ch.codePointAt(0)! > 0x7f ? 'the non-ASCII character' : 'the character';
    return `The package id contains ${kind} ${describeChar(ch)} at position ${i + 1}; ${ALLOWED}.`;
  }

  const first = chars[0]!;
  const last = chars[chars.length - 1]!;
  if (SEPARATOR.test(first)) {
    return `The package id starts with '${first}'; it must start with a letter, a digit or '_'.`;
  }
  if (SEPARATOR.test(last)) {
    return `The package id ends with '${last}'; it must end with a letter, a digit or '_'.`;
  }
  for (let i = 1; i < chars.length; i++) {
    if (SEPARATOR.test(chars[i]!) && SEPARATOR.test(chars[i - 1]!)) {
      return (
        `The package id has '${chars[i - 1]}${chars[i]}' at position ${i}; ` +
        "each '.' or '-' must sit between letters, digits or '_'."
      );
    }
  }
  if (DEVICE_NAMES.test(id)) {
    return `The package id '${id}' is a reserved device name on Windows, where it cannot be restored; choose another id.`;
  }
  // The checks above cover every way the pattern can fail; this keeps the function honest.
  if (!ID_PATTERN.test(id)) return `The package id '${id}' is not valid; ${ALLOWED}.`;
  return undefined;
}

/**
 * Describes a character for an error message: printable ones in quotes with their code point,
 * invisible ones (spaces, joiners, controls) by code point only.
 */
export function describeChar(ch: string): string {
  const code = `U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
  return /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u.test(ch) ? `'${ch}' (${code})` : code;
}

/**
 * Lowercases the ASCII letters of an id and leaves every other character as it is, so the result
 * never depends on locale rules (the Turkish `İ` is not turned into `i̇`). This is the `lower_id`
 * used in URLs, storage keys and ownership checks.
 */
export function toLowerId(id: string): string {
  return id.replace(/[A-Z]+/g, (letters) => letters.toLowerCase());
}

/**
 * The client's validator for ids that already exist (for example dependency ids):
 * `^\w+([.-]\w+)*$` with .NET's Unicode-aware `\w`.
 */
export function isValidExistingPackageId(id: string): boolean {
  return /^[\p{L}\p{Mn}\p{Nd}\p{Pc}]+([.-][\p{L}\p{Mn}\p{Nd}\p{Pc}]+)*$/u.test(id);
}
