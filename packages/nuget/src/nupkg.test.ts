/**
 * readNupkg / readNupkgFrom: valid packages, real packages (read exactly as the former adm-zip
 * reader read them), and the upload cases of reliability.md §2 (#3–#7, #9–#11, #19, #21), each
 * test named after its case. Hostile archives are run through both the Buffer and the ZipSource path.
 */
import AdmZip from 'adm-zip';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { constants, deflateRawSync } from 'node:zlib';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nuspecXml as nuspecOf, PNG, writeZip, type ZipEntrySpec } from '@nucat/testing';
import { InvalidPackageError } from './errors.js';
import { readNupkg, readNupkgFrom, type NupkgContents, type NupkgLimits } from './nupkg.js';
import { parseNuspec } from './nuspec.js';
import { lowerNormalizedVersion } from './version.js';
import { createBufferZipSource, type ZipSource } from './zip-source.js';

const NS = 'http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd';
const MiB = 1024 * 1024;

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

/** A package written byte by byte (writeZip from @nucat/testing), for damage adm-zip cannot do. */
function rawPackage(extra: ZipEntrySpec[] = [], metadata = ''): ZipEntrySpec[] {
  return [{ name: 'Contoso.Widgets.nuspec', data: nuspecOf({ metadata }) }, { name: 'lib/net8.0/Contoso.Widgets.dll', data: 'MZ fake dll' }, ...extra];
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

/** A ZipSource over a Buffer that records what is read. */
function countingSource(archive: Buffer): ZipSource & { bytesRead: number; reads: number; largestRead: number } {
  const inner = createBufferZipSource(archive);
  const source = {
    size: inner.size,
    bytesRead: 0,
    reads: 0,
    largestRead: 0,
    read(offset: number, length: number) {
      source.bytesRead += length;
      source.reads += 1;
      source.largestRead = Math.max(source.largestRead, length);
      return inner.read(offset, length);
    },
  };
  return source;
}

/** The contents as one string, Buffers as hashes: comparing large results element by element is slow. */
function fingerprint(contents: NupkgContents): string {
  const hash = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
  const file = (f?: { path: string; bytes: Buffer }) => f && { path: f.path, bytes: hash(f.bytes) };
  return JSON.stringify({
    ...contents,
    nuspecBytes: hash(contents.nuspecBytes),
    icon: file(contents.icon),
    readme: file(contents.readme),
    licenseFile: file(contents.licenseFile),
  });
}

/** Reads through both paths (Buffer and ZipSource), which must agree. */
async function readBoth(archive: Buffer, limits?: Partial<NupkgLimits>): Promise<NupkgContents> {
  const fromBuffer = readNupkg(archive, limits);
  const fromSource = await readNupkgFrom(createBufferZipSource(archive), limits);
  expect(fingerprint(fromSource)).toBe(fingerprint(fromBuffer));
  return fromBuffer;
}

/** Refused through both paths, with the same message. */
async function refusedBoth(archive: Buffer, limits?: Partial<NupkgLimits>): Promise<InvalidPackageError> {
  const fromBuffer = refusal(() => readNupkg(archive, limits));
  const fromSource: unknown = await readNupkgFrom(createBufferZipSource(archive), limits).then(
    () => new Error('read through a ZipSource'),
    (error: unknown) => error,
  );
  expect(fromSource).toBeInstanceOf(InvalidPackageError);
  expect((fromSource as Error).message).toBe(fromBuffer.message);
  return fromBuffer;
}

describe('readNupkg: a valid package', () => {
  it('reads the manifest, the nuspec bytes and the entry list', () => {
    const nuspec = nuspecXml();
    const contents = readNupkg(buildPackage([{ name: 'lib/' }, { name: 'content/readme.txt', data: 'x'.repeat(300) }], nuspec));
    expect(contents.manifest.id).toBe('Contoso.Widgets');
    expect(contents.nuspecName).toBe('Contoso.Widgets.nuspec');
    expect(contents.nuspecBytes.toString('utf8')).toBe(nuspec);
    expect(contents.isSymbolsPackage).toBe(false);
    expect(contents.isSigned).toBe(false);
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

  it('extracts the icon, readme and license file the nuspec names, resolving \\ and ./ in its paths', () => {
    const contents = readNupkg(
      buildPackage(
        [
          { name: 'Images/Icon.PNG', data: PNG },
          { name: 'docs/README.md', data: '# Widgets' },
          { name: 'LICENSE.txt', data: 'MIT License' },
        ],
        nuspecXml('<icon>Images\\Icon.PNG</icon><readme>./docs/README.md</readme><license type="file">LICENSE.txt</license>'),
      ),
    );
    expect(contents.icon).toEqual({ path: 'Images/Icon.PNG', bytes: PNG });
    expect(contents.readme).toEqual({ path: 'docs/README.md', bytes: Buffer.from('# Widgets') });
    expect(contents.licenseFile).toEqual({ path: 'LICENSE.txt', bytes: Buffer.from('MIT License') });
  });

  it('matches percent-escaped entry names with the unescaped nuspec path', () => {
    const contents = readNupkg(buildPackage([{ name: 'my%20icon.png', data: PNG }], nuspecXml('<icon>my icon.png</icon>')));
    expect(contents.icon?.path).toBe('my%20icon.png');
  });

  it('does not inflate entries it does not need, even broken ones', () => {
    const zip = buildPackage([{ name: 'lib/broken.dll', data: 'y'.repeat(500) }]);
    const { local } = headersOf(zip, 'lib/broken.dll');
    const dataStart = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
    zip.fill(0xff, dataStart, dataStart + zip.readUInt32LE(local + 18));
    expect(readNupkg(zip).entries.map((e) => e.fullName)).toContain('lib/broken.dll');
  });

  it('reads through a ZipSource exactly what it reads from a Buffer', async () => {
    const zip = buildPackage([{ name: 'icon.png', data: PNG }, { name: 'README.md', data: '# Hi' }], nuspecXml('<icon>icon.png</icon><readme>README.md</readme>'));
    const contents = await readBoth(zip);
    expect(contents.icon?.bytes).toEqual(PNG);
  });

  it('reads a 32 MiB package touching only its end records, directory, headers and metadata', async () => {
    const big = randomBytes(32 * MiB);
    const zip = writeZip({ entries: rawPackage([{ name: 'content/big.bin', data: big, method: 'stored' }, { name: 'icon.png', data: PNG }], '<icon>icon.png</icon>') });
    const source = countingSource(zip);

    const contents = await readNupkgFrom(source);

    expect(contents.entries.find((e) => e.fullName === 'content/big.bin')?.length).toBe(32 * MiB);
    expect(contents.icon?.bytes).toEqual(PNG);
    expect(source.bytesRead).toBeLessThan(128 * 1024);
    expect(source.largestRead).toBeLessThan(70 * 1024);
  });
});

describe('readNupkg: the nuspec', () => {
  it('#9 refuses a package without a nuspec', () => {
    expect(refusal(() => readNupkg(buildZip([{ name: 'lib/a.dll', data: 'x' }]))).message).toMatch(/no \.nuspec file at its root/);
  });

  it('#9 refuses a package whose only nuspec is in a subfolder', () => {
    const zip = buildZip([{ name: 'sub/Contoso.Widgets.nuspec', data: nuspecXml() }]);
    expect(refusal(() => readNupkg(zip)).message).toMatch(/no \.nuspec file at its root \(found 'sub\/Contoso\.Widgets\.nuspec' in a subfolder\)/);
  });

  it('#9 refuses two nuspecs at the root', () => {
    const zip = buildZip([
      { name: 'a.nuspec', data: nuspecXml() },
      { name: 'b.NUSPEC', data: nuspecXml() },
    ]);
    const error = refusal(() => readNupkg(zip));
    expect(error.message).toMatch(/2 \.nuspec files at its root \('a\.nuspec', 'b\.NUSPEC'\)/);
  });

  it.each([
    ['Latin-1 bytes', Buffer.from(nuspecXml('<title>Grüße</title>').replace(' encoding="utf-8"', ''), 'latin1'), /not valid UTF-8/],
    ['UTF-16 without a byte order mark', Buffer.from(nuspecXml().replace('utf-8', 'utf-16'), 'utf16le'), /UTF-16 without a byte order mark/],
    ['a declared windows-1252', Buffer.from(nuspecXml().replace('utf-8', 'windows-1252')), /declares encoding="windows-1252"/],
  ])('#9 refuses a nuspec in the wrong encoding: %s', async (_what, nuspec, message) => {
    const zip = writeZip({ entries: [{ name: 'Contoso.Widgets.nuspec', data: nuspec }] });
    expect((await refusedBoth(zip)).message).toMatch(message);
  });

  it('accepts nuspecs in subfolders next to the root one', () => {
    expect(readNupkg(buildPackage([{ name: 'content/other.nuspec', data: 'not parsed' }])).nuspecName).toBe('Contoso.Widgets.nuspec');
  });

  it('#11 refuses a nuspec whose declared size is over the cap, without reading it', () => {
    expect(refusal(() => readNupkg(buildPackage(), { maxNuspecBytes: 50 })).message).toMatch(/nuspec 'Contoso\.Widgets\.nuspec' is \d+ bytes; the limit is 50 bytes/);
  });

  it('#11 refuses a 50 MB description by the nuspec cap', async () => {
    const zip = writeZip({ entries: [{ name: 'Contoso.Widgets.nuspec', data: nuspecOf({ metadata: `<summary>${'x'.repeat(50 * MiB)}</summary>` }) }] });
    expect(zip.length).toBeLessThan(MiB);
    expect((await refusedBoth(zip)).message).toMatch(/nuspec 'Contoso\.Widgets\.nuspec' is \d{8} bytes; the limit is 1048576 bytes/);
  });

  it('#10 refuses a nuspec with a DTD: external entity, parameter entity to a metadata address, billion laughs', async () => {
    const laughs = ['<!ENTITY lol "lol">', ...Array.from({ length: 9 }, (_, i) => `<!ENTITY lol${i + 1} "${`&lol${i === 0 ? '' : i};`.repeat(10)}">`)].join('');
    for (const prolog of [
      '<!DOCTYPE package [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
      '<!DOCTYPE package [<!ENTITY % remote SYSTEM "http://169.254.169.254/latest/meta-data/">%remote;]>',
      `<!DOCTYPE package [${laughs}]>`,
    ]) {
      const zip = writeZip({ entries: [{ name: 'Contoso.Widgets.nuspec', data: nuspecOf({ prolog }) }] });
      expect((await refusedBoth(zip)).message).toMatch(/DOCTYPE declaration; DTDs and custom entities are not allowed/);
    }
  });

  it('#13 passes version problems through', () => {
    const zip = buildPackage([], nuspecXml().replace('<version>2.1.0</version>', '<version>1.0.0-</version>'));
    expect(refusal(() => readNupkg(zip)).message).toMatch(/<version> '1\.0\.0-'/);
  });
});

describe('readNupkg: embedded files', () => {
  it.each([
    ['<icon>images/icon.png</icon>', /icon file 'images\/icon\.png'/],
    ['<readme>docs/README.md</readme>', /readme file 'docs\/README\.md'/],
    ['<license type="file">LICENSE.txt</license>', /license file 'LICENSE\.txt'/],
  ])('#21 refuses %s when the file is missing, naming it', (extra, message) => {
    const error = refusal(() => readNupkg(buildPackage([], nuspecXml(extra))));
    expect(error.message).toMatch(message);
    expect(error.message).toMatch(/does not contain it/);
  });

  it('#21 refuses an icon that is only a directory', () => {
    expect(refusal(() => readNupkg(buildPackage([{ name: 'icon.png/' }], nuspecXml('<icon>icon.png</icon>')))).message).toMatch(/icon file/);
  });

  it.each([
    ['<icon>images/icon.png</icon>', 'Images/Icon.png', PNG],
    ['<readme>readme.md</readme>', 'README.md', '# Hi'],
    ['<license type="file">license.txt</license>', 'LICENSE.txt', 'MIT'],
  ])('#21 refuses %s when the file in the package is %s (the case differs)', async (extra, stored, data) => {
    const error = await refusedBoth(writeZip({ entries: rawPackage([{ name: stored, data }], extra) }));
    expect(error.message).toMatch(/the names differ in case/);
    expect(error.details).toMatchObject({ entry: stored });
  });

  it('#21 refuses a 2 MB icon and accepts one of 1 MiB (the NuGet Gallery limit)', async () => {
    const icon = (size: number) => Buffer.concat([PNG.subarray(0, 8), randomBytes(size - 8)]);
    const tooBig = writeZip({ entries: rawPackage([{ name: 'icon.png', data: icon(2 * 1000 * 1000) }], '<icon>icon.png</icon>') });
    expect((await refusedBoth(tooBig)).message).toMatch(/icon file 'icon\.png' is 2000000 bytes; the limit is 1048576 bytes/);
    const atLimit = writeZip({ entries: rawPackage([{ name: 'icon.png', data: icon(MiB) }], '<icon>icon.png</icon>') });
    expect((await readBoth(atLimit)).icon?.bytes.length).toBe(MiB);
  });

  it('#21 refuses a readme of more than 1 MiB', async () => {
    const zip = writeZip({ entries: rawPackage([{ name: 'README.md', data: 'r'.repeat(MiB + 1) }], '<readme>README.md</readme>') });
    expect((await refusedBoth(zip)).message).toMatch(/readme file 'README\.md' is 1048577 bytes; the limit is 1048576/);
  });

  it('#21 refuses an embedded file over a cap given by the caller', () => {
    const zip = buildPackage([{ name: 'README.md', data: 'r'.repeat(2000) }], nuspecXml('<readme>README.md</readme>'));
    expect(refusal(() => readNupkg(zip, { maxEmbeddedFileBytes: 1000 })).message).toMatch(/readme file 'README\.md' is 2000 bytes; the limit is 1000/);
    expect(readNupkg(zip, { maxEmbeddedFileBytes: 2000 }).readme?.bytes.length).toBe(2000);
  });

  it.each([
    ['a readme with NUL bytes', '<readme>README.md</readme>', 'README.md', Buffer.from('# Title\0\0\0binary')],
    ['a readme that is not UTF-8', '<readme>README.md</readme>', 'README.md', randomBytes(4096)],
    ['a UTF-16 readme', '<readme>README.md</readme>', 'README.md', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('# Hi', 'utf16le')])],
    ['a binary license file', '<license type="file">LICENSE.txt</license>', 'LICENSE.txt', Buffer.from([0x4d, 0x5a, 0x90, 0, 3, 0, 0, 0])],
  ])('#21 refuses %s: text files must be UTF-8 text', async (_what, extra, name, data) => {
    expect((await refusedBoth(writeZip({ entries: rawPackage([{ name, data }], extra) }))).message).toMatch(/is not UTF-8 text/);
  });

  it.each([
    ['an SVG', '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'],
    ['HTML', '<html><script>alert(1)</script></html>'],
    ['an empty file', ''],
  ])('#21 refuses an icon that is %s, not a PNG or JPEG', async (_what, data) => {
    const zip = writeZip({ entries: rawPackage([{ name: 'icon.png', data }], '<icon>icon.png</icon>') });
    expect((await refusedBoth(zip)).message).toMatch(/icon file 'icon\.png' is not a PNG or JPEG image/);
  });

  it('#21 refuses a readme that is not Markdown and a license file with another extension', async () => {
    const readme = writeZip({ entries: rawPackage([{ name: 'README.html', data: '<h1>x</h1>' }], '<readme>README.html</readme>') });
    expect((await refusedBoth(readme)).message).toMatch(/readme file 'README\.html' must be a Markdown file ending in \.md/);
    const license = writeZip({ entries: rawPackage([{ name: 'LICENSE.exe', data: 'MIT' }], '<license type="file">LICENSE.exe</license>') });
    expect((await refusedBoth(license)).message).toMatch(/license file 'LICENSE\.exe' has the extension '\.exe'/);
  });

  it('#21 accepts a JPEG icon, a UTF-8 readme with a BOM and a license file without an extension', async () => {
    const jpeg = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 0x10, 0x4a, 0x46, 0x49, 0x46]);
    const readme = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('# Grüße ☺\n')]);
    const zip = writeZip({
      entries: rawPackage(
        [
          { name: 'icon.jpg', data: jpeg },
          { name: 'docs/README.md', data: readme },
          { name: 'LICENSE', data: 'MIT License\n' },
        ],
        '<icon>icon.jpg</icon><readme>docs/README.md</readme><license type="file">LICENSE</license>',
      ),
    });
    const contents = await readBoth(zip);
    expect(contents.icon?.bytes).toEqual(jpeg);
    expect(contents.readme?.bytes).toEqual(readme);
    expect(contents.licenseFile?.path).toBe('LICENSE');
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
    [['LIB/NET8.0/CONTOSO.WIDGETS.DLL']],
  ])('#6 refuses the duplicate entries %j', async (names) => {
    const entries = names.length === 1 ? rawPackage(names.map((name) => ({ name }))) : rawPackage(names.map((name, i) => ({ name, data: `data ${i}` })));
    const error = await refusedBoth(writeZip({ entries }));
    expect(error.message).toMatch(/contains the same file twice/);
    if (names.length > 1) expect(error.details).toEqual({ entries: names });
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
  ])('#7 refuses the entry name %j', async (name, message) => {
    expect((await refusedBoth(writeZip({ entries: rawPackage([{ name, data: 'x' }]) }))).message).toMatch(message);
  });

  it('#7 refuses entry names of more than 1,000 characters', async () => {
    for (const [length, message] of [[997, /1001 characters/], [5000, /5004 characters/]] as const) {
      expect((await refusedBoth(writeZip({ entries: rawPackage([{ name: `lib/${'a'.repeat(length)}`, data: 'x' }]) }))).message).toMatch(message);
    }
  });

  it('#7 accepts an entry name of 1000 characters', async () => {
    expect((await readBoth(buildPackage([{ name: `lib/${'a'.repeat(996)}`, data: 'x' }]))).entries).toHaveLength(3);
  });

  it('refuses an encrypted entry', () => {
    const zip = buildPackage([{ name: 'lib/secret.dll', data: 'x' }]);
    const { central, local } = headersOf(zip, 'lib/secret.dll');
    zip.writeUInt16LE(zip.readUInt16LE(central + 8) | 1, central + 8);
    zip.writeUInt16LE(zip.readUInt16LE(local + 6) | 1, local + 6);
    expect(refusal(() => readNupkg(zip)).message).toMatch(/encrypted entry \('lib\/secret\.dll'\)/);
  });

  it('refuses an entry with a compression method NuGet clients cannot extract', async () => {
    const zip = writeZip({ entries: rawPackage([{ name: 'lib/a.dll', data: 'x', method: 14 }]) });
    expect((await refusedBoth(zip)).message).toMatch(/entry 'lib\/a\.dll' uses compression method 14/);
  });

  it('#4 lying sizes: refuses a nuspec that inflates to more than its declared size', () => {
    const zip = declareSize(buildPackage(), 'Contoso.Widgets.nuspec', 40);
    expect(refusal(() => readNupkg(zip)).message).toMatch(/corrupt: entry 'Contoso\.Widgets\.nuspec' does not inflate to its declared size of 40 bytes/);
  });

  it('#4 lying sizes: refuses a nuspec that inflates to less than its declared size', () => {
    const zip = buildPackage();
    const { central } = headersOf(zip, 'Contoso.Widgets.nuspec');
    const lying = declareSize(zip, 'Contoso.Widgets.nuspec', zip.readUInt32LE(central + 24) + 10);
    expect(refusal(() => readNupkg(lying)).message).toMatch(/corrupt/);
  });

  it('#4 lying sizes: refuses a stored nuspec whose compressed and uncompressed sizes differ', async () => {
    const zip = writeZip({ entries: [{ name: 'Contoso.Widgets.nuspec', data: nuspecOf(), method: 'stored', declaredSize: 100 }] });
    expect((await refusedBoth(zip)).message).toMatch(/does not inflate to its declared size of 100 bytes/);
  });

  it('#4 lying sizes: refuses a central directory whose size disagrees with the local header', () => {
    const zip = buildPackage();
    const { central } = headersOf(zip, 'Contoso.Widgets.nuspec');
    zip.writeUInt32LE(zip.readUInt32LE(central + 24) - 1, central + 24);
    expect(refusal(() => readNupkg(zip)).message).toMatch(/corrupt: .*different sizes/);
  });

  it('#4 lying sizes: refuses an entry the package never opens whose local header declares other sizes', async () => {
    const zip = writeZip({ entries: rawPackage([{ name: 'lib/a.dll', data: 'x'.repeat(100), localSizes: { compressed: 5, size: 1 } }]) });
    expect((await refusedBoth(zip)).message).toMatch(/entry 'lib\/a\.dll' declares different sizes in its local header/);
  });

  it('#4 lying sizes: refuses a nuspec that fails its CRC check', () => {
    const zip = buildPackage();
    const { central, local } = headersOf(zip, 'Contoso.Widgets.nuspec');
    zip.writeUInt32LE((zip.readUInt32LE(central + 16) ^ 1) >>> 0, central + 16);
    zip.writeUInt32LE((zip.readUInt32LE(local + 14) ^ 1) >>> 0, local + 14);
    expect(refusal(() => readNupkg(zip)).message).toMatch(/fails its CRC-32 check/);
  });

  it('#3 zip bomb: refuses a readme that declares 100 bytes and inflates to 64 MiB, inflating at most 101 bytes', async () => {
    const bomb = Buffer.alloc(64 * MiB);
    const zip = declareSize(buildPackage([{ name: 'README.md', data: bomb }], nuspecXml('<readme>README.md</readme>')), 'README.md', 100);
    expect(zip.length).toBeLessThan(MiB);
    expect((await refusedBoth(zip)).message).toMatch(/corrupt: entry 'README\.md' does not inflate to its declared size of 100 bytes/);
  });

  it('#3 zip bomb: refuses a nuspec and an icon that declare 1 MiB and inflate to 100 MiB, inflating at most 1 MiB + 1', async () => {
    const zeros = Buffer.alloc(100 * MiB);
    const nuspecBomb = writeZip({ entries: [{ name: 'Contoso.Widgets.nuspec', data: zeros, declaredSize: MiB }] });
    expect(nuspecBomb.length).toBeLessThan(MiB);
    expect((await refusedBoth(nuspecBomb)).message).toMatch(/entry 'Contoso\.Widgets\.nuspec' does not inflate to its declared size of 1048576 bytes/);
    const iconBomb = writeZip({ entries: rawPackage([{ name: 'icon.png', data: zeros, declaredSize: MiB }], '<icon>icon.png</icon>') });
    expect((await refusedBoth(iconBomb)).message).toMatch(/entry 'icon\.png' does not inflate to its declared size of 1048576 bytes/);
  });

  it('#3 zip bomb: refuses a 10 MB package whose nuspec inflates to 10 GiB, never inflating past the cap', async () => {
    // Deflate blocks of 1 MiB of zeros, ending byte-aligned (sync flush), repeated 10,240 times, then a final empty block.
    const block = deflateRawSync(Buffer.alloc(MiB), { finishFlush: constants.Z_SYNC_FLUSH });
    const stream = Buffer.concat([...Array.from({ length: 10_240 }, () => block), Buffer.from([0x01, 0x00, 0x00, 0xff, 0xff])]);
    expect(stream.length).toBeLessThan(12 * MiB);
    const zip = writeZip({ entries: [{ name: 'Contoso.Widgets.nuspec', data: Buffer.alloc(0), declaredSize: MiB }] });
    const bomb = withDeflatedData(zip, 'Contoso.Widgets.nuspec', stream);
    expect((await refusedBoth(bomb)).message).toMatch(/entry 'Contoso\.Widgets\.nuspec' does not inflate to its declared size of 1048576 bytes/);
  });

  it('#3 zip bomb: refuses a readme by its declared size, before reading it', async () => {
    const zip = writeZip({ entries: rawPackage([{ name: 'README.md', data: Buffer.alloc(6 * MiB, 0x61), method: 'stored' }], '<readme>README.md</readme>') });
    const source = countingSource(zip);
    await expect(readNupkgFrom(source)).rejects.toThrow(/readme file 'README\.md' is 6291456 bytes; the limit is 1048576/);
    expect(source.bytesRead).toBeLessThan(zip.length / 2);
  });

  it('#3 zip bomb: refuses a package whose declared sizes add up to more than the cap', () => {
    const zip = buildPackage([{ name: 'content/big.bin', data: Buffer.alloc(5000) }]);
    expect(refusal(() => readNupkg(zip, { maxTotalUncompressedBytes: 4000 })).message).toMatch(/more than 4000 bytes uncompressed/);
  });

  it('#3 zip bomb: refuses an entry declaring 10 GB by the 1 GiB total cap', async () => {
    const zip = writeZip({ entries: rawPackage([{ name: 'content/huge.bin', data: 'x' }]), zip64: {} });
    // Give the entry a zip64 size of 10 GB: rewrite its central record with a zip64 extra field.
    const patched = withZip64Size(zip, 'content/huge.bin', 10_000_000_000);
    expect((await refusedBoth(patched)).message).toMatch(/add up to more than 1073741824 bytes uncompressed/);
  });

  it('#3 zip bomb: a nested zip is an ordinary entry, never opened', async () => {
    const inner = writeZip({ entries: [{ name: 'bomb.bin', data: Buffer.alloc(16 * MiB), declaredSize: 1 }] });
    const contents = await readBoth(writeZip({ entries: rawPackage([{ name: 'content/inner.zip', data: inner, method: 'stored' }]) }));
    expect(contents.entries.find((e) => e.fullName === 'content/inner.zip')?.length).toBe(inner.length);
  });

  it('#5 refuses an entry whose local header has another name', () => {
    const zip = buildPackage([{ name: 'lib/a.dll', data: 'x' }]);
    const { local } = headersOf(zip, 'lib/a.dll');
    zip.write('b', local + 30 + 'lib/'.length);
    expect(refusal(() => readNupkg(zip)).message).toMatch(/corrupt: entry 'lib\/a\.dll' has a different name in its local header/);
  });

  it('#5 refuses an entry whose local header name hides a traversal', async () => {
    const zip = writeZip({ entries: rawPackage([{ name: 'lib/aaaaaa.dll', localName: '../../evil.dll', data: 'x' }]) });
    expect((await refusedBoth(zip)).message).toMatch(/entry 'lib\/aaaaaa\.dll' has a different name in its local header than in the central directory/);
  });

  it('#5 refuses a package with as many entries as the cap', () => {
    const files = Array.from({ length: 3 }, (_, i) => ({ name: `lib/f${i}.dll`, data: `${i}` }));
    expect(refusal(() => readNupkg(buildPackage(files), { maxEntries: 5 })).message).toMatch(/5 entries; the limit is 4/);
    expect(readNupkg(buildPackage(files), { maxEntries: 6 }).entries).toHaveLength(5);
  });

  it('#5 refuses 65,534 entries and reads 65,533', { timeout: 60_000 }, async () => {
    const files = (count: number): ZipEntrySpec[] =>
      Array.from({ length: count - 2 }, (_, i) => ({ name: `c/${i.toString(36)}`, method: 'stored' as const }));
    const tooMany = writeZip({ entries: rawPackage(files(65_534)) });
    expect((await refusedBoth(tooMany)).message).toMatch(/65534 entries; the limit is 65533/);
    const most = writeZip({ entries: rawPackage(files(65_533)) });
    expect((await readBoth(most)).entries).toHaveLength(65_533);
  });

  it('#5 refuses a package that claims 65,535 entries, before reading them', () => {
    const zip = buildPackage();
    const end = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
    zip.writeUInt16LE(0xffff, end + 8);
    zip.writeUInt16LE(0xffff, end + 10);
    expect(refusal(() => readNupkg(zip)).message).toMatch(/65535 entries; the limit is 65533/);
  });

  it('#5 refuses a zip64 end record that claims 2^40 entries, before reading them', async () => {
    const zip = writeZip({ entries: rawPackage(), zip64: { count: 2 ** 40 } });
    expect((await refusedBoth(zip)).message).toMatch(/1099511627776 entries; the limit is 65533/);
  });

  it('#5 reads a consistent zip64 archive', async () => {
    expect((await readBoth(writeZip({ entries: rawPackage(), zip64: {} }))).entries).toHaveLength(2);
  });

  it.each([
    ['the zip64 record counts 3 entries, the classic one 2', { zip64: { count: 3 }, eocd: { count: 2 } }, /end record counts 2 entries but the zip64 end record 3/],
    ['the zip64 record counts 1 entry on this disk and 2 in all', { zip64: { diskCount: 1 } }, /counts 1 entries on this disk but 2 in all/],
    ['the records place the directory at different offsets', { zip64: {}, eocd: { centralDirectoryOffset: 10 } }, /place the central directory differently/],
    ['the zip64 directory size is too small', { zip64: { centralDirectorySize: 60 } }, /does not end where the end record begins/],
    ['the classic record counts 1 entry, the directory holds 2', { eocd: { count: 1, diskCount: 1 } }, /holds more than the 1 entries its end record counts/],
    ['the classic record counts 3 entries, the directory holds 2', { eocd: { count: 3, diskCount: 3 } }, /counts 3 entries, more than|ends after 2 of 3 entries/],
    ['the record says the archive spans disks', { eocd: { disk: 1 } }, /spans several disks/],
    ['the directory offset points into an entry', { eocd: { centralDirectoryOffset: 5 } }, /does not end where the end record begins/],
  ] as const)('#5 refuses inconsistent end records: %s', async (_what, damage, message) => {
    const zip = writeZip({ entries: rawPackage(), ...damage });
    expect((await refusedBoth(zip)).message).toMatch(message);
  });

  it('#5 refuses two entries that share one local header (overlapping entries)', async () => {
    const zip = writeZip({ entries: rawPackage([{ name: 'lib/a.dll', data: 'a' }, { name: 'lib/b.dll', data: 'b', localHeaderOffset: 0 }]) });
    expect((await refusedBoth(zip)).message).toMatch(/corrupt: entry '.*' overlaps entry/);
  });

  it('#5 refuses bytes appended after the end record, and data prepended before the first entry', async () => {
    expect((await refusedBoth(writeZip({ entries: rawPackage(), suffix: Buffer.from('trailing') }))).message).toMatch(/not a readable zip archive/);
    const prepended = Buffer.concat([Buffer.from('MZ self-extractor stub'), buildPackage()]);
    expect((await refusedBoth(prepended)).message).toMatch(/does not end where the end record begins|no local header/);
  });

  it('accepts an archive comment and padding before the central directory', async () => {
    const contents = await readBoth(writeZip({ entries: rawPackage(), comment: 'made by a test', gap: Buffer.alloc(64) }));
    expect(contents.entries).toHaveLength(2);
  });

  it('refuses a central directory over its cap', async () => {
    expect((await refusedBoth(buildPackage(), { maxCentralDirectoryBytes: 64 })).message).toMatch(/central directory is \d+ bytes; the limit is 64/);
  });

  it.each([
    ['an empty upload', Buffer.alloc(0)],
    ['text', Buffer.from('this is not a zip file at all, just some words')],
    ['a truncated zip', buildPackage().subarray(0, 100)],
  ])('refuses %s as not a zip', async (_what, bytes) => {
    expect((await refusedBoth(bytes)).message).toMatch(/not a readable zip archive/);
  });
});

