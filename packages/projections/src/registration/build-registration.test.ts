import { createFeedUrls, type HiveName, type PackageDetailsData } from '@nucat/catalog';
import { lowerNormalizedVersion, parseVersion } from '@nucat/nuget';
import { describe, expect, it } from 'vitest';
import { buildRegistration, type HiveOutput, type RegistrationLeafInput } from './build-registration.js';

const urls = createFeedUrls('https://feed.test/v3/');
const F = 'https://feed.test/v3/flatcontainer/';
const C = 'https://feed.test/v3/catalog0/';
const base = (hive: HiveName): string => urls.registrationBase(hive);
const SEMVER2: HiveName = 'registration5-gz-semver2';
const SEMVER1: HiveName = 'registration5-semver1';
const T0 = Date.UTC(2025, 2, 1, 10, 0, 0, 0);

/** The latest PackageDetails leaf of one version of Contoso.Widgets, committed `commit` ms after T0. */
function leaf(version: string, commit: number, extra: Partial<PackageDetailsData> = {}): RegistrationLeafInput {
  const parsed = parseVersion(version);
  return {
    commitId: `commit-${commit}`,
    commitTimestamp: new Date(T0 + commit),
    lowerId: 'contoso.widgets',
    lowerVersion: lowerNormalizedVersion(parsed),
    data: {
      id: 'Contoso.Widgets',
      version,
      verbatimVersion: version,
      authors: 'Contoso',
      description: 'Widgets.',
      created: '2025-03-01T09:00:00.0000000Z',
      published: '2025-03-01T09:00:00.0000000Z',
      listed: true,
      isPrerelease: parsed.releaseLabels.length > 0,
      packageHash: 'q2v1AAAA==',
      packageHashAlgorithm: 'SHA512',
      packageSize: 1000,
      requireLicenseAcceptance: false,
      tags: [],
      packageEntries: [],
      ...extra,
    },
  };
}

/** `count` versions 1.0.0 … 1.0.{count-1}, handed over in a scrambled order, committed in version order. */
function manyLeaves(count: number): RegistrationLeafInput[] {
  const leaves = Array.from({ length: count }, (_, i) => leaf(`1.0.${i}`, i + 1));
  return [...leaves.filter((_, i) => i % 2 === 1), ...leaves.filter((_, i) => i % 2 === 0).reverse()];
}

function build(leaves: RegistrationLeafInput[]): HiveOutput[] {
  return buildRegistration({ lowerId: 'contoso.widgets', leaves, urls });
}

function hiveOf(outputs: HiveOutput[], hive: HiveName): HiveOutput {
  const found = outputs.find((o) => o.hive === hive);
  if (found === undefined) throw new Error(`no output for ${hive}`);
  return found;
}

/** Registration JSON, navigated loosely in assertions. */
type Json = any;

function documentAt(output: HiveOutput, path: string): Json {
  const found = output.documents.find((d) => d.path === path);
  if (found === undefined) throw new Error(`no document ${path} in ${output.hive}`);
  return found.json;
}

/** Asserts that every URL the index links to (pages, leaves) is a document of the hive. */
function expectLinksResolve(output: HiveOutput): void {
  const b = base(output.hive);
  const paths = new Set(output.documents.map((d) => d.path));
  const index = documentAt(output, 'contoso.widgets/index.json');
  for (const page of index.items) {
    const items = page.items ?? documentAt(output, page['@id'].slice(b.length)).items;
    if (page.items === undefined) expect(paths).toContain(page['@id'].slice(b.length));
    for (const item of items) expect(paths).toContain(item['@id'].slice(b.length));
  }
}

