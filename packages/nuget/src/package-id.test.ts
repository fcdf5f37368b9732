import { describe, expect, it } from 'vitest';
import { toLowerId, validatePackageId } from './package-id.js';

describe('validatePackageId', () => {
  it.each([
    'Newtonsoft.Json',
    'a',
    '_',
    'A1',
    'xunit.runner.visualstudio',
    'Contoso.Widgets-Core_2',
    'Con.Widgets',
    'a'.repeat(100),
  ])('accepts %j', (id) => {
    expect(validatePackageId(id)).toBeUndefined();
  });

  it.each([
    ['', /empty/],
    ['$id$', /placeholder '\$id\$'/],
    ['a'.repeat(101), /101 characters long; the maximum is 100/],
    // Cyrillic 'о' (U+043E) instead of the Latin 'o'.
    ['Newtonsoft.Js\u043En', /non-ASCII character 'о' \(U\+043E\) at position 14/],
    // A zero-width joiner is invisible, so the message names it by code point only.
    ['Foo\u200DBar', /non-ASCII character U\+200D at position 4/],
    // Turkish dotted capital I.
    ['\u0130pek', /non-ASCII character 'İ' \(U\+0130\) at position 1/],
    ['caf\u00e9', /'é' \(U\+00E9\) at position 4/],
    ['a..b', /'\.\.' at position 2/],
    ['a.-b', /'\.-' at position 2/],
    ['-a', /starts with '-'/],
    ['.a', /starts with '\.'/],
    ['a.', /ends with '\.'/],
    ['a/b', /character '\/' \(U\+002F\) at position 2/],
    ['a%2fb', /character '%' \(U\+0025\) at position 2/],
    ['a b', /character U\+0020 at position 2/],
    ['a\\b', /'\\' \(U\+005C\)/],
    ['con', /reserved device name/],
    ['LPT1', /reserved device name/],
  ])('#12 refuses %j with a message that says what is wrong', (id, message) => {
    const problem = validatePackageId(id);
    expect(problem).toMatch(message);
  });

  it('tells the user which characters are allowed', () => {
    expect(validatePackageId('a!b')).toContain("ASCII letters, digits, '_', '.' and '-'");
  });
});

describe('toLowerId', () => {
  it.each([
    ['Newtonsoft.Json', 'newtonsoft.json'],
    ['XUNIT', 'xunit'],
    ['already.lower', 'already.lower'],
    // Only ASCII letters change: locale rules never apply.
    ['\u0130pek', '\u0130pek'],
    ['\u00c4B', '\u00c4b'],
    ['KELVIN\u212A', 'kelvin\u212A'],
  ])('lowercases %j to %j', (id, lower) => {
    expect(toLowerId(id)).toBe(lower);
  });
});
