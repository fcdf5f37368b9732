import { createHash } from 'node:crypto';
import { closeSync, createReadStream, fstatSync, openSync, read as readAsync, readSync, statSync, type Stats } from 'node:fs';
import path from 'node:path';
import type { ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { assertValidBlobKey, type BlobStore } from '@nucat/storage';

/**
 * A blob read whole into memory (a projected document, or a small `.nupkg`). Never changed once made:
 * a new version of the file is a new `BlobDocument`.
 */
export class BlobDocument {
  /** The blob's bytes, exactly as stored. */
  readonly bytes: Buffer;
  /**
   * The store's validator of the file (`BlobInfo.etag` of the filesystem store: size, mtime, inode), when
   * the blob was read from a file; undefined when it came through the `BlobStore` API.
   */
  readonly fileTag: string | undefined;
  #contentTag: string | undefined;

  constructor(bytes: Buffer, fileTag?: string) {
    this.bytes = bytes;
    this.fileTag = fileTag;
  }

  /** SHA-1 of the bytes, base64url: the entity tag of a document. Computed once. */
  get contentTag(): string {
    this.#contentTag ??= createHash('sha1').update(this.bytes).digest('base64url');
    return this.#contentTag;
  }
}

/**
 * A blob too large to read whole: opened, to be sent, streamed or discarded. Exactly one of
 * {@link LargeBlob.writeTo} (when present), {@link LargeBlob.stream} and {@link LargeBlob.discard} must be called.
 */
export interface LargeBlob {
  /** Size in bytes of the content. */
  readonly size: number;
  /** The store's validator of exactly these bytes (`BlobInfo.etag`). */
  readonly fileTag: string;
  /** The content (closes the file when it ends or is destroyed). */
  stream(): Readable;
  /**
   * Writes the content as the body of `res` (status and headers already set on it) and ends it. Local
   * files only: see {@link createLocalBlobReader}. When the file cannot be read part-way, the response
   * is destroyed (the client sees a cut connection, never a short body passed off as whole) and
   * `onError` is called.
   */
  writeTo?(res: ServerResponse, onError: (error: Error) => void): void;
  /** Releases the file without reading it (a HEAD, a 304). */
  discard(): void;
}

/** Where the read API gets flat container and registration blobs. */
export interface BlobSource {
  /** The whole blob, or undefined when there is none under `key`. */
  document(key: string): Promise<BlobDocument | undefined>;
  /** The blob read whole when it is small, opened for streaming when it is large; undefined when there is none. */
  blob(key: string): Promise<BlobDocument | LargeBlob | undefined>;
}

/** What {@link LocalBlobReader.stats} reports. */
export interface LocalBlobCacheStats {
  /** Documents held. */
  entries: number;
  /** Bytes charged against the budget (content plus a fixed overhead per entry). */
  bytes: number;
  /** The budget. */
  maxBytes: number;
  /** Requests answered from memory after the file checked out unchanged. */
  hits: number;
  /** Requests that read the file. */
  misses: number;
}

/** Options of {@link createLocalBlobReader}. */
export interface LocalBlobReaderOptions {
  /** Root folder of the filesystem blob store (`createFilesystemBlobStore({ root })`): key `a/b` is the file `<root>/a/b`. */
  root: string;
  /** Byte budget of the in-memory cache; 0 keeps nothing in memory. @defaultValue 64 MiB */
  cacheBytes?: number;
  /** Largest document the cache keeps. @defaultValue the smaller of 1 MiB and an eighth of `cacheBytes` */
  maxEntryBytes?: number;
  /** Largest file read whole, with synchronous reads (larger ones are streamed, or read asynchronously). @defaultValue 1 MiB */
  wholeReadBytes?: number;
  /**
   * Chunk size when sending a large file: each response reads into two buffers of this size, in turn,
   * each read while the other is being written. @defaultValue 128 KiB
   */
  chunkBytes?: number;
  /** Most idle chunk buffers kept for the next large file. @defaultValue 32 */
  spareChunks?: number;
  /**
   * A file whose status changed less than this long ago is served but not cached: file timestamps have
   * a coarse granularity, and only an older file's timestamps are sure to differ from any later
   * replacement's. @defaultValue 2000
   */
  settleMs?: number;
  /** The wall clock in ms, compared with file change times. @defaultValue Date.now */
  now?: () => number;
}

/** Charged per cached entry on top of its bytes: the entry object, its key and its map slot. */
const ENTRY_OVERHEAD_BYTES = 256;
const MIB = 1024 * 1024;

interface CacheEntry {
  readonly key: string;
  readonly doc: BlobDocument;
  readonly cost: number;
  readonly ino: number;
  readonly dev: number;
  readonly size: number;
  readonly mtimeMs: number;
  readonly ctimeMs: number;
}

/** The file identity a cached entry is checked against: any replacement (by rename, link or copy) changes it. */
function sameFile(entry: CacheEntry, stats: Stats): boolean {
  return (
    stats.ino === entry.ino &&
    stats.dev === entry.dev &&
    stats.size === entry.size &&
    stats.mtimeMs === entry.mtimeMs &&
    stats.ctimeMs === entry.ctimeMs
  );
}

/** Error codes meaning "there is nothing under this path". */
const MISSING = new Set(['ENOENT', 'ENOTDIR', 'EISDIR']);

function errorCode(error: unknown): string {
  return typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : '';
}

/** The filesystem store's `BlobInfo.etag` of an open file: size, mtime (ns) and inode, base 36. */
function fileTagOf(fd: number): string {
  const stats = fstatSync(fd, { bigint: true });
  return `${stats.size.toString(36)}-${stats.mtimeNs.toString(36)}-${stats.ino.toString(36)}`;
}

/** Reads `size` bytes from the start of `fd` synchronously; fewer when the file is shorter. */
function readWholeSync(fd: number, size: number): Buffer {
  // Not from the shared pool: a cached document must not pin an 8 KiB pool slab.
  const bytes = Buffer.allocUnsafeSlow(size);
  let offset = 0;
  while (offset < size) {
    const n = readSync(fd, bytes, offset, size - offset, offset);
    if (n === 0) break;
    offset += n;
  }
  return offset === size ? bytes : bytes.subarray(0, offset);
}

/** Reads `size` bytes from the start of `fd` on libuv's thread pool (large documents only). */
async function readWholeAsync(fd: number, size: number): Promise<Buffer> {
  const bytes = Buffer.allocUnsafeSlow(size);
  let offset = 0;
  while (offset < size) {
    const n = await new Promise<number>((resolve, reject) =>
      readAsync(fd, bytes, offset, size - offset, offset, (error, read) => (error ? reject(error) : resolve(read))),
    );
    if (n === 0) break;
    offset += n;
  }
  return offset === size ? bytes : bytes.subarray(0, offset);
}

/**
 * Reads the filesystem blob store's files directly, for the read path: small files with a few
 * synchronous system calls (open, fstat, read, close — no hand-offs to libuv's thread pool), large
 * ones sent chunk by chunk with synchronous reads into two buffers per download (so at most
 * `2 × chunkBytes` of memory each, reused from download to download), and small documents kept in a
 * bounded in-memory cache (least recently used dropped first).
 *
 * A cached document is never served stale: every request `stat`s the file (one system call, no
 * thread pool) and uses the cached bytes only when inode, device, size, modification and status change
 * times are all unchanged. The store never changes a file's bytes in place — a put writes a new file
 * and renames or links it over the name — so a replaced file is a different inode with a later change
 * time. Files changed within `settleMs` are not cached at all, so a replacement (written after the
 * document was cached, so at least `settleMs` later) can never carry the same timestamps as the cached
 * version, even on filesystems with coarse timestamps that reuse a freed inode at once; only a wall
 * clock stepped back by more than `settleMs` could undo that margin.
 *
 * Reads block the event loop for as long as the filesystem takes: right for a local disk (the page
 * cache answers in microseconds, as it does nginx), wrong for a slow network filesystem.
 *
 * Keys are checked with the store's rules (`assertValidBlobKey`) before any path is built.
 */
export function createLocalBlobReader(options: LocalBlobReaderOptions) {
  if (typeof options.root !== 'string' || options.root.length === 0) throw new TypeError('createLocalBlobReader: root must be a non-empty path');
  const root = path.resolve(options.root);
  const maxBytes = Math.max(0, options.cacheBytes ?? 64 * MIB);
  const maxEntryBytes = Math.max(0, options.maxEntryBytes ?? Math.min(MIB, Math.floor(maxBytes / 8)));
  const wholeReadBytes = options.wholeReadBytes ?? MIB;
  const chunkBytes = options.chunkBytes ?? 128 * 1024;
  const spareChunks = options.spareChunks ?? 32;
  /** Chunk buffers no response holds: reused, so a download does not allocate (and fault in) fresh memory. */
  const spare: Buffer[] = [];
  const takeChunk = () => spare.pop() ?? Buffer.allocUnsafeSlow(chunkBytes);
  const giveBack = (chunk: Buffer) => {
    if (spare.length < spareChunks) spare.push(chunk);
  };
  const settleMs = options.settleMs ?? 2000;
  const now = options.now ?? Date.now;

  /** Insertion order is recency: a hit moves its entry to the end; eviction takes from the front. */
  const entries = new Map<string, CacheEntry>();
  let bytes = 0;
  let hits = 0;
  let misses = 0;

  const fileOf = (key: string) => `${root}/${key}`;

  function forget(key: string): void {
    const entry = entries.get(key);
    if (entry === undefined) return;
    entries.delete(key);
    bytes -= entry.cost;
  }

  function remember(key: string, doc: BlobDocument, stats: Stats): void {
    const cost = doc.bytes.length + key.length * 2 + ENTRY_OVERHEAD_BYTES;
    if (doc.bytes.length > maxEntryBytes || cost > maxBytes || doc.bytes.length !== stats.size) return;
    // Recently changed: its timestamps might be shared by a replacement written within the same tick.
    if (now() - Math.max(stats.ctimeMs, stats.mtimeMs) < settleMs) return;
    forget(key);
    for (const [oldest, entry] of entries) {
      if (bytes + cost <= maxBytes) break;
      entries.delete(oldest);
      bytes -= entry.cost;
    }
    entries.set(key, { key, doc, cost, ino: stats.ino, dev: stats.dev, size: stats.size, mtimeMs: stats.mtimeMs, ctimeMs: stats.ctimeMs });
    bytes += cost;
  }

  /** The cached document when the file under `key` is still the one it was read from. */
  function cached(key: string): BlobDocument | 'missing' | undefined {
    const entry = entries.get(key);
    if (entry === undefined) return undefined;
    let stats: Stats | undefined;
    try {
      stats = statSync(fileOf(key), { throwIfNoEntry: false });
    } catch (error) {
      if (!MISSING.has(errorCode(error))) throw error;
    }
    if (stats === undefined || !stats.isFile()) {
      forget(key);
      return 'missing';
    }
    if (!sameFile(entry, stats)) {
      forget(key);
      return undefined;
    }
    hits += 1;
    // Most recently used: to the end of the map.
    entries.delete(key);
    entries.set(key, entry);
    return entry.doc;
  }

  /** Opens the file under `key` synchronously; undefined when there is no regular file. */
  function openFile(key: string): { fd: number; stats: Stats } | undefined {
    assertValidBlobKey(key);
    let fd: number;
    try {
      fd = openSync(fileOf(key), 'r');
    } catch (error) {
      if (MISSING.has(errorCode(error))) return undefined;
      throw error;
    }
    try {
      // The open file, not the name: a concurrent replace swaps the name, not this file's bytes.
      const stats = fstatSync(fd);
      if (stats.isFile()) return { fd, stats };
    } catch (error) {
      closeSync(fd);
      throw error;
    }
    closeSync(fd);
    return undefined;
  }

  /** Reads an opened file whole (synchronously when small) and caches it when it qualifies; closes it. */
  async function readOpened(key: string, fd: number, stats: Stats): Promise<BlobDocument> {
    let doc: BlobDocument;
    try {
      const fileTag = fileTagOf(fd);
      const content = stats.size <= wholeReadBytes ? readWholeSync(fd, stats.size) : await readWholeAsync(fd, stats.size);
      doc = new BlobDocument(content, fileTag);
    } finally {
      closeSync(fd);
    }
    remember(key, doc, stats);
    return doc;
  }

  function lookUp(key: string): BlobDocument | 'missing' | undefined {
    const hit = cached(key);
    if (hit !== undefined) return hit;
    misses += 1;
    return undefined;
  }

  return {
    /** The whole file under `key`, from memory when unchanged; undefined when there is none. */
    async document(key: string): Promise<BlobDocument | undefined> {
      const hit = lookUp(key);
      if (hit === 'missing') return undefined;
      if (hit !== undefined) return hit;
      const opened = openFile(key);
      if (opened === undefined) return undefined;
      return readOpened(key, opened.fd, opened.stats);
    },

    /**
     * The file under `key`: read whole (and cached) when at most `wholeReadBytes`, else opened to be
     * sent in `chunkBytes` chunks. Either way with the store's file tag.
     */
    async blob(key: string): Promise<BlobDocument | LargeBlob | undefined> {
      const hit = lookUp(key);
      if (hit === 'missing') return undefined;
      if (hit !== undefined) return hit;
      const opened = openFile(key);
      if (opened === undefined) return undefined;
      const { fd, stats } = opened;
      if (stats.size <= wholeReadBytes) return readOpened(key, fd, stats);
      let fileTag: string;
      try {
        fileTag = fileTagOf(fd);
      } catch (error) {
        closeSync(fd);
        throw error;
      }
      let released = false;
      const file = fileOf(key);
      return {
        size: stats.size,
        fileTag,
        stream() {
          if (released) throw new Error('LargeBlob: already sent, streamed or discarded');
          released = true;
          return createReadStream(file, { fd, start: 0, end: stats.size - 1, highWaterMark: chunkBytes, autoClose: true });
        },
        writeTo(res, onError) {
          if (released) throw new Error('LargeBlob: already sent, streamed or discarded');
          released = true;
          sendFileChunks(res, fd, stats.size, { takeChunk, giveBack }, onError);
        },
        discard() {
          if (released) return;
          released = true;
          closeSync(fd);
        },
      };
    },

    /** Counters and the current size of the cache. */
    stats(): LocalBlobCacheStats {
      return { entries: entries.size, bytes, maxBytes, hits, misses };
    },
  };
}

/** What {@link createLocalBlobReader} returns. */
export type LocalBlobReader = ReturnType<typeof createLocalBlobReader>;

/**
 * Sends `size` bytes of the open file `fd` as the body of `res` and closes the file: each chunk is read
 * synchronously (one `pread`, no thread-pool hand-off) into one of two buffers taken from `chunks`, and
 * written while the next is read into the other buffer. A buffer is read into again only after its
 * write completed, so at most two chunks per response are in memory, and backpressure is the socket's.
 * The buffers go back to `chunks` once no write holds them.
 */
function sendFileChunks(
  res: ServerResponse,
  fd: number,
  size: number,
  chunks: { takeChunk(): Buffer; giveBack(chunk: Buffer): void },
  onError: (error: Error) => void,
): void {
  const buffers = [chunks.takeChunk(), chunks.takeChunk()];
  let turn = 0;
  let position = 0;
  let inFlight = 0;
  let fileOpen = true;
  let stopped = false;

  const closeFile = () => {
    if (!fileOpen) return;
    fileOpen = false;
    closeSync(fd);
  };
  const settle = () => {
    if (!stopped || inFlight > 0) return;
    for (const buffer of buffers.splice(0)) chunks.giveBack(buffer);
  };
  const stop = () => {
    stopped = true;
    closeFile();
    settle();
  };
  const afterWrite = (error?: Error | null) => {
    inFlight -= 1;
    if (error) stop();
    else if (stopped) settle();
    else pump();
  };
  function pump(): void {
    while (!stopped && inFlight < 2 && position < size) {
      const buffer = buffers[turn]!;
      turn ^= 1;
      let read: number;
      try {
        read = readSync(fd, buffer, 0, Math.min(buffer.length, size - position), position);
        if (read === 0) throw Object.assign(new Error(`file ended at ${position} of ${size} bytes`), { code: 'short_file' });
      } catch (error) {
        stop();
        res.destroy();
        onError(error instanceof Error ? error : new Error(String(error)));
        return;
      }
      position += read;
      inFlight += 1;
      const chunk = read === buffer.length ? buffer : buffer.subarray(0, read);
      if (position < size) {
        res.write(chunk, afterWrite);
      } else {
        closeFile();
        res.end(chunk, () => {
          inFlight -= 1;
          stop();
        });
      }
    }
  }

  // The client left, or the response is over: stop reading.
  res.once('close', stop);
  pump();
}

/**
 * A {@link BlobSource} over the `BlobStore` API, for stores without local files (the memory store of
 * tests): no cache; `.nupkg` files are always streamed.
 */
export function createStoreBlobSource(store: BlobStore): BlobSource {
  return {
    async document(key) {
      const bytes = await store.read(key);
      return bytes === undefined ? undefined : new BlobDocument(bytes);
    },
    async blob(key) {
      const opened = await store.openRead(key);
      if (opened === undefined) return undefined;
      const { info, stream } = opened;
      return {
        size: info.size,
        fileTag: info.etag,
        stream: () => (stream instanceof Readable ? stream : new Readable().wrap(stream)),
        discard() {
          const destroyable = stream as NodeJS.ReadableStream & { destroy?: () => void };
          if (typeof destroyable.destroy === 'function') destroyable.destroy();
          else stream.resume();
        },
      };
    },
  };
}
