import { describe, expect, it } from 'vitest';
import { createFeedUrls } from './feed-urls.js';
import { catalogLeafPath, catalogLeafUrl, renderCatalogLeaf } from './leaf.js';
import type { CatalogItem, PackageDeleteData, PackageDetailsData } from './package-details.js';

const urls = createFeedUrls('https://feed.test/v3/');
const commitTimestamp = new Date('2025-03-01T10:00:00.123Z');
const commitId = '8a0d3c52-6a6f-4a8e-9d55-0f0b5d1f7a11';
const L = 'https://feed.test/v3/catalog0/data/2025.03.01.10.00.00.123/contoso.widgets.2.1.0-beta.2.json';

/** A small PackageDetails body; `extra` adds or overrides fields. */
function details(extra: Partial<PackageDetailsData> = {}): PackageDetailsData {
  return {
    id: 'Contoso.Widgets',
    version: '2.1.0-beta.2',
    verbatimVersion: '2.1.0-beta.2',
    authors: 'Contoso',
    description: 'Widgets.',
    created: '2025-03-01T09:59:58.0000000Z',
    published: '2025-03-01T09:59:58.0000000Z',
    listed: true,
    isPrerelease: true,
    packageHash: 'q2v1AAAA==',
    packageHashAlgorithm: 'SHA512',
    packageSize: 48211,
    requireLicenseAcceptance: false,
    tags: ['widgets', 'contoso'],
    packageEntries: [{ fullName: 'Contoso.Widgets.nuspec', name: 'Contoso.Widgets.nuspec', length: 1290, compressedLength: 512 }],
    ...extra,
  };
}

function detailsItem(data: PackageDetailsData): CatalogItem {
  return { commitId, commitTimestamp, type: 'PackageDetails', lowerId: 'contoso.widgets', lowerVersion: '2.1.0-beta.2', data };
}

describe('catalog leaf paths', () => {
  it('names a leaf by commit time (with milliseconds), lower id and lower version', () => {
    const item = { commitTimestamp, lowerId: 'contoso.widgets', lowerVersion: '2.1.0-beta.2' };
    expect(catalogLeafPath(item)).toBe('data/2025.03.01.10.00.00.123/contoso.widgets.2.1.0-beta.2.json');
    expect(catalogLeafUrl(urls, item)).toBe(L);
  });

  it('gives two commits of one version 1 ms apart different URLs', () => {
    const a = { commitTimestamp, lowerId: 'a', lowerVersion: '1.0.0' };
    const b = { ...a, commitTimestamp: new Date(commitTimestamp.getTime() + 1) };
    expect(catalogLeafPath(a)).not.toBe(catalogLeafPath(b));
    expect(catalogLeafPath(b)).toBe('data/2025.03.01.10.00.00.124/a.1.0.0.json');
  });
});

