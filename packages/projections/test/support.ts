import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import {
  appendCatalogCommit,
  buildPackageDetails,
  formatCatalogTimestamp,
  packageContentKeys,
  type CommitStamp,
  type PendingCatalogItem,
} from '@nucat/catalog';
import type { Db } from '@nucat/db';
import { lowerNormalizedVersion, normalizeVersion, readNupkg, toLowerId, type NupkgContents } from '@nucat/nuget';
import type { BlobBody, BlobStore, PutOptions, PutResult, WriteOptions } from '@nucat/storage';
import { buildNupkg, type NupkgSpec } from '@nucat/testing';

/** The default feed created by the initial migration. */
export const FEED_ID = 1;

/** A package built in memory, as the publish side would have received it. */
export interface TestPackage {
  bytes: Buffer;
  contents: NupkgContents;
  /** Base64 SHA-512 of `bytes`. */
  hash: string;
  lowerId: string;
  lowerVersion: string;
}

/** Builds a `.nupkg` from `spec` and reads it back like the publish side does. */
export function makePackage(spec: NupkgSpec): TestPackage {
  const bytes = buildNupkg(spec);
  const contents = readNupkg(bytes);
  return {
    bytes,
    contents,
    hash: createHash('sha512').update(bytes).digest('base64'),
    lowerId: toLowerId(contents.manifest.id),
    lowerVersion: lowerNormalizedVersion(contents.manifest.version),
  };
}

/** Stores a package's content blobs where a publish would have put them (content-addressed). */
export async function storeContent(store: BlobStore, pkg: TestPackage): Promise<void> {
  const keys = packageContentKeys(pkg.hash);
  await store.put(keys.nupkg, pkg.bytes);
  await store.put(keys.nuspec, pkg.contents.nuspecBytes);
  if (pkg.contents.icon) await store.put(keys.icon, pkg.contents.icon.bytes);
  if (pkg.contents.readme) await store.put(keys.readme, pkg.contents.readme.bytes);
}

/** A PackageDetails catalog item for `pkg` (listed unless told otherwise). */
export function detailsItem(pkg: TestPackage, options: { listed?: boolean } = {}): PendingCatalogItem {
  return {
    type: 'PackageDetails',
    lowerId: pkg.lowerId,
    lowerVersion: pkg.lowerVersion,
    build: (c) =>
      buildPackageDetails({
        manifest: pkg.contents.manifest,
        packageHash: pkg.hash,
        packageSize: pkg.bytes.length,
        entries: pkg.contents.entries,
        created: c.commitTimestamp,
        published: c.commitTimestamp,
        listed: options.listed ?? true,
      }),
  };
}

/** A PackageDelete catalog item for `pkg`. */
export function deleteItem(pkg: TestPackage): PendingCatalogItem {
  const { manifest } = pkg.contents;
  return {
    type: 'PackageDelete',
    lowerId: pkg.lowerId,
    lowerVersion: pkg.lowerVersion,
    build: (c) => ({
      id: manifest.id,
      originalId: manifest.id,
      version: normalizeVersion(manifest.version),
      published: formatCatalogTimestamp(c.commitTimestamp),
    }),
  };
}

/** Appends one catalog commit holding `items` to the default feed. */
export function commit(db: Db, items: PendingCatalogItem[]): Promise<CommitStamp> {
  return db.transaction().execute((trx) => appendCatalogCommit(trx, FEED_ID, items));
}

/** Stores the content of `packages` and commits their PackageDetails leaves, `perCommit` items at a time. */
export async function publish(db: Db, store: BlobStore, packages: TestPackage[], perCommit = 50): Promise<CommitStamp> {
  let last: CommitStamp | undefined;
  for (let i = 0; i < packages.length; i += perCommit) {
    const chunk = packages.slice(i, i + perCommit);
    for (const pkg of chunk) await storeContent(store, pkg);
    last = await commit(db, chunk.map((pkg) => detailsItem(pkg)));
  }
  if (!last) throw new Error('publish needs at least one package');
  return last;
}

/** Every key under `prefix`, sorted. */
export async function listKeys(store: BlobStore, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const key of store.list(prefix)) keys.push(key);
  return keys.sort();
}

/** Every key and its bytes under each of `prefixes`, sorted by key. */
export async function snapshot(store: BlobStore, prefixes: readonly string[]): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for (const prefix of prefixes) {
    for (const key of await listKeys(store, prefix)) out.set(key, (await store.read(key))!);
  }
  return out;
}

/** Reads a JSON blob, gunzipping it when `gzip` is true; throws when the blob is absent. */
export async function readJson(store: BlobStore, key: string, gzip = false): Promise<any> {
  const bytes = await store.read(key);
  if (!bytes) throw new Error(`blob ${key} does not exist`);
  return JSON.parse((gzip ? gunzipSync(bytes) : bytes).toString('utf8'));
}

/** One write or delete seen by a {@link RecordingBlobStore}. */
export interface StoreEvent {
  op: 'put' | 'copy' | 'delete';
  key: string;
}

/** A real store plus the ordered list of the writes made through it. */
export interface RecordingBlobStore extends BlobStore {
  readonly events: StoreEvent[];
}

/**
 * Wraps a real store and records the order of writes (put, copy target, delete) made through it.
 * Every call goes to the wrapped store unchanged: this observes behaviour, it does not replace it.
 */
export function recordWrites(inner: BlobStore): RecordingBlobStore {
  const events: StoreEvent[] = [];
  return {
    events,
    async put(key: string, body: BlobBody, options?: PutOptions): Promise<PutResult> {
      const result = await inner.put(key, body, options);
      events.push({ op: 'put', key });
      return result;
    },
    stat: (key) => inner.stat(key),
    read: (key) => inner.read(key),
    openRead: (key) => inner.openRead(key),
    async copy(fromKey: string, toKey: string, options?: WriteOptions): Promise<void> {
      await inner.copy(fromKey, toKey, options);
      events.push({ op: 'copy', key: toKey });
    },
    async delete(key: string, options?: WriteOptions): Promise<boolean> {
      const deleted = await inner.delete(key, options);
      if (deleted) events.push({ op: 'delete', key });
      return deleted;
    },
    list: (prefix) => inner.list(prefix),
    sync: () => inner.sync(),
    close: () => inner.close(),
  };
}
