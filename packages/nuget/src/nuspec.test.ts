import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InvalidPackageError } from './errors.js';
import { parseNuspec } from './nuspec.js';
import { lowerNormalizedVersion, normalizeVersion } from './version.js';

const NS = 'http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd';
const REQUIRED = '<id>Contoso.Widgets</id><version>2.1.0-beta.2</version><authors>Contoso</authors><description>Widgets.</description>';

/** A nuspec with the required fields (unless `required` is replaced) plus `extra` inside <metadata>. */
function nuspec(extra = '', options: { required?: string; metadataAttributes?: string; namespace?: string } = {}): string {
  const xmlns = options.namespace === undefined ? ` xmlns="${NS}"` : options.namespace === '' ? '' : ` xmlns="${options.namespace}"`;
  return (
    '<?xml version="1.0" encoding="utf-8"?>\n' +
    `<package${xmlns}><metadata${options.metadataAttributes ?? ''}>${options.required ?? REQUIRED}${extra}</metadata></package>`
  );
}

const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);
const parse = (text: string, limits?: Parameters<typeof parseNuspec>[1]) => parseNuspec(utf8(text), limits);

function refusal(run: () => unknown): InvalidPackageError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidPackageError);
    expect(error).toMatchObject({ code: 'invalid_package', name: 'InvalidPackageError' });
    return error as InvalidPackageError;
  }
  throw new Error('expected an InvalidPackageError, but parsing succeeded');
}

describe('parseNuspec: the composed example from the protocol notes', () => {
  const manifest = parse(`<?xml version="1.0" encoding="utf-8"?>
<package xmlns="${NS}">
  <metadata minClientVersion="5.3">
    <id>Contoso.Widgets</id>
    <version>2.1.0-beta.2</version>
    <authors>Contoso</authors>
    <description>Widgets.</description>
    <license type="expression">MIT</license>
    <icon>images/icon.png</icon>
    <readme>docs/README.md</readme>
    <tags>widgets contoso</tags>
    <repository type="git" url="https://git.example.com/widgets.git" commit="0123abc" />
    <packageTypes><packageType name="Dependency" /></packageTypes>
    <dependencies>
      <group targetFramework="net8.0">
        <dependency id="Contoso.Core" version="[1.4.0, 2.0.0)" exclude="Build,Analyzers" />
      </group>
      <group targetFramework=".NETStandard2.0" />
    </dependencies>
  </metadata>
</package>`);

  it('reads identity and text fields', () => {
    expect(manifest.id).toBe('Contoso.Widgets');
    expect(normalizeVersion(manifest.version)).toBe('2.1.0-beta.2');
    expect(manifest.verbatimVersion).toBe('2.1.0-beta.2');
    expect(manifest.authors).toBe('Contoso');
    expect(manifest.description).toBe('Widgets.');
    expect(manifest.minClientVersion).toBe('5.3');
    expect(manifest.tags).toEqual(['widgets', 'contoso']);
    expect(manifest.requireLicenseAcceptance).toBe(false);
  });

  it('reads license, icon, readme, repository and package types', () => {
    expect(manifest.license).toEqual({ type: 'expression', value: 'MIT' });
    expect(manifest.icon).toBe('images/icon.png');
    expect(manifest.readme).toBe('docs/README.md');
    expect(manifest.repository).toEqual({ type: 'git', url: 'https://git.example.com/widgets.git', commit: '0123abc' });
    expect(manifest.packageTypes).toEqual([{ name: 'Dependency' }]);
  });

  it('normalizes dependency ranges and keeps exclude verbatim', () => {
    expect(manifest.dependencyGroups).toEqual([
      { targetFramework: 'net8.0', dependencies: [{ id: 'Contoso.Core', range: '[1.4.0, 2.0.0)', exclude: 'Build,Analyzers' }] },
      { targetFramework: '.NETStandard2.0', dependencies: [] },
    ]);
  });

  it('leaves absent optional fields out', () => {
    for (const key of ['title', 'summary', 'releaseNotes', 'copyright', 'language', 'projectUrl', 'licenseUrl', 'iconUrl', 'developmentDependency', 'serviceable']) {
      expect(manifest).not.toHaveProperty(key);
    }
    expect(manifest.frameworkAssemblyGroups).toEqual([]);
    expect(manifest.frameworkReferenceGroups).toEqual([]);
  });
});

