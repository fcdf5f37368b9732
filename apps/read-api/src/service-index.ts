import type { FeedUrls } from '@nucat/catalog';

/** One entry of the service index. */
interface Resource {
  '@id': string;
  '@type': string;
  comment?: string;
  clientVersion?: string;
}

/**
 * The service index: one object per `@type` (third-party tools compare `@type` as a string),
 * with every versioned alias the official client matches (it matches exactly, first hit wins).
 * https://learn.microsoft.com/nuget/api/service-index
 */
export function buildServiceIndex(
  urls: FeedUrls,
  publishUrl: string,
  options: { search?: boolean } = {},
): { version: string; resources: Resource[]; '@context': object } {
  const search = options.search ?? true;
  const semver1 = urls.registrationBase('registration5-semver1');
  const gzSemver1 = urls.registrationBase('registration5-gz-semver1');
  const gzSemver2 = urls.registrationBase('registration5-gz-semver2');
  const resources: Resource[] = [
    { '@id': urls.flatContainerBase, '@type': 'PackageBaseAddress/3.0.0', comment: 'Base URL of where NuGet packages are stored, in the format {@id}{LOWER_ID}/{LOWER_VERSION}/{LOWER_ID}.{LOWER_VERSION}.nupkg' },
    { '@id': `${publishUrl}/v3/package`, '@type': 'PackagePublish/2.0.0' },
    { '@id': semver1, '@type': 'RegistrationsBaseUrl', comment: 'Package metadata, SemVer 1.0.0 packages only' },
    { '@id': semver1, '@type': 'RegistrationsBaseUrl/3.0.0-beta', comment: 'Package metadata, SemVer 1.0.0 packages only' },
    { '@id': semver1, '@type': 'RegistrationsBaseUrl/3.0.0-rc', comment: 'Package metadata, SemVer 1.0.0 packages only' },
    { '@id': gzSemver1, '@type': 'RegistrationsBaseUrl/3.4.0', comment: 'Package metadata, gzip, SemVer 1.0.0 packages only' },
    { '@id': gzSemver2, '@type': 'RegistrationsBaseUrl/3.6.0', comment: 'Package metadata, gzip, SemVer 2.0.0 packages included' },
    { '@id': gzSemver2, '@type': 'RegistrationsBaseUrl/Versioned', clientVersion: '4.3.0-alpha', comment: 'Package metadata, gzip, SemVer 2.0.0 packages included' },
    // The client matches only /Versioned, /3.4.0 and /3.0.0-beta for search (not the bare name, /3.0.0-rc or
    // /3.5.0); the others are for third-party tools that compare against nuget.org's index.
    ...(search ? ['SearchQueryService', 'SearchQueryService/3.0.0-beta', 'SearchQueryService/3.0.0-rc', 'SearchQueryService/3.4.0', 'SearchQueryService/3.5.0'].map(
      (type) => ({ '@id': `${urls.v3Base}query`, '@type': type, comment: 'Query endpoint of the search service' }),
    ) : []),
    ...(search ? ['SearchAutocompleteService', 'SearchAutocompleteService/3.0.0-beta', 'SearchAutocompleteService/3.0.0-rc', 'SearchAutocompleteService/3.5.0'].map(
      (type) => ({ '@id': `${urls.v3Base}autocomplete`, '@type': type, comment: 'Autocomplete endpoint of the search service' }),
    ) : []),
    { '@id': `${urls.catalogBase}index.json`, '@type': 'Catalog/3.0.0', comment: 'Index of the append-only catalog of every change to this feed' },
    { '@id': `${urls.flatContainerBase}{lower_id}/{lower_version}/readme`, '@type': 'ReadmeUriTemplate/6.13.0', comment: 'URI template of a package README' },
  ];
  return {
    version: '3.0.0',
    resources,
    '@context': { '@vocab': 'http://schema.nuget.org/services#', comment: 'http://www.w3.org/2000/01/rdf-schema#comment' },
  };
}