const INDEX_CONTEXT = {
  '@vocab': 'http://schema.nuget.org/schema#',
  catalog: 'http://schema.nuget.org/catalog#',
  xsd: 'http://www.w3.org/2001/XMLSchema#',
  items: { '@id': 'catalog:item', '@container': '@set' },
  commitTimeStamp: { '@id': 'catalog:commitTimeStamp', '@type': 'xsd:dateTime' },
  commitId: { '@id': 'catalog:commitId' },
  count: { '@id': 'catalog:count' },
  parent: { '@id': 'catalog:parent', '@type': '@id' },
  tags: { '@id': 'tag', '@container': '@set' },
  reasons: { '@container': '@set' },
  packageTargetFrameworks: { '@id': 'packageTargetFramework', '@container': '@set' },
  dependencyGroups: { '@id': 'dependencyGroup', '@container': '@set' },
  dependencies: { '@id': 'dependency', '@container': '@set' },
  packageContent: { '@type': '@id' },
  published: { '@type': 'xsd:dateTime' },
  registration: { '@type': '@id' },
};
const LEAF_CONTEXT = {
  '@vocab': 'http://schema.nuget.org/schema#',
  xsd: 'http://www.w3.org/2001/XMLSchema#',
  catalogEntry: { '@type': '@id' },
  registration: { '@type': '@id' },
  packageContent: { '@type': '@id' },
  published: { '@type': 'xsd:dateTime' },
};