describe('parseNuspec: fields', () => {
  it('keeps the verbatim version and normalizes the parsed one', () => {
    const manifest = parse(nuspec('', { required: '<id>A</id><version> 01.2.0.0-RC.1+build.7 </version><authors>x</authors><description>d</description>' }));
    expect(manifest.verbatimVersion).toBe('01.2.0.0-RC.1+build.7');
    expect(normalizeVersion(manifest.version)).toBe('1.2.0-RC.1');
    expect(manifest.version.metadata).toBe('build.7');
  });

  it('reads the optional text fields, trimmed', () => {
    const manifest = parse(
      nuspec(
        '<title> Title </title><summary>Sum</summary><releaseNotes>Notes\nline 2</releaseNotes><copyright>© me</copyright>' +
          '<language>en-US</language><projectUrl>https://p.example/</projectUrl><licenseUrl>https://l.example/</licenseUrl>' +
          '<iconUrl>https://i.example/i.png</iconUrl><owners>ignored</owners>',
      ),
    );
    expect(manifest).toMatchObject({
      title: 'Title',
      summary: 'Sum',
      releaseNotes: 'Notes\nline 2',
      copyright: '© me',
      language: 'en-US',
      projectUrl: 'https://p.example/',
      licenseUrl: 'https://l.example/',
      iconUrl: 'https://i.example/i.png',
    });
  });

  it('decodes the predefined entities, character references and CDATA', () => {
    const manifest = parse(nuspec('<title>a &amp; b &lt;c&gt; &quot;d&quot; &apos;e&apos; &#x263A; &#65;<![CDATA[ <raw> ]]></title>'));
    expect(manifest.title).toBe('a & b <c> "d" \'e\' ☺ A <raw>');
  });

  it.each([
    ['true', true],
    ['True', true],
    ['1', true],
    ['false', false],
    [' FALSE ', false],
    ['0', false],
  ])('reads requireLicenseAcceptance %j as %s', (text, value) => {
    expect(parse(nuspec(`<requireLicenseAcceptance>${text}</requireLicenseAcceptance>`)).requireLicenseAcceptance).toBe(value);
  });

  it('reads developmentDependency and serviceable', () => {
    const manifest = parse(nuspec('<developmentDependency>true</developmentDependency><serviceable>false</serviceable>'));
    expect(manifest.developmentDependency).toBe(true);
    expect(manifest.serviceable).toBe(false);
  });

  it('refuses a boolean it cannot read', () => {
    expect(refusal(() => parse(nuspec('<requireLicenseAcceptance>yes</requireLicenseAcceptance>'))).message).toMatch(
      /<requireLicenseAcceptance> must be 'true' or 'false', not 'yes'/,
    );
  });

  it('splits tags on space, comma, tab, | and ;', () => {
    expect(parse(nuspec('<tags>a b,c\td|e;f</tags>')).tags).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
  });

  it('reads a license file with its version attribute', () => {
    expect(parse(nuspec('<license type="file">LICENSE.txt</license>')).license).toEqual({ type: 'file', value: 'LICENSE.txt' });
    expect(parse(nuspec('<license type="expression" version="1.0.0">MIT OR Apache-2.0</license>')).license).toEqual({
      type: 'expression',
      value: 'MIT OR Apache-2.0',
      version: '1.0.0',
    });
  });

  it('refuses an unknown license type', () => {
    expect(refusal(() => parse(nuspec('<license type="url">x</license>'))).message).toMatch(/'expression' or 'file'/);
  });

  it('reads package types with versions', () => {
    const manifest = parse(nuspec('<packageTypes><packageType name="DotnetTool" version="1.0"/><packageType name="Dependency"/></packageTypes>'));
    expect(manifest.packageTypes).toEqual([{ name: 'DotnetTool', version: '1.0' }, { name: 'Dependency' }]);
  });

  it('refuses an invalid minClientVersion', () => {
    expect(refusal(() => parse(nuspec('', { metadataAttributes: ' minClientVersion="five"' }))).message).toContain("'five'");
  });
});

