import { compareVersions, parseVersion, tryParseVersion } from '@nucat/nuget';
import { InvalidSearchParameterError } from './errors.js';
import { cleanQueryText, MAX_QUERY_LENGTH } from './text.js';
import type { SearchVariant } from './types.js';

/**
 * Picks the search variant (nuget.org "search filter") for a request.
 *
 * @example selectVariant({ prerelease: true, semVer2: false }) // 'semver1-prerelease'
 */
export function selectVariant(options: { prerelease: boolean; semVer2: boolean }): SearchVariant {
  if (options.semVer2) return options.prerelease ? 'semver2-prerelease' : 'semver2-stable';
  return options.prerelease ? 'semver1-prerelease' : 'semver1-stable';
}

/** Largest `skip` honoured; larger values are clamped to it (nuget.org's deep paging limit). */
export const MAX_SEARCH_SKIP = 3000;
/** Largest `take` honoured; larger (or negative) values fall back to {@link DEFAULT_SEARCH_TAKE}. */
export const MAX_SEARCH_TAKE = 1000;
/** `take` when the request has none, or one outside `[0, MAX_SEARCH_TAKE]`. */
export const DEFAULT_SEARCH_TAKE = 20;

/** Search and autocomplete request parameters after validation and defaults. */
export interface SearchParameters {
  /** The query text: trimmed, control characters turned into spaces, at most {@link MAX_QUERY_LENGTH} long; `""` when absent. */
  q: string;
  /** In `[0, MAX_SEARCH_SKIP]`. */
  skip: number;
  /** In `[0, MAX_SEARCH_TAKE]`. */
  take: number;
  prerelease: boolean;
  /** True when `semVerLevel` parses as a version ≥ 2.0.0. */
  semVer2: boolean;
  /** Package type name to filter on (cleaned like `q`); undefined when absent or empty. */
  packageType?: string;
}

/** A query string as Koa (and most routers) expose it: repeated keys become arrays. */
export type QueryParameters = Record<string, string | string[] | undefined>;

const SEMVER2 = parseVersion('2.0.0');
const INTEGER = /^[+-]?[0-9]+$/;

/**
 * Turns the HTTP query parameters of a search or autocomplete request into
 * {@link SearchParameters}, following nuget.org:
 *
 * - `skip`: default 0; must be an integer; clamped to `[0, MAX_SEARCH_SKIP]`.
 * - `take`: default 20; must be an integer; values below 0 or above 1,000 fall back to 20 (they are
 *   not clamped to 1,000).
 * - `prerelease`: `true` (any case) is true, anything else false.
 * - `semVerLevel`: any value parsing as a version ≥ 2.0.0 includes SemVer 2.0.0 packages.
 * - `packageType`: cleaned like `q`; empty means no filter.
 * - `q`: see {@link SearchParameters.q}.
 *
 * A repeated parameter uses its first value. Empty `skip`/`take` count as absent.
 *
 * @see https://learn.microsoft.com/en-us/nuget/api/search-query-service-resource#request-parameters
 * @throws InvalidSearchParameterError (`invalid_request`) when `skip` or `take` is not an integer.
 */
export function parseSearchParameters(query: QueryParameters): SearchParameters {
  const skip = parseInteger(query, 'skip');
  const take = parseInteger(query, 'take');
  const packageType = cleanQueryText(first(query.packageType));
  const parameters: SearchParameters = {
    q: cleanQueryText(first(query.q)),
    skip: skip === undefined ? 0 : Math.min(Math.max(skip, 0), MAX_SEARCH_SKIP),
    take: take === undefined || take < 0 || take > MAX_SEARCH_TAKE ? DEFAULT_SEARCH_TAKE : take,
    prerelease: (first(query.prerelease) ?? '').trim().toLowerCase() === 'true',
    semVer2: isSemVer2Level(first(query.semVerLevel)),
  };
  if (packageType !== '') parameters.packageType = packageType;
  return parameters;
}

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function parseInteger(query: QueryParameters, name: 'skip' | 'take'): number | undefined {
  const raw = first(query[name]);
  if (raw === undefined) return undefined;
  const text = raw.trim();
  if (text === '') return undefined;
  if (!INTEGER.test(text)) {
    throw new InvalidSearchParameterError(`The '${name}' parameter must be a whole number, got '${raw.slice(0, 100)}'.`, {
      parameter: name,
      value: raw.slice(0, 100),
    });
  }
  // Very long digit strings become ±Infinity, which the clamping rules handle like any large number.
  return Number(text) + 0; // + 0 turns -0 into 0
}

function isSemVer2Level(value: string | undefined): boolean {
  if (value === undefined) return false;
  const version = tryParseVersion(value);
  return version !== undefined && compareVersions(version, SEMVER2) >= 0;
}