describe('buildRegistration: golden documents', () => {
  // A listed 1.0.0 with an embedded icon/readme, an MIT expression and a dependency, and an
  // unlisted 2.0.0-beta with only nuspec URLs.
  const leaves = [
    leaf('2.0.0-beta', 2, {
      listed: false,
      published: '1900-01-01T00:00:00.0000000Z',
      title: 'Widgets',
      iconUrl: 'https://contoso.test/icon.png',
      licenseUrl: 'https://contoso.test/license',
    }),
    leaf('1.0.0', 1, {
      tags: ['widgets', 'contoso'],
      licenseExpression: 'MIT',
      licenseUrl: 'https://aka.test/deprecateLicenseUrl',
      iconFile: 'icon.png',
      readmeFile: 'README.md',
      minClientVersion: '5.3',
      dependencyGroups: [{ targetFramework: 'net8.0', dependencies: [{ id: 'Contoso.Core', range: '[1.4.0, )' }] }],
    }),
  ];
  const B = base(SEMVER2);
  const L1 = `${C}data/2025.03.01.10.00.00.001/contoso.widgets.1.0.0.json`;
  const L2 = `${C}data/2025.03.01.10.00.00.002/contoso.widgets.2.0.0-beta.json`;
  const golden = {
    index: {
      '@id': `${B}contoso.widgets/index.json`,
      '@type': ['catalog:CatalogRoot', 'PackageRegistration', 'catalog:Permalink'],
      commitId: 'commit-2',
      commitTimeStamp: '2025-03-01T10:00:00.0020000Z',
      count: 1,
      items: [
        {
          '@id': `${B}contoso.widgets/index.json#page/1.0.0/2.0.0-beta`,
          '@type': 'catalog:CatalogPage',
          commitId: 'commit-2',
          commitTimeStamp: '2025-03-01T10:00:00.0020000Z',
          count: 2,
          items: [
            {
              '@id': `${B}contoso.widgets/1.0.0.json`,
              '@type': 'Package',
              commitId: 'commit-1',
              commitTimeStamp: '2025-03-01T10:00:00.0010000Z',
              catalogEntry: {
                '@id': L1,
                '@type': 'PackageDetails',
                authors: 'Contoso',
                dependencyGroups: [
                  {
                    '@id': `${L1}#dependencygroup/net8.0`,
                    '@type': 'PackageDependencyGroup',
                    dependencies: [
                      {
                        '@id': `${L1}#dependencygroup/net8.0/contoso.core`,
                        '@type': 'PackageDependency',
                        id: 'Contoso.Core',
                        range: '[1.4.0, )',
                        registration: `${B}contoso.core/index.json`,
                      },
                    ],
                    targetFramework: 'net8.0',
                  },
                ],
                description: 'Widgets.',
                iconUrl: `${F}contoso.widgets/1.0.0/icon`,
                id: 'Contoso.Widgets',
                language: '',
                licenseExpression: 'MIT',
                licenseUrl: 'https://spdx.org/licenses/MIT.html',
                listed: true,
                minClientVersion: '5.3',
                packageContent: `${F}contoso.widgets/1.0.0/contoso.widgets.1.0.0.nupkg`,
                projectUrl: '',
                published: '2025-03-01T09:00:00.0000000Z',
                readmeUrl: `${F}contoso.widgets/1.0.0/readme`,
                requireLicenseAcceptance: false,
                summary: '',
                tags: ['widgets', 'contoso'],
                title: '',
                version: '1.0.0',
              },
              packageContent: `${F}contoso.widgets/1.0.0/contoso.widgets.1.0.0.nupkg`,
              registration: `${B}contoso.widgets/index.json`,
            },
            {
              '@id': `${B}contoso.widgets/2.0.0-beta.json`,
              '@type': 'Package',
              commitId: 'commit-2',
              commitTimeStamp: '2025-03-01T10:00:00.0020000Z',
              catalogEntry: {
                '@id': L2,
                '@type': 'PackageDetails',
                authors: 'Contoso',
                description: 'Widgets.',
                iconUrl: 'https://contoso.test/icon.png',
                id: 'Contoso.Widgets',
                language: '',
                licenseExpression: '',
                licenseUrl: 'https://contoso.test/license',
                listed: false,
                minClientVersion: '',
                packageContent: `${F}contoso.widgets/2.0.0-beta/contoso.widgets.2.0.0-beta.nupkg`,
                projectUrl: '',
                published: '1900-01-01T00:00:00.0000000Z',
                requireLicenseAcceptance: false,
                summary: '',
                tags: [''],
                title: 'Widgets',
                version: '2.0.0-beta',
              },
              packageContent: `${F}contoso.widgets/2.0.0-beta/contoso.widgets.2.0.0-beta.nupkg`,
              registration: `${B}contoso.widgets/index.json`,
            },
          ],
          parent: `${B}contoso.widgets/index.json`,
          lower: '1.0.0',
          upper: '2.0.0-beta',
        },
      ],
      '@context': INDEX_CONTEXT,
    },
    leaf100: {
      '@id': `${B}contoso.widgets/1.0.0.json`,
      '@type': ['Package', 'http://schema.nuget.org/catalog#Permalink'],
      catalogEntry: L1,
      listed: true,
      packageContent: `${F}contoso.widgets/1.0.0/contoso.widgets.1.0.0.nupkg`,
      published: '2025-03-01T09:00:00.0000000Z',
      registration: `${B}contoso.widgets/index.json`,
      '@context': LEAF_CONTEXT,
    },
    leaf200beta: {
      '@id': `${B}contoso.widgets/2.0.0-beta.json`,
      '@type': ['Package', 'http://schema.nuget.org/catalog#Permalink'],
      catalogEntry: L2,
      listed: false,
      packageContent: `${F}contoso.widgets/2.0.0-beta/contoso.widgets.2.0.0-beta.nupkg`,
      published: '1900-01-01T00:00:00.0000000Z',
      registration: `${B}contoso.widgets/index.json`,
      '@context': LEAF_CONTEXT,
    },
  };

  it('writes the reviewed index and leaf documents, byte for byte, in the SemVer2 hive', () => {
    const output = hiveOf(build(leaves), SEMVER2);
    expect(output.documents.map((d) => d.path)).toEqual([
      'contoso.widgets/index.json',
      'contoso.widgets/1.0.0.json',
      'contoso.widgets/2.0.0-beta.json',
    ]);
    const [index, leaf100, leaf200beta] = output.documents.map((d) => JSON.stringify(d.json));
    expect(index).toBe(JSON.stringify(golden.index));
    expect(leaf100).toBe(JSON.stringify(golden.leaf100));
    expect(leaf200beta).toBe(JSON.stringify(golden.leaf200beta));
  });

  it('writes the same documents into each SemVer1 hive with that hive in every registration URL', () => {
    const outputs = build(leaves);
    for (const hive of ['registration5-semver1', 'registration5-gz-semver1'] as const) {
      const expected = JSON.stringify(golden.index).split(base(SEMVER2)).join(base(hive));
      expect(JSON.stringify(documentAt(hiveOf(outputs, hive), 'contoso.widgets/index.json'))).toBe(expected);
    }
  });

  it('returns the three hives in a fixed order, gzip for the two gz hives', () => {
    expect(build(leaves).map((o) => [o.hive, o.gzip])).toEqual([
      ['registration5-semver1', false],
      ['registration5-gz-semver1', true],
      ['registration5-gz-semver2', true],
    ]);
  });
});

