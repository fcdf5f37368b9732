import { toLowerId } from '@nucat/nuget';
import type { FeedUrls } from './feed-urls.js';
import { orderDocumentKeys } from './json-order.js';
import type { CatalogItem, PackageDeleteData, PackageDetailsData } from './package-details.js';
import { formatCatalogTimestamp, formatLeafPathTimestamp } from './timestamps.js';

const SCHEMA = 'http://schema.nuget.org/schema#';
const CATALOG_SCHEMA = 'http://schema.nuget.org/catalog#';
const XSD = 'http://www.w3.org/2001/XMLSchema#';

/** JSON-LD context of a PackageDetails leaf (set containers for arrays, dateTime for timestamps). */
const DETAILS_CONTEXT = {
  '@vocab': SCHEMA,
  catalog: CATALOG_SCHEMA,
  xsd: XSD,
  dependencies: { '@id': 'dependency', '@container': '@set' },
  dependencyGroups: { '@id': 'dependencyGroup', '@container': '@set' },
  packageEntries: { '@id': 'packageEntry', '@container': '@set' },
  packageTypes: { '@id': 'packageType', '@container': '@set' },
  supportedFrameworks: { '@id': 'supportedFramework', '@container': '@set' },
  tags: { '@id': 'tag', '@container': '@set' },
  vulnerabilities: { '@id': 'vulnerability', '@container': '@set' },
  published: { '@type': 'xsd:dateTime' },
  created: { '@type': 'xsd:dateTime' },
  lastEdited: { '@type': 'xsd:dateTime' },
  'catalog:commitTimeStamp': { '@type': 'xsd:dateTime' },
  reasons: { '@container': '@set' },
} as const;

/** JSON-LD context of a PackageDelete leaf. */
const DELETE_CONTEXT = {
  '@vocab': SCHEMA,
  catalog: CATALOG_SCHEMA,
  xsd: XSD,
  details: 'catalog:details',
  'catalog:commitTimeStamp': { '@type': 'xsd:dateTime' },
  published: { '@type': 'xsd:dateTime' },
} as const;

/**
 * Path of a catalog leaf relative to the catalog base:
 * `data/{yyyy.MM.dd.HH.mm.ss.fff}/{lowerId}.{lowerVersion}.json`. The official gallery's pattern, with
 * milliseconds added so two commits of the same id+version (≥ 1 ms apart) never share a URL.
 *
 * @example catalogLeafPath(item) // 'data/2025.03.01.10.00.00.123/contoso.widgets.2.1.0-beta.2.json'
 */
export function catalogLeafPath(item: Pick<CatalogItem, 'commitTimestamp' | 'lowerId' | 'lowerVersion'>): string {
  return `data/${formatLeafPathTimestamp(item.commitTimestamp)}/${item.lowerId}.${item.lowerVersion}.json`;
}

/** Absolute URL of a catalog leaf: `urls.catalogBase` + {@link catalogLeafPath}. */
export function catalogLeafUrl(urls: FeedUrls, item: Pick<CatalogItem, 'commitTimestamp' | 'lowerId' | 'lowerVersion'>): string {
  return urls.catalogBase + catalogLeafPath(item);
}

/**
 * Renders the JSON document of a catalog leaf (PackageDetails or PackageDelete) from its stored
 * body. The key order is fixed, so the same item always serializes to the same bytes.
 *
 * @see https://learn.microsoft.com/en-us/nuget/api/catalog-resource#catalog-leaf
 */
