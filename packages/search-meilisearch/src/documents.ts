import { sortedOwners, tokenizeId, type SearchDocument, type SearchHit, type SearchVariant } from '@nucat/search';
import { fitsFilterValue } from './filter.js';
import { encodeDocumentKey } from './keys.js';
import { prefixesOf, prefixesOfAll, substringsOf, textWords, wordRuns } from './tokens.js';

/** The text fields a `field:` query can name. */
export type TextField = 'title' | 'tags' | 'description' | 'authors' | 'summary';

/** Every text field, in the order used to build filters. */
export const TEXT_FIELDS: readonly TextField[] = ['title', 'tags', 'description', 'authors', 'summary'];

/** The fields whose word runs are stored: the id's tokens (for free terms only) and the text fields. */
export type RunField = 'id' | TextField;

/** Every field a free term may match in. */
export const RUN_FIELDS: readonly RunField[] = ['id', ...TEXT_FIELDS];

/** One download count of a version (an array rather than an object keyed by version, so Meilisearch sees two fields, not one per version). */
export interface DownloadCount {
  lowerVersion: string;
  downloads: number;
}

/** The download fields of a stored document. */
export interface DownloadFields {
  /** Sum of {@link downloadCounts}. */
  totalDownloads: number;
  /** Counts of every version of the id that has any (not only this variant's versions). */
  downloadCounts: DownloadCount[];
}

/**
 * A search document as stored in Meilisearch: the {@link SearchDocument} fields as they are (owners
 * lowercase, each once, sorted), the primary key, the download counts, and the lists that filters
 * match against. `owners` is itself a filter list (`owner:` compares its elements for equality).
 */
export interface MeiliDocument extends SearchDocument, DownloadFields {
  /** Primary key: {@link encodeDocumentKey}. */
  key: string;
  /** Every prefix of the lower id (`lowerIdPrefixes = "newtonsoft.js"`). */
  lowerIdPrefixes: string[];
  /** Every substring of the lower id (`id:` queries). */
  idSubstrings: string[];
  /** Every prefix of every id token (`json` for `Newtonsoft.Json`; tokens from `tokenizeId`). */
  idTokenPrefixes: string[];
  /**
   * `field:run` for every run of up to three adjacent words of the id tokens, the title, the
   * description, the summary, each tag and each author (`description:fast json`).
   */
  wordRuns: string[];
  /** Package type names, lowercased, for the `packageType` filter. */
  packageTypesLower: string[];
  /** Lower-case normalized versions, for `version:` queries. */
  versionsLower: string[];
}

/** The document fields without the download counts: what `replacePackage` writes (owners included). */
export type MeiliDocumentBody = Omit<MeiliDocument, keyof DownloadFields>;

/** Attributes returned with hits and documents (the filter lists stay on the server; `owners` is a document field). */
export const DISPLAYED_ATTRIBUTES = [
  'key',
  'lowerId',
  'variant',
  'id',
  'version',
  'versions',
  'title',
  'description',
  'summary',
  'tags',
  'authors',
  'iconUrl',
  'licenseUrl',
  'projectUrl',
  'packageTypes',
  'lastCommitTimestamp',
  'owners',
  'totalDownloads',
  'downloadCounts',
] as const satisfies readonly (keyof MeiliDocument)[];

/**
 * The stored form of a search document (without download counts). Owners are stored as
 * `sortedOwners` gives them (lowercase, each once, in ordinal order).
 *
 * @example toMeiliDocumentBody(document).key // 'semver2-stable__contoso_2Ewidgets'
 */