describe('parseNuspec: dependencies', () => {
  it('turns a flat list into one group without a target framework', () => {
    const manifest = parse(
      nuspec('<dependencies><dependency id="A" version="1.0"/><dependency id="B" include="Compile,Runtime"/></dependencies>'),
    );
    expect(manifest.dependencyGroups).toEqual([
      { dependencies: [{ id: 'A', range: '[1.0.0, )' }, { id: 'B', range: '', include: 'Compile,Runtime' }] },
    ]);
  });

  it('keeps a group without targetFramework as the fallback group', () => {
    const manifest = parse(nuspec('<dependencies><group><dependency id="A" version="[1.0]"/></group></dependencies>'));
    expect(manifest.dependencyGroups).toEqual([{ dependencies: [{ id: 'A', range: '[1.0.0, 1.0.0]' }] }]);
  });

  it.each([
    ['*', ''],
    ['1.*', ''],
    ['(,)', ''],
    ['nonsense', ''],
    ['(,2.0)', '(, 2.0.0)'],
    ['1.0.0-beta.1', '[1.0.0-beta.1, )'],
  ])('stores the dependency range %j as %j', (version, range) => {
    const manifest = parse(nuspec(`<dependencies><dependency id="A" version="${version}"/></dependencies>`));
    expect(manifest.dependencyGroups[0]!.dependencies[0]!.range).toBe(range);
  });

  it('refuses mixing groups and a flat list', () => {
    expect(
      refusal(() => parse(nuspec('<dependencies><dependency id="A"/><group targetFramework="net8.0"/></dependencies>'))).message,
    ).toMatch(/mixes <group> and <dependency>/);
  });

  it('refuses a dependency without an id, and an invalid dependency id', () => {
    expect(refusal(() => parse(nuspec('<dependencies><group targetFramework="net8.0"><dependency version="1.0"/></group></dependencies>'))).message).toMatch(
      /in the net8.0 group has no id/,
    );
    expect(refusal(() => parse(nuspec('<dependencies><dependency id="a..b"/></dependencies>'))).message).toMatch(/'a\.\.b'/);
  });

  it('accepts a non-ASCII dependency id, which older packages may use', () => {
    const manifest = parse(nuspec('<dependencies><dependency id="Ünïcode.Pkg" version="1.0"/></dependencies>'));
    expect(manifest.dependencyGroups[0]!.dependencies[0]!.id).toBe('Ünïcode.Pkg');
  });

  it('groups framework assemblies by target framework, splitting framework lists', () => {
    const manifest = parse(
      nuspec(
        '<frameworkAssemblies>' +
          '<frameworkAssembly assemblyName="System.Xml" targetFramework=".NETFramework4.5, Silverlight4"/>' +
          '<frameworkAssembly assemblyName="System.Core" targetFramework=".NETFramework4.5"/>' +
          '<frameworkAssembly assemblyName="mscorlib"/>' +
          '</frameworkAssemblies>',
      ),
    );
    expect(manifest.frameworkAssemblyGroups).toEqual([
      { targetFramework: '.NETFramework4.5', assemblies: ['System.Xml', 'System.Core'] },
      { targetFramework: 'Silverlight4', assemblies: ['System.Xml'] },
      { assemblies: ['mscorlib'] },
    ]);
  });

  it('reads framework references', () => {
    const manifest = parse(
      nuspec('<frameworkReferences><group targetFramework="net5.0"><frameworkReference name="Microsoft.AspNetCore.App"/></group></frameworkReferences>'),
    );
    expect(manifest.frameworkReferenceGroups).toEqual([{ targetFramework: 'net5.0', references: ['Microsoft.AspNetCore.App'] }]);
  });
});

