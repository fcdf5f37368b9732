/**
 * Turns a {@link SearchQuery} (or an autocomplete request) into Meilisearch requests. Pure.
 *
 * Matching is done entirely with equality filters on lists stored with each document (see
 * `documents.ts`), which gives the contract's semantics exactly where Meilisearch's full-text
 * matching cannot (it prefix-matches only the last query word, never matches substrings, and
 * cannot require words to be adjacent within one tag):
 *
 * - a free term matches when the lower id starts with it, an id token starts with it, or its
 *   words appear adjacent and in order in the id tokens, the title, the description, the summary,
 *   one tag or one author; every free term must match;
 * - `id:x` matches ids containing x; `packageid:x` the whole id; `version:x` a listed version;
 *   `owner:x` (or `owners:x`) an owner name, whole and case-insensitively (`%` and `_` are plain
 *   characters); `title:`, `description:`, `summary:`, `tags:`, `authors:` their words adjacent
 *   in that field only; every field term must hold.
 *
 * Ranking is tiered: a document ranks by the best way any free term matches it —
 *
 * 1. the lower id equals the term (exact id first);
 * 2. the lower id starts with the term;
 * 3. an id token starts with the term;
 * 4. anything else —
 *
 * and within a tier by total downloads (descending), then lower id. Each tier is one filtered
 * placeholder search (excluding the tiers above it) sorted by {@link RESULT_SORT}; `totalHits` is
 * the sum of the tiers' exhaustive counts, and a page is cut across tiers by {@link pageTiers}.
 */
import type { AutocompleteIdsOptions, SearchQuery } from '@nucat/search';
import { RUN_FIELDS, type RunField } from './documents.js';
import { and, equals, not, or, type Condition } from './filter.js';
import { RESULT_SORT } from './settings.js';
import { queryRuns, textWords } from './tokens.js';

/** One tier: a placeholder search (no `q`) narrowed by `filter`, in {@link RESULT_SORT} order. */
export interface TierRequest {
  /** Always `""`: matching is done by the filter. */
  q: '';
  /** Meilisearch filter expression. */
  filter: string;
  sort: string[];
}

/** The requests answering one search or autocomplete call. */
export interface SearchPlan {
  /** Tiers in rank order; empty when the query can match nothing (then no request is sent). */
  tiers: TierRequest[];
  /** Results to skip (a whole number ≥ 0). */
  skip: number;
  /** Results to return (a whole number ≥ 0). */
  take: number;
}

/** A slice of one tier's results. */
export interface TierWindow {
  /** Index into {@link SearchPlan.tiers}. */
  tier: number;
  offset: number;
  limit: number;
}

/**
 * The tier requests of a search.
 *
 * @example buildSearchPlan({ query: { terms: ['json'], fields: {} }, variant: 'semver2-stable', skip: 0, take: 20 }).tiers.length // 4
 */
export function buildSearchPlan(search: SearchQuery): SearchPlan {
  const terms = search.query.terms.map((term) => term.toLowerCase());
  const base = and(
    equals('variant', search.variant),
    packageTypeCondition(search.packageType),
    ...terms.map(termCondition),
    fieldsCondition(search.query.fields),
  );
  return { tiers: buildTiers(base, idTierPredicates(terms)), skip: wholeNumber(search.skip), take: wholeNumber(search.take) };
}

/**
 * The tier requests of an id autocomplete: ids that start with the prefix or have a token starting
 * with it (case-insensitive), ranked like a search for the prefix. An empty prefix matches every id.
 */
export function buildAutocompletePlan(options: AutocompleteIdsOptions): SearchPlan {
  const prefix = options.prefix.toLowerCase();
  const inVariant = and(equals('variant', options.variant), packageTypeCondition(options.packageType));
  const base = prefix === '' ? inVariant : and(inVariant, or(equals('lowerIdPrefixes', prefix), equals('idTokenPrefixes', prefix)));
  const tiers = prefix === '' ? [true] : idTierPredicates([prefix]);
  return { tiers: buildTiers(base, tiers), skip: wholeNumber(options.skip), take: wholeNumber(options.take) };
}

