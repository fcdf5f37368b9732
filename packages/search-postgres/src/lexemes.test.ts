import { describe, expect, it } from 'vitest';
import type { SearchDocument } from '@nucat/search';
import {
  escapeLike,
  fieldVectorText,
  idLexemes,
  MAX_LEXEME_LENGTH,
  queryWords,
  quoteLexeme,
  searchVectorText,
  termsQueryText,
  textLexemes,
} from './lexemes.js';

function document(overrides: Partial<SearchDocument> = {}): SearchDocument {
  return {
    lowerId: 'newtonsoft.json',
    variant: 'semver2-stable',
    id: 'Newtonsoft.Json',
    version: '13.0.3',
    versions: [{ version: '13.0.3', lowerVersion: '13.0.3' }],
    title: 'Json.NET',
    description: 'A popular JSON framework.',
    summary: '',
    tags: ['json'],
    authors: ['James Newton-King'],
    iconUrl: '',
    licenseUrl: '',
    projectUrl: '',
    packageTypes: ['Dependency'],
    lastCommitTimestamp: '2025-03-01T10:00:00.000Z',
    owners: [],
    ...overrides,
  };
}

describe('idLexemes', () => {
  it('keeps the whole lowercased id and splits on dots, dashes, underscores and camelCase', () => {
    expect(idLexemes('Newtonsoft.Json')).toEqual(['newtonsoft.json', 'newtonsoft', 'json']);
    expect(idLexemes('My-Cool_Lib')).toEqual(['my-cool_lib', 'my', 'cool', 'lib']);
    expect(idLexemes('NewtonSoft.XMLParser')).toEqual(['newtonsoft.xmlparser', 'newtonsoft', 'newton', 'soft', 'xmlparser', 'xml', 'parser']);
  });

  it('does not split digits from the letters before them', () => {
    expect(idLexemes('Log4Net')).toEqual(['log4net', 'log4', 'net']);
  });
});

describe('textLexemes', () => {
  it('splits on anything but letters, marks and digits and lowercases', () => {
    expect(textLexemes('Fast, JSON-based (de)serializer!')).toEqual(['fast', 'json', 'based', 'de', 'serializer']);
  });

  it('keeps non-ASCII words whole', () => {
    expect(textLexemes('Über schnelle Bibliothek')).toEqual(['über', 'schnelle', 'bibliothek']);
  });

  it('cuts very long words', () => {
    expect(textLexemes('x'.repeat(1000))).toEqual(['x'.repeat(MAX_LEXEME_LENGTH)]);
  });
});

describe('queryWords', () => {
  it('drops tsquery syntax and keeps the words in order', () => {
    expect(queryWords("a & b | !c:* ('d') <-> a")).toEqual(['a', 'b', 'c', 'd', 'a']);
    expect(queryWords('&|!:*()')).toEqual([]);
  });

  it('lowercases like the document side', () => {
    expect(queryWords('Newtonsoft.JSON')).toEqual(['newtonsoft', 'json']);
  });
});

describe('tsvector and tsquery text', () => {
  it('quotes lexemes so that quotes and backslashes stay literal', () => {
    expect(quoteLexeme("it's")).toBe("'it''s'");
    expect(quoteLexeme('a\\b')).toBe("'a\\\\b'");
  });

  it('weights id tokens A, title and tags B, the rest C, at word positions', () => {
    const text = searchVectorText(document());
    // id: 1 newtonsoft.json/newtonsoft, 2 json; gap; title: 4 json, 5 net; gap; tag: 7 json; gap;
    // description: 9 a, 10 popular, 11 json, 12 framework; gap; author: 14 james, 15 newton, 16 king.
    expect(text).toContain("'newtonsoft.json':1A");
    expect(text).toContain("'newtonsoft':1A");
    expect(text).toContain("'json':2A,4B,7B,11C");
    expect(text).toContain("'net':5B");
    expect(text).toContain("'popular':10C");
    expect(text).toContain("'king':16C");
  });

  it('writes text with camelCase words twice: whole words, then the words with camelCase split', () => {
    const text = searchVectorText(document({ id: 'Contoso.JsonHelpers', lowerId: 'contoso.jsonhelpers', title: '', tags: [], description: '', authors: [] }));
    // whole words: 1 contoso, 2 jsonhelpers; gap at 3; parts: 4 contoso, 5 json, 6 helpers.
    expect(text).toBe("'contoso.jsonhelpers':1A 'contoso':1A,4A 'jsonhelpers':2A 'json':5A 'helpers':6A");
  });

  it('lines up the whole words of an id with a camelCase segment that is not the last one', () => {
    const text = searchVectorText(
      document({ id: 'Microsoft.AspNetCore.Mvc', lowerId: 'microsoft.aspnetcore.mvc', title: '', tags: [], description: '', authors: [] }),
    );
    // `microsoft.aspnetcore.mvc` as a query is the phrase microsoft <-> aspnetcore <-> mvc: 1, 2, 3.
    expect(text).toBe("'microsoft.aspnetcore.mvc':1A 'microsoft':1A,5A 'aspnetcore':2A 'mvc':3A,9A 'asp':6A 'net':7A 'core':8A");
  });

  it('leaves text without camelCase words at one position per word', () => {
    const text = fieldVectorText(document({ title: 'fast json', tags: [], description: '', authors: [] }));
    expect(text).toBe("'title:fast':1 'title:json':2");
  });

  it('tags field lexemes with the field name', () => {
    const text = fieldVectorText(document());
    expect(text.split(' ')).toEqual(
      expect.arrayContaining(["'title:json':1", "'title:net':2", "'tags:json':4", "'description:framework':9", "'authors:james':11"]),
    );
  });

  it('builds AND queries of prefix phrases', () => {
    expect(termsQueryText(['json', 'fast net'])).toBe("('json':*) & ('fast':* <-> 'net':*)");
    expect(termsQueryText(['json'], { weights: 'AB' })).toBe("('json':*AB)");
    expect(termsQueryText(['fast json'], { prefix: 'title:' })).toBe("('title:fast':* <-> 'title:json':*)");
    expect(termsQueryText([':*', '&'])).toBeUndefined();
    expect(termsQueryText(["o'neil \\"])).toBe("('o':* <-> 'neil':*)");
  });

  it('escapes LIKE wildcards', () => {
    expect(escapeLike('a_b%c!d')).toBe('a!_b!%c!!d');
  });
});
