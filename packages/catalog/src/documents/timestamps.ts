import { InvalidCatalogInputError } from './errors.js';

/**
 * Formats a date the way NuGet catalogs write timestamps: .NET's round-trip form in UTC with seven
 * fractional digits (`2025-03-01T10:00:00.1230000Z`). A JavaScript Date holds whole milliseconds, so
 * the last four digits are always `0`.
 *
 * @see https://learn.microsoft.com/en-us/nuget/api/catalog-resource#catalog-index
 * @throws InvalidCatalogInputError for an invalid Date or a year outside 0000–9999.
 */
export function formatCatalogTimestamp(d: Date): string {
  const iso = isoMillis(d);
  return `${iso.slice(0, 23)}0000Z`;
}

/**
 * The `published` value of an unlisted package: the official gallery marks unlisting with 1900-01-01.
 * Formatted with {@link formatCatalogTimestamp}: `1900-01-01T00:00:00.0000000Z`.
 */
export const UNLISTED_PUBLISHED_DATE: Date = new Date(Date.UTC(1900, 0, 1));

/**
 * The timestamp segment of a catalog leaf path: `yyyy.MM.dd.HH.mm.ss.fff` in UTC. The official gallery uses
 * seconds; we add milliseconds because our commits are only guaranteed to be 1 ms apart.
 * @internal used by {@link catalogLeafPath}.
 */
export function formatLeafPathTimestamp(d: Date): string {
  const iso = isoMillis(d); // yyyy-MM-ddTHH:mm:ss.fffZ
  return `${iso.slice(0, 4)}.${iso.slice(5, 7)}.${iso.slice(8, 10)}.${iso.slice(11, 13)}.${iso.slice(14, 16)}.${iso.slice(17, 19)}.${iso.slice(20, 23)}`;
}

function isoMillis(d: Date): string {
  if (!(d instanceof Date) || Number.isNaN(d.getTime())) {
    throw new InvalidCatalogInputError('A catalog timestamp must be a valid Date.', { value: String(d) });
  }
  const iso = d.toISOString();
  // Years outside 0000–9999 come out as ±YYYYYY, which .NET's round-trip format cannot express.
  if (iso.length !== 24) {
    throw new InvalidCatalogInputError(`A catalog timestamp must fall in the years 0000–9999, got ${iso}.`, { value: iso });
  }
  return iso;
}