describe('parseNuspec: required fields', () => {
  it.each([
    ['id', '<version>1.0</version><authors>a</authors><description>d</description>', /no <id>/],
    ['version', '<id>A</id><authors>a</authors><description>d</description>', /no <version>/],
    ['authors', '<id>A</id><version>1.0</version><description>d</description>', /no <authors>/],
    ['description', '<id>A</id><version>1.0</version><authors>a</authors>', /no <description>/],
    ['a blank description', '<id>A</id><version>1.0</version><authors>a</authors><description>  </description>', /no <description>/],
  ])('refuses a nuspec without %s', (_what, required, message) => {
    expect(refusal(() => parse(nuspec('', { required }))).message).toMatch(message);
  });

  it('allows a symbols package to omit authors, as dotnet pack writes it', () => {
    // The shape of the nuspec `dotnet pack -p:SymbolPackageFormat=snupkg` writes into a .snupkg.
    const manifest = parse(`<?xml version="1.0" encoding="utf-8"?>
<package xmlns="http://schemas.microsoft.com/packaging/2012/06/nuspec.xsd">
  <metadata>
    <id>Demo.Lib</id>
    <version>1.2.3-beta.1</version>
    <description>Demo description.</description>
    <packageTypes>
      <packageType name="SymbolsPackage" />
    </packageTypes>
    <repository type="git" />
    <dependencies>
      <group targetFramework="net10.0" />
    </dependencies>
  </metadata>
</package>`);
    expect(manifest.authors).toBe('');
    expect(manifest.packageTypes).toEqual([{ name: 'SymbolsPackage' }]);
    expect(manifest.repository).toEqual({ type: 'git' });
  });

  it('#12 refuses an id that breaks the rules for new packages, with the validator message', () => {
    const error = refusal(() => parse(nuspec('', { required: '<id>Newtonsoft.Js\u043En</id><version>1.0</version><authors>a</authors><description>d</description>' })));
    expect(error.message).toMatch(/non-ASCII character 'о' \(U\+043E\) at position 14/);
    expect(error.details).toMatchObject({ field: 'id' });
  });

  it.each(['1.0.0-', '01.0.0-01', '1.', 'abc'])('#13 refuses the version %j and names it', (version) => {
    const error = refusal(() => parse(nuspec('', { required: `<id>A</id><version>${version}</version><authors>a</authors><description>d</description>` })));
    expect(error.message).toContain(`'${version}'`);
    expect(error.details).toMatchObject({ field: 'version', value: version });
  });
});

describe('parseNuspec: namespaces', () => {
  it.each([
    '',
    'http://schemas.microsoft.com/packaging/2010/07/nuspec.xsd',
    'http://schemas.microsoft.com/packaging/2011/08/nuspec.xsd',
    'http://schemas.microsoft.com/packaging/2011/10/nuspec.xsd',
    'http://schemas.microsoft.com/packaging/2012/06/nuspec.xsd',
    'http://schemas.microsoft.com/packaging/2013/01/nuspec.xsd',
    'http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd',
  ])('accepts the namespace %j', (namespace) => {
    expect(parse(nuspec('', { namespace })).id).toBe('Contoso.Widgets');
  });

  it('refuses a root in another namespace', () => {
    expect(refusal(() => parse(nuspec('', { namespace: 'urn:not-nuget' }))).message).toMatch(/urn:not-nuget/);
  });

  it('matches prefixed elements by local name', () => {
    const manifest = parse(
      `<n:package xmlns:n="${NS}"><n:metadata><n:id>P</n:id><n:version>1.0</n:version><n:authors>a</n:authors><n:description>d</n:description></n:metadata></n:package>`,
    );
    expect(manifest.id).toBe('P');
  });

  it('ignores elements from foreign namespaces', () => {
    const manifest = parse(nuspec('<x:title xmlns:x="urn:other">Not this</x:title><title>This</title>'));
    expect(manifest.title).toBe('This');
  });

  it('refuses a root element that is not <package>', () => {
    expect(refusal(() => parse('<metadata><id>A</id></metadata>')).message).toMatch(/root element is <metadata>/);
  });
});

