/**
 * A zip writer for tests that need archives no well-behaved library would write: names stored
 * byte for byte, sizes that lie, local headers that disagree with the central directory, zip64
 * end records that disagree with the classic one, tens of thousands of entries.
 */
import { crc32, deflateRawSync } from 'node:zlib';

/** One entry; everything but `name` is optional, and every override lies on purpose. */
export interface ZipEntrySpec {
  /** Name as stored (UTF-8), or raw bytes. */
  name: string | Buffer;
  data?: Buffer | string;
  /** @defaultValue 'deflated' */
  method?: 'stored' | 'deflated' | number;
  /** Uncompressed size written in both headers instead of the real one. */
  declaredSize?: number;
  /** Name written in the local header instead of `name`. */
  localName?: string;
  /** Sizes written in the local header only, instead of the central ones. */
  localSizes?: { compressed: number; size: number };
  /** Extra general-purpose flag bits, in both headers. */
  flags?: number;
  /** CRC-32 written in both headers instead of the real one. */
  crc?: number;
  /** Local-header offset written in the central directory instead of the real one. */
  localHeaderOffset?: number;
}

/** The archive: entries plus ways to damage its end records. */
export interface ZipSpec {
  entries: ZipEntrySpec[];
  /** Write a zip64 end record and locator (with these overrides of its values). */
  zip64?: { count?: number; diskCount?: number; centralDirectorySize?: number; centralDirectoryOffset?: number };
  /** Overrides of the classic end record. */
  eocd?: { count?: number; diskCount?: number; centralDirectorySize?: number; centralDirectoryOffset?: number; disk?: number };
  /** Archive comment. */
  comment?: string;
  /** Bytes inserted between the last entry and the central directory. */
  gap?: Buffer;
  /** Bytes appended after the end record. */
  suffix?: Buffer;
}

/** Builds the archive in memory. Deterministic: the same spec gives the same bytes. */
export function writeZip(spec: ZipSpec): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const entry of spec.entries) {
    const name = typeof entry.name === 'string' ? Buffer.from(entry.name, 'utf8') : entry.name;
    const data = typeof entry.data === 'string' ? Buffer.from(entry.data, 'utf8') : (entry.data ?? Buffer.alloc(0));
    const method = entry.method === 'stored' ? 0 : entry.method === undefined || entry.method === 'deflated' ? 8 : entry.method;
    const body = method === 8 ? deflateRawSync(data) : data;
    const size = entry.declaredSize ?? data.length;
    const crc = entry.crc ?? crc32(data);
    const flags = 0x0800 | (entry.flags ?? 0);
    const localName = entry.localName === undefined ? name : Buffer.from(entry.localName, 'utf8');

    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(flags, 6);
    local.writeUInt16LE(method, 8);
    local.writeUInt16LE(0, 10);
    local.writeUInt16LE(0x21, 12);
    local.writeUInt32LE(crc >>> 0, 14);
    local.writeUInt32LE(entry.localSizes?.compressed ?? body.length, 18);
    local.writeUInt32LE(entry.localSizes?.size ?? size, 22);
    local.writeUInt16LE(localName.length, 26);
    local.writeUInt16LE(0, 28);

    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(flags, 8);
    central.writeUInt16LE(method, 10);
    central.writeUInt16LE(0, 12);
    central.writeUInt16LE(0x21, 14);
    central.writeUInt32LE(crc >>> 0, 16);
    central.writeUInt32LE(body.length, 20);
    central.writeUInt32LE(size, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(entry.localHeaderOffset ?? offset, 42);

    locals.push(local, localName, body);
    centrals.push(central, name);
    offset += local.length + localName.length + body.length;
  }
  if (spec.gap) {
    locals.push(spec.gap);
    offset += spec.gap.length;
  }
  const directory = Buffer.concat(centrals);
  const count = spec.entries.length;
  const tail: Buffer[] = [];
  if (spec.zip64) {
    const z = spec.zip64;
    const record = Buffer.alloc(56);
    record.writeUInt32LE(0x06064b50, 0);
    record.writeBigUInt64LE(44n, 4);
    record.writeUInt16LE(45, 12);
    record.writeUInt16LE(45, 14);
    record.writeBigUInt64LE(BigInt(z.diskCount ?? z.count ?? count), 24);
    record.writeBigUInt64LE(BigInt(z.count ?? count), 32);
    record.writeBigUInt64LE(BigInt(z.centralDirectorySize ?? directory.length), 40);
    record.writeBigUInt64LE(BigInt(z.centralDirectoryOffset ?? offset), 48);
    const locator = Buffer.alloc(20);
    locator.writeUInt32LE(0x07064b50, 0);
    locator.writeBigUInt64LE(BigInt(offset + directory.length), 8);
    locator.writeUInt32LE(1, 16);
    tail.push(record, locator);
  }
  const comment = Buffer.from(spec.comment ?? '', 'utf8');
  const end = Buffer.alloc(22);
  const e = spec.eocd ?? {};
  const classicCount = spec.zip64 ? 0xffff : Math.min(count, 0xffff);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(e.disk ?? 0, 4);
  end.writeUInt16LE(e.diskCount ?? e.count ?? classicCount, 8);
  end.writeUInt16LE(e.count ?? classicCount, 10);
  end.writeUInt32LE(e.centralDirectorySize ?? (spec.zip64 ? 0xffffffff : directory.length), 12);
  end.writeUInt32LE(e.centralDirectoryOffset ?? (spec.zip64 ? 0xffffffff : offset), 16);
  end.writeUInt16LE(comment.length, 20);
  return Buffer.concat([...locals, directory, ...tail, end, comment, spec.suffix ?? Buffer.alloc(0)]);
}

/** A minimal nuspec; `metadata` is appended inside `<metadata>`. */
export function nuspecXml(options: { id?: string; version?: string; metadata?: string; prolog?: string } = {}): string {
  return (
    `<?xml version="1.0" encoding="utf-8"?>${options.prolog ?? ''}` +
    '<package xmlns="http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd"><metadata>' +
    `<id>${options.id ?? 'Contoso.Widgets'}</id><version>${options.version ?? '2.1.0'}</version>` +
    `<authors>Contoso</authors><description>Widgets.</description>${options.metadata ?? ''}</metadata></package>`
  );
}

/** A 1×1 PNG. */
export const PNG = Buffer.from(
  '89504e470d0a1a0a0000000d4948445200000001000000010806000000' + '1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082',
  'hex',
);
