/**
 * A catalog commit timestamp with the full precision catalogs write: .NET round-trip format, 7
 * fraction digits (100 ns). A JavaScript Date holds only milliseconds, and two commits of a source
 * may fall inside one millisecond, so the mirror compares these instead of Dates.
 */
export interface CatalogInstant {
  /** Epoch milliseconds (floored). */
  readonly ms: number;
  /** 100-nanosecond units past `ms`, 0–9999. */
  readonly ticks: number;
  /** Canonical UTC text, `yyyy-MM-ddTHH:mm:ss.fffffffZ`; orders like the instant. */
  readonly text: string;
}

const PATTERN = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?$/;

/**
 * Parses a catalog timestamp: `2024-01-02T03:04:05.1234567Z` (the official gallery and nucat), fewer or no
 * fraction digits, a `+hh:mm` offset, or no zone at all (read as UTC, as .NET writes unspecified
 * kinds). Digits past the seventh are dropped.
 *
 * @returns undefined when the text is not such a timestamp.
 */
export function parseCatalogTimestamp(text: string): CatalogInstant | undefined {
  const m = PATTERN.exec(text.trim());
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, fraction = '', zone = 'Z'] = m;
  const digits = fraction.padEnd(7, '0').slice(0, 7);
  const date = new Date(0);
  date.setUTCFullYear(Number(y), Number(mo) - 1, Number(d));
  date.setUTCHours(Number(h), Number(mi), Number(s), Number(digits.slice(0, 3)));
  if (Number.isNaN(date.getTime()) || date.getUTCDate() !== Number(d)) return undefined;
  let ms = date.getTime();
  if (zone !== 'Z') {
    const sign = zone.startsWith('-') ? -1 : 1;
    ms -= sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6))) * 60_000;
  }
  return instantOf(ms, Number(digits.slice(3)));
}

/** The instant of a Date (whole milliseconds). */
export function instantFromDate(date: Date): CatalogInstant {
  return instantOf(date.getTime(), 0);
}

function instantOf(ms: number, ticks: number): CatalogInstant {
  const iso = new Date(ms).toISOString(); // yyyy-MM-ddTHH:mm:ss.fffZ (years 0000–9999)
  return { ms, ticks, text: `${iso.slice(0, 23)}${String(ticks).padStart(4, '0')}Z` };
}

/** Negative, zero or positive as `a` is before, at or after `b`. */
export function compareInstants(a: CatalogInstant, b: CatalogInstant): number {
  return a.ms - b.ms || a.ticks - b.ticks;
}

/**
 * The instant floored to microseconds, as PostgreSQL `timestamptz` text: flooring never moves a
 * stored cursor past a commit it did not cover.
 */
export function instantToMicrosText(i: CatalogInstant): string {
  return `${i.text.slice(0, 26)}Z`;
}
