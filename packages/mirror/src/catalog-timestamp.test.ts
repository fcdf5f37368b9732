import { describe, expect, it } from 'vitest';
import { compareInstants, instantFromDate, instantToMicrosText, parseCatalogTimestamp } from './catalog-timestamp.js';

describe('parseCatalogTimestamp', () => {
  it('keeps all seven fraction digits of a catalog timestamp', () => {
    const i = parseCatalogTimestamp('2024-01-02T03:04:05.1234567Z')!;
    expect(i.text).toBe('2024-01-02T03:04:05.1234567Z');
    expect(i.ms).toBe(Date.parse('2024-01-02T03:04:05.123Z'));
    expect(i.ticks).toBe(4567);
  });

  it('orders two commits inside one millisecond', () => {
    const a = parseCatalogTimestamp('2024-01-02T03:04:05.1234560Z')!;
    const b = parseCatalogTimestamp('2024-01-02T03:04:05.1234567Z')!;
    expect(compareInstants(a, b)).toBeLessThan(0);
    expect(a.text < b.text).toBe(true);
  });

  it('reads fewer digits, no zone (UTC) and offsets', () => {
    expect(parseCatalogTimestamp('2024-01-02T03:04:05')!.text).toBe('2024-01-02T03:04:05.0000000Z');
    expect(parseCatalogTimestamp('2024-01-02T03:04:05.5Z')!.text).toBe('2024-01-02T03:04:05.5000000Z');
    expect(parseCatalogTimestamp('2024-01-02T05:04:05.1+02:00')!.text).toBe('2024-01-02T03:04:05.1000000Z');
  });

  it('reads the empty catalog timestamp 0001-01-01', () => {
    expect(parseCatalogTimestamp('0001-01-01T00:00:00Z')!.text).toBe('0001-01-01T00:00:00.0000000Z');
  });

  it('refuses what is not a timestamp', () => {
    expect(parseCatalogTimestamp('yesterday')).toBeUndefined();
    expect(parseCatalogTimestamp('2024-02-30T00:00:00Z')).toBeUndefined();
  });

  it('floors to microseconds for PostgreSQL and round-trips Dates', () => {
    expect(instantToMicrosText(parseCatalogTimestamp('2024-01-02T03:04:05.1234567Z')!)).toBe('2024-01-02T03:04:05.123456Z');
    expect(instantFromDate(new Date('2024-01-02T03:04:05.123Z')).text).toBe('2024-01-02T03:04:05.1230000Z');
  });
});
