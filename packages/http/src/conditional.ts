/**
 * Whether an `If-None-Match` header matches an entity tag, using the weak comparison RFC 9110 §13.1.2
 * prescribes for it: `W/` prefixes are ignored, `*` matches anything, lists are comma-separated.
 *
 * @param header the request's `If-None-Match` value ("" when absent).
 * @param opaqueTag the tag without quotes or `W/`.
 * @returns false when the header is absent or names other tags.
 */
export function ifNoneMatchMatches(header: string | undefined, opaqueTag: string): boolean {
  if (header === undefined || header.trim() === '') return false;
  for (const part of header.split(',')) {
    const candidate = part.trim();
    if (candidate === '*') return true;
    if (opaqueTagOf(candidate) === opaqueTag) return true;
  }
  return false;
}

/** Strips `W/` and the surrounding quotes from an entity tag: `W/"abc"` → `abc`. */
export function opaqueTagOf(tag: string): string {
  let value = tag.trim();
  if (value.startsWith('W/')) value = value.slice(2);
  if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
  return value;
}
