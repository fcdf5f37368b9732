import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { readNupkgFrom, type NupkgContents, type NupkgLimits, type ZipSource } from '@nucat/nuget';

/** A {@link ZipSource} over an open file; `close()` releases the descriptor. */
export interface FileZipSource extends ZipSource {
  close(): Promise<void>;
}

/**
 * Opens `file` as a {@link ZipSource}: each read is a positioned read of exactly the bytes asked
 * for, so reading a package costs memory for the pieces read, never for the whole file.
 */
export async function openFileZipSource(file: string): Promise<FileZipSource> {
  const handle = await open(file, 'r');
  try {
    const { size } = await handle.stat();
    return { size, read: (offset, length) => readExactly(handle, file, offset, length), close: () => handle.close() };
  } catch (error) {
    await handle.close();
    throw error;
  }
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