describe('readNupkg: package signatures (not verified)', () => {
  it('#19 accepts a garbage .signature.p7s without reading it, as signed but unverified', async () => {
    const zip = writeZip({ entries: rawPackage([{ name: '.signature.p7s', data: randomBytes(3000) }]) });
    const contents = await readBoth(zip);
    expect(contents.isSigned).toBe(true);
    expect(contents.entries.map((e) => e.fullName)).toContain('.signature.p7s');
  });

  it('#19 accepts a 50 MB .signature.p7s without reading it', async () => {
    const zip = writeZip({ entries: rawPackage([{ name: '.signature.p7s', data: Buffer.alloc(50 * 1000 * 1000, 0x30), method: 'stored' }]) });
    const source = countingSource(zip);
    const contents = await readNupkgFrom(source);
    expect(contents.isSigned).toBe(true);
    expect(source.bytesRead).toBeLessThan(256 * 1024);
  });

  it('#19 does not treat a signature file in a subfolder as a package signature', async () => {
    expect((await readBoth(writeZip({ entries: rawPackage([{ name: 'content/.signature.p7s', data: 'x' }]) }))).isSigned).toBe(false);
  });
});

/** Replaces the (empty) data of a deflated entry with `stream`, moving everything after it. */
function withDeflatedData(zip: Buffer, name: string, stream: Buffer): Buffer {
  const { central, local } = headersOf(zip, name);
  const dataStart = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
  const oldLength = zip.readUInt32LE(central + 20);
  const shift = stream.length - oldLength;
  const patched = Buffer.concat([zip.subarray(0, dataStart), stream, zip.subarray(dataStart + oldLength)]);
  patched.writeUInt32LE(stream.length, local + 18);
  const movedCentral = central + shift;
  patched.writeUInt32LE(stream.length, movedCentral + 20);
  const end = patched.length - 22;
  patched.writeUInt32LE(patched.readUInt32LE(end + 16) + shift, end + 16);
  return patched;
}

