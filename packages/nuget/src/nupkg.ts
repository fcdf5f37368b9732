import AdmZip from 'adm-zip';
import { crc32, inflateRawSync } from 'node:zlib';
import { InvalidPackageError } from './errors.js';
import { parseNuspec, type PackageManifest } from './nuspec.js';

/** One file of a package, as listed in the catalog's `packageEntries`. */
export interface PackageEntry {
  /** Path inside the zip, exactly as stored. */
  fullName: string;
  /** Last path segment. */
  name: string;
  /** Uncompressed size in bytes, as declared by the zip. */
  length: number;
  /** Compressed size in bytes, as declared by the zip. */
  compressedLength: number;
}

/** Caps applied while reading a package; every one of them guards against hostile uploads. */
export interface NupkgLimits {
  /** Entries in the zip; the package is refused at or above this number. @defaultValue 65534 */
  maxEntries: number;
  /** Size of the nuspec, declared and inflated. @defaultValue 1 MiB */
  maxNuspecBytes: number;
  /** Size of each embedded icon, readme or license file. @defaultValue 5 MiB */
  maxEmbeddedFileBytes: number;
  /** Sum of the declared uncompressed sizes of all entries. @defaultValue 1 GiB */
  maxTotalUncompressedBytes: number;
}

/** The default {@link NupkgLimits}. */
export const DEFAULT_NUPKG_LIMITS: Readonly<NupkgLimits> = Object.freeze({
  maxEntries: 65_534,
  maxNuspecBytes: 1024 * 1024,
  maxEmbeddedFileBytes: 5 * 1024 * 1024,
  maxTotalUncompressedBytes: 1024 * 1024 * 1024,
});

/** What {@link readNupkg} extracts from a package. */
export interface NupkgContents {
  manifest: PackageManifest;
  /** Name of the root nuspec entry, as stored (e.g. `Newtonsoft.Json.nuspec`). */
  nuspecName: string;
  nuspecBytes: Buffer;
  /** Every entry except directories, in zip order. */
  entries: PackageEntry[];
  /** The embedded icon named by `<icon>`; `path` is the entry name as stored. */
  icon?: { path: string; bytes: Buffer };
  /** The embedded readme named by `<readme>`. */
  readme?: { path: string; bytes: Buffer };
  /** The license file named by `<license type="file">`. */
  licenseFile?: { path: string; bytes: Buffer };
  /** True when the package types include `SymbolsPackage` (a `.snupkg`). */
  isSymbolsPackage: boolean;
}

const MAX_ENTRY_NAME_LENGTH = 1000;
const LOCAL_HEADER_SIGNATURE = 0x04034b50;
const LOCAL_HEADER_SIZE = 30;
const FLAG_ENCRYPTED = 0x0001;
const FLAG_DATA_DESCRIPTOR = 0x0008;
const METHOD_STORED = 0;
const METHOD_DEFLATED = 8;
const ZIP64_MARKER = 0xffffffff;

type ZipEntry = AdmZip.IZipEntry;

interface CheckedEntry {
  entry: ZipEntry;
  /** Name as stored. */
  fullName: string;
  /** Comparison key: `\` → `/`, percent-decoded, `./` prefix and `.` segments removed, lowercased. */
  key: string;
  isDirectory: boolean;
}

/**
 * Reads a `.nupkg` or `.snupkg` without trusting it.
 *
 * Only the central directory is read for the entry list; the only entries ever inflated are the
 * root nuspec and the icon, readme and license file it names, each with a size cap, and each
 * checked to inflate to exactly its declared size and CRC. Refused (as {@link InvalidPackageError}):
 * not a zip; too many entries; total declared size over the cap; entry names that are absolute,
 * contain `..` segments or NUL, or are over 1000 characters; duplicate entries after normalization
 * (case-insensitive, `\` → `/`, leading `./` removed); encrypted entries; local and central headers
 * that disagree; zero or several `.nuspec` files at the root; an icon/readme/license file the
 * nuspec names but the package lacks; and anything {@link parseNuspec} refuses.
 *
 * The archive bytes are never modified.
 *
 * @throws InvalidPackageError (code `invalid_package`) with a message naming the problem.
 */
