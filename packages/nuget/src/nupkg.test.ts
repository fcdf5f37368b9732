import AdmZip from 'adm-zip';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InvalidPackageError } from './errors.js';
import { readNupkg } from './nupkg.js';
import { lowerNormalizedVersion } from './version.js';

const NS = 'http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd';

function nuspecXml(extra = '', options: { packageTypes?: string } = {}): string {
  return (
    `<?xml version="1.0" encoding="utf-8"?><package xmlns="${NS}"><metadata>` +
    `<id>Contoso.Widgets</id><version>2.1.0</version><authors>Contoso</authors><description>Widgets.</description>` +
    `${options.packageTypes ?? ''}${extra}</metadata></package>`
  );
}

interface TestEntry {
  /** Stored exactly as given, even when it is hostile (`../x`, `C:\x`, duplicates). */
  name: string;
  data?: string | Buffer;
}

/** Builds a zip with adm-zip; names are set after adding so adm-zip cannot sanitize them. */
function buildZip(entries: TestEntry[]): Buffer {
  const zip = new AdmZip(undefined, { noSort: true });
  entries.forEach((entry, i) => {
    const placeholder = entry.name.endsWith('/') ? `placeholder-${i}/` : `placeholder-${i}`;
    zip.addFile(placeholder, typeof entry.data === 'string' ? Buffer.from(entry.data) : (entry.data ?? Buffer.alloc(0)));
    zip.getEntry(placeholder)!.entryName = entry.name;
  });
  return zip.toBuffer();
}

/** A valid package: the nuspec plus a library. */
function buildPackage(extraEntries: TestEntry[] = [], nuspec = nuspecXml()): Buffer {
  return buildZip([{ name: 'Contoso.Widgets.nuspec', data: nuspec }, { name: 'lib/net8.0/Contoso.Widgets.dll', data: 'MZ fake dll' }, ...extraEntries]);
}

const CENTRAL_SIGNATURE = 0x02014b50;
const LOCAL_SIGNATURE = 0x04034b50;

/** Offsets of the central and local headers of the entry named `name`. */
function headersOf(zip: Buffer, name: string): { central: number; local: number } {
  const raw = Buffer.from(name);
  let central = -1;
  for (let i = 0; i + 46 <= zip.length; i++) {
    if (zip.readUInt32LE(i) === CENTRAL_SIGNATURE && zip.subarray(i + 46, i + 46 + raw.length).equals(raw) && zip.readUInt16LE(i + 28) === raw.length) {
      central = i;
    }
  }
  if (central < 0) throw new Error(`no central header for ${name}`);
  const local = zip.readUInt32LE(central + 42);
  expect(zip.readUInt32LE(local)).toBe(LOCAL_SIGNATURE);
  return { central, local };
}

/** Rewrites the declared uncompressed size of an entry in both of its headers. */
function declareSize(zip: Buffer, name: string, size: number): Buffer {
  const copy = Buffer.from(zip);
  const { central, local } = headersOf(copy, name);
  copy.writeUInt32LE(size, central + 24);
  copy.writeUInt32LE(size, local + 22);
  return copy;
}

function refusal(run: () => unknown): InvalidPackageError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidPackageError);
    expect(error).toMatchObject({ code: 'invalid_package', name: 'InvalidPackageError' });
    return error as InvalidPackageError;
  }
  throw new Error('expected an InvalidPackageError, but the package was read');
}

