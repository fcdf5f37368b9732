import { compareVersions, lowerNormalizedVersion, parseVersion, toLowerId, tryParseVersion } from '@nucat/nuget';
import { InvalidMirrorOptionError, MirrorSourceError } from './errors.js';
import { createHttpClient, type FetchFn, type HttpClient, type HttpClientOptions } from './http-client.js';
import { compileIdGlobs } from './id-globs.js';
import { mapPool, runPool } from './pool.js';
import { readCatalogIndex, readCatalogPage, readServiceIndex, flatContainerNupkgUrl, type SourceResources } from './source-documents.js';

/** Options of {@link verifyFeeds}. */
export interface VerifyOptions {
  /** Service index URL of the reference feed (A). */
  source: string;
  /** Service index URL of the feed checked against it (B). */
  target: string;
  /** Compare only ids matching one of these globs. @defaultValue every id */
  idGlobs?: readonly string[];
  /** Ids compared at the same time. @defaultValue 8 */
  concurrency?: number;
  /** @defaultValue globalThis.fetch */
  fetch?: FetchFn;
  http?: Omit<HttpClientOptions, 'fetch'>;
  /** Called for each difference as soon as it is found (the result lists them all, sorted, too). */
  onDifference?(difference: FeedDifference): void;
}

/** One way two feeds differ, for one version. */
export type FeedDifference =
  /** In the source's flat container, not in the target's. */
  | { kind: 'missing'; id: string; version: string }
  /** In the target's flat container, not in the source's. */
  | { kind: 'extra'; id: string; version: string }
  /** Both have it, with other `.nupkg` bytes (SHA-512, base64; `undefined` when the download answered 404). */
  | { kind: 'different-bytes'; id: string; version: string; sourceHash?: string; targetHash?: string }
  /** Both have it, listed in one and not the other (`undefined`: not in that feed's registration). */
  | { kind: 'different-listed'; id: string; version: string; sourceListed?: boolean; targetListed?: boolean };

/** The outcome of {@link verifyFeeds}. */
export interface VerifyResult {
  /** Ids compared (from both catalogs, after the globs). */
  ids: number;
  /** Versions compared (in either flat container). */
  versions: number;
  /** Every difference, by id then version. */
  differences: FeedDifference[];
}

/**
 * Compares two feeds through their public HTTP APIs only. The ids are those named in either
 * feed's catalog; for each, the flat container versions of both
 * (https://learn.microsoft.com/nuget/api/package-base-address-resource), the SHA-512 of both
 * `.nupkg` downloads of each common version, and the listed state from the SemVer2 registration
 * hive (`catalogEntry.listed`, absent = listed).
 *
 * @returns every difference (missing, extra, different bytes, different listed state); none when the feeds agree.
 * @throws MirrorSourceError when a service index or catalog cannot be read.
 */
export async function verifyFeeds(options: VerifyOptions): Promise<VerifyResult> {
  const concurrency = options.concurrency ?? 8;
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) {
    throw new InvalidMirrorOptionError(`concurrency must be a whole number from 1 to 64, got ${concurrency}`, { concurrency });
  }
  const matches = compileIdGlobs(options.idGlobs);
  const http = createHttpClient({ ...options.http, ...(options.fetch ? { fetch: options.fetch } : {}) });
  const [a, b] = await Promise.all([openFeed(http, options.source), openFeed(http, options.target)]);
  const ids = new Map<string, string>();
  for (const feed of [a, b]) for (const [lowerId, id] of feed.ids) if (matches(id) && !ids.has(lowerId)) ids.set(lowerId, id);

  const differences: FeedDifference[] = [];
  const report = (d: FeedDifference): void => {
    differences.push(d);
    options.onDifference?.(d);
  };
  let versions = 0;
  const sortedIds = [...ids.entries()].sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0));
  await runPool(sortedIds, concurrency, async ([lowerId, id]) => {
    const [versionsA, versionsB, listedA, listedB] = await Promise.all([
      flatVersions(http, a.resources, lowerId),
      flatVersions(http, b.resources, lowerId),
      registrationListed(http, a.resources, lowerId),
      registrationListed(http, b.resources, lowerId),
    ]);
    const all = [...new Set([...versionsA, ...versionsB])].sort((x, y) => compareVersions(parseVersion(x), parseVersion(y)));
    versions += all.length;
    for (const version of all) {
      if (!versionsB.has(version)) {
        report({ kind: 'missing', id, version });
        continue;
      }
      if (!versionsA.has(version)) {
        report({ kind: 'extra', id, version });
        continue;
      }
      const [hashA, hashB] = await Promise.all([
        http.hash(flatContainerNupkgUrl(a.resources.flatContainerBase, lowerId, version)),
        http.hash(flatContainerNupkgUrl(b.resources.flatContainerBase, lowerId, version)),
      ]);
      if (hashA?.sha512 !== hashB?.sha512 || hashA === undefined) {
        report({
          kind: 'different-bytes',
          id,
          version,
          ...(hashA ? { sourceHash: hashA.sha512 } : {}),
          ...(hashB ? { targetHash: hashB.sha512 } : {}),
        });
      }
      const la = listedA.get(version);
      const lb = listedB.get(version);
      if (la !== lb) report({ kind: 'different-listed', id, version, ...(la !== undefined ? { sourceListed: la } : {}), ...(lb !== undefined ? { targetListed: lb } : {}) });
    }
  });
  differences.sort((x, y) => {
    const byId = toLowerId(x.id) < toLowerId(y.id) ? -1 : toLowerId(x.id) > toLowerId(y.id) ? 1 : 0;
    return byId || compareVersions(parseVersion(x.version), parseVersion(y.version)) || (x.kind < y.kind ? -1 : x.kind > y.kind ? 1 : 0);
  });
  return { ids: ids.size, versions, differences };
}