export function readNupkg(archive: Buffer, limits?: Partial<NupkgLimits>): NupkgContents {
  const caps: NupkgLimits = { ...DEFAULT_NUPKG_LIMITS, ...limits };

  // 1. Open the central directory; check the entry count before adm-zip reads the entries.
  let zip: AdmZip;
  let entries: ZipEntry[];
  try {
    zip = new AdmZip(archive, { noSort: true, readEntries: false });
    const declaredCount = zip.getEntryCount();
    if (declaredCount >= caps.maxEntries) throw tooManyEntries(declaredCount, caps.maxEntries);
    entries = zip.getEntries();
  } catch (error) {
    if (error instanceof InvalidPackageError) throw error;
    throw notAZip(error);
  }
  if (entries.length >= caps.maxEntries) throw tooManyEntries(entries.length, caps.maxEntries);

  // 2. Check every entry's name, flags, local header and size; detect duplicates.
  const checked: CheckedEntry[] = [];
  const byKey = new Map<string, CheckedEntry>();
  let totalSize = 0;
  for (const entry of entries) {
    const current = checkEntry(archive, entry);
    const previous = byKey.get(current.key);
    if (previous) {
      throw new InvalidPackageError(
        `The package contains the same file twice: '${previous.fullName}' and '${current.fullName}' ` +
          '(names are compared ignoring case, with \\ and / treated alike).',
        { entries: [previous.fullName, current.fullName] },
      );
    }
    byKey.set(current.key, current);
    checked.push(current);
    totalSize += entry.header.size;
    if (totalSize > caps.maxTotalUncompressedBytes) {
      throw new InvalidPackageError(
        `The package's files add up to more than ${caps.maxTotalUncompressedBytes} bytes uncompressed.`,
        { limit: caps.maxTotalUncompressedBytes },
      );
    }
  }

  // 3. Exactly one nuspec at the root (no '/' or '\' in the stored name).
  const nuspecs = checked.filter((c) => !c.isDirectory && c.fullName.toLowerCase().endsWith('.nuspec'));
  const rootNuspecs = nuspecs.filter((c) => !/[/\\]/.test(c.fullName));
  if (rootNuspecs.length === 0) {
    const nested = nuspecs[0];
    throw new InvalidPackageError(
      nested
        ? `The package has no .nuspec file at its root (found '${nested.fullName}' in a subfolder); move it to the root.`
        : 'The package has no .nuspec file at its root; is this a NuGet package?',
    );
  }
  if (rootNuspecs.length > 1) {
    throw new InvalidPackageError(
      `The package has ${rootNuspecs.length} .nuspec files at its root (${rootNuspecs.map((c) => `'${c.fullName}'`).join(', ')}); it must have exactly one.`,
      { entries: rootNuspecs.map((c) => c.fullName) },
    );
  }
  const nuspecEntry = rootNuspecs[0]!;
  const nuspecBytes = extract(archive, nuspecEntry, caps.maxNuspecBytes, 'nuspec');
  const manifest = parseNuspec(nuspecBytes, { maxNuspecBytes: caps.maxNuspecBytes });

  // 4. The files the nuspec points at must be in the package.
  const embedded = (path: string, what: string): { path: string; bytes: Buffer } => {
    const found = byKey.get(entryKey(path));
    if (!found || found.isDirectory) {
      throw new InvalidPackageError(
        `The nuspec names the ${what} file '${path}', but the package does not contain it; add the file or fix the path.`,
        { field: what, path },
      );
    }
    return { path: found.fullName, bytes: extract(archive, found, caps.maxEmbeddedFileBytes, `${what} file`) };
  };

  const contents: NupkgContents = {
    manifest,
    nuspecName: nuspecEntry.fullName,
    nuspecBytes,
    entries: checked
      .filter((c) => !c.isDirectory)
      .map((c) => ({
        fullName: c.fullName,
        name: c.fullName.split(/[/\\]/).pop() ?? c.fullName,
        length: c.entry.header.size,
        compressedLength: c.entry.header.compressedSize,
      })),
    isSymbolsPackage: manifest.packageTypes.some((t) => t.name.toLowerCase() === 'symbolspackage'),
  };
  if (manifest.icon !== undefined) contents.icon = embedded(manifest.icon, 'icon');
  if (manifest.readme !== undefined) contents.readme = embedded(manifest.readme, 'readme');
  if (manifest.license?.type === 'file') contents.licenseFile = embedded(manifest.license.value, 'license');
  return contents;
}

