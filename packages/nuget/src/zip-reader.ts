/**
 * A strict, bounded zip reader: the end records, the central directory and the local headers,
 * parsed from the bytes (APPNOTE.TXT 6.3), and single entries inflated under a cap. Every step is a
 * {@link ReadSteps} generator, so the same code reads a Buffer or any {@link ZipSource}.
 *
 * Memory: the central directory is read in windows of {@link WINDOW_BYTES}; local headers in
 * groups that fit one window; an entry's data only when asked for, and only up to a bound derived
 * from its capped size. Nothing here ever holds the whole archive.
 */
import { crc32, inflateRawSync } from 'node:zlib';
import { InvalidPackageError } from './errors.js';
import type { ReadSteps } from './zip-source.js';

/** One central-directory record, with zip64 values resolved. */
export interface ZipEntryRecord {
  /** Name decoded as UTF-8 (what .NET and the NuGet client use), exactly as stored. */
  fullName: string;
  /** Name bytes as stored, to compare with the local header. */
  rawName: Buffer;
  flags: number;
  method: number;
  crc: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
  /** The name ends with `/` or `\`. */
  isDirectory: boolean;
}

/** The central directory of an archive. */
export interface ZipDirectory {
  /** Records in central-directory order. */
  entries: ZipEntryRecord[];
  /** Where the central directory starts; every local header and its data must end before it. */
  centralDirectoryOffset: number;
}

/** Caps checked from the end records, before the central directory is read. */
export interface ZipDirectoryLimits {
  /** Refused at or above this many entries. */
  maxEntries: number;
  /** Refused above this many central-directory bytes. */
  maxCentralDirectoryBytes: number;
}

/** Size of the windows the central directory and local headers are read in. */
export const WINDOW_BYTES = 1024 * 1024;

const EOCD_SIGNATURE = 0x06054b50;
const EOCD_SIZE = 22;
const ZIP64_LOCATOR_SIGNATURE = 0x07064b50;
const ZIP64_LOCATOR_SIZE = 20;
const ZIP64_EOCD_SIGNATURE = 0x06064b50;
const ZIP64_EOCD_MIN_SIZE = 56;
const CENTRAL_SIGNATURE = 0x02014b50;
const CENTRAL_SIZE = 46;
const LOCAL_SIGNATURE = 0x04034b50;
const LOCAL_SIZE = 30;
const ZIP64_EXTRA_ID = 0x0001;
const MAX_COMMENT = 0xffff;
const U16_MARKER = 0xffff;
const U32_MARKER = 0xffffffff;

/** General-purpose flag bits. */
export const FLAG_ENCRYPTED = 0x0001;
export const FLAG_DATA_DESCRIPTOR = 0x0008;
export const FLAG_STRONG_ENCRYPTION = 0x0040;
export const METHOD_STORED = 0;
export const METHOD_DEFLATED = 8;

function* read(offset: number, length: number): ReadSteps<Buffer> {
  return yield { offset, length };
}

/** A cached window of the archive, so many small reads cost one source read. */
interface Window {
  start: number;
  bytes: Buffer;
}

/** `length` bytes at `offset`, from `window` when it holds them, else from a new window up to `end`. */
function* readThrough(window: Window, offset: number, length: number, end: number): ReadSteps<Buffer> {
  const from = offset - window.start;
  if (from >= 0 && from + length <= window.bytes.length) return window.bytes.subarray(from, from + length);
  const take = Math.min(Math.max(length, WINDOW_BYTES), end - offset);
  window.bytes = yield* read(offset, take);
  window.start = offset;
  return window.bytes.subarray(0, length);
}

export function notAZip(reason: string): InvalidPackageError {
  return new InvalidPackageError(`The upload is not a readable zip archive (${reason}); a .nupkg must be a zip file.`, { reason });
}

function inconsistent(why: string): InvalidPackageError {
  return new InvalidPackageError(`The package's zip structure is inconsistent: ${why}.`, { reason: why });
}

/** An error about one entry, naming it (long names shortened). */
export function corruptEntry(fullName: string, why: string): InvalidPackageError {
  const shown = shorten(fullName);
  return new InvalidPackageError(`The package is corrupt: entry '${shown}' ${why}.`, { entry: shown });
}

