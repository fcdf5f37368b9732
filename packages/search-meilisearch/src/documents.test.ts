import { describe, expect, it } from 'vitest';
import type { SearchDocument } from '@nucat/search';
import { DISPLAYED_ATTRIBUTES, readDownloadFields, toDownloadFields, toMeiliDocumentBody, toSearchHit } from './documents.js';

const DOCUMENT: SearchDocument = {
  lowerId: 'contoso.jsonhelpers',
  variant: 'semver2-stable',
  id: 'Contoso.JsonHelpers',
  version: '2.0.0+build.1',
  versions: [
    { version: '1.0.0', lowerVersion: '1.0.0' },
    { version: '2.0.0+build.1', lowerVersion: '2.0.0' },
  ],
  title: 'Json Helpers',
  description: 'Helpers that make json fast.',
  summary: '',
  tags: ['json tools', 'fast'],
  authors: ['Contoso Ltd', 'Fabrikam'],
  iconUrl: '',
  licenseUrl: 'https://licenses.example.test/MIT',
  projectUrl: '',
  packageTypes: ['Dependency', 'DotnetTool'],
  lastCommitTimestamp: '2025-03-01T10:00:00.000Z',
  owners: ['contoso', 'fabrikam'],
};

describe('toMeiliDocumentBody', () => {
  const body = toMeiliDocumentBody(DOCUMENT);

  it('keys the document by variant and escaped lower id and keeps every document field', () => {
    expect(body.key).toBe('semver2-stable__contoso_2Ejsonhelpers');
    const document = Object.fromEntries(Object.keys(DOCUMENT).map((field) => [field, body[field as keyof typeof body]]));
    expect(document).toEqual(DOCUMENT);
    expect(Object.keys(body).sort()).toEqual(
      [...Object.keys(DOCUMENT), 'key', 'lowerIdPrefixes', 'idSubstrings', 'idTokenPrefixes', 'wordRuns', 'packageTypesLower', 'versionsLower'].sort(),
    );
  });

  it('stores the lists that filters match: id prefixes, substrings and token prefixes', () => {
    expect(body.lowerIdPrefixes).toContain('contoso.j');
    expect(body.lowerIdPrefixes).not.toContain('json');
    expect(body.idSubstrings).toEqual(expect.arrayContaining(['toso.js', 'helpers', 'contoso.jsonhelpers']));
    expect(body.idTokenPrefixes).toEqual(expect.arrayContaining(['c', 'contoso', 'j', 'json', 'h', 'helpers']));
    expect(body.idTokenPrefixes).toContain('jsonh'); // whole id words too: 'jsonh' finds JsonHelpers
  });

  it('stores word runs per field instance, never across two tags or authors', () => {
    expect(body.wordRuns).toEqual(
      expect.arrayContaining(['id:contoso json helpers', 'title:json helpers', 'description:json fast', 'tags:json tools', 'tags:fast', 'authors:contoso ltd']),
    );
    expect(body.wordRuns).not.toContain('tags:tools fast');
    expect(body.wordRuns).not.toContain('authors:ltd fabrikam');
    expect(body.wordRuns).not.toContain('description:fast json');
    expect(body.wordRuns.some((run) => run.startsWith('summary:'))).toBe(false);
  });

  it('lowercases package types and versions for filtering', () => {
    expect(body.packageTypesLower).toEqual(['dependency', 'dotnettool']);
    expect(body.versionsLower).toEqual(['1.0.0', '2.0.0']);
  });

  it('stores the owners lowercase, each once, in ordinal order (they are the owner: filter list)', () => {
    expect(body.owners).toEqual(['contoso', 'fabrikam']);
    expect(toMeiliDocumentBody({ ...DOCUMENT, owners: ['wingtip', 'Adatum', 'adatum', 'Zeta'] }).owners).toEqual(['adatum', 'wingtip', 'zeta']);
    expect(toMeiliDocumentBody({ ...DOCUMENT, owners: [] }).owners).toEqual([]);
  });

  it('leaves out values too long to compare', () => {
    const long = toMeiliDocumentBody({ ...DOCUMENT, description: `short ${'x'.repeat(500)}` });
    expect(long.wordRuns).toContain('description:short');
    expect(long.wordRuns.some((run) => run.includes('xxx'))).toBe(false);
  });

  it('displays the document fields and downloads but not the filter lists', () => {
    for (const field of Object.keys(DOCUMENT)) expect(DISPLAYED_ATTRIBUTES).toContain(field);
    expect(DISPLAYED_ATTRIBUTES).toEqual(expect.arrayContaining(['key', 'owners', 'totalDownloads', 'downloadCounts']));
    for (const list of ['lowerIdPrefixes', 'idSubstrings', 'idTokenPrefixes', 'wordRuns']) expect(DISPLAYED_ATTRIBUTES).not.toContain(list);
  });
});

describe('download fields', () => {
  it('sum every version and keep each count, lowercasing versions', () => {
    expect(toDownloadFields({ '1.0.0': 10, '2.0.0-BETA': 1, '2.0.0': 4 })).toEqual({
      totalDownloads: 15,
      downloadCounts: [
        { lowerVersion: '1.0.0', downloads: 10 },
        { lowerVersion: '2.0.0-beta', downloads: 1 },
        { lowerVersion: '2.0.0', downloads: 4 },
      ],
    });
  });

  it('count nonsense as zero and keep counts beyond 32 bits', () => {
    expect(toDownloadFields({ a: -5, b: Number.NaN, c: 2.9, d: 5_000_000_000 }).totalDownloads).toBe(5_000_000_002);
  });

  it('read back what was stored, or zero', () => {
    const stored = toDownloadFields({ '1.0.0': 42 });
    expect(readDownloadFields(stored)).toEqual(stored);
    expect(readDownloadFields({})).toEqual({ totalDownloads: 0, downloadCounts: [] });
  });
});

describe('toSearchHit', () => {
  it('returns the document unchanged with its downloads', () => {
    const stored = { ...toMeiliDocumentBody(DOCUMENT), ...toDownloadFields({ '1.0.0': 3, '2.0.0': 4 }) };
    expect(toSearchHit(stored)).toEqual({ document: DOCUMENT, totalDownloads: 7, downloads: { '1.0.0': 3, '2.0.0': 4 } });
  });

  it('returns the owners sorted, and none for a document stored before owners were recorded', () => {
    const stored: Record<string, unknown> = { ...toMeiliDocumentBody(DOCUMENT), owners: ['wingtip', 'adatum'] };
    expect(toSearchHit(stored)?.document.owners).toEqual(['adatum', 'wingtip']);
    delete stored.owners;
    expect(toSearchHit(stored)).toEqual({ document: { ...DOCUMENT, owners: [] }, totalDownloads: 0, downloads: {} });
  });

  it('drops a partial document (download or owner fields only)', () => {
    expect(toSearchHit({ key: 'semver1-stable__x', lowerId: 'x', totalDownloads: 1, downloadCounts: [] })).toBeUndefined();
    expect(toSearchHit({ key: 'semver1-stable__x', lowerId: 'x', owners: ['contoso'] })).toBeUndefined();
  });
});
