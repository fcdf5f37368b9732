import { describe, expect, it } from 'vitest';
import { compileIdGlobs, splitIdGlobs } from './id-globs.js';

describe('compileIdGlobs', () => {
  it('matches every id when there are no globs', () => {
    expect(compileIdGlobs([])('Anything')).toBe(true);
    expect(compileIdGlobs(undefined)('Anything')).toBe(true);
  });

  it('matches prefixes with * and ignores case', () => {
    const match = compileIdGlobs(['Contoso.*']);
    expect(match('contoso.widgets')).toBe(true);
    expect(match('Contoso.')).toBe(true);
    expect(match('Contoso')).toBe(false);
    expect(match('NotContoso.Widgets')).toBe(false);
  });

  it('treats dots literally and accepts any of several globs', () => {
    const match = compileIdGlobs(['xunit.core', 'Newtonsoft.*']);
    expect(match('xunit.core')).toBe(true);
    expect(match('xunitXcore')).toBe(false);
    expect(match('Newtonsoft.Json')).toBe(true);
  });

  it('refuses a glob no id could match', () => {
    expect(() => compileIdGlobs(['Contoso/*'])).toThrow(/not an id glob/);
  });

  it('splits a comma-separated list', () => {
    expect(splitIdGlobs(" A.* , B,,")).toEqual(['A.*', 'B']);
    expect(splitIdGlobs(undefined)).toEqual([]);
  });
});