describe('buildRegistration: paging', () => {
  it('inlines a single version in one page of the index', () => {
    const output = hiveOf(build([leaf('1.0.0', 1)]), SEMVER2);
    const index = documentAt(output, 'contoso.widgets/index.json');
    expect(index.count).toBe(1);
    expect(index.items[0]).toMatchObject({ count: 1, lower: '1.0.0', upper: '1.0.0', parent: index['@id'] });
    expect(index.items[0].items).toHaveLength(1);
    expect(output.documents).toHaveLength(2);
  });

  it('inlines 127 versions as two pages of 64 and 63', () => {
    const output = hiveOf(build(manyLeaves(127)), SEMVER2);
    const index = documentAt(output, 'contoso.widgets/index.json');
    expect(index.count).toBe(2);
    expect(index.items.map((p: Json) => [p['@id'], p.count, p.lower, p.upper, p.items.length])).toEqual([
      [`${base(SEMVER2)}contoso.widgets/index.json#page/1.0.0/1.0.63`, 64, '1.0.0', '1.0.63', 64],
      [`${base(SEMVER2)}contoso.widgets/index.json#page/1.0.64/1.0.126`, 63, '1.0.64', '1.0.126', 63],
    ]);
    for (const page of index.items) expect(page.parent).toBe(index['@id']);
    expect(output.documents.filter((d) => d.path.includes('/page/'))).toEqual([]);
    expect(output.documents).toHaveLength(1 + 127);
    expectLinksResolve(output);
  });

  it('moves 128 versions to two separate page documents of 64', () => {
    const output = hiveOf(build(manyLeaves(128)), SEMVER2);
    const index = documentAt(output, 'contoso.widgets/index.json');
    expect(index.count).toBe(2);
    for (const page of index.items) {
      expect(page).not.toHaveProperty('items');
      expect(page).not.toHaveProperty('parent');
    }
    expect(index.items.map((p: Json) => [p['@id'], p.count, p.lower, p.upper])).toEqual([
      [`${base(SEMVER2)}contoso.widgets/page/1.0.0/1.0.63.json`, 64, '1.0.0', '1.0.63'],
      [`${base(SEMVER2)}contoso.widgets/page/1.0.64/1.0.127.json`, 64, '1.0.64', '1.0.127'],
    ]);
    const pagePaths = output.documents.filter((d) => d.path.includes('/page/')).map((d) => d.path);
    expect(pagePaths).toEqual(['contoso.widgets/page/1.0.0/1.0.63.json', 'contoso.widgets/page/1.0.64/1.0.127.json']);
    for (const [path, lower, upper] of [
      ['contoso.widgets/page/1.0.0/1.0.63.json', '1.0.0', '1.0.63'],
      ['contoso.widgets/page/1.0.64/1.0.127.json', '1.0.64', '1.0.127'],
    ] as const) {
      const page = documentAt(output, path);
      expect(page).toMatchObject({
        '@id': `${base(SEMVER2)}${path}`,
        '@type': 'catalog:CatalogPage',
        count: 64,
        parent: index['@id'],
        lower,
        upper,
      });
      expect(page['@context']).toEqual(INDEX_CONTEXT);
      expect(page.items).toHaveLength(64);
    }
    expect(output.documents).toHaveLength(1 + 2 + 128);
    expectLinksResolve(output);
  });

  it('moves 129 versions to three separate page documents', () => {
    const output = hiveOf(build(manyLeaves(129)), SEMVER2);
    const index = documentAt(output, 'contoso.widgets/index.json');
    expect(index.count).toBe(3);
    for (const page of index.items) {
      expect(page).not.toHaveProperty('items');
      expect(page).not.toHaveProperty('parent');
    }
    expect(index.items.map((p: Json) => [p.count, p.lower, p.upper])).toEqual([
      [64, '1.0.0', '1.0.63'],
      [64, '1.0.64', '1.0.127'],
      [1, '1.0.128', '1.0.128'],
    ]);
    const pagePaths = output.documents.filter((d) => d.path.includes('/page/')).map((d) => d.path);
    expect(pagePaths).toEqual([
      'contoso.widgets/page/1.0.0/1.0.63.json',
      'contoso.widgets/page/1.0.64/1.0.127.json',
      'contoso.widgets/page/1.0.128/1.0.128.json',
    ]);
    const lastPage = documentAt(output, 'contoso.widgets/page/1.0.128/1.0.128.json');
    expect(lastPage).toMatchObject({
      '@id': `${base(SEMVER2)}contoso.widgets/page/1.0.128/1.0.128.json`,
      '@type': 'catalog:CatalogPage',
      commitId: 'commit-129',
      count: 1,
      parent: index['@id'],
      lower: '1.0.128',
      upper: '1.0.128',
    });
    expect(lastPage['@context']).toEqual(INDEX_CONTEXT);
    expect(lastPage.items[0].catalogEntry.version).toBe('1.0.128');
    expectLinksResolve(output);
  });

  it('splits 500 versions into 8 pages, all reachable, in every hive', () => {
    const outputs = build(manyLeaves(500));
    for (const output of outputs) {
      const index = documentAt(output, 'contoso.widgets/index.json');
      expect(index.count).toBe(8);
      expect(index.items.map((p: Json) => p.count)).toEqual([64, 64, 64, 64, 64, 64, 64, 52]);
      expect(index.items.at(-1)).toMatchObject({ lower: '1.0.448', upper: '1.0.499' });
      expect(index.commitId).toBe('commit-500');
      expect(output.documents).toHaveLength(1 + 8 + 500);
      expectLinksResolve(output);
    }
  });

  it('dates each page by the newest leaf it holds, not by its last version', () => {
    // Versions committed in reverse: the first page holds the newest commit.
    const leaves = Array.from({ length: 129 }, (_, i) => leaf(`1.0.${i}`, 1000 - i));
    const output = hiveOf(build(leaves), SEMVER2);
    const index = documentAt(output, 'contoso.widgets/index.json');
    expect(index.items.map((p: Json) => p.commitId)).toEqual(['commit-1000', 'commit-936', 'commit-872']);
    expect(index.commitId).toBe('commit-1000');
    expect(index.commitTimeStamp).toBe('2025-03-01T10:00:01.0000000Z');
  });

  it('keeps label case in page bounds but lowercases every URL', () => {
    const output = hiveOf(build([leaf('1.0.0-Beta', 1), leaf('1.0.0-RC', 2)]), SEMVER2);
    const page = documentAt(output, 'contoso.widgets/index.json').items[0];
    expect(page).toMatchObject({ lower: '1.0.0-Beta', upper: '1.0.0-RC' });
    expect(page['@id']).toBe(`${base(SEMVER2)}contoso.widgets/index.json#page/1.0.0-beta/1.0.0-rc`);
    expect(page.items.map((i: Json) => i['@id'])).toEqual([
      `${base(SEMVER2)}contoso.widgets/1.0.0-beta.json`,
      `${base(SEMVER2)}contoso.widgets/1.0.0-rc.json`,
    ]);
    expect(page.items[0].catalogEntry.version).toBe('1.0.0-Beta');
  });

  it('follows custom paging options', () => {
    const output = hiveOf(
      buildRegistration({ lowerId: 'contoso.widgets', leaves: manyLeaves(10), urls, options: { leavesPerPage: 4, maxInlinedLeaves: 5 } }),
      SEMVER2,
    );
    expect(documentAt(output, 'contoso.widgets/index.json').items.map((p: Json) => p.count)).toEqual([4, 4, 2]);
    expect(output.documents.filter((d) => d.path.includes('/page/'))).toHaveLength(3);
  });

  it('rejects paging options that cannot page', () => {
    expect(() => buildRegistration({ lowerId: 'contoso.widgets', leaves: [], urls, options: { leavesPerPage: 0 } })).toThrow(
      expect.objectContaining({ code: 'invalid_registration_input' }),
    );
  });
});

