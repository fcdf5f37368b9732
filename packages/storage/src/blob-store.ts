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

/** Options of the writes of a {@link BlobStore}: `put`, `copy` and `delete`. */
export interface WriteOptions {
  /**
   * When true, the write is durable when it resolves: it survives a crash of the machine.
   *
   * When false, it is as atomic and as visible as a durable write (readers see the old blob or the
   * whole new one, never a part, at once and from any process), but it may be lost in a crash of the
   * machine (power loss, kernel panic) until {@link BlobStore.sync} resolves; a crash of the writing
   * process alone loses nothing. After such a machine crash the key may hold the old blob, the new one,
   * nothing, or — on a filesystem — a file that reads back empty or short: callers that wrote without
   * durability must write again after a crash rather than trust (or compare against) what they find,
   * and must call `sync()` before they record the work as done. Many non-durable writes and one `sync()`
   * cost far less than as many durable writes.
   * @defaultValue true
   */
  durable?: boolean;
}

/** Options of {@link BlobStore.put}. */
export interface PutOptions extends WriteOptions {
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
  /**
   * Atomic: readers see the old object or the whole new one, never a part. Durable when it resolves,
   * unless `options.durable` is false (see {@link WriteOptions.durable}).
   */
  put(key: string, body: BlobBody, options?: PutOptions): Promise<PutResult>;
  /** @returns undefined when there is no blob under `key`. */
  stat(key: string): Promise<BlobInfo | undefined>;
  /** @returns the whole content, or undefined when there is no blob under `key`. */
  read(key: string): Promise<Buffer | undefined>;
  /** @returns the blob as a stream with its info, or undefined when there is no blob under `key`. */
  openRead(key: string): Promise<OpenedBlob | undefined>;
  /**
   * Copies a blob, replacing `toKey` atomically when it exists. Durable when it resolves, unless
   * `options.durable` is false.
   * @throws BlobNotFoundError when there is no blob under `fromKey`.
   */
  copy(fromKey: string, toKey: string, options?: WriteOptions): Promise<void>;
  /**
   * Durable when it resolves, unless `options.durable` is false (then the blob may come back after a
   * machine crash, until {@link BlobStore.sync} resolves).
   * @returns true when a blob was deleted, false when there was none.
   */
  delete(key: string, options?: WriteOptions): Promise<boolean>;
  /**
   * Every key that starts with `prefix` (plain text match, so `"a/b"` matches `a/b/c` and `a/bc`), in no
   * particular order. `""` lists everything.
   */
  list(prefix: string): AsyncIterable<string>;
  /**
   * Makes every write that resolved before this call durable, the non-durable ones
   * (`durable: false`) included. For the filesystem store that covers the writes of every process
   * under the same root on this machine, not only those made through this object. Concurrent calls
   * are coalesced. Cheap when nothing was written.
   */
  sync(): Promise<void>;
  /** Releases resources. The store must not be used afterwards. */
  close(): Promise<void>;
}