/**
 * Which part of which tier makes up the page `[skip, skip + take)`, given each tier's number of
 * matches. Tiers that contribute nothing are left out.
 *
 * @example pageTiers([1, 0, 5], 0, 3) // [{ tier: 0, offset: 0, limit: 1 }, { tier: 2, offset: 0, limit: 2 }]
 */
export function pageTiers(counts: readonly number[], skip: number, take: number): TierWindow[] {
  const windows: TierWindow[] = [];
  const first = wholeNumber(skip);
  const end = first + wholeNumber(take);
  let start = 0;
  counts.forEach((count, tier) => {
    const tierEnd = start + wholeNumber(count);
    const from = Math.max(first, start);
    const to = Math.min(end, tierEnd);
    if (to > from) windows.push({ tier, offset: from - start, limit: to - from });
    start = tierEnd;
  });
  return windows;
}

/** `packageType`: a case-insensitive name; empty or absent means any type. */
function packageTypeCondition(packageType: string | undefined): Condition {
  const name = (packageType ?? '').trim().toLowerCase();
  return name === '' ? true : equals('packageTypesLower', name);
}

/** A free term: the id starts with it, an id token starts with it, or its words run in some field. */
function termCondition(term: string): Condition {
  return or(equals('lowerIdPrefixes', term), equals('idTokenPrefixes', term), ...RUN_FIELDS.map((field) => runCondition(field, term)));
}

/** The words of `text` appear adjacent and in order in one instance of `field`; `false` when `text` has no word. */
function runCondition(field: RunField, text: string): Condition {
  const runs = queryRuns(textWords(text));
  return runs.length === 0 ? false : and(...runs.map((run) => equals('wordRuns', `${field}:${run}`)));
}

/** The `field:value` terms; every one must hold. */
function fieldsCondition(fields: SearchQuery['query']['fields']): Condition {
  const conditions: Condition[] = [];
  for (const value of fields.id ?? []) {
    // `id:x` matches ids containing x (which includes every id with a token starting with x).
    const lower = value.toLowerCase();
    conditions.push(lower === '' ? true : equals('idSubstrings', lower));
  }
  for (const value of fields.packageid ?? []) conditions.push(equals('lowerId', value.toLowerCase()));
  for (const value of fields.version ?? []) conditions.push(equals('versionsLower', value.toLowerCase()));
  // Owner names are stored lowercase (see `sortedOwners`); `owners` holds them as they are.
  for (const value of fields.owners ?? []) conditions.push(equals('owners', value.toLowerCase()));
  for (const field of ['title', 'description', 'summary', 'tags', 'authors'] as const) {
    for (const value of fields[field] ?? []) conditions.push(runCondition(field, value));
  }
  return and(...conditions);
}

/** The id tiers of some terms, best first, then everything else. */
function idTierPredicates(terms: readonly string[]): Condition[] {
  if (terms.length === 0) return [true];
  return [
    or(...terms.map((term) => equals('lowerId', term))),
    or(...terms.map((term) => equals('lowerIdPrefixes', term))),
    or(...terms.map((term) => equals('idTokenPrefixes', term))),
    true,
  ];
}

function buildTiers(base: Condition, predicates: readonly Condition[]): TierRequest[] {
  if (base === false) return [];
  const tiers: TierRequest[] = [];
  const above: Condition[] = [];
  for (const predicate of predicates) {
    const filter = and(base, predicate, ...above.map(not));
    if (predicate !== false) above.push(predicate);
    if (typeof filter !== 'string') {
      if (filter === false) continue;
      // `base` always names the variant, so a filter is never the constant `true`; guard anyway.
      throw new TypeError('A search tier without a filter.');
    }
    tiers.push({ q: '', filter, sort: [...RESULT_SORT] });
  }
  return tiers;
}

/** A whole number ≥ 0 (anything else, NaN included, becomes 0; fractions are dropped). */
function wholeNumber(value: number): number {
  return Number.isFinite(value) && value > 0 ? Math.floor(value) : 0;
}

