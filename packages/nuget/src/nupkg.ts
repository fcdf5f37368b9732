import { InvalidPackageError } from './errors.js';
import { parseNuspec, type PackageManifest } from './nuspec.js';
import {
  checkLocalHeaders,
  corruptEntry,
  FLAG_ENCRYPTED,
  FLAG_STRONG_ENCRYPTION,
  METHOD_DEFLATED,
  METHOD_STORED,
  readCentralDirectory,
  readEntryData,
  shorten,
  type DataOffsets,
  type ZipEntryRecord,
} from './zip-reader.js';
import { runOverBuffer, runOverSource, type ReadSteps, type ZipSource } from './zip-source.js';

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
  /** Size of each embedded icon, readme or license file (the NuGet Gallery's limit for each). @defaultValue 1 MiB */
  maxEmbeddedFileBytes: number;
  /** Sum of the declared uncompressed sizes of all entries. @defaultValue 1 GiB */
  maxTotalUncompressedBytes: number;
  /**
   * Size of the zip's central directory (the entry table, which is kept in memory while reading).
   * 65,533 entries with 500-byte names fit. @defaultValue 32 MiB
   */
  maxCentralDirectoryBytes: number;
}

/** The default {@link NupkgLimits}. */
export const DEFAULT_NUPKG_LIMITS: Readonly<NupkgLimits> = Object.freeze({
  maxEntries: 65_534,
  maxNuspecBytes: 1024 * 1024,
  maxEmbeddedFileBytes: 1024 * 1024,
  maxTotalUncompressedBytes: 1024 * 1024 * 1024,
  maxCentralDirectoryBytes: 32 * 1024 * 1024,
});

/** What {@link readNupkg} extracts from a package. */
export interface NupkgContents {
  manifest: PackageManifest;
  /** Name of the root nuspec entry, as stored (e.g. `Newtonsoft.Json.nuspec`). */
  nuspecName: string;
  nuspecBytes: Buffer;
  /** Every entry except directories, in zip order. */
  entries: PackageEntry[];
  /** The embedded icon named by `<icon>` (a PNG or JPEG); `path` is the entry name as stored. */
  icon?: { path: string; bytes: Buffer };
  /** The embedded readme named by `<readme>` (UTF-8 Markdown). */
  readme?: { path: string; bytes: Buffer };
  /** The license file named by `<license type="file">` (UTF-8 text). */
  licenseFile?: { path: string; bytes: Buffer };
  /** True when the package types include `SymbolsPackage` (a `.snupkg`). */
  isSymbolsPackage: boolean;
  /**
   * True when the package has a package signature entry (`.signature.p7s` at its root). The
   * signature is neither read nor verified: a signed package is "signed: unverified".
   */
  isSigned: boolean;
}

const MAX_ENTRY_NAME_LENGTH = 1000;
const SIGNATURE_KEY = '.signature.p7s';
/** Deflate64 (9) is not inflated here, but NuGet clients can extract it, so it may appear in entries nucat never opens. */
const METHOD_DEFLATE64 = 9;

interface CheckedEntry {
  record: ZipEntryRecord;
  /** Name as stored. */
  fullName: string;
  /** Normalized path: `\` → `/`, percent-decoded, `./` prefix and `.` segments removed; case kept. */
  path: string;
  /** Comparison key: {@link CheckedEntry.path}, lowercased. */
  key: string;
  isDirectory: boolean;
}

/**
 * Reads a `.nupkg` or `.snupkg` held in memory, without trusting it. Same rules as
 * {@link readNupkgFrom}, synchronously.
 *
 * @throws InvalidPackageError (code `invalid_package`) with a message naming the problem.
 */
export function readNupkg(archive: Buffer, limits?: Partial<NupkgLimits>): NupkgContents {
  return runOverBuffer(readNupkgSteps(archive.length, { ...DEFAULT_NUPKG_LIMITS, ...limits }), archive);
}

/**
 * Reads a `.nupkg` or `.snupkg` from a {@link ZipSource} without trusting it, in memory bounded by
 * the limits whatever the archive's size: only the end records, the central directory and the
 * local headers are read for the entry list, and the only entries ever read and inflated are the
 * root nuspec and the icon, readme and license file it names, each under a size cap, each checked to
 * inflate to exactly its declared size (reading at most declared + 1 bytes) and CRC.
 *
 * Refused (as {@link InvalidPackageError}): not a zip, or bytes appended after it; several disks;
 * end and zip64 end records that disagree; a central directory that does not hold exactly the
 * entries its end record counts; too many entries (≥ 65,534 by default); a central directory over
 * its cap; total declared size over the cap; entry names that are absolute, contain `..` segments,
 * empty segments or NUL (also once percent-decoded), or are over 1,000 characters; duplicate entries
 * after normalization (case-insensitive, `\` → `/`, `./` and `%xx` resolved); encrypted entries or
 * unknown compression methods; local headers missing, with another name, method, sizes or CRC than
 * the central directory, or overlapping another entry; zero or several `.nuspec` files at the root;
 * an icon, readme or license file the nuspec names that is missing, differs in case, is over its
 * cap, or has the wrong kind of content (icon: PNG or JPEG; readme: UTF-8 `.md`; license: UTF-8
 * text, `.txt`, `.md` or no extension); and anything {@link parseNuspec} refuses.
 *
 * Errors of the source itself (I/O) propagate unchanged.
 *
 * @throws InvalidPackageError (code `invalid_package`) with a message naming the problem.
 */
