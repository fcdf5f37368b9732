import { createFeedUrls, type PackageDetailsData } from '@nucat/catalog';
import { lowerNormalizedVersion, parseVersion } from '@nucat/nuget';
import { SEARCH_VARIANTS, type SearchDocument, type SearchVariant } from '@nucat/search';
import { describe, expect, it } from 'vitest';
import { buildSearchDocuments, type SearchLeafInput } from './build-search-documents.js';
import { InvalidSearchInputError } from './errors.js';

const urls = createFeedUrls('https://feed.test/v3/');
const F = 'https://feed.test/v3/flatcontainer/';
const T0 = Date.UTC(2025, 2, 1, 10, 0, 0, 0);

/** The latest PackageDetails leaf of one version of Contoso.Widgets, committed `commit` ms after T0. */
function leaf(version: string, commit: number, extra: Partial<PackageDetailsData> = {}): SearchLeafInput {
  const parsed = parseVersion(version);
  return {
    lowerVersion: lowerNormalizedVersion(parsed),
    commitTimestamp: new Date(T0 + commit),
    data: {
      id: 'Contoso.Widgets',
      version,
      verbatimVersion: version,
      authors: 'Contoso',
      description: `Widgets ${version}.`,
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

function build(leaves: SearchLeafInput[]): SearchDocument[] {
  return buildSearchDocuments({ lowerId: 'contoso.widgets', leaves, urls });
}

function variantsOf(documents: SearchDocument[]): SearchVariant[] {
  return documents.map((d) => d.variant);
}

function inVariant(documents: SearchDocument[], variant: SearchVariant): SearchDocument {
  const found = documents.find((d) => d.variant === variant);
  if (found === undefined) throw new Error(`no document for ${variant}`);
  return found;
}

function versionsOf(document: SearchDocument): string[] {
  return document.versions.map((v) => v.version);
}

describe('buildSearchDocuments', () => {
  describe('variants', () => {
    it('puts a stable SemVer1 package in all four variants', () => {
      expect(variantsOf(build([leaf('1.0.0', 1)]))).toEqual([
        'semver1-stable',
        'semver1-prerelease',
        'semver2-stable',
        'semver2-prerelease',
      ]);
    });

    it('puts a prerelease-only package in the prerelease variants only', () => {
      expect(variantsOf(build([leaf('1.0.0-beta', 1)]))).toEqual(['semver1-prerelease', 'semver2-prerelease']);
    });

    it('puts a SemVer2 package (version with metadata) in the semver2 variants only', () => {
      const documents = build([leaf('1.0.0+build.5', 1)]);
      expect(variantsOf(documents)).toEqual(['semver2-stable', 'semver2-prerelease']);
      expect(inVariant(documents, 'semver2-stable').version).toBe('1.0.0+build.5');
      expect(inVariant(documents, 'semver2-stable').versions).toEqual([{ version: '1.0.0+build.5', lowerVersion: '1.0.0' }]);
    });

    it('treats a dotted prerelease label as SemVer2', () => {
      expect(variantsOf(build([leaf('1.0.0-beta.1', 1)]))).toEqual(['semver2-prerelease']);
    });

    it('treats a package as SemVer2 when its verbatim version or a dependency range is SemVer2', () => {
      expect(variantsOf(build([leaf('1.0.0', 1, { verbatimVersion: '1.0.0+sha' })]))).toEqual(['semver2-stable', 'semver2-prerelease']);
      const dependsOnSemVer2 = leaf('1.0.0', 1, {
        dependencyGroups: [{ dependencies: [{ id: 'Contoso.Core', range: '[2.0.0-rc.1, )' }] }],
      });
      expect(variantsOf(build([dependsOnSemVer2]))).toEqual(['semver2-stable', 'semver2-prerelease']);
    });

    it('filters versions per variant in a stable/prerelease/SemVer2 mix', () => {
      const documents = build([
        leaf('1.0.0', 1),
        leaf('1.1.0-beta', 2),
        leaf('1.2.0-rc.1', 3),
        leaf('2.0.0+meta', 4),
      ]);
      expect(versionsOf(inVariant(documents, 'semver1-stable'))).toEqual(['1.0.0']);
      expect(versionsOf(inVariant(documents, 'semver1-prerelease'))).toEqual(['1.0.0', '1.1.0-beta']);
      expect(versionsOf(inVariant(documents, 'semver2-stable'))).toEqual(['1.0.0', '2.0.0+meta']);
      expect(versionsOf(inVariant(documents, 'semver2-prerelease'))).toEqual(['1.0.0', '1.1.0-beta', '1.2.0-rc.1', '2.0.0+meta']);
      expect(inVariant(documents, 'semver1-stable').version).toBe('1.0.0');
      expect(inVariant(documents, 'semver1-prerelease').version).toBe('1.1.0-beta');
      expect(inVariant(documents, 'semver2-stable').version).toBe('2.0.0+meta');
      expect(inVariant(documents, 'semver2-prerelease').version).toBe('2.0.0+meta');
    });
  });

  describe('listing', () => {
    it('leaves out unlisted versions', () => {
      const documents = build([leaf('1.0.0', 1), leaf('2.0.0', 2, { listed: false })]);
      const stable = inVariant(documents, 'semver1-stable');
      expect(versionsOf(stable)).toEqual(['1.0.0']);
      expect(stable.version).toBe('1.0.0');
      expect(stable.description).toBe('Widgets 1.0.0.');
    });

    it('drops a variant whose passing versions are all unlisted', () => {
      expect(variantsOf(build([leaf('1.0.0-beta', 1), leaf('1.0.0', 2, { listed: false })]))).toEqual([
        'semver1-prerelease',
        'semver2-prerelease',
      ]);
    });

    it('returns no documents when every version is unlisted', () => {
      expect(build([leaf('1.0.0', 1, { listed: false }), leaf('2.0.0-beta', 2, { listed: false })])).toEqual([]);
    });

    it('returns no documents for no leaves', () => {
      expect(build([])).toEqual([]);
    });
  });

  describe('latest version', () => {
    it('takes the metadata of the latest version in NuGet order, not string order', () => {
      const documents = build([leaf('1.10.0', 1, { title: 'Ten' }), leaf('1.9.0', 2, { title: 'Nine' })]);
      const stable = inVariant(documents, 'semver1-stable');
      expect(stable.version).toBe('1.10.0');
      expect(stable.title).toBe('Ten');
      expect(versionsOf(stable)).toEqual(['1.9.0', '1.10.0']);
    });

    it('ranks a stable version above its prereleases', () => {
      const documents = build([leaf('2.0.0', 1, { title: 'Final' }), leaf('2.0.0-beta', 2, { title: 'Beta' })]);
      expect(inVariant(documents, 'semver1-prerelease').title).toBe('Final');
      expect(versionsOf(inVariant(documents, 'semver1-prerelease'))).toEqual(['2.0.0-beta', '2.0.0']);
    });

    it('takes the id casing of the latest version', () => {
      const documents = build([leaf('1.0.0', 1, { id: 'contoso.widgets' }), leaf('2.0.0', 2, { id: 'Contoso.Widgets' })]);
      expect(inVariant(documents, 'semver1-stable').id).toBe('Contoso.Widgets');
    });

    it('keeps the newest leaf when a version is given twice', () => {
      const documents = build([leaf('1.0.0', 5, { title: 'New' }), leaf('1.0.0', 1, { title: 'Old' })]);
      expect(inVariant(documents, 'semver1-stable').title).toBe('New');
      expect(versionsOf(inVariant(documents, 'semver1-stable'))).toEqual(['1.0.0']);
    });
  });

  describe('fields', () => {
    it('fills every field of a rich package', () => {
      const documents = build([
        leaf('1.0.0', 1),
        leaf('2.0.0', 7, {
          title: 'Contoso Widgets',
          summary: 'Widgets!',
          description: 'Widgets for every occasion.',
          tags: ['widgets', 'ui'],
          authors: 'Contoso, Fabrikam ,',
          projectUrl: 'https://contoso.test/widgets',
          iconFile: 'icon.png',
          licenseExpression: 'MIT',
          packageTypes: [{ name: 'DotnetTool' }, { name: 'Template', version: '1.0' }],
        }),
        leaf('3.0.0', 3, { listed: false }),
      ]);
      expect(inVariant(documents, 'semver1-stable')).toEqual({
        lowerId: 'contoso.widgets',
        variant: 'semver1-stable',
        id: 'Contoso.Widgets',
        version: '2.0.0',
        versions: [
          { version: '1.0.0', lowerVersion: '1.0.0' },
          { version: '2.0.0', lowerVersion: '2.0.0' },
        ],
        title: 'Contoso Widgets',
        description: 'Widgets for every occasion.',
        summary: 'Widgets!',
        tags: ['widgets', 'ui'],
        authors: ['Contoso', 'Fabrikam'],
        iconUrl: `${F}contoso.widgets/2.0.0/icon`,
        licenseUrl: 'https://spdx.org/licenses/MIT.html',
        projectUrl: 'https://contoso.test/widgets',
        packageTypes: ['DotnetTool', 'Template'],
        lastCommitTimestamp: '2025-03-01T10:00:00.007Z',
        owners: [],
      } satisfies SearchDocument);
    });

    it('carries the owners it is given, lowercase and sorted, in every variant', () => {
      const documents = buildSearchDocuments({ lowerId: 'contoso.widgets', leaves: [leaf('1.0.0', 1), leaf('2.0.0-beta', 2)], urls, owners: ['Fabrikam', 'contoso', 'fabrikam'] });
      expect(documents.map((d) => [d.variant, d.owners])).toEqual(SEARCH_VARIANTS.map((variant) => [variant, ['contoso', 'fabrikam']]));
    });

    it('uses "" for absent text and URLs and Dependency as the default package type', () => {
      const [stable] = build([leaf('1.0.0', 1, { authors: '' })]);
      expect(stable).toMatchObject({
        title: '',
        summary: '',
        tags: [],
        authors: [],
        iconUrl: '',
        licenseUrl: '',
        projectUrl: '',
        packageTypes: ['Dependency'],
      });
    });

    it('keeps a nuspec iconUrl and licenseUrl like the registration does', () => {
      const [stable] = build([
        leaf('1.0.0', 1, { iconUrl: 'https://contoso.test/icon.png', licenseUrl: 'https://contoso.test/license' }),
      ]);
      expect(stable?.iconUrl).toBe('https://contoso.test/icon.png');
      expect(stable?.licenseUrl).toBe('https://contoso.test/license');
    });

    it('keeps the nuspec licenseUrl for a compound license expression', () => {
      const [stable] = build([
        leaf('1.0.0', 1, { licenseExpression: 'MIT OR Apache-2.0', licenseUrl: 'https://contoso.test/license' }),
      ]);
      expect(stable?.licenseUrl).toBe('https://contoso.test/license');
    });

    it('points the icon at the flat container with the lowercased version', () => {
      const documents = build([leaf('1.0.0-Beta', 1, { iconFile: 'images/icon.png' })]);
      expect(inVariant(documents, 'semver1-prerelease').iconUrl).toBe(`${F}contoso.widgets/1.0.0-beta/icon`);
    });

    it('stamps the newest commit among all leaves, unlisted ones included', () => {
      const documents = build([leaf('1.0.0', 1), leaf('2.0.0', 42, { listed: false })]);
      expect(inVariant(documents, 'semver1-stable').lastCommitTimestamp).toBe('2025-03-01T10:00:00.042Z');
    });
  });

  it('is deterministic: the same leaves in any order give identical documents', () => {
    const leaves = [leaf('1.0.0', 1), leaf('1.10.0', 2), leaf('1.9.0-rc', 3), leaf('2.0.0+meta', 4), leaf('1.2.0', 5)];
    const first = JSON.stringify(build(leaves));
    expect(JSON.stringify(build([...leaves].reverse()))).toBe(first);
    expect(JSON.stringify(build([leaves[2]!, leaves[0]!, leaves[4]!, leaves[1]!, leaves[3]!]))).toBe(first);
  });

  describe('input checks', () => {
    it('rejects a leaf of another id', () => {
      expect(() => build([leaf('1.0.0', 1, { id: 'Fabrikam.Widgets' })])).toThrow(InvalidSearchInputError);
    });

    it('rejects a leaf whose lowerVersion does not match its version', () => {
      expect(() => build([{ ...leaf('1.0.0', 1), lowerVersion: '2.0.0' }])).toThrow(InvalidSearchInputError);
    });
  });
});