export function shorten(name: string): string {
  return name.length > 200 ? `${name.slice(0, 200)}…` : name;
}

function tooManyEntries(count: number, limit: number): InvalidPackageError {
  return new InvalidPackageError(`The package has ${count} entries; the limit is ${limit - 1}.`, { entries: count, limit: limit - 1 });
}

function readU64(bytes: Buffer, at: number, what: string): number {
  const value = bytes.readBigUInt64LE(at);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw inconsistent(`the zip64 ${what} is ${value}, beyond any real archive`);
  return Number(value);
}

interface EndRecords {
  count: number;
  centralDirectorySize: number;
  centralDirectoryOffset: number;
  /** Where the central directory must end: the zip64 end record, or the end record. */
  centralDirectoryEnd: number;
}

/**
 * Finds and cross-checks the end-of-central-directory record and, when present, the zip64 locator
 * and zip64 end record. Refused: no end record with a comment that reaches exactly to the end of the
 * file (so nothing is appended); several disks; counts or sizes that differ between the two records;
 * a central directory that does not end exactly where the end records begin.
 */
function* readEndRecords(size: number): ReadSteps<EndRecords> {
  if (size < EOCD_SIZE) throw notAZip(size === 0 ? 'it is empty' : `it is only ${size} bytes long`);
  const tailStart = Math.max(0, size - EOCD_SIZE - MAX_COMMENT);
  const tail = yield* read(tailStart, size - tailStart);
  let at = -1;
  for (let i = tail.length - EOCD_SIZE; i >= 0; i--) {
    if (tail.readUInt32LE(i) === EOCD_SIGNATURE && i + EOCD_SIZE + tail.readUInt16LE(i + 20) === tail.length) {
      at = i;
      break;
    }
  }
  if (at < 0) throw notAZip('no end of central directory record at the end of the file');
  const eocdOffset = tailStart + at;
  const eocd = tail.subarray(at, at + EOCD_SIZE);
  const disk = eocd.readUInt16LE(4);
  const directoryDisk = eocd.readUInt16LE(6);
  const diskCount = eocd.readUInt16LE(8);
  const count = eocd.readUInt16LE(10);
  const directorySize = eocd.readUInt32LE(12);
  const directoryOffset = eocd.readUInt32LE(16);

  // A zip64 locator sits right before the end record.
  let hasZip64 = false;
  if (eocdOffset >= ZIP64_LOCATOR_SIZE) {
    const locatorAt = eocdOffset - ZIP64_LOCATOR_SIZE;
    const locator = locatorAt >= tailStart ? tail.subarray(locatorAt - tailStart, at) : yield* read(locatorAt, ZIP64_LOCATOR_SIZE);
    hasZip64 = locator.readUInt32LE(0) === ZIP64_LOCATOR_SIGNATURE;
    if (hasZip64) {
      const zip64Disk = locator.readUInt32LE(4);
      const zip64Offset = readU64(locator, 8, 'end record offset');
      const totalDisks = locator.readUInt32LE(16);
      if (zip64Disk !== 0 || totalDisks > 1) throw inconsistent('it spans several disks');
      if (zip64Offset + ZIP64_EOCD_MIN_SIZE > locatorAt) throw inconsistent('the zip64 locator points past itself');
      const record = yield* read(zip64Offset, ZIP64_EOCD_MIN_SIZE);
      if (record.readUInt32LE(0) !== ZIP64_EOCD_SIGNATURE) throw inconsistent('the zip64 locator does not point at a zip64 end record');
      const recordSize = readU64(record, 4, 'end record size');
      if (zip64Offset + 12 + recordSize !== locatorAt) throw inconsistent('the zip64 end record does not end where its locator begins');
      const z = {
        disk: record.readUInt32LE(16),
        directoryDisk: record.readUInt32LE(20),
        diskCount: readU64(record, 24, 'entry count on this disk'),
        count: readU64(record, 32, 'entry count'),
        directorySize: readU64(record, 40, 'central directory size'),
        directoryOffset: readU64(record, 48, 'central directory offset'),
      };
      if (z.disk !== 0 || z.directoryDisk !== 0 || (disk !== 0 && disk !== U16_MARKER) || (directoryDisk !== 0 && directoryDisk !== U16_MARKER)) {
        throw inconsistent('it spans several disks');
      }
      if (z.diskCount !== z.count) throw inconsistent(`the zip64 end record counts ${z.diskCount} entries on this disk but ${z.count} in all`);
      // Values that fit the classic record are either the marker or equal to the zip64 ones.
      const disagree = (classic: number, marker: number, zip64: number) => classic !== marker && classic !== zip64;
      if (disagree(count, U16_MARKER, z.count) || disagree(diskCount, U16_MARKER, z.diskCount)) {
        throw inconsistent(`the end record counts ${count} entries but the zip64 end record ${z.count}`);
      }
      if (disagree(directorySize, U32_MARKER, z.directorySize) || disagree(directoryOffset, U32_MARKER, z.directoryOffset)) {
        throw inconsistent('the end record and the zip64 end record place the central directory differently');
      }
      return placeDirectory(z.count, z.directorySize, z.directoryOffset, zip64Offset);
    }
  }
  if (disk !== 0 || directoryDisk !== 0) throw inconsistent('it spans several disks');
  if (diskCount !== count) throw inconsistent(`the end record counts ${diskCount} entries on this disk but ${count} in all`);
  return placeDirectory(count, directorySize, directoryOffset, eocdOffset);
}

