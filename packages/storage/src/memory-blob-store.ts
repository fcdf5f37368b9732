import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { assertValidBlobKey, splitBlobKeyPrefix } from './blob-key.js';
import type { BlobBody, BlobInfo, BlobStore, OpenedBlob, PutOptions, PutResult, WriteOptions } from './blob-store.js';
import { BlobNotFoundError } from './errors.js';

interface StoredBlob {
  readonly bytes: Buffer;
  readonly lastModified: Date;
  readonly etag: string;
}

/**
 * A {@link BlobStore} held in memory, for tests. It passes the same contract suite as the filesystem
 * store. `etag` is the SHA-256 of the content (base64url). Buffers are copied in and out, so callers
 * cannot change stored bytes. `durable: false` changes nothing and `sync()` does nothing. `close()`
 * drops everything.
 */
export function createMemoryBlobStore(): BlobStore {
  return new MemoryBlobStore();
}

class MemoryBlobStore implements BlobStore {
  readonly #blobs = new Map<string, StoredBlob>();

  async put(key: string, body: BlobBody, options: PutOptions = {}): Promise<PutResult> {
    assertValidBlobKey(key);
    const bytes = await readBody(body);
    // No await between the check and the write: on one event loop they happen as one step.
    const existed = this.#blobs.has(key);
    if (existed && options.onlyIfAbsent === true) return { kind: 'conflict' };
    this.#blobs.set(key, {
      bytes,
      lastModified: new Date(),
      etag: createHash('sha256').update(bytes).digest('base64url'),
    });
    return { kind: existed ? 'replaced' : 'created' };
  }

  async stat(key: string): Promise<BlobInfo | undefined> {
    assertValidBlobKey(key);
    const blob = this.#blobs.get(key);
    return blob === undefined ? undefined : toInfo(key, blob);
  }

  async read(key: string): Promise<Buffer | undefined> {
    assertValidBlobKey(key);
    const blob = this.#blobs.get(key);
    return blob === undefined ? undefined : Buffer.from(blob.bytes);
  }

  async openRead(key: string): Promise<OpenedBlob | undefined> {
    assertValidBlobKey(key);
    const blob = this.#blobs.get(key);
    if (blob === undefined) return undefined;
    return { info: toInfo(key, blob), stream: Readable.from([Buffer.from(blob.bytes)], { objectMode: false }) };
  }

  // Every write is in memory and "durable" for as long as the store lives: the durability option changes nothing.
  async copy(fromKey: string, toKey: string, _options?: WriteOptions): Promise<void> {
    assertValidBlobKey(fromKey);
    assertValidBlobKey(toKey);
    const blob = this.#blobs.get(fromKey);
    if (blob === undefined) throw new BlobNotFoundError(fromKey);
    // Stored buffers are never changed, so both keys may share one.
    this.#blobs.set(toKey, blob);
  }

  async delete(key: string, _options?: WriteOptions): Promise<boolean> {
    assertValidBlobKey(key);
    return this.#blobs.delete(key);
  }

  async *list(prefix: string): AsyncIterable<string> {
    splitBlobKeyPrefix(prefix);
    for (const key of [...this.#blobs.keys()]) {
      if (key.startsWith(prefix)) yield key;
    }
  }

  async sync(): Promise<void> {
    // Nothing to flush.
  }

  async close(): Promise<void> {
    this.#blobs.clear();
  }
}

async function readBody(body: BlobBody): Promise<Buffer> {
  if (body instanceof Uint8Array) return Buffer.from(body);
  if (body !== null && typeof body === 'object' && typeof body.file === 'string') return readFile(body.file);
  throw new TypeError('BlobStore.put: body must be a Buffer or { file: string }');
}

function toInfo(key: string, blob: StoredBlob): BlobInfo {
  return { key, size: blob.bytes.length, lastModified: blob.lastModified, etag: blob.etag };
}