/** One line describing a difference, for the command line. */
export function formatFeedDifference(d: FeedDifference): string {
  switch (d.kind) {
    case 'missing':
      return `missing ${d.id} ${d.version}: in the source, not in the target`;
    case 'extra':
      return `extra ${d.id} ${d.version}: in the target, not in the source`;
    case 'different-bytes':
      return `different-bytes ${d.id} ${d.version}: source sha512 ${d.sourceHash ?? '(no download)'}, target sha512 ${d.targetHash ?? '(no download)'}`;
    case 'different-listed':
      return `different-listed ${d.id} ${d.version}: source ${listedText(d.sourceListed)}, target ${listedText(d.targetListed)}`;
  }
}

function listedText(listed: boolean | undefined): string {
  return listed === undefined ? 'not in registration' : listed ? 'listed' : 'unlisted';
}

interface OpenFeed {
  resources: SourceResources;
  /** lowerId → id as the catalog writes it (latest). */
  ids: Map<string, string>;
}

async function openFeed(http: HttpClient, serviceIndexUrl: string): Promise<OpenFeed> {
  const resources = readServiceIndex(await http.getJson(serviceIndexUrl), serviceIndexUrl);
  const index = readCatalogIndex(await http.getJson(resources.catalogIndexUrl), resources.catalogIndexUrl);
  const pages = await mapPool(index.pages, 4, async (p) => readCatalogPage(await http.getJson(p.url), p.url));
  const ids = new Map<string, string>();
  for (const item of pages.flat()) ids.set(item.lowerId, item.id);
  return { resources, ids };
}

/** Lowercased normalized versions in the flat container's `index.json` (empty on 404). */
async function flatVersions(http: HttpClient, resources: SourceResources, lowerId: string): Promise<Set<string>> {
  const url = `${resources.flatContainerBase}${lowerId}/index.json`;
  const document = await http.findJson(url);
  if (document === undefined) return new Set();
  const list = (document as { versions?: unknown }).versions;
  if (list !== undefined && !Array.isArray(list)) throw new MirrorSourceError(`${url}: versions is not an array`, { url });
  const result = new Set<string>();
  for (const text of (list ?? []) as unknown[]) {
    const version = typeof text === 'string' ? tryParseVersion(text) : undefined;
    if (!version) throw new MirrorSourceError(`${url}: ${JSON.stringify(text)} is not a version`, { url });
    result.add(lowerNormalizedVersion(version));
  }
  return result;
}

interface RegistrationPage {
  '@id'?: string;
  items?: { catalogEntry?: { version?: unknown; listed?: unknown } }[];
}

/** lower normalized version → listed, from the SemVer2 registration hive (empty on 404 or no hive). */
async function registrationListed(http: HttpClient, resources: SourceResources, lowerId: string): Promise<Map<string, boolean>> {
  const result = new Map<string, boolean>();
  if (!resources.registrationBase) return result;
  const index = (await http.findJson(`${resources.registrationBase}${lowerId}/index.json`)) as { items?: RegistrationPage[] } | undefined;
  for (const page of index?.items ?? []) {
    const items = page.items ?? (page['@id'] ? ((await http.getJson(page['@id'])) as RegistrationPage).items ?? [] : []);
    for (const leaf of items) {
      const entry = leaf.catalogEntry;
      const version = typeof entry?.version === 'string' ? tryParseVersion(entry.version) : undefined;
      if (version) result.set(lowerNormalizedVersion(version), entry?.listed !== false);
    }
  }
  return result;
}