function placeDirectory(count: number, size: number, offset: number, end: number): EndRecords {
  if (offset + size !== end) {
    throw inconsistent(`the central directory (${size} bytes at offset ${offset}) does not end where the end record begins (offset ${end})`);
  }
  return { count, centralDirectorySize: size, centralDirectoryOffset: offset, centralDirectoryEnd: end };
}

/** The zip64 extended-information extra field, if any, as a view. */
function zip64Extra(extra: Buffer): Buffer | undefined {
  let at = 0;
  while (at + 4 <= extra.length) {
    const id = extra.readUInt16LE(at);
    const length = extra.readUInt16LE(at + 2);
    if (at + 4 + length > extra.length) return undefined;
    if (id === ZIP64_EXTRA_ID) return extra.subarray(at + 4, at + 4 + length);
    at += 4 + length;
  }
  return undefined;
}

/**
 * Reads the end records and the whole central directory, checking the entry count and directory
 * size against `limits` before reading it, and that it holds exactly the number of records the end
 * record announces. Names are decoded as UTF-8.
 *
 * @throws InvalidPackageError when the archive is not a zip, or its structure is inconsistent.
 */
export function* readCentralDirectory(size: number, limits: ZipDirectoryLimits): ReadSteps<ZipDirectory> {
  const end = yield* readEndRecords(size);
  if (end.count >= limits.maxEntries) throw tooManyEntries(end.count, limits.maxEntries);
  if (end.centralDirectorySize > limits.maxCentralDirectoryBytes) {
    throw new InvalidPackageError(
      `The package's central directory is ${end.centralDirectorySize} bytes; the limit is ${limits.maxCentralDirectoryBytes}.`,
      { size: end.centralDirectorySize, limit: limits.maxCentralDirectoryBytes },
    );
  }
  if (end.count * CENTRAL_SIZE > end.centralDirectorySize) {
    throw inconsistent(`the end record counts ${end.count} entries, more than a ${end.centralDirectorySize}-byte central directory can hold`);
  }

  const window: Window = { start: 0, bytes: Buffer.alloc(0) };
  const entries: ZipEntryRecord[] = [];
  let at = end.centralDirectoryOffset;
  for (let i = 0; i < end.count; i++) {
    if (at + CENTRAL_SIZE > end.centralDirectoryEnd) throw inconsistent(`the central directory ends after ${i} of ${end.count} entries`);
    const fixed = yield* readThrough(window, at, CENTRAL_SIZE, end.centralDirectoryEnd);
    if (fixed.readUInt32LE(0) !== CENTRAL_SIGNATURE) throw inconsistent(`central directory record ${i + 1} has no signature`);
    const nameLength = fixed.readUInt16LE(28);
    const extraLength = fixed.readUInt16LE(30);
    const commentLength = fixed.readUInt16LE(32);
    const recordEnd = at + CENTRAL_SIZE + nameLength + extraLength + commentLength;
    if (recordEnd > end.centralDirectoryEnd) throw inconsistent(`central directory record ${i + 1} runs past the central directory`);
    // Copy out of the fixed part before the next read may replace the window.
    const flags = fixed.readUInt16LE(8);
    const method = fixed.readUInt16LE(10);
    const crc = fixed.readUInt32LE(16);
    let compressedSize = fixed.readUInt32LE(20);
    let uncompressedSize = fixed.readUInt32LE(24);
    let diskStart = fixed.readUInt16LE(34);
    let localHeaderOffset = fixed.readUInt32LE(42);
    const variable = yield* readThrough(window, at + CENTRAL_SIZE, nameLength + extraLength, end.centralDirectoryEnd);
    const rawName = Buffer.from(variable.subarray(0, nameLength));
    const fullName = rawName.toString('utf8');

    if (uncompressedSize === U32_MARKER || compressedSize === U32_MARKER || localHeaderOffset === U32_MARKER || diskStart === U16_MARKER) {
      const extra = zip64Extra(variable.subarray(nameLength));
      let p = 0;
      const next64 = (): number => {
        if (!extra || p + 8 > extra.length) throw corruptEntry(fullName, 'has zip64 markers but no zip64 sizes');
        const value = readU64(extra, p, 'entry size or offset');
        p += 8;
        return value;
      };
      if (uncompressedSize === U32_MARKER) uncompressedSize = next64();
      if (compressedSize === U32_MARKER) compressedSize = next64();
      if (localHeaderOffset === U32_MARKER) localHeaderOffset = next64();
      if (diskStart === U16_MARKER) {
        if (!extra || p + 4 > extra.length) throw corruptEntry(fullName, 'has zip64 markers but no zip64 disk number');
        diskStart = extra.readUInt32LE(p);
      }
    }
    if (diskStart !== 0) throw inconsistent(`entry '${shorten(fullName)}' is on another disk`);
    const last = rawName[rawName.length - 1];
    entries.push({
      fullName,
      rawName,
      flags,
      method,
      crc,
      compressedSize,
      size: uncompressedSize,
      localHeaderOffset,
      isDirectory: last === 0x2f || last === 0x5c,
    });
    at = recordEnd;
  }
  if (at !== end.centralDirectoryEnd) {
    throw inconsistent(`the central directory holds more than the ${end.count} entries its end record counts`);
  }
  return { entries, centralDirectoryOffset: end.centralDirectoryOffset };
}

