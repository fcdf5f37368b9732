import { describe, expect, it } from 'vitest';
import { MAX_RUN_WORDS, prefixesOf, prefixesOfAll, queryRuns, substringsOf, textWords, wordRuns } from './tokens.js';

describe('textWords', () => {
  it('lowercases runs of letters and digits, in order', () => {
    expect(textWords('A fast JSON (de)serializer for .NET 8')).toEqual(['a', 'fast', 'json', 'de', 'serializer', 'for', 'net', '8']);
    expect(textWords('Nothing über ANYTHING')).toEqual(['nothing', 'über', 'anything']);
    expect(textWords('Acme.Http-Client_Utils')).toEqual(['acme', 'http', 'client', 'utils']);
  });

  it('finds no words in punctuation', () => {
    expect(textWords('& | ! :* ( ) " \\ %')).toEqual([]);
    expect(textWords('')).toEqual([]);
  });
});

describe('prefixesOf', () => {
  it('lists every prefix, shortest first, by whole code points', () => {
    expect(prefixesOf('json')).toEqual(['j', 'js', 'jso', 'json']);
    expect(prefixesOf('a🎉')).toEqual(['a', 'a🎉']);
    expect(prefixesOf('')).toEqual([]);
  });

  it('merges the prefixes of several words', () => {
    expect(prefixesOfAll(['json', 'jsonpath'])).toEqual(['j', 'js', 'jso', 'json', 'jsonp', 'jsonpa', 'jsonpat', 'jsonpath']);
  });
});

describe('substringsOf', () => {
  it('lists every substring once', () => {
    expect(substringsOf('abc').sort()).toEqual(['a', 'ab', 'abc', 'b', 'bc', 'c']);
    expect(substringsOf('aaa').sort()).toEqual(['a', 'aa', 'aaa']);
  });

  it('stays bounded for the longest package id', () => {
    expect(substringsOf('a.b-c_d'.repeat(15).slice(0, 100)).length).toBeLessThanOrEqual(5050);
  });
});

describe('wordRuns and queryRuns', () => {
  it(`stores every run of 1 to ${MAX_RUN_WORDS} adjacent words`, () => {
    expect(wordRuns(['make', 'json', 'fast'])).toEqual(['make', 'make json', 'make json fast', 'json', 'json fast', 'fast']);
    expect(wordRuns(['a', 'b', 'c', 'd'])).not.toContain('a b c d');
  });

  it('asks for the whole run when it is short enough, else for each window', () => {
    expect(queryRuns([])).toEqual([]);
    expect(queryRuns(['fast'])).toEqual(['fast']);
    expect(queryRuns(['fast', 'json'])).toEqual(['fast json']);
    expect(queryRuns(['a', 'b', 'c', 'd'])).toEqual(['a b c', 'b c d']);
  });

  it('finds a query run among the stored runs exactly when the words are adjacent and in order', () => {
    const stored = new Set(wordRuns(textWords('Helpers that make json fast.')));
    const has = (text: string): boolean => queryRuns(textWords(text)).every((run) => stored.has(run));
    expect(has('json fast')).toBe(true);
    expect(has('fast json')).toBe(false);
    expect(has('make json')).toBe(true);
    expect(has('helpers make')).toBe(false);
    expect(has('helpers that make json fast')).toBe(true);
  });
});