/** Rewrites one entry's central record so its uncompressed size is `size`, in a zip64 extra field. */
function withZip64Size(zip: Buffer, name: string, size: number): Buffer {
  const { central } = headersOf(zip, name);
  const nameLength = zip.readUInt16LE(central + 28);
  const extra = Buffer.alloc(12);
  extra.writeUInt16LE(0x0001, 0);
  extra.writeUInt16LE(8, 2);
  extra.writeBigUInt64LE(BigInt(size), 4);
  const record = Buffer.from(zip.subarray(central, central + 46 + nameLength));
  record.writeUInt32LE(0xffffffff, 24);
  record.writeUInt16LE(12, 30);
  const patched = Buffer.concat([zip.subarray(0, central), record, extra, zip.subarray(central + 46 + nameLength)]);
  // The central directory grew by 12 bytes: fix its size in the zip64 end record, which moved too.
  const zip64At = patched.lastIndexOf(Buffer.from([0x50, 0x4b, 0x06, 0x06]));
  patched.writeBigUInt64LE(patched.readBigUInt64LE(zip64At + 40) + 12n, zip64At + 40);
  const locatorAt = patched.lastIndexOf(Buffer.from([0x50, 0x4b, 0x06, 0x07]));
  patched.writeBigUInt64LE(BigInt(zip64At), locatorAt + 8);
  // The local header must agree: mark its size as zip64 too.
  const local = patched.readUInt32LE(central + 42);
  patched.writeUInt32LE(0xffffffff, local + 22);
  return patched;
}

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