describe('parseNuspec: encodings', () => {
  const text = nuspec('<title>Grüße ☺</title>');
  const utf16 = (source: string, bigEndian: boolean, bom: boolean): Uint8Array => {
    const le = Buffer.from(source, 'utf16le');
    const body = bigEndian ? Buffer.from(le).swap16() : le;
    return Buffer.concat([bom ? Buffer.from(bigEndian ? [0xfe, 0xff] : [0xff, 0xfe]) : Buffer.alloc(0), body]);
  };

  it('reads UTF-8 with and without a BOM', () => {
    expect(parseNuspec(utf8(text)).title).toBe('Grüße ☺');
    expect(parseNuspec(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text)])).title).toBe('Grüße ☺');
  });

  it('reads UTF-16 little and big endian with a BOM', () => {
    const declared = text.replace('encoding="utf-8"', 'encoding="utf-16"');
    expect(parseNuspec(utf16(declared, false, true)).title).toBe('Grüße ☺');
    expect(parseNuspec(utf16(declared, true, true)).title).toBe('Grüße ☺');
  });

  it('#9 refuses UTF-16 without a BOM', () => {
    const declared = text.replace('encoding="utf-8"', 'encoding="utf-16"');
    expect(refusal(() => parseNuspec(utf16(declared, false, false))).message).toMatch(/UTF-16 without a byte order mark/);
  });

  it('#9 refuses bytes that are not UTF-8', () => {
    const latin1 = Buffer.from(text.replace('<?xml version="1.0" encoding="utf-8"?>', '').replace('☺', ''), 'latin1');
    expect(refusal(() => parseNuspec(latin1)).message).toMatch(/not valid UTF-8/);
  });

  it('#9 refuses a declared encoding other than UTF-8 or UTF-16', () => {
    const declared = nuspec().replace('encoding="utf-8"', 'encoding="windows-1252"');
    expect(refusal(() => parse(declared)).message).toMatch(/declares encoding="windows-1252"/);
  });

  it('#9 refuses a declaration that contradicts the bytes', () => {
    const declared = nuspec().replace('encoding="utf-8"', 'encoding="utf-16"');
    expect(refusal(() => parse(declared)).message).toMatch(/declares encoding="utf-16" but is UTF-8/);
  });

  it('#9 refuses UTF-32', () => {
    expect(refusal(() => parseNuspec(new Uint8Array([0xff, 0xfe, 0, 0, 0x3c, 0, 0, 0]))).message).toMatch(/UTF-32/);
  });
});

describe('parseNuspec: hostile XML', () => {
  it('#10 refuses an external entity (XXE)', () => {
    const xml = `<?xml version="1.0"?><!DOCTYPE package [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><package xmlns="${NS}"><metadata><id>A</id><version>1.0</version><authors>&xxe;</authors><description>d</description></metadata></package>`;
    expect(refusal(() => parse(xml)).message).toMatch(/DOCTYPE/);
  });

  it('#10 refuses an external parameter entity', () => {
    const xml = `<?xml version="1.0"?><!DOCTYPE package [<!ENTITY % remote SYSTEM "http://169.254.169.254/latest/meta-data/">%remote;]><package/>`;
    expect(refusal(() => parse(xml)).message).toMatch(/DOCTYPE/);
  });

  it('#10 refuses billion laughs', () => {
    const entities = ['<!ENTITY lol "lol">'];
    for (let i = 1; i <= 9; i++) entities.push(`<!ENTITY lol${i} "${`&lol${i === 1 ? '' : i - 1};`.repeat(10)}">`);
    const xml = `<?xml version="1.0"?><!DOCTYPE lolz [${entities.join('')}]><package><metadata><id>A</id><version>1.0</version><authors>&lol9;</authors><description>d</description></metadata></package>`;
    expect(refusal(() => parse(xml)).message).toMatch(/DOCTYPE/);
  });

  it('#10 refuses a plain DOCTYPE with an external DTD', () => {
    const xml = `<!DOCTYPE package SYSTEM "http://example.invalid/nuspec.dtd">${nuspec().replace('<?xml version="1.0" encoding="utf-8"?>\n', '')}`;
    expect(refusal(() => parse(xml)).message).toMatch(/DOCTYPE/);
  });

  it('#10 refuses an undefined entity', () => {
    expect(refusal(() => parse(nuspec('<title>&nbsp;</title>'))).message).toMatch(/not well-formed XML.*entity/);
  });

  it('refuses malformed XML', () => {
    expect(refusal(() => parse(`<package xmlns="${NS}"><metadata><id>A</id>`)).message).toMatch(/not well-formed XML/);
    expect(refusal(() => parse('')).message).toMatch(/not well-formed XML|no root/);
  });
});

