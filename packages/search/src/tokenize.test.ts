import { describe, expect, it } from 'vitest';
import { tokenizeId } from './tokenize.js';

describe('tokenizeId', () => {
  it('splits on dots, dashes and underscores', () => {
    expect(tokenizeId('Acme.Http-Client_Utils')).toEqual(['acme', 'http', 'client', 'utils']);
  });

  it('splits camelCase and keeps acronyms together', () => {
    expect(tokenizeId('Contoso.JsonHelpers')).toEqual(['contoso', 'json', 'helpers']);
    expect(tokenizeId('Acme.HTTPClient')).toEqual(['acme', 'http', 'client']);
    expect(tokenizeId('xunit.runner.visualstudio')).toEqual(['xunit', 'runner', 'visualstudio']);
  });

  it('splits after digits before a capital', () => {
    expect(tokenizeId('Acme.V2Client')).toEqual(['acme', 'v2', 'client']);
  });

  it('drops empty tokens', () => {
    expect(tokenizeId('a..b--c__')).toEqual(['a', 'b', 'c']);
  });
});
