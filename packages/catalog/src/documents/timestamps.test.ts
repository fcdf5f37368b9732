import { describe, expect, it } from 'vitest';
import { formatCatalogTimestamp, UNLISTED_PUBLISHED_DATE } from './timestamps.js';

describe('formatCatalogTimestamp', () => {
  it('writes UTC with seven fractional digits', () => {
    expect(formatCatalogTimestamp(new Date('2025-03-01T10:00:00.123Z'))).toBe('2025-03-01T10:00:00.1230000Z');
    expect(formatCatalogTimestamp(new Date('2025-03-01T12:00:00.000+02:00'))).toBe('2025-03-01T10:00:00.0000000Z');
  });

  it('writes the unlisted marker date as 1900-01-01', () => {
    expect(formatCatalogTimestamp(UNLISTED_PUBLISHED_DATE)).toBe('1900-01-01T00:00:00.0000000Z');
  });

  it('round-trips through Date parsing at millisecond precision', () => {
    const d = new Date(Date.UTC(2024, 11, 31, 23, 59, 59, 999));
    expect(new Date(formatCatalogTimestamp(d)).getTime()).toBe(d.getTime());
  });

  it('rejects an invalid date with a coded error', () => {
    expect(() => formatCatalogTimestamp(new Date('nope'))).toThrow(expect.objectContaining({ code: 'invalid_catalog_input' }));
    expect(() => formatCatalogTimestamp(new Date(Date.UTC(10000, 0, 1)))).toThrow(expect.objectContaining({ code: 'invalid_catalog_input' }));
  });
});
