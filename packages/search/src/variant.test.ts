import { describe, expect, it } from 'vitest';
import { InvalidSearchParameterError } from './errors.js';
import { MAX_QUERY_LENGTH } from './text.js';
import { parseSearchParameters, selectVariant } from './variant.js';

describe('selectVariant', () => {
  it('maps prerelease and semVer2 to the four variants', () => {
    expect(selectVariant({ prerelease: false, semVer2: false })).toBe('semver1-stable');
    expect(selectVariant({ prerelease: true, semVer2: false })).toBe('semver1-prerelease');
    expect(selectVariant({ prerelease: false, semVer2: true })).toBe('semver2-stable');
    expect(selectVariant({ prerelease: true, semVer2: true })).toBe('semver2-prerelease');
  });
});

describe('parseSearchParameters', () => {
  it('applies the defaults to an empty query string', () => {
    expect(parseSearchParameters({})).toEqual({ q: '', skip: 0, take: 20, prerelease: false, semVer2: false });
  });

  it('reads what the NuGet client sends', () => {
    expect(
      parseSearchParameters({ q: 'json', skip: '20', take: '10', prerelease: 'true', semVerLevel: '2.0.0' }),
    ).toEqual({ q: 'json', skip: 20, take: 10, prerelease: true, semVer2: true });
  });

  describe('skip', () => {
    it('#30 search abuse: clamps skip to [0, 3000]', () => {
      expect(parseSearchParameters({ skip: '3000' }).skip).toBe(3000);
      expect(parseSearchParameters({ skip: '3001' }).skip).toBe(3000);
      expect(parseSearchParameters({ skip: '99999999999999999999999' }).skip).toBe(3000);
      expect(parseSearchParameters({ skip: '-5' }).skip).toBe(0);
      expect(parseSearchParameters({ skip: '-0' }).skip).toBe(0);
      expect(Object.is(parseSearchParameters({ skip: '-0' }).skip, 0)).toBe(true);
    });

    it('treats an empty value as absent', () => {
      expect(parseSearchParameters({ skip: '' }).skip).toBe(0);
      expect(parseSearchParameters({ skip: ' ' }).skip).toBe(0);
    });

    it('rejects a value that is not a whole number', () => {
      for (const skip of ['abc', '1.5', '1e3', '0x10', '5a', 'NaN', 'Infinity']) {
        expect(() => parseSearchParameters({ skip }), skip).toThrow(InvalidSearchParameterError);
      }
    });

    it('reports the parameter with the invalid_request code', () => {
      try {
        parseSearchParameters({ skip: 'abc' });
        expect.unreachable();
      } catch (error) {
        expect(error).toBeInstanceOf(InvalidSearchParameterError);
        expect((error as InvalidSearchParameterError).code).toBe('invalid_request');
        expect((error as InvalidSearchParameterError).details).toEqual({ parameter: 'skip', value: 'abc' });
      }
    });
  });

  describe('take', () => {
    it('keeps values in [0, 1000]', () => {
      expect(parseSearchParameters({ take: '0' }).take).toBe(0);
      expect(parseSearchParameters({ take: '1000' }).take).toBe(1000);
      expect(parseSearchParameters({ take: ' 7 ' }).take).toBe(7);
    });

    it('#30 search abuse: take falls back to 20 below 0 or above 1000 instead of clamping', () => {
      expect(parseSearchParameters({ take: '1001' }).take).toBe(20);
      expect(parseSearchParameters({ take: '-1' }).take).toBe(20);
      expect(parseSearchParameters({ take: '99999999999999999999999' }).take).toBe(20);
    });

    it('treats an empty value as absent', () => {
      expect(parseSearchParameters({ take: '' }).take).toBe(20);
    });

    it('rejects a value that is not a whole number', () => {
      for (const take of ['ten', '2.5', '1e2']) {
        expect(() => parseSearchParameters({ take }), take).toThrow(InvalidSearchParameterError);
      }
    });
  });

  describe('prerelease', () => {
    it('is true only for "true" in any case', () => {
      expect(parseSearchParameters({ prerelease: 'true' }).prerelease).toBe(true);
      expect(parseSearchParameters({ prerelease: 'TRUE' }).prerelease).toBe(true);
      expect(parseSearchParameters({ prerelease: 'True' }).prerelease).toBe(true);
      for (const prerelease of ['false', '1', 'yes', '', 'truee']) {
        expect(parseSearchParameters({ prerelease }).prerelease, prerelease).toBe(false);
      }
    });
  });

  describe('semVerLevel', () => {
    it('includes SemVer2 packages for any version at or above 2.0.0', () => {
      for (const semVerLevel of ['2.0.0', '2', '2.0', '2.0.0.0', '2.1', '3.0.0', '10.0.0']) {
        expect(parseSearchParameters({ semVerLevel }).semVer2, semVerLevel).toBe(true);
      }
    });

    it('excludes them for lower or unparsable values', () => {
      for (const semVerLevel of ['1.0.0', '1.9.9', '2.0.0-beta', 'two', '', 'latest']) {
        expect(parseSearchParameters({ semVerLevel }).semVer2, semVerLevel).toBe(false);
      }
    });
  });

  describe('packageType', () => {
    it('is trimmed and absent when empty', () => {
      expect(parseSearchParameters({ packageType: ' DotnetTool ' }).packageType).toBe('DotnetTool');
      expect(parseSearchParameters({ packageType: '' })).not.toHaveProperty('packageType');
      expect(parseSearchParameters({ packageType: '   ' })).not.toHaveProperty('packageType');
      expect(parseSearchParameters({ packageType: '\u0000' })).not.toHaveProperty('packageType');
    });
  });

  describe('q', () => {
    it('is trimmed, with control characters turned into spaces', () => {
      expect(parseSearchParameters({ q: '  a\u0000b  ' }).q).toBe('a b');
    });

    it(`#30 search abuse: q is cut to ${MAX_QUERY_LENGTH} characters`, () => {
      expect(parseSearchParameters({ q: 'x'.repeat(10_000) }).q).toHaveLength(MAX_QUERY_LENGTH);
    });
  });

  it('uses the first value of a repeated parameter', () => {
    expect(parseSearchParameters({ q: ['a', 'b'], take: ['5', 'x'], prerelease: ['true', 'false'] })).toMatchObject({
      q: 'a',
      take: 5,
      prerelease: true,
    });
  });
});
