/**
 * Random access to the bytes of a zip archive, wherever they live (a Buffer, a file, an object
 * store). The package reader asks only for the pieces it needs, so an archive of any size can be
 * read in bounded memory when the source is not a Buffer already.
 *
 * @example A file-backed source lives in the app that owns the file (apps/publish-api `zip-source.ts`).
 */
export interface ZipSource {
  /** Size of the archive in bytes. */
  readonly size: number;
  /**
   * Reads `length` bytes at `offset`. The reader never asks for bytes outside `[0, size)`.
   * Resolves with exactly `length` bytes, or rejects (for example when the source ended early).
   * The returned Buffer may be a view of a larger one; the reader does not modify it.
   */
  read(offset: number, length: number): Promise<Buffer>;
}

/**
 * A {@link ZipSource} over bytes already in memory. Reads are views (`subarray`), never copies.
 */
export function createBufferZipSource(archive: Buffer): ZipSource {
  return {
    size: archive.length,
    read: (offset, length) => Promise.resolve(sliceOf(archive, offset, length)),
  };
}

/** A piece of the archive a parsing step needs next. */
export interface ReadRequest {
  readonly offset: number;
  readonly length: number;
}

/**
 * A parsing step: a generator that yields the reads it needs and is resumed with their bytes.
 * Written once, it runs synchronously over a Buffer ({@link runOverBuffer}) and asynchronously over
 * any {@link ZipSource} ({@link runOverSource}).
 */
export type ReadSteps<T> = Generator<ReadRequest, T, Buffer>;

/** Runs `steps` over an in-memory archive, synchronously. */
export function runOverBuffer<T>(steps: ReadSteps<T>, archive: Buffer): T {
  let next = steps.next();
  while (!next.done) next = steps.next(sliceOf(archive, next.value.offset, next.value.length));
  return next.value;
}

/** Runs `steps` over a {@link ZipSource}, one read at a time. Errors of the source propagate unchanged. */
export async function runOverSource<T>(steps: ReadSteps<T>, source: ZipSource): Promise<T> {
  let next = steps.next();
  while (!next.done) {
    const { offset, length } = next.value;
    checkRange(source.size, offset, length);
    const bytes = await source.read(offset, length);
    if (bytes.length !== length) {
      throw new Error(`The zip source returned ${bytes.length} bytes at offset ${offset} instead of ${length}.`);
    }
    next = steps.next(bytes);
  }
  return next.value;
}

function sliceOf(archive: Buffer, offset: number, length: number): Buffer {
  checkRange(archive.length, offset, length);
  return archive.subarray(offset, offset + length);
}

/** The parser checks every range against the archive size first; this guards the drivers anyway. */
function checkRange(size: number, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > size) {
    throw new RangeError(`Read of ${length} bytes at offset ${offset} is outside the archive (${size} bytes).`);
  }
}
