import { describe, expect, it } from 'vitest';
import { MAX_SEARCH_SKIP, MAX_SEARCH_TAKE } from '@nucat/search';
import { DISPLAYED_ATTRIBUTES } from './documents.js';
import { buildIndexSettings, MAX_TOTAL_HITS, RESULT_SORT } from './settings.js';

describe('buildIndexSettings', () => {
  const settings = buildIndexSettings();

  it('makes every list the queries compare filterable', () => {
    expect(settings.filterableAttributes).toEqual([
      'variant',
      'lowerId',
      'lowerIdPrefixes',
      'idSubstrings',
      'idTokenPrefixes',
      'wordRuns',
      'packageTypesLower',
      'versionsLower',
      'owners',
    ]);
  });

  it('makes the result order sortable and lets the sort parameter decide it', () => {
    expect(settings.sortableAttributes).toEqual(['totalDownloads', 'lowerId']);
    for (const rule of RESULT_SORT) expect(settings.sortableAttributes).toContain(rule.split(':')[0]);
    expect(settings.rankingRules?.slice(0, 2)).toEqual(['words', 'sort']);
    expect(settings.rankingRules?.slice(-2)).toEqual(['totalDownloads:desc', 'lowerId:asc']);
  });

  it('lists the searchable attributes in ranking order', () => {
    expect(settings.searchableAttributes).toEqual(['id', 'title', 'tags', 'authors', 'description', 'summary']);
  });

  it('turns typo tolerance and facet search off', () => {
    expect(settings.typoTolerance).toEqual({ enabled: false });
    expect(settings.facetSearch).toBe(false);
  });

  it('counts and pages far beyond the deepest page a client may ask for', () => {
    expect(settings.pagination?.maxTotalHits).toBe(MAX_TOTAL_HITS);
    expect(MAX_TOTAL_HITS).toBeGreaterThan(MAX_SEARCH_SKIP + MAX_SEARCH_TAKE);
  });

  it('bounds the time a search may take', () => {
    expect(settings.searchCutoffMs).toBeGreaterThan(0);
    expect(settings.searchCutoffMs).toBeLessThanOrEqual(5_000);
  });

  it('displays the stored document and its downloads only', () => {
    expect(settings.displayedAttributes).toEqual([...DISPLAYED_ATTRIBUTES]);
  });

  it('is the same every time (applying it again changes nothing)', () => {
    expect(buildIndexSettings()).toEqual(settings);
  });
});