describe('readNupkg: a valid package', () => {
  it('reads the manifest, the nuspec bytes and the entry list', () => {
    const nuspec = nuspecXml();
    const contents = readNupkg(buildPackage([{ name: 'lib/' }, { name: 'content/readme.txt', data: 'x'.repeat(300) }], nuspec));
    expect(contents.manifest.id).toBe('Contoso.Widgets');
    expect(contents.nuspecName).toBe('Contoso.Widgets.nuspec');
    expect(contents.nuspecBytes.toString('utf8')).toBe(nuspec);
    expect(contents.isSymbolsPackage).toBe(false);
    expect(contents).not.toHaveProperty('icon');
    // Directories are left out; sizes are the declared ones.
    expect(contents.entries.map((e) => [e.fullName, e.name, e.length])).toEqual([
      ['Contoso.Widgets.nuspec', 'Contoso.Widgets.nuspec', Buffer.byteLength(nuspec)],
      ['lib/net8.0/Contoso.Widgets.dll', 'Contoso.Widgets.dll', 11],
      ['content/readme.txt', 'readme.txt', 300],
    ]);
    expect(contents.entries[2]!.compressedLength).toBeLessThan(300);
  });

  it('marks a symbols package', () => {
    const nuspec = nuspecXml('', { packageTypes: '<packageTypes><packageType name="SymbolsPackage"/></packageTypes>' }).replace(
      '<authors>Contoso</authors>',
      '',
    );
    const contents = readNupkg(buildZip([{ name: 'Contoso.Widgets.nuspec', data: nuspec }, { name: 'lib/net8.0/Contoso.Widgets.pdb', data: 'BSJB' }]));
    expect(contents.isSymbolsPackage).toBe(true);
    expect(contents.manifest.authors).toBe('');
  });

  it('extracts the icon, readme and license file the nuspec names, matching paths case-insensitively', () => {
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3]);
    const contents = readNupkg(
      buildPackage(
        [
          { name: 'Images/Icon.PNG', data: png },
          { name: 'docs/README.md', data: '# Widgets' },
          { name: 'LICENSE.txt', data: 'MIT License' },
        ],
        nuspecXml('<icon>images\\icon.png</icon><readme>./docs/readme.md</readme><license type="file">license.txt</license>'),
      ),
    );
    expect(contents.icon).toEqual({ path: 'Images/Icon.PNG', bytes: png });
    expect(contents.readme).toEqual({ path: 'docs/README.md', bytes: Buffer.from('# Widgets') });
    expect(contents.licenseFile).toEqual({ path: 'LICENSE.txt', bytes: Buffer.from('MIT License') });
  });

  it('does not inflate entries it does not need, even broken ones', () => {
    const zip = buildPackage([{ name: 'lib/broken.dll', data: 'y'.repeat(500) }]);
    const { local } = headersOf(zip, 'lib/broken.dll');
    const dataStart = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
    zip.fill(0xff, dataStart, dataStart + zip.readUInt32LE(local + 18));
    expect(readNupkg(zip).entries.map((e) => e.fullName)).toContain('lib/broken.dll');
  });
});

describe('readNupkg: the nuspec', () => {
  it('refuses a package without a nuspec', () => {
    expect(refusal(() => readNupkg(buildZip([{ name: 'lib/a.dll', data: 'x' }]))).message).toMatch(/no \.nuspec file at its root/);
  });

  it('refuses a package whose only nuspec is in a subfolder', () => {
    const zip = buildZip([{ name: 'sub/Contoso.Widgets.nuspec', data: nuspecXml() }]);
    expect(refusal(() => readNupkg(zip)).message).toMatch(/no \.nuspec file at its root \(found 'sub\/Contoso\.Widgets\.nuspec' in a subfolder\)/);
  });

  it('refuses two nuspecs at the root', () => {
    const zip = buildZip([
      { name: 'a.nuspec', data: nuspecXml() },
      { name: 'b.NUSPEC', data: nuspecXml() },
    ]);
    const error = refusal(() => readNupkg(zip));
    expect(error.message).toMatch(/2 \.nuspec files at its root \('a\.nuspec', 'b\.NUSPEC'\)/);
  });

  it('accepts nuspecs in subfolders next to the root one', () => {
    expect(readNupkg(buildPackage([{ name: 'content/other.nuspec', data: 'not parsed' }])).nuspecName).toBe('Contoso.Widgets.nuspec');
  });

  it('refuses a nuspec whose declared size is over the cap', () => {
    expect(refusal(() => readNupkg(buildPackage(), { maxNuspecBytes: 50 })).message).toMatch(/nuspec 'Contoso\.Widgets\.nuspec' is \d+ bytes; the limit is 50 bytes/);
  });

  it('passes nuspec problems through', () => {
    const zip = buildPackage([], nuspecXml().replace('<version>2.1.0</version>', '<version>1.0.0-</version>'));
    expect(refusal(() => readNupkg(zip)).message).toMatch(/<version> '1\.0\.0-'/);
  });
});