export function readNupkgFrom(source: ZipSource, limits?: Partial<NupkgLimits>): Promise<NupkgContents> {
  return runOverSource(readNupkgSteps(source.size, { ...DEFAULT_NUPKG_LIMITS, ...limits }), source);
}

function* readNupkgSteps(size: number, caps: NupkgLimits): ReadSteps<NupkgContents> {
  // 1. The entry table, with the count and size capped before it is read.
  const directory = yield* readCentralDirectory(size, caps);

  // 2. Every entry's name, flags and method; duplicates; the total declared size.
  const checked: CheckedEntry[] = [];
  const byKey = new Map<string, CheckedEntry>();
  let totalSize = 0;
  for (const record of directory.entries) {
    const current = checkEntry(record);
    const previous = byKey.get(current.key);
    if (previous) {
      throw new InvalidPackageError(
        `The package contains the same file twice: '${shorten(previous.fullName)}' and '${shorten(current.fullName)}' ` +
          '(names are compared ignoring case, with \\ and / treated alike).',
        { entries: [previous.fullName, current.fullName].map(shorten) },
      );
    }
    byKey.set(current.key, current);
    checked.push(current);
    totalSize += record.size;
    if (totalSize > caps.maxTotalUncompressedBytes) {
      throw new InvalidPackageError(`The package's files add up to more than ${caps.maxTotalUncompressedBytes} bytes uncompressed.`, {
        limit: caps.maxTotalUncompressedBytes,
      });
    }
  }

  // 3. Every local header agrees with the central directory, and no two entries overlap.
  const dataOffsets = yield* checkLocalHeaders(directory);

  // 4. Exactly one nuspec at the root (no '/' or '\' in the stored name).
  const nuspecs = checked.filter((c) => !c.isDirectory && c.fullName.toLowerCase().endsWith('.nuspec'));
  const rootNuspecs = nuspecs.filter((c) => !/[/\\]/.test(c.fullName));
  if (rootNuspecs.length === 0) {
    const nested = nuspecs[0];
    throw new InvalidPackageError(
      nested
        ? `The package has no .nuspec file at its root (found '${shorten(nested.fullName)}' in a subfolder); move it to the root.`
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
  const nuspecBytes = yield* extract(nuspecEntry, dataOffsets, caps.maxNuspecBytes, 'nuspec');
  const manifest = parseNuspec(nuspecBytes, { maxNuspecBytes: caps.maxNuspecBytes });

  const contents: NupkgContents = {
    manifest,
    nuspecName: nuspecEntry.fullName,
    nuspecBytes,
    entries: checked
      .filter((c) => !c.isDirectory)
      .map((c) => ({
        fullName: c.fullName,
        name: c.fullName.split(/[/\\]/).pop() ?? c.fullName,
        length: c.record.size,
        compressedLength: c.record.compressedSize,
      })),
    isSymbolsPackage: manifest.packageTypes.some((t) => t.name.toLowerCase() === 'symbolspackage'),
    isSigned: byKey.get(SIGNATURE_KEY)?.isDirectory === false,
  };

  // 5. The files the nuspec points at: present with the same name, under the cap, of the right kind.
  const embedded = function* (path: string, what: EmbeddedKind): ReadSteps<{ path: string; bytes: Buffer }> {
    const wanted = entryPath(path);
    const found = byKey.get(wanted.toLowerCase());
    if (!found || found.isDirectory) {
      throw new InvalidPackageError(
        `The nuspec names the ${what} file '${shorten(path)}', but the package does not contain it; add the file or fix the path.`,
        { field: what, path: shorten(path) },
      );
    }
    if (found.path !== wanted) {
      throw new InvalidPackageError(
        `The nuspec names the ${what} file '${shorten(path)}', but the package's file is '${shorten(found.fullName)}'; ` +
          'the names differ in case. Make them match exactly.',
        { field: what, path: shorten(path), entry: shorten(found.fullName) },
      );
    }
    checkEmbeddedName(found, what);
    const bytes = yield* extract(found, dataOffsets, caps.maxEmbeddedFileBytes, `${what} file`);
    checkEmbeddedContent(found, what, bytes);
    return { path: found.fullName, bytes };
  };
  if (manifest.icon !== undefined) contents.icon = yield* embedded(manifest.icon, 'icon');
  if (manifest.readme !== undefined) contents.readme = yield* embedded(manifest.readme, 'readme');
  if (manifest.license?.type === 'file') contents.licenseFile = yield* embedded(manifest.license.value, 'license');
  return contents;
}

type EmbeddedKind = 'icon' | 'readme' | 'license';

/**
 * The NuGet Gallery's rules for embedded files: a readme is Markdown (`.md`); a license file is
 * `.txt`, `.md` or has no extension. https://learn.microsoft.com/nuget/reference/nuspec#license
 */
function checkEmbeddedName(entry: CheckedEntry, what: EmbeddedKind): void {
  const base = entry.path.slice(entry.path.lastIndexOf('/') + 1);
  const dot = base.lastIndexOf('.');
  const extension = dot > 0 ? base.slice(dot).toLowerCase() : '';
  if (what === 'readme' && extension !== '.md') {
    throw new InvalidPackageError(`The readme file '${shorten(entry.fullName)}' must be a Markdown file ending in .md.`, {
      field: what,
      entry: shorten(entry.fullName),
    });
  }
  if (what === 'license' && !['', '.txt', '.md'].includes(extension)) {
    throw new InvalidPackageError(
      `The license file '${shorten(entry.fullName)}' has the extension '${extension}'; it must end in .txt or .md, or have no extension.`,
      { field: what, entry: shorten(entry.fullName) },
    );
  }
}

/** An icon must be a PNG or JPEG (never served otherwise); a readme or license must be UTF-8 text. */
function checkEmbeddedContent(entry: CheckedEntry, what: EmbeddedKind, bytes: Buffer): void {
  const shown = shorten(entry.fullName);
  if (what === 'icon') {
    const png = bytes.length >= 4 && bytes.readUInt32BE(0) === 0x89504e47;
    const jpeg = bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
    if (!png && !jpeg) {
      throw new InvalidPackageError(`The icon file '${shown}' is not a PNG or JPEG image.`, { field: what, entry: shown });
    }
    return;
  }
  let text: string | undefined;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    text = undefined;
  }
  if (text === undefined || text.includes('\0')) {
    throw new InvalidPackageError(`The ${what} file '${shown}' is not UTF-8 text; it must be a text file saved as UTF-8.`, {
      field: what,
      entry: shown,
    });
  }
}

/** Checks the declared size against `cap`, then reads and inflates the entry. */
function* extract(checked: CheckedEntry, dataOffsets: DataOffsets, cap: number, what: string): ReadSteps<Buffer> {
  const { record, fullName } = checked;
  if (record.size > cap) {
    throw new InvalidPackageError(`The ${what} '${shorten(fullName)}' is ${record.size} bytes; the limit is ${cap} bytes.`, {
      entry: shorten(fullName),
      size: record.size,
      limit: cap,
    });
  }
  return yield* readEntryData(record, dataOffsets.get(record)!, what);
}

/**
 * The normalized path of an entry or nuspec path: `\` → `/`, percent-escapes decoded (NuGet
 * unescapes names on extraction), leading `./` and inner `.` segments removed; case kept.
 */
function entryPath(name: string): string {
  const decoded = percentDecode(name.replaceAll('\\', '/')).replaceAll('\\', '/');
  const isDirectory = decoded.endsWith('/');
  const segments = decoded.split('/').filter((segment, i, all) => segment !== '.' && !(i === all.length - 1 && segment === ''));
  return segments.join('/') + (isDirectory ? '/' : '');
}

function percentDecode(name: string): string {
  try {
    return decodeURIComponent(name);
  } catch {
    return name;
  }
}

function checkEntry(record: ZipEntryRecord): CheckedEntry {
  const fullName = record.fullName;
  const shown = shorten(fullName);
  if (fullName.length > MAX_ENTRY_NAME_LENGTH) {
    throw new InvalidPackageError(
      `The package has an entry name of ${fullName.length} characters ('${shown}'); the limit is ${MAX_ENTRY_NAME_LENGTH}.`,
      { entry: shown },
    );
  }
  if (fullName.length === 0) throw new InvalidPackageError('The package has an entry with an empty name.');
  if (fullName.includes('\0')) {
    throw new InvalidPackageError(`The package has an entry name containing a NUL character ('${shown.replaceAll('\0', '\\0')}').`, {
      entry: shown.replaceAll('\0', '\\0'),
    });
  }

  // Check the name as stored and as NuGet would unescape it on extraction.
  for (const candidate of new Set([fullName, percentDecode(fullName)])) {
    const name = candidate.replaceAll('\\', '/');
    if (name.includes('\0')) {
      throw new InvalidPackageError(`The package has an entry name that decodes to a NUL character ('${shown}').`, { entry: shown });
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

  if ((record.flags & (FLAG_ENCRYPTED | FLAG_STRONG_ENCRYPTION)) !== 0) {
    throw new InvalidPackageError(`The package has an encrypted entry ('${shown}'); NuGet packages cannot be encrypted.`, { entry: shown });
  }
  if (![METHOD_STORED, METHOD_DEFLATED, METHOD_DEFLATE64].includes(record.method)) {
    throw corruptEntry(fullName, `uses compression method ${record.method}, which NuGet clients cannot extract`);
  }
  const path = entryPath(fullName);
  return { record, fullName, path, key: path.toLowerCase(), isDirectory: record.isDirectory };
}
