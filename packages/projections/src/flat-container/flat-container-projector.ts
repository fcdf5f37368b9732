import type { BlobStore } from '@nucat/storage';
import { packageContentKeys, type CatalogItem, type PackageDetailsData } from '@nucat/catalog';
import { buildFlatContainerIndex } from './build-flat-container-index.js';

/** Dependencies of a flat container projector. */
export interface FlatContainerProjectorOptions {
  store: BlobStore;
  /** The latest catalog item of each version of an id (the catalog state). */
  loadLatestItems(lowerId: string): Promise<CatalogItem[]>;
  /** Key prefix of the flat container in the store (`g2/flatcontainer` for generation 2). @defaultValue 'flatcontainer' */
  prefix?: string;
}

/** What one projection run changed, for logs and tests. */
export interface ProjectionResult {
  written: number;
  deleted: number;
}

/**
 * Projects the PackageBaseAddress (flat container) resource for one id:
 * `{id}/index.json`, and per version the `.nupkg`, `.nuspec`, `icon` and `readme`.
 * https://learn.microsoft.com/nuget/api/package-base-address-resource
 *
 * The id is rebuilt from the catalog state, so running it twice changes nothing. Order matters for
 * readers: version files are in place before `index.json` lists the version, and files of a
 * deleted version are removed only after `index.json` stopped listing it.
 */
export function createFlatContainerProjector(options: FlatContainerProjectorOptions) {
  const { store, loadLatestItems } = options;
  const prefix = options.prefix ?? 'flatcontainer';

  return {
    async project(lowerId: string): Promise<ProjectionResult> {
      const items = await loadLatestItems(lowerId);
      let written = 0;
      let deleted = 0;
      const live: string[] = [];
      for (const item of items) {
        if (item.type !== 'PackageDetails') continue;
        const data = item.data as PackageDetailsData;
        const dir = `${prefix}/${lowerId}/${item.lowerVersion}`;
        const content = packageContentKeys(data.packageHash);
        const files: [string, string][] = [
          [content.nupkg, `${dir}/${lowerId}.${item.lowerVersion}.nupkg`],
          [content.nuspec, `${dir}/${lowerId}.nuspec`],
        ];
        if (data.iconFile) files.push([content.icon, `${dir}/icon`]);
        if (data.readmeFile) files.push([content.readme, `${dir}/readme`]);
        for (const [from, to] of files) {
          // Content is immutable per id+version, so an existing target is already right.
          if (await store.stat(to)) continue;
          await store.copy(from, to);
          written += 1;
        }
        live.push(item.lowerVersion);
      }

      const indexKey = `${prefix}/${lowerId}/index.json`;
      if (live.length > 0) {
        const body = Buffer.from(JSON.stringify(buildFlatContainerIndex(live)));
        const current = await store.read(indexKey);
        if (!current || !current.equals(body)) {
          await store.put(indexKey, body);
          written += 1;
        }
      } else if (await store.delete(indexKey)) {
        deleted += 1;
      }

      // Remove the files of deleted versions (and anything else no longer backed by the catalog).
      const keep = new Set(live.map((v) => `${prefix}/${lowerId}/${v}/`));
      for await (const key of store.list(`${prefix}/${lowerId}/`)) {
        if (key === indexKey) continue;
        const versionDir = key.slice(0, key.indexOf('/', prefix.length + lowerId.length + 2) + 1);
        if (!keep.has(versionDir) && (await store.delete(key))) deleted += 1;
      }
      return { written, deleted };
    },
  };
}

export type FlatContainerProjector = ReturnType<typeof createFlatContainerProjector>;