describe('buildRegistration: hives and listing', () => {
  it('keeps a SemVer2 version (build metadata, dotted label) out of the SemVer1 hives', () => {
    const outputs = build([leaf('1.0.0', 1), leaf('2.0.0+sha.abc', 2), leaf('3.0.0-rc.1', 3)]);
    const versionsIn = (hive: HiveName): string[] =>
      documentAt(hiveOf(outputs, hive), 'contoso.widgets/index.json').items[0].items.map((i: Json) => i.catalogEntry.version);
    expect(versionsIn(SEMVER2)).toEqual(['1.0.0', '2.0.0+sha.abc', '3.0.0-rc.1']);
    expect(versionsIn(SEMVER1)).toEqual(['1.0.0']);
    expect(versionsIn('registration5-gz-semver1')).toEqual(['1.0.0']);
    expect(hiveOf(outputs, SEMVER1).documents.map((d) => d.path)).toEqual(['contoso.widgets/index.json', 'contoso.widgets/1.0.0.json']);
    // The SemVer1 index is dated by the newest leaf it holds, not by the hidden ones.
    expect(documentAt(hiveOf(outputs, SEMVER1), 'contoso.widgets/index.json').commitId).toBe('commit-1');
    // The full version keeps its metadata; URLs and bounds drop it.
    const semver2Page = documentAt(hiveOf(outputs, SEMVER2), 'contoso.widgets/index.json').items[0];
    expect(semver2Page.items[1]['@id']).toBe(`${base(SEMVER2)}contoso.widgets/2.0.0.json`);
    expect(semver2Page.upper).toBe('3.0.0-rc.1');
  });

  it('treats a package as SemVer2 when a dependency range names a SemVer2 version', () => {
    const dependent = leaf('2.0.0', 2, {
      dependencyGroups: [{ dependencies: [{ id: 'Contoso.Core', range: '[1.0.0-alpha.1, )' }] }],
    });
    const outputs = build([leaf('1.0.0', 1), dependent]);
    expect(hiveOf(outputs, SEMVER1).documents.map((d) => d.path)).toEqual(['contoso.widgets/index.json', 'contoso.widgets/1.0.0.json']);
    expect(hiveOf(outputs, SEMVER2).documents.map((d) => d.path)).toContain('contoso.widgets/2.0.0.json');
  });

  it('leaves the SemVer1 hives empty (404) when every version is SemVer2', () => {
    const outputs = build([leaf('1.0.0-beta.1', 1)]);
    expect(hiveOf(outputs, SEMVER1).documents).toEqual([]);
    expect(hiveOf(outputs, 'registration5-gz-semver1').documents).toEqual([]);
    expect(hiveOf(outputs, SEMVER2).documents).toHaveLength(2);
  });

  it('leaves every hive empty when there are no versions', () => {
    expect(build([]).map((o) => o.documents)).toEqual([[], [], []]);
  });

  it('keeps an id whose versions are all unlisted, marked listed:false', () => {
    const unlisted = { listed: false, published: '1900-01-01T00:00:00.0000000Z' };
    const outputs = build([leaf('1.0.0', 1, unlisted), leaf('1.1.0', 2, unlisted)]);
    for (const output of outputs) {
      const page = documentAt(output, 'contoso.widgets/index.json').items[0];
      expect(page.items.map((i: Json) => i.catalogEntry.listed)).toEqual([false, false]);
      expect(documentAt(output, 'contoso.widgets/1.1.0.json')).toMatchObject({ listed: false, published: '1900-01-01T00:00:00.0000000Z' });
    }
  });

  it('points dependency registrations into the same hive', () => {
    const outputs = build([leaf('1.0.0', 1, { dependencyGroups: [{ dependencies: [{ id: 'Contoso.Core', range: '' }] }] })]);
    for (const output of outputs) {
      const group = documentAt(output, 'contoso.widgets/index.json').items[0].items[0].catalogEntry.dependencyGroups[0];
      expect(group).not.toHaveProperty('targetFramework');
      expect(group['@id']).toBe(`${C}data/2025.03.01.10.00.00.001/contoso.widgets.1.0.0.json#dependencygroup`);
      expect(group.dependencies[0].registration).toBe(`${base(output.hive)}contoso.core/index.json`);
    }
  });

  it('links a compound license expression to the nuspec licenseUrl, and none to ""', () => {
    const outputs = build([
      leaf('1.0.0', 1, { licenseExpression: 'MIT OR Apache-2.0', licenseUrl: 'https://contoso.test/license' }),
      leaf('2.0.0', 2, { licenseFile: 'LICENSE.txt' }),
    ]);
    const entries = documentAt(hiveOf(outputs, SEMVER2), 'contoso.widgets/index.json').items[0].items.map((i: Json) => i.catalogEntry);
    expect(entries.map((e: Json) => [e.licenseExpression, e.licenseUrl])).toEqual([
      ['MIT OR Apache-2.0', 'https://contoso.test/license'],
      ['', ''],
    ]);
    expect(entries[1]).not.toHaveProperty('readmeUrl');
  });
});

