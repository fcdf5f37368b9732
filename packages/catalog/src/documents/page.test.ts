import { describe, expect, it } from 'vitest';
import { createFeedUrls } from './feed-urls.js';
import type { CatalogItem, PackageDetailsData } from './package-details.js';
import { renderCatalogIndex, renderCatalogPage } from './page.js';

const urls = createFeedUrls('https://feed.test/v3/');
const C = 'https://feed.test/v3/catalog0/';
const CONTEXT = {
  '@vocab': 'http://schema.nuget.org/catalog#',
  nuget: 'http://schema.nuget.org/schema#',
  items: { '@id': 'item', '@container': '@set' },
  parent: { '@type': '@id' },
  commitTimeStamp: { '@type': 'http://www.w3.org/2001/XMLSchema#dateTime' },
  'nuget:lastCreated': { '@type': 'http://www.w3.org/2001/XMLSchema#dateTime' },
  'nuget:lastEdited': { '@type': 'http://www.w3.org/2001/XMLSchema#dateTime' },
  'nuget:lastDeleted': { '@type': 'http://www.w3.org/2001/XMLSchema#dateTime' },
};

/** A PackageDetails item whose body carries only what a page needs. */
function detailsItem(commit: number, id: string, version: string): CatalogItem {
  return {
    commitId: `commit-${commit}`,
    commitTimestamp: new Date(Date.UTC(2025, 2, 1, 10, 0, 0, commit)),
    type: 'PackageDetails',
    lowerId: id.toLowerCase(),
    lowerVersion: version.split('+')[0]!.toLowerCase(),
    data: { id, version } as PackageDetailsData,
  };
}

describe('renderCatalogPage', () => {
  it('lists details and deletes with string @types, in commit order, dated by the newest commit', () => {
    const publish = detailsItem(1, 'Contoso.Widgets', '1.0.0+sha.abc');
    const remove: CatalogItem = {
      ...detailsItem(2, 'Contoso.Widgets', '0.9.0'),
      type: 'PackageDelete',
      data: { id: 'Contoso.Widgets', originalId: 'Contoso.Widgets', version: '0.9.0', published: '2025-03-01T10:00:00.0020000Z' },
    };
    const page = renderCatalogPage(urls, { pageNumber: 3, items: [remove, publish] });
    expect(page).toEqual({
      '@id': `${C}page3.json`,
      '@type': 'CatalogPage',
      commitId: 'commit-2',
      commitTimeStamp: '2025-03-01T10:00:00.0020000Z',
      count: 2,
      parent: `${C}index.json`,
      items: [
        {
          '@id': `${C}data/2025.03.01.10.00.00.001/contoso.widgets.1.0.0.json`,
          '@type': 'nuget:PackageDetails',
          commitId: 'commit-1',
          commitTimeStamp: '2025-03-01T10:00:00.0010000Z',
          'nuget:id': 'Contoso.Widgets',
          'nuget:version': '1.0.0+sha.abc',
        },
        {
          '@id': `${C}data/2025.03.01.10.00.00.002/contoso.widgets.0.9.0.json`,
          '@type': 'nuget:PackageDelete',
          commitId: 'commit-2',
          commitTimeStamp: '2025-03-01T10:00:00.0020000Z',
          'nuget:id': 'Contoso.Widgets',
          'nuget:version': '0.9.0',
        },
      ],
      '@context': CONTEXT,
    });
  });

  it('orders the items of one commit by id and version, whatever the input order', () => {
    const a = detailsItem(5, 'B.Pkg', '1.0.0');
    const b = detailsItem(5, 'A.Pkg', '2.0.0');
    const c = detailsItem(5, 'A.Pkg', '1.0.0');
    const one = JSON.stringify(renderCatalogPage(urls, { pageNumber: 0, items: [a, b, c] }));
    const two = JSON.stringify(renderCatalogPage(urls, { pageNumber: 0, items: [c, a, b] }));
    expect(one).toBe(two);
    expect(JSON.parse(one).items.map((i: Record<string, string>) => `${i['nuget:id']}@${i['nuget:version']}`)).toEqual([
      'A.Pkg@1.0.0',
      'A.Pkg@2.0.0',
      'B.Pkg@1.0.0',
    ]);
  });

  it('refuses to render an empty page', () => {
    expect(() => renderCatalogPage(urls, { pageNumber: 0, items: [] })).toThrow(expect.objectContaining({ code: 'invalid_catalog_input' }));
  });
});

describe('renderCatalogIndex', () => {
  it('lists pages by number and carries the newest commit', () => {
    const index = renderCatalogIndex(urls, [
      { pageNumber: 1, count: 3, commitId: 'c-9', commitTimestamp: new Date('2025-03-02T00:00:00.009Z') },
      { pageNumber: 0, count: 550, commitId: 'c-5', commitTimestamp: new Date('2025-03-01T00:00:00.005Z') },
    ]);
    expect(index).toEqual({
      '@id': `${C}index.json`,
      '@type': ['CatalogRoot', 'AppendOnlyCatalog', 'Permalink'],
      commitId: 'c-9',
      commitTimeStamp: '2025-03-02T00:00:00.0090000Z',
      count: 2,
      items: [
        { '@id': `${C}page0.json`, '@type': 'CatalogPage', commitId: 'c-5', commitTimeStamp: '2025-03-01T00:00:00.0050000Z', count: 550 },
        { '@id': `${C}page1.json`, '@type': 'CatalogPage', commitId: 'c-9', commitTimeStamp: '2025-03-02T00:00:00.0090000Z', count: 3 },
      ],
      '@context': CONTEXT,
    });
  });

  it('renders an empty catalog with no pages and the minimum timestamp', () => {
    const index = renderCatalogIndex(urls, []) as Record<string, unknown>;
    expect(index.count).toBe(0);
    expect(index.items).toEqual([]);
    expect(index.commitId).toBe('00000000-0000-0000-0000-000000000000');
    expect(index.commitTimeStamp).toBe('0001-01-01T00:00:00.0000000Z');
  });
});
