import type { Settings } from 'meilisearch';
import { DISPLAYED_ATTRIBUTES } from './documents.js';

/** The order of every result list: most downloads first, then lower id (byte order for ASCII ids). */
export const RESULT_SORT: readonly string[] = ['totalDownloads:desc', 'lowerId:asc'];

/**
 * Largest `totalHits` Meilisearch reports, and the bound on offset + limit. Counting is a bitmap
 * cardinality, so a large bound costs nothing; it only has to exceed any feed's size.
 */
export const MAX_TOTAL_HITS = 10_000_000;

/** Server-side search budget in milliseconds; past it Meilisearch returns what it has (reliability §2 item 30). */
export const SEARCH_CUTOFF_MS = 2_000;

/**
 * The settings of every feed index. Applying them again is harmless (Meilisearch compares them
 * with the current ones), so each process applies them once per index before its first use.
 *
 * - Matching is done with equality filters on precomputed lists (see `documents.ts`), so results
 *   are exact, deterministic and the same as the PostgreSQL backend's; `filterableAttributes`
 *   lists them (`owners` is both a document field and such a list: owner names are stored
 *   lowercase, so `owner:` compares them as they are). Facet search is off: nothing searches
 *   those values, and building it for thousands of substrings per document would be waste.
 * - Order comes from the `sort` parameter ({@link RESULT_SORT}), which is why `sort` comes right
 *   after `words` in `rankingRules`. The text ranking rules behind it, and the custom rules
 *   `totalDownloads:desc` / `lowerId:asc`, only order full-text queries run by hand against the
 *   index (nucat never sends `q`): `searchableAttributes` are in ranking order for the same reason.
 * - Typo tolerance is off: a query is literal text; "widgts" must not find "widgets" here when it
 *   does not in PostgreSQL.
 * - `displayedAttributes` leave out the filter lists, which can hold thousands of values (`owners`,
 *   a document field, is shown).
 *
 * Requires Meilisearch 1.12 or later (`facetSearch`).
 *
 * @see https://www.meilisearch.com/docs/reference/api/settings
 */
export function buildIndexSettings(): Settings {
  return {
    searchableAttributes: ['id', 'title', 'tags', 'authors', 'description', 'summary'],
    displayedAttributes: [...DISPLAYED_ATTRIBUTES],
    filterableAttributes: [
      'variant',
      'lowerId',
      'lowerIdPrefixes',
      'idSubstrings',
      'idTokenPrefixes',
      'wordRuns',
      'packageTypesLower',
      'versionsLower',
      'owners',
    ],
    sortableAttributes: ['totalDownloads', 'lowerId'],
    rankingRules: ['words', 'sort', 'attribute', 'exactness', 'proximity', 'typo', 'totalDownloads:desc', 'lowerId:asc'],
    typoTolerance: { enabled: false },
    pagination: { maxTotalHits: MAX_TOTAL_HITS },
    searchCutoffMs: SEARCH_CUTOFF_MS,
    facetSearch: false,
  };
}
