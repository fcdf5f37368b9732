import { describe, expect, it } from 'vitest';
import { buildFlatContainerIndex } from './build-flat-container-index.js';

describe('buildFlatContainerIndex', () => {
  it('sorts versions in NuGet order, not string order', () => {
    expect(buildFlatContainerIndex(['10.0.0', '2.0.0', '1.0.0', '2.0.0-rc.1', '2.0.0-beta.10', '2.0.0-beta.2', '1.0.0.1']).versions).toEqual([
      '1.0.0',
      '1.0.0.1',
      '2.0.0-beta.2',
      '2.0.0-beta.10',
      '2.0.0-rc.1',
      '2.0.0',
      '10.0.0',
    ]);
  });

  it('lists each version once, lowercased and normalized without metadata', () => {
    expect(buildFlatContainerIndex(['1.0.0-Beta', '1.0.0-beta', '1.0', '1.0.0+sha.1']).versions).toEqual(['1.0.0-beta', '1.0.0']);
  });

  it('gives an empty list when there are no versions (the id is absent)', () => {
    expect(buildFlatContainerIndex([])).toEqual({ versions: [] });
  });

  it('rejects a string that is not a version', () => {
    expect(() => buildFlatContainerIndex(['not-a-version'])).toThrow(expect.objectContaining({ code: 'invalid_version' }));
  });
});
