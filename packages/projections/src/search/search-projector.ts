import type { CatalogItem, FeedUrls, PackageDetailsData } from '@nucat/catalog';
import type { SearchBackend } from '@nucat/search';
import type { ProjectionResult } from '../shared/projection.js';
import { buildSearchDocuments } from './build-search-documents.js';

/** Dependencies of a search projector. */
export interface SearchProjectorOptions {
  backend: SearchBackend;
  feedId: number;
  urls: FeedUrls;
  loadLatestItems(lowerId: string): Promise<CatalogItem[]>;
  /** The id's owner names (not catalog data); none when not given. */
  loadOwners?(lowerId: string): Promise<readonly string[]>;
}

/**
 * Projects one id into the search backend: its documents (one per search variant) are rebuilt from
 * the catalog state and replace whatever the backend held for the id, so re-running is harmless.
 * An id with no listed version left is removed from search.
 */
export function createSearchProjector(options: SearchProjectorOptions) {
  const { backend, feedId, urls, loadLatestItems } = options;
  return {
    async project(lowerId: string): Promise<ProjectionResult> {
      const items = await loadLatestItems(lowerId);
      const leaves = items
        .filter((i) => i.type === 'PackageDetails')
        .map((i) => ({ lowerVersion: i.lowerVersion, commitTimestamp: i.commitTimestamp, data: i.data as PackageDetailsData }));
      const owners = (await options.loadOwners?.(lowerId)) ?? [];
      const documents = buildSearchDocuments({ lowerId, leaves, urls, owners });
      await backend.replacePackage(feedId, lowerId, documents);
      return { written: documents.length, deleted: documents.length === 0 ? 1 : 0 };
    },
  };
}

export type SearchProjector = ReturnType<typeof createSearchProjector>;
