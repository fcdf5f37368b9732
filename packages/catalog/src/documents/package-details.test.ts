import { parseVersion, type PackageManifest } from '@nucat/nuget';
import { describe, expect, it } from 'vitest';
import { buildPackageDetails, type BuildPackageDetailsInput } from './package-details.js';

/** A nuspec as the parser would return it; `extra` adds or overrides fields. */
function manifest(version: string, extra: Partial<PackageManifest> = {}): PackageManifest {
  return {
    id: 'Contoso.Widgets',
    version: parseVersion(version),
    verbatimVersion: version,
    authors: 'Contoso',
    description: 'Widgets.',
    tags: [],
    requireLicenseAcceptance: false,
    packageTypes: [],
    dependencyGroups: [],
    frameworkAssemblyGroups: [],
    frameworkReferenceGroups: [],
    ...extra,
  };
}

function input(m: PackageManifest, extra: Partial<BuildPackageDetailsInput> = {}): BuildPackageDetailsInput {
  return {
    manifest: m,
    packageHash: 'q2v1AAAA==',
    packageSize: 4096,
    entries: [{ fullName: 'lib/net8.0/Contoso.Widgets.dll', name: 'Contoso.Widgets.dll', length: 2048, compressedLength: 900 }],
    created: new Date('2025-03-01T09:59:58.000Z'),
    published: new Date('2025-03-01T09:59:58.500Z'),
    listed: true,
    ...extra,
  };
}

describe('buildPackageDetails', () => {
  it('maps a minimal nuspec to exactly the required fields', () => {
    expect(buildPackageDetails(input(manifest('1.0.0')))).toStrictEqual({
      id: 'Contoso.Widgets',
      version: '1.0.0',
      verbatimVersion: '1.0.0',
      authors: 'Contoso',
      description: 'Widgets.',
      created: '2025-03-01T09:59:58.0000000Z',
      published: '2025-03-01T09:59:58.5000000Z',
      listed: true,
      isPrerelease: false,
      packageHash: 'q2v1AAAA==',
      packageHashAlgorithm: 'SHA512',
      packageSize: 4096,
      requireLicenseAcceptance: false,
      tags: [],
      packageEntries: [{ fullName: 'lib/net8.0/Contoso.Widgets.dll', name: 'Contoso.Widgets.dll', length: 2048, compressedLength: 900 }],
    });
  });

  it('keeps the full version with metadata and the verbatim version as written', () => {
    const data = buildPackageDetails(input(manifest('2.01.0-Beta.2+sha.abc', { verbatimVersion: '2.01.0-Beta.2+sha.abc' })));
    expect(data.version).toBe('2.1.0-Beta.2+sha.abc');
    expect(data.verbatimVersion).toBe('2.01.0-Beta.2+sha.abc');
    expect(data.isPrerelease).toBe(true);
  });

  it('dates an unlisted package 1900-01-01, as the official gallery does', () => {
    const data = buildPackageDetails(input(manifest('1.0.0'), { listed: false }));
    expect(data.listed).toBe(false);
    expect(data.published).toBe('1900-01-01T00:00:00.0000000Z');
  });

  it('copies the optional nuspec fields and splits the license by type', () => {
    const full = manifest('1.0.0', {
      title: 'Widgets',
      summary: 'Small.',
      releaseNotes: 'Fixed.',
      copyright: '(c) Contoso',
      language: 'en-US',
      tags: ['widgets', 'contoso'],
      projectUrl: 'https://contoso.test/',
      licenseUrl: 'https://contoso.test/license',
      license: { type: 'expression', value: 'MIT OR Apache-2.0' },
      iconUrl: 'https://contoso.test/icon.png',
      icon: 'images/icon.png',
      readme: 'docs/README.md',
      requireLicenseAcceptance: true,
      developmentDependency: true,
      serviceable: false,
      minClientVersion: '5.3',
      repository: { type: 'git', url: 'https://git.test/widgets', commit: 'abc123' },
      packageTypes: [{ name: 'Dependency' }, { name: 'DotnetTool', version: '1.0' }],
      dependencyGroups: [
        { targetFramework: 'net8.0', dependencies: [{ id: 'Contoso.Core', range: '[1.4.0, 2.0.0)', exclude: 'Build' }] },
        { targetFramework: 'netstandard2.0', dependencies: [] },
      ],
    });
    const data = buildPackageDetails(input(full, { lastEdited: new Date('2025-03-02T00:00:00Z') }));
    expect(data).toMatchObject({
      title: 'Widgets',
      summary: 'Small.',
      releaseNotes: 'Fixed.',
      copyright: '(c) Contoso',
      language: 'en-US',
      tags: ['widgets', 'contoso'],
      projectUrl: 'https://contoso.test/',
      licenseUrl: 'https://contoso.test/license',
      licenseExpression: 'MIT OR Apache-2.0',
      iconUrl: 'https://contoso.test/icon.png',
      iconFile: 'images/icon.png',
      readmeFile: 'docs/README.md',
      requireLicenseAcceptance: true,
      developmentDependency: true,
      serviceable: false,
      minClientVersion: '5.3',
      lastEdited: '2025-03-02T00:00:00.0000000Z',
    });
    expect(data.repository).toStrictEqual({ type: 'git', url: 'https://git.test/widgets', commit: 'abc123' });
    expect(data.packageTypes).toStrictEqual([{ name: 'Dependency' }, { name: 'DotnetTool', version: '1.0' }]);
    expect(data.dependencyGroups).toStrictEqual([
      { targetFramework: 'net8.0', dependencies: [{ id: 'Contoso.Core', range: '[1.4.0, 2.0.0)' }] },
      { targetFramework: 'netstandard2.0' },
    ]);
    expect(data).not.toHaveProperty('licenseFile');

    const withFile = buildPackageDetails(input(manifest('1.0.0', { license: { type: 'file', value: 'LICENSE.txt' } })));
    expect(withFile.licenseFile).toBe('LICENSE.txt');
    expect(withFile).not.toHaveProperty('licenseExpression');
  });

  it('treats empty nuspec strings as absent', () => {
    const data = buildPackageDetails(input(manifest('1.0.0', { title: '', summary: '', repository: { url: '' } })));
    expect(data).not.toHaveProperty('title');
    expect(data).not.toHaveProperty('summary');
    expect(data).not.toHaveProperty('repository');
    expect(Object.values(data)).not.toContain(undefined);
  });
});