export function renderCatalogLeaf(urls: FeedUrls, item: CatalogItem): object {
  const leafUrl = catalogLeafUrl(urls, item);
  const commit = {
    'catalog:commitId': item.commitId,
    'catalog:commitTimeStamp': formatCatalogTimestamp(item.commitTimestamp),
  };
  if (item.type === 'PackageDelete') {
    const data = item.data as PackageDeleteData;
    return orderDocumentKeys({
      '@id': leafUrl,
      '@type': ['PackageDelete', 'catalog:Permalink'],
      ...commit,
      id: data.id,
      originalId: data.originalId,
      published: data.published,
      version: data.version,
      '@context': DELETE_CONTEXT,
    });
  }
  const data = item.data as PackageDetailsData;
  return orderDocumentKeys({
    ...detailsFields(data, leafUrl),
    '@id': leafUrl,
    '@type': ['PackageDetails', 'catalog:Permalink'],
    ...commit,
    '@context': DETAILS_CONTEXT,
  });
}

/** The leaf's own properties, with `@id`s derived from the leaf URL for the nested nodes. */
function detailsFields(data: PackageDetailsData, leafUrl: string): Record<string, unknown> {
  const fields: Record<string, unknown> = {
    id: data.id,
    version: data.version,
    verbatimVersion: data.verbatimVersion,
    authors: data.authors,
    description: data.description,
    created: data.created,
    published: data.published,
    lastEdited: data.lastEdited,
    listed: data.listed,
    isPrerelease: data.isPrerelease,
    packageHash: data.packageHash,
    packageHashAlgorithm: data.packageHashAlgorithm,
    packageSize: data.packageSize,
    requireLicenseAcceptance: data.requireLicenseAcceptance,
    tags: [...data.tags],
    title: data.title,
    summary: data.summary,
    releaseNotes: data.releaseNotes,
    copyright: data.copyright,
    language: data.language,
    projectUrl: data.projectUrl,
    licenseUrl: data.licenseUrl,
    licenseExpression: data.licenseExpression,
    licenseFile: data.licenseFile,
    iconUrl: data.iconUrl,
    iconFile: data.iconFile,
    readmeFile: data.readmeFile,
    minClientVersion: data.minClientVersion,
    developmentDependency: data.developmentDependency,
    serviceable: data.serviceable,
    packageEntries: data.packageEntries.map((e) => ({
      '@id': `${leafUrl}#${e.fullName}`,
      '@type': 'PackageEntry',
      compressedLength: e.compressedLength,
      fullName: e.fullName,
      length: e.length,
      name: e.name,
    })),
  };
  if (data.repository !== undefined) {
    const r = data.repository;
    fields.repository = orderDocumentKeys({ branch: r.branch, commit: r.commit, type: r.type, url: r.url });
  }
  if (data.packageTypes !== undefined && data.packageTypes.length > 0) {
    fields.packageTypes = data.packageTypes.map((t) =>
      orderDocumentKeys({
        '@id': `${leafUrl}#packagetype/${toLowerId(t.name)}`,
        '@type': 'PackageType',
        name: t.name,
        version: t.version,
      }),
    );
  }
  if (data.dependencyGroups !== undefined && data.dependencyGroups.length > 0) {
    fields.dependencyGroups = data.dependencyGroups.map((g) => {
      const groupId = dependencyGroupId(leafUrl, g.targetFramework);
      const deps = g.dependencies ?? [];
      return orderDocumentKeys({
        '@id': groupId,
        '@type': 'PackageDependencyGroup',
        targetFramework: g.targetFramework,
        dependencies:
          deps.length === 0
            ? undefined
            : deps.map((d) => ({
                '@id': `${groupId}/${toLowerId(d.id)}`,
                '@type': 'PackageDependency',
                id: d.id,
                range: d.range,
              })),
      });
    });
  }
  return fields;
}

/**
 * `@id` of a dependency group node: `{leaf}#dependencygroup` for the any-framework group, else
 * `{leaf}#dependencygroup/{targetFramework lowercased}`. Registration documents reuse it.
 */
export function dependencyGroupId(leafUrl: string, targetFramework: string | undefined): string {
  return targetFramework === undefined || targetFramework === ''
    ? `${leafUrl}#dependencygroup`
    : `${leafUrl}#dependencygroup/${targetFramework.toLowerCase()}`;
}