/** Where an entry's data starts, learned from its local header. */
export type DataOffsets = Map<ZipEntryRecord, number>;

/**
 * Checks every entry's local header against its central-directory record: it must be there, carry
 * the same name bytes and compression method, the same sizes and CRC (unless a data descriptor
 * follows the data), and its data must end before the next entry and before the central directory
 * (no overlapping entries). Headers close together are read in one window.
 *
 * @returns where each entry's data starts.
 */
export function* checkLocalHeaders(directory: ZipDirectory): ReadSteps<DataOffsets> {
  const limit = directory.centralDirectoryOffset;
  const sorted = [...directory.entries].sort((a, b) => a.localHeaderOffset - b.localHeaderOffset);
  const headerEnd = (e: ZipEntryRecord) => e.localHeaderOffset + LOCAL_SIZE + e.rawName.length;
  const offsets: DataOffsets = new Map();
  let previous: { entry: ZipEntryRecord; dataEnd: number } | undefined;
  let i = 0;
  while (i < sorted.length) {
    // Group the headers that fit in one window from this one.
    const start = sorted[i]!.localHeaderOffset;
    let j = i;
    let spanEnd = start;
    while (j < sorted.length && headerEnd(sorted[j]!) <= limit && headerEnd(sorted[j]!) - start <= WINDOW_BYTES) {
      spanEnd = Math.max(spanEnd, headerEnd(sorted[j]!));
      j++;
    }
    if (j === i) throw corruptEntry(sorted[i]!.fullName, 'has no local header where the central directory points');
    const span = yield* read(start, spanEnd - start);
    for (; i < j; i++) {
      const entry = sorted[i]!;
      if (previous && entry.localHeaderOffset < previous.dataEnd) {
        throw corruptEntry(entry.fullName, `overlaps entry '${shorten(previous.entry.fullName)}'`);
      }
      const header = span.subarray(entry.localHeaderOffset - start, headerEnd(entry) - start);
      const dataOffset = checkLocalHeader(entry, header);
      const dataEnd = dataOffset + entry.compressedSize;
      if (dataEnd > limit) throw corruptEntry(entry.fullName, 'runs into the central directory or past the end of the file');
      offsets.set(entry, dataOffset);
      previous = { entry, dataEnd };
    }
  }
  return offsets;
}