export function toMeiliDocumentBody(document: SearchDocument): MeiliDocumentBody {
  const { lowerId } = document;
  const tokens = tokenizeId(document.id);
  // Whole words of the id too (split on . - _ only), as the contract asks: `aspnetcore` and
  // `aspnetcore.mvc` find Microsoft.AspNetCore.Mvc, not only the camelCase parts.
  const wholeWords = lowerId.split(/[.\-_]+/).filter((word) => word !== '');
  // One word list per field instance: a run never spans two tags or two authors.
  const instances: [RunField, string[]][] = [
    ['id', tokens],
    ['id', wholeWords],
    ['title', textWords(document.title)],
    ['description', textWords(document.description)],
    ['summary', textWords(document.summary)],
    ...document.tags.map((tag): [RunField, string[]] => ['tags', textWords(tag)]),
    ...document.authors.map((author): [RunField, string[]] => ['authors', textWords(author)]),
  ];
  const runs = new Set<string>();
  for (const [field, words] of instances) for (const run of wordRuns(words)) runs.add(`${field}:${run}`);
  return {
    key: encodeDocumentKey(document.variant, lowerId),
    ...copySearchDocument(document),
    // Values too long to compare are left out: no query could match them (see filter.ts).
    lowerIdPrefixes: prefixesOf(lowerId).filter(fitsFilterValue),
    idSubstrings: substringsOf(lowerId).filter(fitsFilterValue),
    idTokenPrefixes: [...new Set(prefixesOfAll([...tokens, ...wholeWords]))].filter(fitsFilterValue),
    wordRuns: [...runs].filter(fitsFilterValue),
    packageTypesLower: [...new Set(document.packageTypes.map((name) => name.toLowerCase()))].filter(fitsFilterValue),
    versionsLower: document.versions.map((v) => v.lowerVersion.toLowerCase()).filter(fitsFilterValue),
  };
}

/**
 * Download fields from absolute counts: non-finite or negative counts count as 0, fractions are
 * dropped, versions are lowercased (the last of two spellings wins).
 */
export function toDownloadFields(versions: Readonly<Record<string, number>>): DownloadFields {
  const counts = new Map<string, number>();
  for (const [version, count] of Object.entries(versions)) {
    counts.set(version.toLowerCase(), Number.isFinite(count) && count > 0 ? Math.floor(count) : 0);
  }
  let totalDownloads = 0;
  for (const count of counts.values()) totalDownloads += count;
  return { totalDownloads, downloadCounts: [...counts].map(([lowerVersion, downloads]) => ({ lowerVersion, downloads })) };
}

/** Download fields of a stored document (zero when it has none). */
export function readDownloadFields(stored: Partial<DownloadFields>): DownloadFields {
  const versions: Record<string, number> = {};
  for (const entry of Array.isArray(stored.downloadCounts) ? stored.downloadCounts : []) {
    if (typeof entry?.lowerVersion === 'string') versions[entry.lowerVersion] = Number(entry.downloads);
  }
  return toDownloadFields(versions);
}

/**
 * A search hit from a stored document.
 *
 * @returns undefined when the stored document is not a whole search document (a partial left by a
 *   download update racing a removal; it is never shown).
 */
export function toSearchHit(stored: Record<string, unknown>): SearchHit | undefined {
  if (!isSearchDocument(stored)) return undefined;
  const { totalDownloads, downloadCounts } = readDownloadFields(stored as Partial<DownloadFields>);
  return {
    document: copySearchDocument(stored),
    totalDownloads,
    downloads: Object.fromEntries(downloadCounts.map((c) => [c.lowerVersion, c.downloads])),
  };
}

/**
 * True when `value` has every field of a {@link SearchDocument} (arrays where arrays belong).
 * `owners` may be missing: a document stored before owners were recorded has none (read as `[]`).
 */
export function isSearchDocument(value: Record<string, unknown>): value is Record<string, unknown> & SearchDocument {
  return (
    typeof value.lowerId === 'string' &&
    typeof value.variant === 'string' &&
    typeof value.id === 'string' &&
    typeof value.version === 'string' &&
    Array.isArray(value.versions) &&
    Array.isArray(value.tags) &&
    Array.isArray(value.authors) &&
    Array.isArray(value.packageTypes)
  );
}

/**
 * The {@link SearchDocument} fields of `d`, in the interface's key order, without anything else;
 * owners sorted (see `sortedOwners`), `[]` when missing.
 */
export function copySearchDocument(d: SearchDocument): SearchDocument {
  return {
    lowerId: d.lowerId,
    variant: d.variant as SearchVariant,
    id: d.id,
    version: d.version,
    versions: d.versions.map((v) => ({ version: v.version, lowerVersion: v.lowerVersion })),
    title: d.title ?? '',
    description: d.description ?? '',
    summary: d.summary ?? '',
    tags: [...d.tags],
    authors: [...d.authors],
    iconUrl: d.iconUrl ?? '',
    licenseUrl: d.licenseUrl ?? '',
    projectUrl: d.projectUrl ?? '',
    packageTypes: [...d.packageTypes],
    lastCommitTimestamp: d.lastCommitTimestamp ?? '',
    owners: Array.isArray(d.owners) ? sortedOwners(d.owners.filter((owner) => typeof owner === 'string')) : [],
  };
}
