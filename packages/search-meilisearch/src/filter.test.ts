import { describe, expect, it } from 'vitest';
import { and, equals, fitsFilterValue, isIn, MAX_FILTER_VALUE_BYTES, normalizeFacetValue, not, or, quoteFilterValue } from './filter.js';

/**
 * What Meilisearch's filter parser makes of a double-quoted value (crates/filter-parser, value.rs):
 * it scans to the first double quote not preceded by a backslash (a backslash always takes the next
 * character with it), then, if a `\"` was seen, replaces every `\"` with `"`, then resolves
 * backslash escapes. Returns the value and how many characters of `text` the string took.
 */
function readQuoted(text: string): { value: string; length: number } {
  if (text[0] !== '"') throw new Error('not a quoted value');
  let i = 1;
  let escapedQuote = false;
  for (;;) {
    if (i >= text.length) throw new Error('missing closing quote');
    const char = text[i]!;
    if (char === '"') break;
    if (char === '\\') {
      if (i + 1 >= text.length) throw new Error('malformed value');
      if (text[i + 1] === '"') escapedQuote = true;
      i += 2;
      continue;
    }
    i++;
  }
  let body = text.slice(1, i);
  if (escapedQuote) body = body.split('\\"').join('"');
  let value = '';
  for (let j = 0; j < body.length; j++) {
    if (body[j] !== '\\') {
      value += body[j];
      continue;
    }
    const next = body[++j];
    const simple: Record<string, string> = { '\\': '\\', '"': '"', "'": "'", n: '\n', t: '\t', r: '\r', '0': '\0' };
    if (next === undefined || simple[next] === undefined) throw new Error(`escape \\${next ?? ''} Meilisearch would refuse or reinterpret`);
    value += simple[next];
  }
  return { value, length: i + 1 };
}

const HOSTILE = [
  'json',
  '"',
  '""',
  '\\',
  '\\\\',
  '\\"',
  '"\\',
  'a\\"b',
  'ends with backslash\\',
  "o'neil'; DROP TABLE x; --",
  'x" OR variant != "y',
  'Dependency" OR variant = "semver1-stable',
  'lowerId = "json" OR 1=1',
  'a AND b OR NOT c IN [d] TO e',
  '(json | bson) & !xml',
  '\\u{41} \\x41 \\n',
  '_geoRadius(1, 2, 3)',
  '%_*:',
  '日本語 ünïcödé 🎉 👩‍👩‍👧',
  'x'.repeat(300),
];

describe('quoteFilterValue', () => {
  it('makes every value one literal string for Meilisearch, however hostile', () => {
    for (const value of HOSTILE) {
      const quoted = quoteFilterValue(value)!;
      const read = readQuoted(quoted);
      expect(read.value, value).toBe(value);
      expect(read.length, `the string must end where the quoted value ends: ${value}`).toBe(quoted.length);
    }
  });

  it('escapes backslashes and double quotes only', () => {
    expect(quoteFilterValue('json')).toBe('"json"');
    expect(quoteFilterValue('say "hi" \\o/')).toBe('"say \\"hi\\" \\\\o/"');
    expect(quoteFilterValue("it's")).toBe('"it\'s"');
  });

  it('refuses control characters and lone surrogates (they match nothing)', () => {
    for (const value of ['a\u0000b', '\u0000', 'x\n', '\r\n\t', '\u007f', '\u0085', '\uD800', 'a\uDC00', '\uDFFF\uD800']) {
      expect(quoteFilterValue(value), JSON.stringify(value)).toBeUndefined();
    }
    expect(quoteFilterValue('\uD83C\uDF89')).toBe('"🎉"');
  });
});

describe('equals and isIn', () => {
  it('compare an attribute with quoted values', () => {
    expect(equals('lowerId', 'newtonsoft.json')).toBe('lowerId = "newtonsoft.json"');
    expect(equals('packageTypesLower', 'dependency" OR variant = "x')).toBe('packageTypesLower = "dependency\\" OR variant = \\"x"');
    expect(isIn('variant', ['semver1-stable', 'semver2-stable'])).toBe('variant IN ["semver1-stable", "semver2-stable"]');
  });

  it('take % and _ as plain characters (Meilisearch equality has no wildcards)', () => {
    expect(equals('owners', '%')).toBe('owners = "%"');
    expect(equals('owners', '_ontoso')).toBe('owners = "_ontoso"');
  });

  it('are false for values nothing stored can equal', () => {
    for (const value of ['', ' json', 'json ', '\tjson', 'a\u0000', '\uD800', 'x'.repeat(MAX_FILTER_VALUE_BYTES + 1)]) {
      expect(equals('lowerId', value), JSON.stringify(value.slice(0, 20))).toBe(false);
    }
    expect(isIn('lowerId', ['', ' x', 'a\u0000'])).toBe(false);
    expect(isIn('lowerId', ['', 'ok'])).toBe('lowerId IN ["ok"]');
  });

  it('refuse attribute names that are not identifiers', () => {
    expect(() => equals('lowerId = "x" OR a', 'y')).toThrow(TypeError);
  });
});

describe('fitsFilterValue', () => {
  it("measures the value as Meilisearch stores it (trimmed, NFKD, lowercase) in UTF-8 bytes", () => {
    expect(normalizeFacetValue(' Über ')).toBe('u\u0308ber');
    expect(fitsFilterValue('x'.repeat(MAX_FILTER_VALUE_BYTES))).toBe(true);
    expect(fitsFilterValue('x'.repeat(MAX_FILTER_VALUE_BYTES + 1))).toBe(false);
    // 'é' is 2 bytes precomposed but 3 once decomposed.
    expect(fitsFilterValue('é'.repeat(134))).toBe(false);
    expect(fitsFilterValue('é'.repeat(133))).toBe(true);
  });
});

describe('and, or, not', () => {
  it('parenthesise each part so precedence never depends on the parts', () => {
    expect(and('a = "1"', 'b = "2" OR c = "3"')).toBe('(a = "1") AND (b = "2" OR c = "3")');
    expect(or('a = "1"', 'b = "2" AND c = "3"')).toBe('(a = "1") OR (b = "2" AND c = "3")');
    expect(not('a = "1" OR b = "2"')).toBe('NOT (a = "1" OR b = "2")');
  });

  it('fold constants away', () => {
    expect(and()).toBe(true);
    expect(or()).toBe(false);
    expect(and('a = "1"', true)).toBe('a = "1"');
    expect(and('a = "1"', false)).toBe(false);
    expect(or('a = "1"', false)).toBe('a = "1"');
    expect(or('a = "1"', true)).toBe(true);
    expect(not(true)).toBe(false);
    expect(not(false)).toBe(true);
  });
});