describe('readNupkg: embedded files', () => {
  it.each([
    ['<icon>images/icon.png</icon>', /icon file 'images\/icon\.png'/],
    ['<readme>docs/README.md</readme>', /readme file 'docs\/README\.md'/],
    ['<license type="file">LICENSE.txt</license>', /license file 'LICENSE\.txt'/],
  ])('refuses %s when the file is missing, naming it', (extra, message) => {
    const error = refusal(() => readNupkg(buildPackage([], nuspecXml(extra))));
    expect(error.message).toMatch(message);
    expect(error.message).toMatch(/does not contain it/);
  });

  it('refuses an icon that is only a directory', () => {
    expect(refusal(() => readNupkg(buildPackage([{ name: 'icon.png/' }], nuspecXml('<icon>icon.png</icon>')))).message).toMatch(/icon file/);
  });

  it('refuses an embedded file over the cap', () => {
    const zip = buildPackage([{ name: 'README.md', data: 'r'.repeat(2000) }], nuspecXml('<readme>README.md</readme>'));
    expect(refusal(() => readNupkg(zip, { maxEmbeddedFileBytes: 1000 })).message).toMatch(/readme file 'README\.md' is 2000 bytes; the limit is 1000/);
    expect(readNupkg(zip, { maxEmbeddedFileBytes: 2000 }).readme?.bytes.length).toBe(2000);
  });
});

