import { describe, expect, it } from 'vitest';
import { formatVersionRange, normalizeDependencyRange, rangeSatisfies, tryParseVersionRange } from './version-range.js';
import { parseVersion } from './version.js';

// Expected values were checked against NuGet.Versioning's VersionRange.ToNormalizedString()
// as shipped with the .NET 10 SDK.
describe('tryParseVersionRange and formatVersionRange', () => {
  it.each([
    ['1.0', '[1.0.0, )'],
    ['[1.0,)', '[1.0.0, )'],
    ['(1.0,)', '(1.0.0, )'],
    ['[1.0]', '[1.0.0, 1.0.0]'],
    ['(,1.0]', '(, 1.0.0]'],
    ['(,1.0)', '(, 1.0.0)'],
    ['[1.0,2.0)', '[1.0.0, 2.0.0)'],
    ['(1.0,2.0]', '(1.0.0, 2.0.0]'],
    ['(, )', '(, )'],
    ['[ , ]', '(, )'],
    ['(1.0,1.0)', '(1.0.0, 1.0.0)'],
    ['[1.0,1.0]', '[1.0.0, 1.0.0]'],
    [' [ 1.0 , 2.0 ] ', '[1.0.0, 2.0.0]'],
    ['[1.0, ]', '[1.0.0, )'],
    ['[1.0 ,2.0]', '[1.0.0, 2.0.0]'],
    ['[1.0,2.0 ]', '[1.0.0, 2.0.0]'],
    ['1.0.0-beta+meta', '[1.0.0-beta, )'],
    ['[1.0.0-Beta.1, 2.0.0+x)', '[1.0.0-Beta.1, 2.0.0)'],
    ['01.0', '[1.0.0, )'],
    ['[1.0.0.0, 2.0.0.1)', '[1.0.0, 2.0.0.1)'],
    ['(,1.0.0-alpha]', '(, 1.0.0-alpha]'],
    ['[1.4.0, 2.0.0)', '[1.4.0, 2.0.0)'],
  ])('reads %j as %s', (input, formatted) => {
    const range = tryParseVersionRange(input);
    expect(range).toBeDefined();
    expect(formatVersionRange(range!)).toBe(formatted);
  });

  it.each([
    '',
    '  ',
    '(1.0)',
    '[1.0)',
    '(1.0]',
    '(,)',
    '[,]',
    '[]',
    '(',
    '[2.0,1.0]',
    '[1.0,1.0)',
    '(1.0,1.0]',
    '[1.0,',
    '1.0,2.0',
    '[1.0,2.0,3.0]',
    'garbage',
    '[a,b]',
    ')1.0,2.0(',
    '1.0]',
    '[1.0.0-, 2.0]',
    // Floating ranges are valid for the client but not in nuspec dependencies.
    '*',
    '1.*',
    '[1.*,2.0)',
    '1.0.0-*',
  ])('refuses %j', (input) => {
    expect(tryParseVersionRange(input)).toBeUndefined();
  });

  it('exposes bounds and inclusiveness', () => {
    const range = tryParseVersionRange('(1.0,2.0]')!;
    expect(range.minInclusive).toBe(false);
    expect(range.maxInclusive).toBe(true);
    expect(range.min?.major).toBe(1);
    expect(range.max?.major).toBe(2);
    expect(tryParseVersionRange('1.0')).not.toHaveProperty('max');
  });
});

describe('normalizeDependencyRange', () => {
  it.each([
    [undefined, ''],
    ['', ''],
    ['1.0', '[1.0.0, )'],
    ['[1.0]', '[1.0.0, 1.0.0]'],
    ['(,2.0)', '(, 2.0.0)'],
    ['*', ''],
    ['1.*', ''],
    ['(,)', ''],
    ['not a range', ''],
  ])('stores %j as %j', (input, stored) => {
    expect(normalizeDependencyRange(input)).toBe(stored);
  });
});

describe('rangeSatisfies', () => {
  it.each([
    ['1.0', '1.0.0', true],
    ['1.0', '0.9.0', false],
    ['1.0', '99.0.0', true],
    ['1.0', '1.0.0-beta', false],
    ['(1.0,)', '1.0.0', false],
    ['(1.0,)', '1.0.0.1', true],
    ['[1.0]', '1.0.0+meta', true],
    ['[1.0]', '1.0.1', false],
    ['(,2.0)', '2.0.0', false],
    ['(,2.0)', '2.0.0-rc.1', true],
    ['(,2.0]', '2.0.0', true],
    ['[1.0,2.0)', '1.5.0', true],
    ['[1.0,2.0)', '2.0.0', false],
    ['(, )', '0.0.0', true],
    ['(1.0,1.0)', '1.0.0', false],
    ['[1.0.0-Beta, 2.0)', '1.0.0-beta', true],
  ])('%s contains %s: %s', (range, version, expected) => {
    expect(rangeSatisfies(tryParseVersionRange(range)!, parseVersion(version))).toBe(expected);
  });
});
