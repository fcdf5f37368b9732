import { describe, expect, it } from 'vitest';
import { InvalidVersionError } from './errors.js';
import {
  compareVersions,
  fullVersion,
  isPrerelease,
  isSemVer2,
  lowerNormalizedVersion,
  normalizeVersion,
  parseVersion,
  tryParseVersion,
} from './version.js';

// Expected values were checked against NuGet.Versioning as shipped with the .NET 10 SDK.
describe('tryParseVersion', () => {
  it.each([
    // input, normalized, full
    ['1', '1.0.0', '1.0.0'],
    ['0', '0.0.0', '0.0.0'],
    ['1.00', '1.0.0', '1.0.0'],
    ['1.01.1', '1.1.1', '1.1.1'],
    ['1.00.0.1', '1.0.0.1', '1.0.0.1'],
    ['1.0.0.0', '1.0.0', '1.0.0'],
    ['1.0.01.0', '1.0.1', '1.0.1'],
    ['1.0.7+r3456', '1.0.7', '1.0.7+r3456'],
    ['01.2.0.0-RC.1+build.7', '1.2.0-RC.1', '1.2.0-RC.1+build.7'],
    ['1.0.0-Beta.1+abc', '1.0.0-Beta.1', '1.0.0-Beta.1+abc'],
    ['00000000001.0', '1.0.0', '1.0.0'],
    ['2147483647.0', '2147483647.0.0', '2147483647.0.0'],
    ['2147483647.2147483647.2147483647.2147483647', '2147483647.2147483647.2147483647.2147483647', '2147483647.2147483647.2147483647.2147483647'],
    ['1.0.0-0', '1.0.0-0', '1.0.0-0'],
    ['1.0.0-0a', '1.0.0-0a', '1.0.0-0a'],
    ['1.0.0+01', '1.0.0', '1.0.0+01'],
    ['1.0.0-a-', '1.0.0-a-', '1.0.0-a-'],
    ['1.0.0--', '1.0.0--', '1.0.0--'],
    ['1.0.0+a-b', '1.0.0', '1.0.0+a-b'],
    ['1.0.0.1-alpha', '1.0.0.1-alpha', '1.0.0.1-alpha'],
    ['1.2.3.0-x', '1.2.3-x', '1.2.3-x'],
    ['1.0.0.5+m', '1.0.0.5', '1.0.0.5+m'],
    ['1.0.0-RC.X.35.A.3455+Meta-A-B-C', '1.0.0-RC.X.35.A.3455', '1.0.0-RC.X.35.A.3455+Meta-A-B-C'],
    [' 1.0.0 ', '1.0.0', '1.0.0'],
    ['\t1.0.0\n', '1.0.0', '1.0.0'],
    // The client parses each number the way .NET parses integers, so blanks around a number pass.
    ['1 .0', '1.0.0', '1.0.0'],
    ['1.0 . 0 . 1', '1.0.0.1', '1.0.0.1'],
    ['1.0 -beta', '1.0.0-beta', '1.0.0-beta'],
  ])('parses %j as %s (full %s)', (input, normalized, full) => {
    const version = tryParseVersion(input);
    expect(version).toBeDefined();
    expect(normalizeVersion(version!)).toBe(normalized);
    expect(fullVersion(version!)).toBe(full);
  });

  it.each([
    '',
    '   ',
    '1.',
    '1..0',
    '.1',
    '1.0.',
    '1.0.0.0.',
    '1.2.3.4.5',
    '2147483648.0',
    '1.2147483648',
    '99999999999.0',
    '4294967296.0',
    '1.0.0-',
    '1.0.0+',
    '1.0.0-+b',
    '1.0.0-a+',
    '1.0.0-01',
    '01.0.0-01',
    '1.0.0-a.01',
    '1.0.0-ÄÖ',
    '1.0.0-a_b',
    '1.0.0-a..b',
    '1.0.0+a..b',
    '1.0.0-beta+meta+x',
    '1.0- beta',
    '1.0.0-beta +m',
    '+1.0',
    '-1.0',
    'v1.0',
    '1.0x',
    '1.٣',
    `1.0.0-${'é'.repeat(1000)}`,
  ])('refuses %j', (input) => {
    expect(tryParseVersion(input)).toBeUndefined();
  });

  it('splits release labels and keeps their case', () => {
    const version = tryParseVersion('1.0.0-RC.X.35+Meta');
    expect(version).toMatchObject({ major: 1, minor: 0, patch: 0, revision: 0, releaseLabels: ['RC', 'X', '35'], metadata: 'Meta' });
  });

  it('keeps the original text, trimmed and without spaces', () => {
    expect(tryParseVersion('01.2.0.0-RC.1+build.7')!.original).toBe('01.2.0.0-RC.1+build.7');
    expect(tryParseVersion(' 1 .0 ')!.original).toBe('1.0');
  });

  it('leaves metadata out when there is none', () => {
    expect(tryParseVersion('1.0.0-beta')).not.toHaveProperty('metadata');
  });
});