describe('parseNuspec: caps', () => {
  it('#11 refuses a nuspec over the byte cap before parsing it', () => {
    const big = nuspec(`<summary>${'x'.repeat(1024 * 1024)}</summary>`);
    expect(refusal(() => parse(big)).message).toMatch(/the limit is 1048576 bytes/);
    expect(refusal(() => parse(nuspec(), { maxNuspecBytes: 100 })).message).toMatch(/the limit is 100 bytes/);
  });

  it('#11 refuses elements nested deeper than the cap', () => {
    const deep = `${'<x>'.repeat(40)}${'</x>'.repeat(40)}`;
    expect(refusal(() => parse(nuspec(deep))).message).toMatch(/more than 32 levels deep/);
    expect(parse(nuspec(`${'<x>'.repeat(20)}${'</x>'.repeat(20)}`)).id).toBe('Contoso.Widgets');
  });

  it.each([
    ['description', 4001],
    ['authors', 4001],
    ['copyright', 4001],
    ['title', 4001],
    ['summary', 4001],
    ['projectUrl', 4001],
    ['releaseNotes', 35_001],
  ])('#11 refuses a %s of %i characters', (field, length) => {
    const required = REQUIRED.replace(new RegExp(`<${field}>.*</${field}>`), '');
    const error = refusal(() => parse(nuspec(`<${field}>${'x'.repeat(length)}</${field}>`, { required })));
    expect(error.message).toMatch(new RegExp(`<${field}> is ${length} characters long`));
  });

  it('accepts fields at their caps', () => {
    const manifest = parse(nuspec(`<releaseNotes>${'r'.repeat(35_000)}</releaseNotes><title>${'t'.repeat(4000)}</title>`));
    expect(manifest.releaseNotes).toHaveLength(35_000);
  });

  it('#11 refuses an id of 101 characters and a version of 65', () => {
    const longId = `<id>${'a'.repeat(101)}</id><version>1.0</version><authors>a</authors><description>d</description>`;
    expect(refusal(() => parse(nuspec('', { required: longId }))).message).toMatch(/101 characters/);
    const longVersion = `<id>A</id><version>1.0.0-${'a'.repeat(59)}</version><authors>a</authors><description>d</description>`;
    expect(refusal(() => parse(nuspec('', { required: longVersion }))).message).toMatch(/<version> is 65 characters long; the limit is 64/);
  });

  it('#11 refuses too many dependency groups and too many dependencies in a group', () => {
    const groups = '<group/>'.repeat(1001);
    expect(refusal(() => parse(nuspec(`<dependencies>${groups}</dependencies>`))).message).toMatch(/1001 dependency groups; the limit is 1000/);
    const deps = Array.from({ length: 1001 }, (_, i) => `<dependency id="D${i}"/>`).join('');
    expect(refusal(() => parse(nuspec(`<dependencies><group>${deps}</group></dependencies>`))).message).toMatch(/1001 dependencies/);
    expect(parse(nuspec(`<dependencies>${'<group/>'.repeat(1000)}</dependencies>`)).dependencyGroups).toHaveLength(1000);
  });

  it('#13 refuses a version with a 1,000-character label by the version length cap', () => {
    const required = `<id>A</id><version>1.0.0-${'a'.repeat(1000)}</version><authors>a</authors><description>d</description>`;
    expect(refusal(() => parse(nuspec('', { required }))).message).toMatch(/<version> is 1006 characters long; the limit is 64/);
  });

  it('#11 refuses a 50 MB description by the nuspec size cap, before parsing', () => {
    const huge = new Uint8Array(50 * 1024 * 1024).fill(0x78);
    expect(refusal(() => parseNuspec(huge)).message).toMatch(/52428800 bytes; the limit is 1048576 bytes/);
  });

  it('#11 refuses 100,000 nested elements by the depth cap', () => {
    const deep = `${'<x>'.repeat(100_000)}${'</x>'.repeat(100_000)}`;
    expect(refusal(() => parse(nuspec(deep))).message).toMatch(/more than 32 levels deep/);
  });

  it('#11 refuses 10,000 dependency groups by the group cap', () => {
    const groups = '<group targetFramework="net8.0"/>'.repeat(10_000);
    expect(refusal(() => parse(nuspec(`<dependencies>${groups}</dependencies>`))).message).toMatch(/10000 dependency groups; the limit is 1000/);
  });

  it('#11 refuses a 1 MB attribute: by the size cap, and by the field cap when it is kept', () => {
    expect(refusal(() => parse(nuspec('', { metadataAttributes: ` junk="${'a'.repeat(1024 * 1024)}"` }))).message).toMatch(/the limit is 1048576 bytes/);
    const longRange = `<dependencies><dependency id="Contoso.Core" version="${'1'.repeat(100_000)}"/></dependencies>`;
    expect(refusal(() => parse(nuspec(longRange))).message).toMatch(/dependency version is 100000 characters long; the limit is 4000/);
  });

  it('applies caps given by the caller', () => {
    expect(refusal(() => parse(nuspec('<dependencies><group/><group/></dependencies>'), { maxDependencyGroups: 1 })).message).toMatch(/limit is 1/);
    expect(refusal(() => parse(nuspec(), { maxFieldLength: 5 })).message).toMatch(/<authors> is 7 characters long; the limit is 5/);
  });
});

