export type { BlobBody, BlobInfo, BlobStore, OpenedBlob, PutOptions, PutResult, WriteOptions } from './blob-store.js';
export {
  assertValidBlobKey,
  MAX_BLOB_KEY_LENGTH,
  MAX_BLOB_KEY_SEGMENT_LENGTH,
  RESERVED_BLOB_KEY_SEGMENT,
} from './blob-key.js';
export { BlobNotFoundError, InvalidBlobKeyError } from './errors.js';
export { createFilesystemBlobStore, type FilesystemBlobStoreOptions } from './filesystem-blob-store.js';
export { createMemoryBlobStore } from './memory-blob-store.js';
