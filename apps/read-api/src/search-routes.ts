import type Router from '@koa/router';
import type Koa from 'koa';
import type { FeedUrls } from '@nucat/catalog';
import { sendJson } from '@nucat/http';
import { toLowerId } from '@nucat/nuget';
import { parseSearchParameters, parseSearchQuery, selectVariant, type SearchBackend, type SearchHit } from '@nucat/search';

const SEARCH_CACHE = 'public, max-age=10';
const CONTEXT = { '@vocab': 'http://schema.nuget.org/schema#' };

/**
 * One search result in the SearchQueryService shape.
 * https://learn.microsoft.com/nuget/api/search-query-service-resource#search-result
 */
function renderHit(hit: SearchHit, registrationBase: string) {
  const d = hit.document;
  const registration = `${registrationBase}${d.lowerId}/index.json`;
  return {
    '@id': registration,
    '@type': 'Package',
    registration,
    id: d.id,
    version: d.version,
    description: d.description,
    summary: d.summary,
    title: d.title || d.id,
    iconUrl: d.iconUrl,
    licenseUrl: d.licenseUrl,
    projectUrl: d.projectUrl,
    tags: d.tags,
    authors: d.authors,
    owners: d.owners,
    totalDownloads: hit.totalDownloads,
    verified: false,
    packageTypes: d.packageTypes.map((name) => ({ name })),
    versions: d.versions.map((v) => ({
      version: v.version,
      downloads: hit.downloads[v.lowerVersion] ?? 0,
      '@id': `${registrationBase}${d.lowerId}/${v.lowerVersion}.json`,
    })),
    vulnerabilities: [],
  };
}

/**
 * SearchQueryService and SearchAutocompleteService routes.
 * https://learn.microsoft.com/nuget/api/search-query-service-resource
 * https://learn.microsoft.com/nuget/api/search-autocomplete-service-resource
 */
export function mountSearchRoutes(router: Router, deps: { search: SearchBackend; feedId: number; urls: FeedUrls }): void {
  const { search, feedId, urls } = deps;

  router.get('/v3/query', async (ctx: Koa.Context) => {
    const params = parseSearchParameters(ctx.query);
    const variant = selectVariant({ prerelease: params.prerelease, semVer2: params.semVer2 });
    const result = await search.search(feedId, {
      query: parseSearchQuery(params.q),
      variant,
      skip: params.skip,
      take: params.take,
      ...(params.packageType ? { packageType: params.packageType } : {}),
    });
    // SemVer 2.0.0-aware clients get the hive that holds SemVer 2.0.0 packages.
    const registrationBase = urls.registrationBase(params.semVer2 ? 'registration5-gz-semver2' : 'registration5-semver1');
    sendJson(
      ctx,
      { '@context': { ...CONTEXT, '@base': registrationBase }, totalHits: result.totalHits, data: result.hits.map((h) => renderHit(h, registrationBase)) },
      { cacheControl: SEARCH_CACHE },
    );
  });

  router.get('/v3/autocomplete', async (ctx: Koa.Context) => {
    const params = parseSearchParameters(ctx.query);
    const variant = selectVariant({ prerelease: params.prerelease, semVer2: params.semVer2 });
    const idParam = typeof ctx.query['id'] === 'string' ? ctx.query['id'] : undefined;
    // nuget.org's rule: `q` present or `id` absent → id mode; otherwise the versions of `id`.
    if (ctx.query['q'] !== undefined || idParam === undefined) {
      const result = await search.autocompleteIds(feedId, {
        prefix: (params.q ?? '').trim(),
        variant,
        skip: params.skip,
        take: params.take,
        ...(params.packageType ? { packageType: params.packageType } : {}),
      });
      return sendJson(ctx, { '@context': CONTEXT, totalHits: result.totalHits, data: result.ids }, { cacheControl: SEARCH_CACHE });
    }
    const trimmed = idParam.trim();
    const versions = /^[A-Za-z0-9_.-]{1,100}$/.test(trimmed)
      ? await search.autocompleteVersions(feedId, { lowerId: toLowerId(trimmed), variant })
      : undefined;
    sendJson(ctx, { '@context': CONTEXT, totalHits: versions?.length ?? 0, data: versions ?? [] }, { cacheControl: SEARCH_CACHE });
  });
}