function tooManyEntries(count: number, limit: number): InvalidPackageError {
  return new InvalidPackageError(`The package has ${count} entries; the limit is ${limit - 1}.`, {
    entries: count,
    limit: limit - 1,
  });
}

function notAZip(cause: unknown): InvalidPackageError {
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new InvalidPackageError(`The upload is not a readable zip archive (${reason}); a .nupkg must be a zip file.`, undefined, {
    cause,
  });
}

function corrupt(fullName: string, why: string): InvalidPackageError {
  return new InvalidPackageError(`The package is corrupt: entry '${fullName}' ${why}.`, { entry: fullName });
}

/**
 * The comparison key of an entry or nuspec path: `\` → `/`, percent-escapes decoded (NuGet unescapes
 * names on extraction), leading `./` and inner `.` segments removed, lowercased.
 */
function entryKey(name: string): string {
  const decoded = percentDecode(name.replaceAll('\\', '/')).replaceAll('\\', '/');
  const isDirectory = decoded.endsWith('/');
  const segments = decoded.split('/').filter((segment, i, all) => segment !== '.' && !(i === all.length - 1 && segment === ''));
  return segments.join('/').toLowerCase() + (isDirectory ? '/' : '');
}

function percentDecode(name: string): string {
  try {
    return decodeURIComponent(name);
  } catch {
    return name;
  }
}

function checkEntry(archive: Buffer, entry: ZipEntry): CheckedEntry {
  const fullName = entry.entryName;
  const shown = fullName.length > 200 ? `${fullName.slice(0, 200)}…` : fullName;
  if (fullName.length > MAX_ENTRY_NAME_LENGTH) {
    throw new InvalidPackageError(
      `The package has an entry name of ${fullName.length} characters ('${shown}'); the limit is ${MAX_ENTRY_NAME_LENGTH}.`,
      { entry: shown },
    );
  }
  if (fullName.length === 0) throw new InvalidPackageError('The package has an entry with an empty name.');
  if (fullName.includes('\0')) {
    throw new InvalidPackageError(`The package has an entry name containing a NUL character ('${shown.replaceAll('\0', '\\0')}').`, {
      entry: shown,
    });
  }

  // Check the name as stored and as NuGet would unescape it on extraction.
  for (const candidate of new Set([fullName, percentDecode(fullName)])) {
    const name = candidate.replaceAll('\\', '/');
    if (name.includes('\0')) {
      throw new InvalidPackageError(`The package has an entry name that decodes to a NUL character ('${shown}').`, {
        entry: shown,
      });
    }
    if (name.startsWith('/') || /^[A-Za-z]:/.test(name)) {
      throw new InvalidPackageError(`The package has an entry with an absolute path ('${shown}'); entry paths must be relative.`, {
        entry: shown,
      });
    }
    const segments = name.split('/');
    if (segments.includes('..')) {
      throw new InvalidPackageError(`The package has an entry whose path leaves the package ('${shown}'); '..' is not allowed in entry names.`, {
        entry: shown,
      });
    }
    if (segments.slice(0, -1).includes('')) {
      throw new InvalidPackageError(`The package has an entry name with an empty path segment ('${shown}').`, { entry: shown });
    }
  }

  const header = entry.header;
  if ((header.flags & FLAG_ENCRYPTED) !== 0) {
    throw new InvalidPackageError(`The package has an encrypted entry ('${shown}'); NuGet packages cannot be encrypted.`, {
      entry: shown,
    });
  }
  checkLocalHeader(archive, entry, fullName);
  return { entry, fullName, key: entryKey(fullName), isDirectory: entry.isDirectory };
}

