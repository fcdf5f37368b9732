import type { Config } from '@nucat/config';
import type { Db } from '@nucat/db';
import type { SearchBackend } from '@nucat/search';
import { createMeilisearchSearchBackend } from '@nucat/search-meilisearch';
import { createPostgresSearchBackend } from '@nucat/search-postgres';

/** The search backend the configuration names. */
export async function createSearchBackend(config: Config, db: Db): Promise<SearchBackend> {
  switch (config.search.kind) {
    case 'postgres':
      return createPostgresSearchBackend({ db });
    case 'meilisearch':
      return createMeilisearchSearchBackend({
        url: config.search.url,
        ...(config.search.apiKey ? { apiKey: config.search.apiKey } : {}),
        indexPrefix: config.search.indexPrefix,
      });
  }
}