const REAL_PACKAGES = '/opt/nuget/packages';

/** Real nuspecs restored by the .NET SDK: fixed machine inputs, `<root>/<lowerid>/<version>/<lowerid>.nuspec`. */
function realNuspecs(): { lowerId: string; version: string; path: string }[] {
  if (!existsSync(REAL_PACKAGES)) return [];
  return readdirSync(REAL_PACKAGES).flatMap((lowerId) =>
    readdirSync(join(REAL_PACKAGES, lowerId)).flatMap((version) =>
      readdirSync(join(REAL_PACKAGES, lowerId, version))
        .filter((file) => file.endsWith('.nuspec'))
        .map((file) => ({ lowerId, version, path: join(REAL_PACKAGES, lowerId, version, file) })),
    ),
  );
}

describe.skipIf(!existsSync(REAL_PACKAGES))(`parseNuspec: real nuspecs (skipped when ${REAL_PACKAGES} is absent)`, () => {
  const nuspecs = realNuspecs();

  it('finds some', () => {
    expect(nuspecs.length).toBeGreaterThan(0);
  });

  it.each(nuspecs.map((n) => [`${n.lowerId} ${n.version}`, n] as const))('reads %s', (_name, n) => {
    const manifest = parseNuspec(readFileSync(n.path));
    expect(manifest.id.toLowerCase()).toBe(n.lowerId);
    expect(lowerNormalizedVersion(manifest.version)).toBe(n.version);
    expect(manifest.authors).not.toBe('');
    expect(manifest.description).not.toBe('');
    for (const group of manifest.dependencyGroups) {
      for (const dependency of group.dependencies) expect(dependency.range).toMatch(/^$|^[[(]/);
    }
  });

  it('reads Newtonsoft.Json 13.0.3 field by field', () => {
    const path = join(REAL_PACKAGES, 'newtonsoft.json/13.0.3/newtonsoft.json.nuspec');
    if (!existsSync(path)) return;
    const manifest = parseNuspec(readFileSync(path));
    expect(manifest).toMatchObject({
      id: 'Newtonsoft.Json',
      verbatimVersion: '13.0.3',
      title: 'Json.NET',
      authors: 'James Newton-King',
      license: { type: 'expression', value: 'MIT' },
      icon: 'packageIcon.png',
      readme: 'README.md',
      minClientVersion: '2.12',
      tags: ['json'],
      repository: { type: 'git', url: expect.stringContaining('JamesNK/Newtonsoft.Json'), commit: '0a2e291c0d9c0c7675d445703e51750363a549ef' },
    });
    expect(manifest.dependencyGroups.map((g) => g.targetFramework)).toEqual([
      '.NETFramework2.0',
      '.NETFramework3.5',
      '.NETFramework4.0',
      '.NETFramework4.5',
      '.NETStandard1.0',
      '.NETStandard1.3',
      'net6.0',
      '.NETStandard2.0',
    ]);
    expect(manifest.dependencyGroups[4]!.dependencies[0]).toEqual({ id: 'Microsoft.CSharp', range: '[4.3.0, )', exclude: 'Build,Analyzers' });
  });
});