describe('readNupkg: hostile zips', () => {
  it.each([
    [['Lib/a.dll', 'lib/a.dll']],
    [['lib/a.dll', 'lib/a.dll']],
    [['./x.txt', 'x.txt']],
    [['a\\b.txt', 'a/b.txt']],
    [['a%20b.txt', 'a b.txt']],
    [['lib/./a.dll', 'lib/a.dll']],
  ])('refuses the duplicate entries %j', (names) => {
    const zip = buildPackage(names.map((name, i) => ({ name, data: `data ${i}` })));
    const error = refusal(() => readNupkg(zip));
    expect(error.message).toMatch(/contains the same file twice/);
    expect(error.details).toEqual({ entries: names });
  });

  it.each([
    ['../evil.dll', /leaves the package/],
    ['../../evil.dll', /leaves the package/],
    ['lib/../../evil.dll', /leaves the package/],
    ['lib\\..\\..\\x.dll', /leaves the package/],
    ['%2e%2e/evil.dll', /leaves the package/],
    ['lib/%2E%2E/%2E%2E/x.dll', /leaves the package/],
    ['/etc/x', /absolute path/],
    ['C:\\x', /absolute path/],
    ['c:/windows/x.dll', /absolute path/],
    ['\\\\server\\share\\x', /absolute path/],
    ['a\0b.dll', /NUL/],
    ['a%00b.dll', /NUL/],
    ['lib//a.dll', /empty path segment/],
    [`lib/${'a'.repeat(997)}`, /1001 characters/],
  ])('refuses the entry name %j', (name, message) => {
    expect(refusal(() => readNupkg(buildPackage([{ name, data: 'x' }]))).message).toMatch(message);
  });

  it('accepts an entry name of 1000 characters', () => {
    expect(readNupkg(buildPackage([{ name: `lib/${'a'.repeat(996)}`, data: 'x' }])).entries).toHaveLength(3);
  });

  it('refuses an encrypted entry', () => {
    const zip = buildPackage([{ name: 'lib/secret.dll', data: 'x' }]);
    const { central, local } = headersOf(zip, 'lib/secret.dll');
    zip.writeUInt16LE(zip.readUInt16LE(central + 8) | 1, central + 8);
    zip.writeUInt16LE(zip.readUInt16LE(local + 6) | 1, local + 6);
    expect(refusal(() => readNupkg(zip)).message).toMatch(/encrypted entry \('lib\/secret\.dll'\)/);
  });

  it('refuses a nuspec that inflates to more than its declared size', () => {
    const zip = declareSize(buildPackage(), 'Contoso.Widgets.nuspec', 40);
    expect(refusal(() => readNupkg(zip)).message).toMatch(/corrupt: entry 'Contoso\.Widgets\.nuspec' does not inflate to its declared size of 40 bytes/);
  });

  it('refuses a nuspec that inflates to less than its declared size', () => {
    const zip = buildPackage();
    const { central } = headersOf(zip, 'Contoso.Widgets.nuspec');
    const lying = declareSize(zip, 'Contoso.Widgets.nuspec', zip.readUInt32LE(central + 24) + 10);
    expect(refusal(() => readNupkg(lying)).message).toMatch(/corrupt/);
  });

  it('refuses a readme bomb that declares 100 bytes, without inflating it', () => {
    const bomb = Buffer.alloc(64 * 1024 * 1024);
    const zip = declareSize(buildPackage([{ name: 'README.md', data: bomb }], nuspecXml('<readme>README.md</readme>')), 'README.md', 100);
    expect(zip.length).toBeLessThan(1024 * 1024);
    expect(refusal(() => readNupkg(zip)).message).toMatch(/corrupt: entry 'README\.md' does not inflate to its declared size of 100 bytes/);
  });

  it('refuses a readme bomb by its declared size', () => {
    const zip = buildPackage([{ name: 'README.md', data: Buffer.alloc(6 * 1024 * 1024) }], nuspecXml('<readme>README.md</readme>'));
    expect(refusal(() => readNupkg(zip)).message).toMatch(/readme file 'README\.md' is 6291456 bytes; the limit is 5242880/);
  });

  it('refuses a central directory whose size disagrees with the local header', () => {
    const zip = buildPackage();
    const { central } = headersOf(zip, 'Contoso.Widgets.nuspec');
    zip.writeUInt32LE(zip.readUInt32LE(central + 24) - 1, central + 24);
    expect(refusal(() => readNupkg(zip)).message).toMatch(/corrupt: .*different sizes/);
  });

  it('refuses an entry whose local header has another name', () => {
    const zip = buildPackage([{ name: 'lib/a.dll', data: 'x' }]);
    const { local } = headersOf(zip, 'lib/a.dll');
    zip.write('b', local + 30 + 'lib/'.length);
    expect(refusal(() => readNupkg(zip)).message).toMatch(/corrupt: entry 'lib\/a\.dll' has a different name in its local header/);
  });

  it('refuses a nuspec that fails its CRC check', () => {
    const zip = buildPackage();
    const { central, local } = headersOf(zip, 'Contoso.Widgets.nuspec');
    zip.writeUInt32LE((zip.readUInt32LE(central + 16) ^ 1) >>> 0, central + 16);
    zip.writeUInt32LE((zip.readUInt32LE(local + 14) ^ 1) >>> 0, local + 14);
    expect(refusal(() => readNupkg(zip)).message).toMatch(/fails its CRC-32 check/);
  });

  it('refuses a package with as many entries as the cap', () => {
    const files = Array.from({ length: 3 }, (_, i) => ({ name: `lib/f${i}.dll`, data: `${i}` }));
    expect(refusal(() => readNupkg(buildPackage(files), { maxEntries: 5 })).message).toMatch(/5 entries; the limit is 4/);
    expect(readNupkg(buildPackage(files), { maxEntries: 6 }).entries).toHaveLength(5);
  });

  it('refuses a package that claims 65,535 entries, before reading them', () => {
    const zip = buildPackage();
    const end = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
    zip.writeUInt16LE(0xffff, end + 8);
    zip.writeUInt16LE(0xffff, end + 10);
    expect(refusal(() => readNupkg(zip)).message).toMatch(/65535 entries; the limit is 65533/);
  });

  it('refuses a package whose declared sizes add up to more than the cap', () => {
    const zip = buildPackage([{ name: 'content/big.bin', data: Buffer.alloc(5000) }]);
    expect(refusal(() => readNupkg(zip, { maxTotalUncompressedBytes: 4000 })).message).toMatch(/more than 4000 bytes uncompressed/);
  });

  it.each([
    ['an empty upload', Buffer.alloc(0)],
    ['text', Buffer.from('this is not a zip file at all, just some words')],
    ['a truncated zip', buildPackage().subarray(0, 100)],
  ])('refuses %s as not a zip', (_what, bytes) => {
    expect(refusal(() => readNupkg(bytes)).message).toMatch(/not a readable zip archive/);
  });
});