/** The local header must exist where the central directory says and carry the same name. */
function checkLocalHeader(archive: Buffer, entry: ZipEntry, fullName: string): { dataOffset: number; flags: number } {
  const offset = entry.header.offset;
  if (offset + LOCAL_HEADER_SIZE > archive.length || archive.readUInt32LE(offset) !== LOCAL_HEADER_SIGNATURE) {
    throw corrupt(fullName, 'has no local header where the central directory points');
  }
  const flags = archive.readUInt16LE(offset + 6);
  const nameLength = archive.readUInt16LE(offset + 26);
  const extraLength = archive.readUInt16LE(offset + 28);
  const nameStart = offset + LOCAL_HEADER_SIZE;
  const dataOffset = nameStart + nameLength + extraLength;
  if (dataOffset > archive.length) throw corrupt(fullName, 'has a local header that runs past the end of the file');
  const localName = archive.subarray(nameStart, nameStart + nameLength);
  if (!localName.equals(entry.rawEntryName)) {
    throw corrupt(fullName, 'has a different name in its local header than in the central directory');
  }
  return { dataOffset, flags };
}

/**
 * Inflates one entry, refusing it when its declared size is over `cap`, and checking that it
 * inflates to exactly the declared size (reading at most declared + 1 bytes) with the declared CRC.
 */
function extract(archive: Buffer, checked: CheckedEntry, cap: number, what: string): Buffer {
  const { entry, fullName } = checked;
  const header = entry.header;
  const declared = header.size;
  if (declared > cap) {
    throw new InvalidPackageError(`The ${what} '${fullName}' is ${declared} bytes; the limit is ${cap} bytes.`, {
      entry: fullName,
      size: declared,
      limit: cap,
    });
  }
  const { dataOffset, flags } = checkLocalHeader(archive, entry, fullName);
  // Without a data descriptor, the local header repeats the method and sizes: they must agree.
  const localMethod = archive.readUInt16LE(header.offset + 8);
  const localCompressed = archive.readUInt32LE(header.offset + 18);
  const localSize = archive.readUInt32LE(header.offset + 22);
  if (localMethod !== header.method) throw corrupt(fullName, 'has different compression methods in its two headers');
  if (
    (flags & FLAG_DATA_DESCRIPTOR) === 0 &&
    ((localCompressed !== ZIP64_MARKER && localCompressed !== header.compressedSize) ||
      (localSize !== ZIP64_MARKER && localSize !== declared))
  ) {
    throw corrupt(fullName, 'declares different sizes in its local header and in the central directory');
  }
  const end = dataOffset + header.compressedSize;
  if (end > archive.length) throw corrupt(fullName, 'runs past the end of the file');
  const compressed = archive.subarray(dataOffset, end);

  let bytes: Buffer;
  if (header.method === METHOD_STORED) {
    bytes = Buffer.from(compressed);
  } else if (header.method === METHOD_DEFLATED) {
    try {
      bytes = inflateRawSync(compressed, { maxOutputLength: Math.max(1, declared + 1) });
    } catch {
      throw corrupt(fullName, `does not inflate to its declared size of ${declared} bytes`);
    }
  } else {
    throw new InvalidPackageError(
      `The ${what} '${fullName}' uses compression method ${header.method}; only stored and deflated entries are supported.`,
      { entry: fullName, method: header.method },
    );
  }
  if (bytes.length !== declared) {
    throw corrupt(fullName, `does not inflate to its declared size of ${declared} bytes`);
  }
  if (crc32(bytes) !== header.crc) throw corrupt(fullName, 'fails its CRC-32 check');
  return bytes;
}