describe('parseVersion', () => {
  it('throws InvalidVersionError naming the value and the problem', () => {
    let error: unknown;
    try {
      parseVersion('1.0.0-01');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidVersionError);
    expect(error).toMatchObject({ code: 'invalid_version', name: 'InvalidVersionError' });
    expect((error as Error).message).toContain("'1.0.0-01'");
    expect((error as Error).message).toContain('leading zero');
  });

  it.each([
    ['1..0', 'empty'],
    ['2147483648', 'larger than 2147483647'],
    ['1.0.0-ÄÖ', 'ASCII'],
    ['1.2.3.4.5', 'at most 4'],
  ])('explains why %j is invalid', (input, reason) => {
    expect(() => parseVersion(input)).toThrow(reason);
  });
});

describe('normalized forms', () => {
  it('lowercases only for the URL/key form', () => {
    const version = parseVersion('1.0.0-Beta.1+ABC');
    expect(normalizeVersion(version)).toBe('1.0.0-Beta.1');
    expect(fullVersion(version)).toBe('1.0.0-Beta.1+ABC');
    expect(lowerNormalizedVersion(version)).toBe('1.0.0-beta.1');
  });

  it('gives 1.0, 1.0.0, 1.0.0.0 and 1.0.0+foo one identity', () => {
    const forms = ['1.0', '1.0.0', '1.0.0.0', '1.0.0+foo', '01.0'].map((v) => lowerNormalizedVersion(parseVersion(v)));
    expect(new Set(forms)).toEqual(new Set(['1.0.0']));
  });
});

describe('compareVersions', () => {
  // The order NuGet's VersionComparer.Default gives these versions.
  const sorted = [
    '0.9.9',
    '1.0.0-0',
    '1.0.0-1',
    '1.0.0-a.-1',
    '1.0.0-a.0',
    '1.0.0-a.2147483648',
    '1.0.0-A.Y',
    '1.0.0-a.z',
    '1.0.0-a-b',
    '1.0.0-alpha',
    '1.0.0-alpha.1',
    '1.0.0-alpha.beta',
    '1.0.0-beta',
    '1.0.0-beta.2',
    '1.0.0-Beta.3',
    '1.0.0-beta.11',
    '1.0.0-rc.1',
    '1.0.0',
    '1.0.0.1-alpha',
    '1.0.0.1',
    '1.0.1-alpha',
    '1.2.0',
    '1.10.0',
    '2.0.0',
    '10.0.0',
  ];

  it('sorts like the NuGet client', () => {
    const shuffled = [...sorted].reverse().sort((a, b) => (a.length % 3) - (b.length % 3));
    const result = shuffled.map(parseVersion).sort(compareVersions).map(fullVersion);
    expect(result).toEqual(sorted);
  });

  it('orders every adjacent pair strictly and antisymmetrically', () => {
    for (let i = 0; i + 1 < sorted.length; i++) {
      const a = parseVersion(sorted[i]!);
      const b = parseVersion(sorted[i + 1]!);
      expect(compareVersions(a, b), `${sorted[i]} < ${sorted[i + 1]}`).toBe(-1);
      expect(compareVersions(b, a)).toBe(1);
    }
  });

  it.each([
    ['1.0.0-Beta', '1.0.0-beta'],
    ['1.0.0-RC.1', '1.0.0-rc.1'],
    ['1.0', '1.0.0.0'],
    ['1.0.0+meta1', '1.0.0+meta2'],
    ['1.0.0-beta+x', '1.0.0-BETA'],
  ])('treats %s and %s as equal', (a, b) => {
    expect(compareVersions(parseVersion(a), parseVersion(b))).toBe(0);
  });
});

describe('isPrerelease and isSemVer2', () => {
  it.each([
    ['1.0.0', false, false],
    ['1.0.0-beta', true, false],
    ['1.0.0-beta.1', true, true],
    ['1.0.0+sha', false, true],
    ['1.0.0-beta+sha', true, true],
    ['1.0.0-beta-1', true, false],
    ['01.2.0.0-RC.1+build.7', true, true],
  ])('%s: prerelease %s, SemVer2 %s', (input, prerelease, semver2) => {
    const version = parseVersion(input);
    expect(isPrerelease(version)).toBe(prerelease);
    expect(isSemVer2(version)).toBe(semver2);
  });
});

describe('#13 version edge cases (reliability.md §2)', () => {
  it('#13 gives 1.0, 1.0.0 and 1.0.0.0 one identity, and 1.0.0+meta1 and 1.0.0+meta2 another one', () => {
    expect(new Set(['1.0', '1.0.0', '1.0.0.0'].map((v) => lowerNormalizedVersion(parseVersion(v))))).toEqual(new Set(['1.0.0']));
    const [meta1, meta2] = ['1.0.0+meta1', '1.0.0+meta2'].map(parseVersion);
    expect(lowerNormalizedVersion(meta1!)).toBe(lowerNormalizedVersion(meta2!));
    expect(compareVersions(meta1!, meta2!)).toBe(0);
    expect([fullVersion(meta1!), fullVersion(meta2!)]).toEqual(['1.0.0+meta1', '1.0.0+meta2']);
  });

  it('#13 normalizes 01.0.0 to 1.0.0, as the NuGet client does', () => {
    expect(normalizeVersion(parseVersion('01.0.0'))).toBe('1.0.0');
  });

  it.each(['1.0.0-', '1.0.0-ÄÖ', '1.0.0-01', '1.0.0-a..b'])('#13 refuses %j', (input) => {
    expect(tryParseVersion(input)).toBeUndefined();
    expect(() => parseVersion(input)).toThrow(InvalidVersionError);
  });
});
