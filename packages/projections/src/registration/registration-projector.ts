import { gzipSync } from 'node:zlib';
import type { BlobStore } from '@nucat/storage';
import type { CatalogItem, FeedUrls, PackageDetailsData } from '@nucat/catalog';
import type { ProjectionResult } from '../flat-container/flat-container-projector.js';
import { buildRegistration } from './build-registration.js';

/** Dependencies of a registration projector. */
export interface RegistrationProjectorOptions {
  store: BlobStore;
  urls: FeedUrls;
  loadLatestItems(lowerId: string): Promise<CatalogItem[]>;
  /** Paging thresholds, for tests. */
  paging?: { maxInlinedLeaves?: number; leavesPerPage?: number };
  /**
   * Prefix of every hive's keys in the store, `""` or ending in `/` (`"g2/"` puts the hives under
   * `g2/registration5-*`). Document URLs do not change with it. @defaultValue ''
   */
  root?: string;
}

/**
 * Projects the three registration hives (RegistrationsBaseUrl) for one id.
 * https://learn.microsoft.com/nuget/api/registration-base-url-resource
 *
 * Documents are rebuilt from the catalog state; the gz hives are stored gzipped (deterministic
 * output, so a rebuild is byte-identical). Pages and leaves are written before the index that
 * points at them; documents the new index no longer references are removed afterwards.
 */
export function createRegistrationProjector(options: RegistrationProjectorOptions) {
  const { store, urls, loadLatestItems } = options;
  const root = options.root ?? '';
  if (root !== '' && !root.endsWith('/')) throw new Error(`registration root must be empty or end in '/', got '${root}'`);

  return {
    async project(lowerId: string): Promise<ProjectionResult> {
      const items = await loadLatestItems(lowerId);
      const leaves = items
        .filter((i) => i.type === 'PackageDetails')
        .map((i) => ({
          commitId: i.commitId,
          commitTimestamp: i.commitTimestamp,
          lowerId: i.lowerId,
          lowerVersion: i.lowerVersion,
          data: i.data as PackageDetailsData,
        }));
      const hives = buildRegistration({ lowerId, leaves, urls, options: options.paging ?? {} });
      let written = 0;
      let deleted = 0;
      for (const hive of hives) {
        const indexPath = `${lowerId}/index.json`;
        const wanted = new Set<string>();
        // Index last: readers must never follow it to a page or leaf that is not there yet.
        const ordered = [...hive.documents].sort((a, b) => Number(a.path === indexPath) - Number(b.path === indexPath));
        for (const doc of ordered) {
          const key = `${root}${hive.hive}/${doc.path}`;
          wanted.add(key);
          const json = Buffer.from(JSON.stringify(doc.json));
          const body = hive.gzip ? gzipSync(json, { level: 9 }) : json;
          const current = await store.read(key);
          if (current && current.equals(body)) continue;
          await store.put(key, body);
          written += 1;
        }
        const indexKey = `${root}${hive.hive}/${indexPath}`;
        if (!wanted.has(indexKey) && (await store.delete(indexKey))) deleted += 1;
        for await (const key of store.list(`${root}${hive.hive}/${lowerId}/`)) {
          if (!wanted.has(key) && (await store.delete(key))) deleted += 1;
        }
      }
      return { written, deleted };
    },
  };
}

export type RegistrationProjector = ReturnType<typeof createRegistrationProjector>;
