import { describe, expect, it } from 'vitest';
import { MAX_QUERY_TERMS, MAX_TERM_LENGTH, parseSearchQuery } from './query-parser.js';

describe('parseSearchQuery', () => {
  it('returns no terms and no fields for a missing, empty or blank query', () => {
    for (const q of [undefined, '', '   ', '\t\n']) expect(parseSearchQuery(q)).toEqual({ terms: [], fields: {} });
  });

  it('splits free text on whitespace and lowercases it', () => {
    expect(parseSearchQuery('  Newtonsoft.Json   Serializer ')).toEqual({ terms: ['newtonsoft.json', 'serializer'], fields: {} });
  });

  it('keeps a quoted phrase as one term', () => {
    expect(parseSearchQuery('"Fast  JSON" parser')).toEqual({ terms: ['fast json', 'parser'], fields: {} });
  });

  it('ends an unterminated phrase at the end of the text', () => {
    expect(parseSearchQuery('a "b c')).toEqual({ terms: ['a', 'b c'], fields: {} });
  });

  it('reads every field name, case-insensitively, under its canonical name', () => {
    const parsed = parseSearchQuery(
      'ID:a PackageId:b version:1.0.0 title:c description:d tag:e TAGS:f author:g authors:h summary:i owner:j owners:k',
    );
    expect(parsed).toEqual({
      terms: [],
      fields: {
        id: ['a'],
        packageid: ['b'],
        version: ['1.0.0'],
        title: ['c'],
        description: ['d'],
        tags: ['e', 'f'],
        authors: ['g', 'h'],
        summary: ['i'],
        owners: ['j', 'k'],
      },
    });
  });

  it('lowercases field values', () => {
    expect(parseSearchQuery('packageid:Newtonsoft.Json').fields).toEqual({ packageid: ['newtonsoft.json'] });
  });

  it('accepts a quoted field value', () => {
    expect(parseSearchQuery('tags:"Fast JSON" json')).toEqual({ terms: ['json'], fields: { tags: ['fast json'] } });
  });

  it('normalizes version values that parse as versions', () => {
    expect(parseSearchQuery('version:1.0').fields).toEqual({ version: ['1.0.0'] });
    expect(parseSearchQuery('version:1.0.0-Beta.1+Sha').fields).toEqual({ version: ['1.0.0-beta.1'] });
    expect(parseSearchQuery('version:not-a-version').fields).toEqual({ version: ['not-a-version'] });
  });

  it('drops a token with an unknown field name, value included', () => {
    expect(parseSearchQuery('invalid:jquery ui')).toEqual({ terms: ['ui'], fields: {} });
    expect(parseSearchQuery('invalid:jquery')).toEqual({ terms: [], fields: {} });
    expect(parseSearchQuery('nope:"a b" c')).toEqual({ terms: ['c'], fields: {} });
  });

  it('drops a field with an empty value', () => {
    expect(parseSearchQuery('id:')).toEqual({ terms: [], fields: {} });
    expect(parseSearchQuery('id: json')).toEqual({ terms: ['json'], fields: {} });
    expect(parseSearchQuery('id:""')).toEqual({ terms: [], fields: {} });
  });

  it('keeps the rest of a value after the first colon', () => {
    expect(parseSearchQuery('id:a:b').fields).toEqual({ id: ['a:b'] });
  });

  it('treats a colon inside quotes, or after a quote, as text', () => {
    expect(parseSearchQuery('"id:json"')).toEqual({ terms: ['id:json'], fields: {} });
    expect(parseSearchQuery('"a"b:c')).toEqual({ terms: ['ab:c'], fields: {} });
  });

  it('treats a colon after non-letters as text', () => {
    expect(parseSearchQuery('c#:x')).toEqual({ terms: ['c#:x'], fields: {} });
  });

  it('drops free terms without a letter or digit', () => {
    expect(parseSearchQuery('a & | ! :* ( ) " \' \\')).toEqual({ terms: ['a'], fields: {} });
  });

  it('keeps punctuation inside terms and field values as literal text', () => {
    expect(parseSearchQuery("o'neil a&b id:% id:_")).toEqual({ terms: ["o'neil", 'a&b'], fields: { id: ['%', '_'] } });
  });

  it('keeps unicode letters and emoji inside words', () => {
    expect(parseSearchQuery('Über 日本語 🎉 x🎉')).toEqual({ terms: ['über', '日本語', 'x🎉'], fields: {} });
  });

  it('collapses repeated terms', () => {
    expect(parseSearchQuery('json JSON json tags:a tags:A')).toEqual({ terms: ['json'], fields: { tags: ['a'] } });
  });

  it('treats control characters, NUL included, as spaces', () => {
    expect(parseSearchQuery('a\u0000b\u0007c')).toEqual({ terms: ['a', 'b', 'c'], fields: {} });
  });

  it(`keeps at most ${MAX_QUERY_TERMS} terms, free and field terms together`, () => {
    const q = Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? `t${i}` : `tags:g${i}`)).join(' ');
    const parsed = parseSearchQuery(q);
    expect(parsed.terms.length + (parsed.fields.tags?.length ?? 0)).toBe(MAX_QUERY_TERMS);
    expect(parsed.terms[0]).toBe('t0');
  });

  it('parses only the first 1,000 characters of a huge query', () => {
    const parsed = parseSearchQuery('x'.repeat(10_000));
    expect(parsed.terms).toHaveLength(1);
    expect(parsed.terms[0]!.length).toBeLessThanOrEqual(MAX_TERM_LENGTH);
  });

  it('never splits a surrogate pair when cutting', () => {
    const parsed = parseSearchQuery('🎉'.repeat(2_000));
    expect(parsed.terms).toEqual([]);
    const term = parseSearchQuery('a' + '🎉'.repeat(2_000)).terms[0]!;
    expect(term.length).toBeLessThanOrEqual(MAX_TERM_LENGTH);
    expect(term).toBe(term.normalize());
    expect(/[\uD800-\uDBFF]$/.test(term)).toBe(false);
  });

  it('turns a lone surrogate into a replacement character', () => {
    expect(parseSearchQuery('a\uD800b').terms).toEqual(['a\uFFFDb']);
  });
});
