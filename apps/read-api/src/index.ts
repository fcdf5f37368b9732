export { createReadApp, type ReadAppDeps } from './app.js';
export { buildServiceIndex } from './service-index.js';
export { createGenerationResolver, type GenerationResolver, type GenerationResolverOptions, type ResolvedGenerations } from './generations.js';
export {
  BlobDocument,
  createLocalBlobReader,
  createStoreBlobSource,
  type BlobSource,
  type LargeBlob,
  type LocalBlobCacheStats,
  type LocalBlobReader,
  type LocalBlobReaderOptions,
} from './local-blobs.js';