describe('buildRegistration: determinism and input checks', () => {
  it('builds byte-identical documents twice, whatever the input order', () => {
    const leaves = manyLeaves(200);
    const first = build(leaves).map((o) => o.documents.map((d) => `${d.path}\n${JSON.stringify(d.json)}`));
    const second = build([...leaves].reverse()).map((o) => o.documents.map((d) => `${d.path}\n${JSON.stringify(d.json)}`));
    expect(second).toEqual(first);
  });

  it('uses the newest leaf when one version is given twice', () => {
    const outputs = build([leaf('1.0.0', 1, { description: 'old' }), leaf('1.0.0', 5, { description: 'new' })]);
    const items = documentAt(hiveOf(outputs, SEMVER2), 'contoso.widgets/index.json').items[0].items;
    expect(items).toHaveLength(1);
    expect(items[0].catalogEntry.description).toBe('new');
  });

  it('rejects a leaf of another id', () => {
    const stranger = { ...leaf('1.0.0', 1), lowerId: 'contoso.other' };
    expect(() => build([stranger])).toThrow(expect.objectContaining({ code: 'invalid_registration_input' }));
  });

  it('rejects a leaf whose lowerVersion does not match its version', () => {
    const wrong = { ...leaf('1.0.0', 1), lowerVersion: '1.0.1' };
    expect(() => build([wrong])).toThrow(expect.objectContaining({ code: 'invalid_registration_input' }));
  });
});
