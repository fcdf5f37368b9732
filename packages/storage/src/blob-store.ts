/** What a store knows about one stored blob. */
export interface BlobInfo {
  /** The blob's key. */
  key: string;
  /** Size in bytes. */
  size: number;
  /** When the current content was written. */
  lastModified: Date;
  /**
   * A strong validator of the current content, without quotes: it changes whenever the content changes.
   * Characters are limited to `[A-Za-z0-9_-]`, so `"${etag}"` is a valid HTTP entity tag.
   * How it is derived is up to the store (content hash in memory; size + mtime + inode on disk).
   */
  etag: string;
}

/** The body of a put: bytes, or a file the caller owns and keeps (the store copies it). */
export type BlobBody = Buffer | { file: string };

/** Options of {@link BlobStore.put}. */
export interface PutOptions {
  /**
   * Write only when no blob exists under the key; otherwise answer `{ kind: 'conflict' }` and leave the
   * existing blob alone. Of two concurrent puts of one key, exactly one is `'created'`.
   * @defaultValue false
   */
  onlyIfAbsent?: boolean;
}

/** The outcome of a put. A conflict is an expected outcome, so it is a value, not an error. */
export type PutResult = { kind: 'created' | 'replaced' } | { kind: 'conflict' };

/** A blob opened for streaming; `info` describes exactly the bytes `stream` yields. */
export interface OpenedBlob {
  info: BlobInfo;
  /** The content. The caller must consume or destroy it. */
  stream: NodeJS.ReadableStream;
}

/**
 * Key/value storage for immutable-by-replacement blobs (packages, flat-container files, registration
 * pages). Every method validates its keys first and throws `InvalidBlobKeyError` for a bad key.
 */
export interface BlobStore {
  /** Atomic: readers see the old object or the whole new one, never a part. Durable when it resolves. */
  put(key: string, body: BlobBody, options?: PutOptions): Promise<PutResult>;
  /** @returns undefined when there is no blob under `key`. */
  stat(key: string): Promise<BlobInfo | undefined>;
  /** @returns the whole content, or undefined when there is no blob under `key`. */
  read(key: string): Promise<Buffer | undefined>;
  /** @returns the blob as a stream with its info, or undefined when there is no blob under `key`. */
  openRead(key: string): Promise<OpenedBlob | undefined>;
  /**
   * Copies a blob, replacing `toKey` atomically when it exists. Durable when it resolves.
   * @throws BlobNotFoundError when there is no blob under `fromKey`.
   */
  copy(fromKey: string, toKey: string): Promise<void>;
  /** @returns true when a blob was deleted, false when there was none. */
  delete(key: string): Promise<boolean>;
  /**
   * Every key that starts with `prefix` (plain text match, so `"a/b"` matches `a/b/c` and `a/bc`), in no
   * particular order. `""` lists everything.
   */
  list(prefix: string): AsyncIterable<string>;
  /** Releases resources. The store must not be used afterwards. */
  close(): Promise<void>;
}