/**
 * What the former reader (adm-zip over the whole Buffer) produced: entries from adm-zip's view of
 * the central directory, the root nuspec, and the embedded files inflated by adm-zip.
 */
function readWithAdmZip(archive: Buffer): Omit<NupkgContents, 'isSigned'> {
  const zip = new AdmZip(archive, { noSort: true });
  const files = zip.getEntries().filter((e) => !e.isDirectory);
  const nuspecEntry = files.find((e) => !/[/\\]/.test(e.entryName) && e.entryName.toLowerCase().endsWith('.nuspec'))!;
  const nuspecBytes = nuspecEntry.getData();
  const manifest = parseNuspec(nuspecBytes);
  const find = (path: string) => {
    const wanted = path.replaceAll('\\', '/').replace(/^\.\//, '');
    const entry = files.find((e) => decodeURIComponent(e.entryName) === wanted)!;
    return { path: entry.entryName, bytes: entry.getData() };
  };
  const contents: Omit<NupkgContents, 'isSigned'> = {
    manifest,
    nuspecName: nuspecEntry.entryName,
    nuspecBytes,
    entries: files.map((e) => ({ fullName: e.entryName, name: e.name, length: e.header.size, compressedLength: e.header.compressedSize })),
    isSymbolsPackage: manifest.packageTypes.some((t) => t.name.toLowerCase() === 'symbolspackage'),
  };
  if (manifest.icon) contents.icon = find(manifest.icon);
  if (manifest.readme) contents.readme = find(manifest.readme);
  if (manifest.license?.type === 'file') contents.licenseFile = find(manifest.license.value);
  return contents;
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
    expect(contents.entries.map((e) => e.fullName)).toContain(contents.nuspecName);
    if (contents.manifest.icon) expect(contents.icon?.bytes.length).toBeGreaterThan(0);
    if (contents.manifest.readme) expect(contents.readme?.bytes.length).toBeGreaterThan(0);
    expect(contents.isSymbolsPackage).toBe(false);
    // Reading never changes the archive.
    expect(archive.equals(readFileSync(p.file))).toBe(true);
  });

  it.each(packages.map((p) => [`${p.lowerId} ${p.version}`, p] as const))(
    'reads %s exactly as the former adm-zip reader did, from a Buffer and from a ZipSource',
    async (_name, p) => {
      const archive = readFileSync(p.file);
      const before = readWithAdmZip(archive);
      const { isSigned, ...fromBuffer } = readNupkg(archive);
      const { isSigned: signedFromSource, ...fromSource } = await readNupkgFrom(createBufferZipSource(archive));

      expect(fromBuffer).toEqual(before);
      expect(fromSource).toEqual(before);
      expect(signedFromSource).toBe(isSigned);
      expect(isSigned).toBe(before.entries.some((e) => e.fullName === '.signature.p7s'));
    },
  );

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
    expect(contents.isSigned).toBe(true);
  });

  it('#19 accepts a signed package with a modified entry (the signature is not verified)', async () => {
    const file = join(REAL_PACKAGES, 'newtonsoft.json/13.0.3/newtonsoft.json.13.0.3.nupkg');
    if (!existsSync(file)) return;
    const archive = readFileSync(file);
    const { local } = headersOf(archive, 'lib/net45/Newtonsoft.Json.dll');
    const dataStart = local + 30 + archive.readUInt16LE(local + 26) + archive.readUInt16LE(local + 28);
    archive.fill(0x00, dataStart + 100, dataStart + 200);
    const contents = await readBoth(archive);
    expect(contents.isSigned).toBe(true);
    expect(contents.manifest.id).toBe('Newtonsoft.Json');
  });
});
