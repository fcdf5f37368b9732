import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { readNupkgFrom, type NupkgContents, type NupkgLimits, type ZipSource } from '@nucat/nuget';

/** A {@link ZipSource} over an open file; `close()` releases the descriptor. */
export interface FileZipSource extends ZipSource {
  close(): Promise<void>;
}

/**
 * Files up to this size are read whole, with one read, and served from memory: the zip reader's first
 * read (the end records and up to 64 KiB before them) takes most of such a file anyway, and every
 * further read would be another trip through libuv's thread pool.
 */
export const WHOLE_FILE_READ_BYTES = 256 * 1024;

/**
 * Opens `file` as a {@link ZipSource}: each read is a positioned read of exactly the bytes asked
 * for, so reading a package costs memory for the pieces read, never for the whole file — except for
 * files of at most {@link WHOLE_FILE_READ_BYTES}, read whole at once (the descriptor is then closed
 * right away).
 */
export async function openFileZipSource(file: string): Promise<FileZipSource> {
  const handle = await open(file, 'r');
  let closed = false;
  try {
    const { size } = await handle.stat();
    if (size <= WHOLE_FILE_READ_BYTES) {
      const bytes = await readExactly(handle, file, 0, size);
      closed = true;
      await handle.close();
      return { size, read: async (offset, length) => slice(bytes, file, offset, length), close: async () => {} };
    }
    return { size, read: (offset, length) => readExactly(handle, file, offset, length), close: () => handle.close() };
  } catch (error) {
    if (!closed) await handle.close();
    throw error;
  }
}

function slice(bytes: Buffer, file: string, offset: number, length: number): Buffer {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > bytes.length) {
    throw new RangeError(`${file}: read of ${length} bytes at offset ${offset} is outside the file (${bytes.length} bytes)`);
  }
  return bytes.subarray(offset, offset + length);
}

async function readExactly(handle: FileHandle, file: string, offset: number, length: number): Promise<Buffer> {
  const buffer = Buffer.allocUnsafe(length);
  let filled = 0;
  while (filled < length) {
    const { bytesRead } = await handle.read(buffer, filled, length - filled, offset + filled);
    if (bytesRead === 0) throw new Error(`${file} ended at ${offset + filled} bytes while reading ${length} bytes at offset ${offset}`);
    filled += bytesRead;
  }
  return buffer;
}

/**
 * Reads and validates the package stored in `file` (bounded memory whatever its size).
 *
 * @throws InvalidPackageError (code `invalid_package`) when the package is refused; I/O errors as they come.
 */
export async function readNupkgFile(file: string, limits?: Partial<NupkgLimits>): Promise<NupkgContents> {
  const source = await openFileZipSource(file);
  try {
    return await readNupkgFrom(source, limits);
  } finally {
    await source.close();
  }
}

/** Size and standard-base64 SHA-512 of a file, streamed. */
export async function hashFile(file: string): Promise<{ size: number; sha512: string }> {
  const hash = createHash('sha512');
  let size = 0;
  for await (const chunk of createReadStream(file)) {
    size += (chunk as Buffer).length;
    hash.update(chunk as Buffer);
  }
  return { size, sha512: hash.digest('base64') };
}
