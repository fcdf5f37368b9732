import type { BlobStore } from '@nucat/storage';
import { packageContentKeys, type CatalogItem, type PackageDetailsData } from '@nucat/catalog';
import { itemsChangedSince, runLimited, type ProjectionResult, type ProjectOptions } from '../shared/projection.js';
import { buildFlatContainerIndex } from './build-flat-container-index.js';

export type { ProjectionResult, ProjectOptions } from '../shared/projection.js';

/** Dependencies of a flat container projector. */
export interface FlatContainerProjectorOptions {
  store: BlobStore;
  /** The latest catalog item of each version of an id (the catalog state). */
  loadLatestItems(lowerId: string): Promise<CatalogItem[]>;
  /** Key prefix of the flat container in the store (`g2/flatcontainer` for generation 2). @defaultValue 'flatcontainer' */
  prefix?: string;
  /**
   * True: every write is durable when it resolves. False: writes are atomic and visible at once but
   * durable only after `store.sync()`, which the caller must await before it records the projection
   * as done (moves a cursor). @defaultValue true
   */
  durable?: boolean;
}

/** Copies in flight at once for one id. */
const WRITE_CONCURRENCY = 8;

/**
 * Projects the PackageBaseAddress (flat container) resource for one id:
 * `{id}/index.json`, and per version the `.nupkg`, `.nuspec`, `icon` and `readme`.
 * https://learn.microsoft.com/nuget/api/package-base-address-resource
 *
 * The id is rebuilt from the catalog state, so running it twice changes nothing; with
 * {@link ProjectOptions.since} only the versions changed since are looked at. Order matters for
 * readers: version files are in place before `index.json` lists the version, and files of a
 * deleted version are removed only after `index.json` stopped listing it.
 *
 * Version files are links to (or copies of) the content blobs, which were durable before the catalog
 * named them. A version file already in place is kept only when the store reports the same `etag`
 * for it and its content blob (the same file on disk, or the same bytes in memory): a copy a crash
 * left torn is written again.
 */
export function createFlatContainerProjector(options: FlatContainerProjectorOptions) {
  const { store, loadLatestItems } = options;
  const prefix = options.prefix ?? 'flatcontainer';
  const write = { durable: options.durable !== false };

  return {
    async project(lowerId: string, projectOptions: ProjectOptions = {}): Promise<ProjectionResult> {
      const since = projectOptions.since;
      const items = await loadLatestItems(lowerId);
      const changed = itemsChangedSince(items, since);
      if (changed.length === 0 && since !== undefined) return { written: 0, deleted: 0 };
      let written = 0;
      let deleted = 0;

      const copies: (() => Promise<void>)[] = [];
      for (const item of changed) {
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
          copies.push(async () => {
            // Content is immutable per id+version: a target that is the content blob itself is right.
            const target = await store.stat(to);
            if (target !== undefined && (await store.stat(from))?.etag === target.etag) return;
            await store.copy(from, to, write);
            written += 1;
          });
        }
      }
      await runLimited(copies, WRITE_CONCURRENCY);

      const live = items.filter((item) => item.type === 'PackageDetails').map((item) => item.lowerVersion);
      const indexKey = `${prefix}/${lowerId}/index.json`;
      if (live.length > 0) {
        await store.put(indexKey, Buffer.from(JSON.stringify(buildFlatContainerIndex(live))), write);
        written += 1;
      } else if (await store.delete(indexKey, write)) {
        deleted += 1;
      }

      // Remove the files of deleted versions: with `since`, of the versions deleted since; without,
      // anything under the id no longer backed by the catalog.
      const removals: (() => Promise<void>)[] = [];
      const remove = (key: string) =>
        removals.push(async () => {
          if (await store.delete(key, write)) deleted += 1;
        });
      if (since === undefined) {
        const keep = new Set(live.map((v) => `${prefix}/${lowerId}/${v}/`));
        for await (const key of store.list(`${prefix}/${lowerId}/`)) {
          if (key === indexKey) continue;
          const versionDir = key.slice(0, key.indexOf('/', prefix.length + lowerId.length + 2) + 1);
          if (!keep.has(versionDir)) remove(key);
        }
      } else {
        for (const item of changed) {
          if (item.type === 'PackageDetails') continue;
          for await (const key of store.list(`${prefix}/${lowerId}/${item.lowerVersion}/`)) remove(key);
        }
      }
      await runLimited(removals, WRITE_CONCURRENCY);
      return { written, deleted };
    },
  };
}

export type FlatContainerProjector = ReturnType<typeof createFlatContainerProjector>;