const REAL_PACKAGES = '/opt/nuget/packages';

/** Real packages restored by the .NET SDK: fixed machine inputs, `<root>/<lowerid>/<version>/<lowerid>.<version>.nupkg`. */
function realPackages(): { lowerId: string; version: string; dir: string; file: string }[] {
  if (!existsSync(REAL_PACKAGES)) return [];
  return readdirSync(REAL_PACKAGES).flatMap((lowerId) =>
    readdirSync(join(REAL_PACKAGES, lowerId)).flatMap((version) => {
      const dir = join(REAL_PACKAGES, lowerId, version);
      return readdirSync(dir)
        .filter((f) => f.endsWith('.nupkg'))
        .map((f) => ({ lowerId, version, dir, file: join(dir, f) }));
    }),
  );
}

describe.skipIf(!existsSync(REAL_PACKAGES))(`readNupkg: real packages (skipped when ${REAL_PACKAGES} is absent)`, () => {
  const packages = realPackages();

  it('finds some', () => {
    expect(packages.length).toBeGreaterThan(0);
  });

  it.each(packages.map((p) => [`${p.lowerId} ${p.version}`, p] as const))('reads %s', (_name, p) => {
    const archive = readFileSync(p.file);
    const contents = readNupkg(archive);
    expect(contents.manifest.id.toLowerCase()).toBe(p.lowerId);
    expect(lowerNormalizedVersion(contents.manifest.version)).toBe(p.version);
    // The restore folder holds a copy of the package's nuspec.
    expect(contents.nuspecBytes.equals(readFileSync(join(p.dir, `${p.lowerId}.nuspec`)))).toBe(true);
    const zipEntries = new AdmZip(archive).getEntries().filter((e) => !e.isDirectory);
    expect(contents.entries).toHaveLength(zipEntries.length);
    expect(contents.entries.map((e) => e.fullName)).toContain(contents.nuspecName);
    if (contents.manifest.icon) expect(contents.icon?.bytes.length).toBeGreaterThan(0);
    if (contents.manifest.readme) expect(contents.readme?.bytes.length).toBeGreaterThan(0);
    expect(contents.isSymbolsPackage).toBe(false);
    // Reading never changes the archive.
    expect(archive.equals(readFileSync(p.file))).toBe(true);
  });

  it('reads Newtonsoft.Json 13.0.3: icon, readme and signature entry', () => {
    const file = join(REAL_PACKAGES, 'newtonsoft.json/13.0.3/newtonsoft.json.13.0.3.nupkg');
    if (!existsSync(file)) return;
    const contents = readNupkg(readFileSync(file));
    expect(contents.nuspecName).toBe('Newtonsoft.Json.nuspec');
    expect(contents.icon?.path).toBe('packageIcon.png');
    expect(contents.icon?.bytes.subarray(0, 4)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47]));
    expect(contents.readme?.path).toBe('README.md');
    expect(contents.entries.find((e) => e.fullName === 'lib/net45/Newtonsoft.Json.dll')).toMatchObject({ name: 'Newtonsoft.Json.dll' });
    expect(contents.entries.map((e) => e.fullName)).toContain('.signature.p7s');
  });
});