describe('renderCatalogLeaf', () => {
  it('renders a PackageDetails leaf like the reviewed golden document', () => {
    const leaf = renderCatalogLeaf(
      urls,
      detailsItem(
        details({
          licenseExpression: 'MIT',
          lastEdited: '2025-03-02T00:00:00.0000000Z',
          dependencyGroups: [
            { targetFramework: 'net8.0', dependencies: [{ id: 'Contoso.Core', range: '[1.4.0, 2.0.0)' }] },
            { targetFramework: '.NETStandard2.0' },
            { dependencies: [{ id: 'Other', range: '' }] },
          ],
          packageTypes: [{ name: 'Dependency' }],
        }),
      ),
    );
    expect(JSON.stringify(leaf)).toBe(
      JSON.stringify({
        '@id': L,
        '@type': ['PackageDetails', 'catalog:Permalink'],
        authors: 'Contoso',
        'catalog:commitId': commitId,
        'catalog:commitTimeStamp': '2025-03-01T10:00:00.1230000Z',
        created: '2025-03-01T09:59:58.0000000Z',
        description: 'Widgets.',
        id: 'Contoso.Widgets',
        isPrerelease: true,
        lastEdited: '2025-03-02T00:00:00.0000000Z',
        licenseExpression: 'MIT',
        listed: true,
        packageHash: 'q2v1AAAA==',
        packageHashAlgorithm: 'SHA512',
        packageSize: 48211,
        published: '2025-03-01T09:59:58.0000000Z',
        requireLicenseAcceptance: false,
        verbatimVersion: '2.1.0-beta.2',
        version: '2.1.0-beta.2',
        dependencyGroups: [
          {
            '@id': `${L}#dependencygroup/net8.0`,
            '@type': 'PackageDependencyGroup',
            targetFramework: 'net8.0',
            dependencies: [
              { '@id': `${L}#dependencygroup/net8.0/contoso.core`, '@type': 'PackageDependency', id: 'Contoso.Core', range: '[1.4.0, 2.0.0)' },
            ],
          },
          { '@id': `${L}#dependencygroup/.netstandard2.0`, '@type': 'PackageDependencyGroup', targetFramework: '.NETStandard2.0' },
          {
            '@id': `${L}#dependencygroup`,
            '@type': 'PackageDependencyGroup',
            dependencies: [{ '@id': `${L}#dependencygroup/other`, '@type': 'PackageDependency', id: 'Other', range: '' }],
          },
        ],
        packageEntries: [
          {
            '@id': `${L}#Contoso.Widgets.nuspec`,
            '@type': 'PackageEntry',
            compressedLength: 512,
            fullName: 'Contoso.Widgets.nuspec',
            length: 1290,
            name: 'Contoso.Widgets.nuspec',
          },
        ],
        packageTypes: [{ '@id': `${L}#packagetype/dependency`, '@type': 'PackageType', name: 'Dependency' }],
        tags: ['widgets', 'contoso'],
        '@context': {
          '@vocab': 'http://schema.nuget.org/schema#',
          catalog: 'http://schema.nuget.org/catalog#',
          xsd: 'http://www.w3.org/2001/XMLSchema#',
          dependencies: { '@id': 'dependency', '@container': '@set' },
          dependencyGroups: { '@id': 'dependencyGroup', '@container': '@set' },
          packageEntries: { '@id': 'packageEntry', '@container': '@set' },
          packageTypes: { '@id': 'packageType', '@container': '@set' },
          supportedFrameworks: { '@id': 'supportedFramework', '@container': '@set' },
          tags: { '@id': 'tag', '@container': '@set' },
          vulnerabilities: { '@id': 'vulnerability', '@container': '@set' },
          published: { '@type': 'xsd:dateTime' },
          created: { '@type': 'xsd:dateTime' },
          lastEdited: { '@type': 'xsd:dateTime' },
          'catalog:commitTimeStamp': { '@type': 'xsd:dateTime' },
          reasons: { '@container': '@set' },
        },
      }),
    );
  });

  it('leaves out optional fields the package does not have, never writing undefined', () => {
    const leaf = renderCatalogLeaf(urls, detailsItem(details())) as Record<string, unknown>;
    for (const key of ['title', 'summary', 'iconUrl', 'iconFile', 'readmeFile', 'licenseUrl', 'lastEdited', 'dependencyGroups', 'packageTypes', 'repository']) {
      expect(leaf).not.toHaveProperty(key);
    }
    expect(Object.values(leaf)).not.toContain(undefined);
  });

  it('writes the same bytes whatever order the stored fields come back in', () => {
    const data = details({ title: 'W', repository: { url: 'https://git.test/w', type: 'git' }, serviceable: true });
    const reversed = Object.fromEntries(Object.entries(data).reverse()) as unknown as PackageDetailsData;
    const a = JSON.stringify(renderCatalogLeaf(urls, detailsItem(data)));
    const b = JSON.stringify(renderCatalogLeaf(urls, detailsItem(reversed)));
    expect(a).toBe(b);
    expect(JSON.parse(a).repository).toEqual({ type: 'git', url: 'https://git.test/w' });
  });

  it('renders a PackageDelete leaf', () => {
    const data: PackageDeleteData = {
      id: 'Contoso.Widgets',
      originalId: 'Contoso.Widgets',
      version: '2.1.0-beta.2',
      published: '2025-03-01T10:00:00.1230000Z',
    };
    const leaf = renderCatalogLeaf(urls, { ...detailsItem(details()), type: 'PackageDelete', data });
    expect(JSON.stringify(leaf)).toBe(
      JSON.stringify({
        '@id': L,
        '@type': ['PackageDelete', 'catalog:Permalink'],
        'catalog:commitId': commitId,
        'catalog:commitTimeStamp': '2025-03-01T10:00:00.1230000Z',
        id: 'Contoso.Widgets',
        originalId: 'Contoso.Widgets',
        published: '2025-03-01T10:00:00.1230000Z',
        version: '2.1.0-beta.2',
        '@context': {
          '@vocab': 'http://schema.nuget.org/schema#',
          catalog: 'http://schema.nuget.org/catalog#',
          xsd: 'http://www.w3.org/2001/XMLSchema#',
          details: 'catalog:details',
          'catalog:commitTimeStamp': { '@type': 'xsd:dateTime' },
          published: { '@type': 'xsd:dateTime' },
        },
      }),
    );
  });
});
