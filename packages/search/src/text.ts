/** Longest `q` kept, in UTF-16 code units; the rest is cut off (never in the middle of a character). */
export const MAX_QUERY_LENGTH = 1000;

// Control characters (C0, DEL, C1) carry no meaning in a query, and NUL cannot be stored in PostgreSQL text.
// eslint-disable-next-line no-control-regex
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/g;
/** Half of a surrogate pair without its other half: not encodable as UTF-8. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * Cleans query text: control characters become spaces, lone surrogates become U+FFFD, the result
 * is trimmed and cut to
 * {@link MAX_QUERY_LENGTH} without splitting a surrogate pair. `""` for undefined.
 */
export function cleanQueryText(text: string | undefined): string {
  if (text === undefined) return '';
  return truncate(text.replace(CONTROL_CHARACTERS, ' ').replace(LONE_SURROGATE, '\uFFFD').trim(), MAX_QUERY_LENGTH).trim();
}

/** Cuts `text` to at most `max` UTF-16 code units, never leaving half of a surrogate pair. */
export function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  const code = text.charCodeAt(max - 1);
  const end = code >= 0xd800 && code <= 0xdbff ? max - 1 : max;
  return text.slice(0, end);
}

