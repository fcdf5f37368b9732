import AdmZip from 'adm-zip';
import { describe, expect, it } from 'vitest';
import { buildNupkg, NUSPEC_NAMESPACE } from './build-nupkg.js';

function open(bytes: Buffer): Map<string, string> {
  const zip = new AdmZip(bytes);
  return new Map(zip.getEntries().map((e) => [e.entryName, e.getData().toString('utf8')]));
}

describe('buildNupkg', () => {
  it('writes a zip with a root nuspec, the OPC parts and an empty lib folder marker', () => {
    const entries = open(buildNupkg({ id: 'Contoso.Widgets', version: '1.0.0' }));

    expect([...entries.keys()].sort()).toEqual([
      'Contoso.Widgets.nuspec',
      '[Content_Types].xml',
      '_rels/.rels',
      'lib/netstandard2.0/_._',
    ]);
    expect(entries.get('lib/netstandard2.0/_._')).toBe('');
  });

  it('writes the id and version verbatim in the 2013/05 nuspec namespace', () => {
    const nuspec = open(buildNupkg({ id: 'Contoso.Widgets', version: '1.0+Build.7' })).get('Contoso.Widgets.nuspec')!;

    expect(nuspec).toContain(`<package xmlns="${NUSPEC_NAMESPACE}">`);
    expect(nuspec).toContain('<id>Contoso.Widgets</id>');
    expect(nuspec).toContain('<version>1.0+Build.7</version>');
    expect(nuspec).toContain('<authors>nucat tests</authors>');
    expect(nuspec).toContain('<description>Test package Contoso.Widgets.</description>');
    expect(nuspec).not.toContain('<dependencies>');
  });

  it('points the package relationship at the nuspec', () => {
    const rels = open(buildNupkg({ id: 'A', version: '1.0.0' })).get('_rels/.rels')!;

    expect(rels).toContain('Type="http://schemas.microsoft.com/packaging/2010/07/manifest"');
    expect(rels).toContain('Target="/A.nuspec"');
  });

  it('declares a content type for every extension and overrides extensionless parts', () => {
    const types = open(
      buildNupkg({ id: 'A', version: '1.0.0', files: { 'lib/net8.0/A.dll': Buffer.from([1, 2, 3]), LICENSE: 'MIT' } }),
    ).get('[Content_Types].xml')!;

    for (const ext of ['rels', 'nuspec', '_', 'dll']) expect(types).toContain(`<Default Extension="${ext}"`);
    expect(types).toContain('<Override PartName="/LICENSE"');
  });

  it('groups dependencies by target framework and keeps a group without one', () => {
    const nuspec = open(
      buildNupkg({
        id: 'A',
        version: '1.0.0',
        dependencies: [
          { id: 'B', range: '[1.0.0, )' },
          { id: 'C', range: '2.0.0', targetFramework: 'net8.0' },
          { id: 'D', range: '(, 3.0.0)', targetFramework: 'net8.0' },
        ],
      }),
    ).get('A.nuspec')!;

    expect(nuspec).toMatch(/<group>\s*<dependency id="B" version="\[1.0.0, \)" \/>\s*<\/group>/);
    expect(nuspec).toMatch(
      /<group targetFramework="net8.0">\s*<dependency id="C" version="2.0.0" \/>\s*<dependency id="D" version="\(, 3.0.0\)" \/>\s*<\/group>/,
    );
  });

  it('adds extra files, title, tags and raw metadata, and escapes XML', () => {
    const entries = open(
      buildNupkg({
        id: 'A',
        version: '1.0.0',
        title: 'Fish & <Chips>',
        tags: 'one two',
        nuspecExtra: '<license type="expression">MIT</license>',
        files: { 'readme.md': '# Hello', 'lib/netstandard2.0/_._': 'replaced' },
      }),
    );
    const nuspec = entries.get('A.nuspec')!;

    expect(nuspec).toContain('<title>Fish &amp; &lt;Chips&gt;</title>');
    expect(nuspec).toContain('<tags>one two</tags>');
    expect(nuspec).toContain('<license type="expression">MIT</license>');
    expect(entries.get('readme.md')).toBe('# Hello');
    expect(entries.get('lib/netstandard2.0/_._')).toBe('replaced');
  });

  it('returns the same bytes for the same spec and different bytes for a different one', () => {
    const spec = { id: 'A', version: '1.0.0', files: { 'b.txt': 'b', 'a.txt': 'a' } };

    expect(buildNupkg(spec).equals(buildNupkg({ ...spec }))).toBe(true);
    expect(buildNupkg(spec).equals(buildNupkg({ ...spec, version: '1.0.1' }))).toBe(false);
  });
});