/** Checks one local header (fixed part plus name); returns where the data starts. */
function checkLocalHeader(entry: ZipEntryRecord, header: Buffer): number {
  if (header.readUInt32LE(0) !== LOCAL_SIGNATURE) throw corruptEntry(entry.fullName, 'has no local header where the central directory points');
  const flags = header.readUInt16LE(6);
  const method = header.readUInt16LE(8);
  const crc = header.readUInt32LE(14);
  const compressedSize = header.readUInt32LE(18);
  const size = header.readUInt32LE(22);
  const nameLength = header.readUInt16LE(26);
  const extraLength = header.readUInt16LE(28);
  if (nameLength !== entry.rawName.length || !header.subarray(LOCAL_SIZE).equals(entry.rawName)) {
    throw corruptEntry(entry.fullName, 'has a different name in its local header than in the central directory');
  }
  if ((flags & (FLAG_ENCRYPTED | FLAG_STRONG_ENCRYPTION)) !== 0) {
    throw new InvalidPackageError(`The package has an encrypted entry ('${shorten(entry.fullName)}'); NuGet packages cannot be encrypted.`, {
      entry: shorten(entry.fullName),
    });
  }
  if (method !== entry.method) throw corruptEntry(entry.fullName, 'has different compression methods in its two headers');
  // Without a data descriptor, the local header repeats the sizes and CRC (zip64 sizes sit in its extra field).
  if ((flags & FLAG_DATA_DESCRIPTOR) === 0) {
    if ((compressedSize !== U32_MARKER && compressedSize !== entry.compressedSize) || (size !== U32_MARKER && size !== entry.size)) {
      throw corruptEntry(entry.fullName, 'declares different sizes in its local header and in the central directory');
    }
    if (crc !== entry.crc) throw corruptEntry(entry.fullName, 'declares different CRC-32 values in its local header and in the central directory');
  }
  return entry.localHeaderOffset + LOCAL_SIZE + nameLength + extraLength;
}

/**
 * Reads and inflates one entry, which the caller has already checked to declare at most the size it
 * accepts. Reads at most a bounded number of compressed bytes, inflates at most `size + 1` bytes
 * (so a lying size or a bomb stops there), then checks the exact size and the CRC-32.
 */
export function* readEntryData(entry: ZipEntryRecord, dataOffset: number, what: string): ReadSteps<Buffer> {
  const declared = entry.size;
  const fail = () => corruptEntry(entry.fullName, `does not inflate to its declared size of ${declared} bytes`);
  let bytes: Buffer;
  if (entry.method === METHOD_STORED) {
    if (entry.compressedSize !== declared) throw fail();
    bytes = Buffer.from(yield* read(dataOffset, declared));
  } else if (entry.method === METHOD_DEFLATED) {
    // Deflate never needs much more than the input size (stored blocks); anything larger is not a real stream.
    if (entry.compressedSize > declared + Math.floor(declared / 8) + 1024) {
      throw corruptEntry(
        entry.fullName,
        `does not inflate to its declared size of ${declared} bytes (it has ${entry.compressedSize} compressed bytes, more than deflate ever needs)`,
      );
    }
    const compressed = yield* read(dataOffset, entry.compressedSize);
    try {
      bytes = inflateRawSync(compressed, { maxOutputLength: declared + 1 });
    } catch {
      throw fail();
    }
  } else {
    throw new InvalidPackageError(
      `The ${what} '${shorten(entry.fullName)}' uses compression method ${entry.method}; only stored and deflated entries are supported.`,
      { entry: shorten(entry.fullName), method: entry.method },
    );
  }
  if (bytes.length !== declared) throw fail();
  if (crc32(bytes) !== entry.crc) throw corruptEntry(entry.fullName, 'fails its CRC-32 check');
  return bytes;
}
