/**
 * A recorded feed in the official gallery's catalog format, served on loopback by node:http: a service index, a
 * catalog index, pages and leaves composed by hand in the shapes nuget-protocol.md §8 describes
 * (leaf `@type` arrays, page item `@type` strings `nuget:PackageDetails` / `nuget:PackageDelete`,
 * leaf URLs with seconds-precision paths `data/2024.01.02.03.04.05/xunit.core.2.9.3.json`,
 * timestamps with 7 fraction digits), and a flat container serving the REAL package bytes from the
 * machine's NuGet folder.
 *
 * Commits are published in stages (`publish(n)`: the first n commits are visible), as a source that
 * moves on between mirror runs.
 */
import { createHash, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readNupkg } from '@nucat/nuget';

/** Where the machine's real packages are: `<root>/<lowerid>/<version>/<lowerid>.<version>.nupkg`. */
export const MACHINE_PACKAGES = process.env['NUCAT_TEST_MACHINE_PACKAGES'] || '/opt/nuget/packages';

/** One catalog item of the recording. */
export type RecordedItem =
  | { type: 'PackageDetails'; lowerId: string; version: string; listed: boolean }
  | { type: 'PackageDelete'; lowerId: string; version: string };

/** One commit: a timestamp (7 fraction digits), its page, its items. */
export interface RecordedCommit {
  commitTimeStamp: string;
  page: number;
  items: RecordedItem[];
}

/** A loopback feed serving a recording. */
export interface RecordedFeed {
  /** `{base}/v3/index.json`. */
  readonly serviceIndexUrl: string;
  /** Makes the first `count` commits visible (index, pages, leaves). */
  publish(count: number): void;
  /**
   * Serves these bytes instead of the real package for `lowerId/version` (a corrupt mirror of the source),
   * with this Content-Type (default `application/octet-stream`); undefined serves the real package again.
   */
  corrupt(lowerId: string, version: string, bytes: Buffer | undefined, contentType?: string): void;
  /** Serves `/v3/cursors.json` (as a nucat source does) with this body; undefined: 404, as the official gallery. */
  setCursors(cursors: Record<string, string> | undefined): void;
  /** Request paths served so far. */
  readonly requests: string[];
  /** The real bytes of a package. */
  bytesOf(lowerId: string, version: string): Buffer;
  close(): Promise<void>;
}

const CATALOG_CONTEXT = {
  '@vocab': 'http://schema.nuget.org/catalog#',
  nuget: 'http://schema.nuget.org/schema#',
  items: { '@id': 'item', '@container': '@set' },
  parent: { '@type': '@id' },
  commitTimeStamp: { '@type': 'http://www.w3.org/2001/XMLSchema#dateTime' },
  'nuget:lastCreated': { '@type': 'http://www.w3.org/2001/XMLSchema#dateTime' },
  'nuget:lastEdited': { '@type': 'http://www.w3.org/2001/XMLSchema#dateTime' },
  'nuget:lastDeleted': { '@type': 'http://www.w3.org/2001/XMLSchema#dateTime' },
};

const DETAILS_CONTEXT = {
  '@vocab': 'http://schema.nuget.org/schema#',
  catalog: 'http://schema.nuget.org/catalog#',
  xsd: 'http://www.w3.org/2001/XMLSchema#',
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
};

const DELETE_CONTEXT = {
  '@vocab': 'http://schema.nuget.org/schema#',
  catalog: 'http://schema.nuget.org/catalog#',
  xsd: 'http://www.w3.org/2001/XMLSchema#',
  details: 'catalog:details',
  'catalog:commitTimeStamp': { '@type': 'xsd:dateTime' },
  published: { '@type': 'xsd:dateTime' },
};

/** `2024-01-02T03:04:05.1234567Z` → `2024.01.02.03.04.05` (the official gallery's leaf folder: seconds precision). */
function leafFolder(commitTimeStamp: string): string {
  const m = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)/.exec(commitTimeStamp)!;
  return m.slice(1, 7).join('.');
}

/** Starts the feed on 127.0.0.1 with a free port. */
export async function startRecordedFeed(commits: readonly RecordedCommit[]): Promise<RecordedFeed> {
  const bytes = new Map<string, Buffer>();
  const bytesOf = (lowerId: string, version: string): Buffer => {
    const key = `${lowerId}/${version}`;
    let b = bytes.get(key);
    if (!b) {
      b = readFileSync(`${MACHINE_PACKAGES}/${lowerId}/${version}/${lowerId}.${version}.nupkg`);
      bytes.set(key, b);
    }
    return b;
  };
  const corrupted = new Map<string, Buffer>();
  /** Content-Type of a replacement body (by identity), when not application/octet-stream. */
  const replacementTypes = new WeakMap<Buffer, string>();
  const requests: string[] = [];
  const commitIds = commits.map(() => randomUUID());
  let visible = 0;
  let cursors: Record<string, string> | undefined;

  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    requests.push(path);
    const document = route(path);
    if (document === undefined) {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found');
      return;
    }
    if (Buffer.isBuffer(document)) {
      const contentType = replacementTypes.get(document) ?? 'application/octet-stream';
      res.writeHead(200, { 'Content-Type': contentType, 'Content-Length': document.length }).end(document);
      return;
    }
    const body = Buffer.from(JSON.stringify(document));
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': body.length }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const catalogBase = `${base}/v3/catalog0/`;
  const flatBase = `${base}/v3-flatcontainer/`;
  const registrationBase = `${base}/v3/registration5-gz-semver2/`;

  const leafUrl = (commit: RecordedCommit, item: RecordedItem): string =>
    `${catalogBase}data/${leafFolder(commit.commitTimeStamp)}/${item.lowerId}.${item.version}.json`;

  function route(path: string): object | Buffer | undefined {
    const url = `${base}${path}`;
    if (path === '/v3/index.json') return serviceIndex();
    if (path === '/v3/cursors.json') return cursors;
    if (url === `${catalogBase}index.json`) return catalogIndex();
    const page = /^page(\d+)\.json$/.exec(url.slice(catalogBase.length));
    if (url.startsWith(catalogBase) && page) return catalogPage(Number(page[1]));
    if (url.startsWith(`${catalogBase}data/`)) {
      for (let n = 0; n < visible; n++) {
        for (const item of commits[n]!.items) if (leafUrl(commits[n]!, item) === url) return leaf(n, item);
      }
      return undefined;
    }
    if (url.startsWith(flatBase) && url.endsWith('/index.json')) {
      const lowerId = url.slice(flatBase.length, -'/index.json'.length);
      const versions = liveVersions(lowerId);
      return versions.length > 0 ? { versions } : undefined;
    }
    if (url.startsWith(registrationBase) && url.endsWith('/index.json')) {
      const lowerId = url.slice(registrationBase.length, -'/index.json'.length);
      const versions = liveVersions(lowerId);
      if (versions.length === 0) return undefined;
      // A minimal SemVer2 registration index, one inlined page (what a client needs, §7).
      return {
        count: 1,
        items: [
          {
            '@id': `${registrationBase}${lowerId}/index.json#page/${versions[0]}/${versions.at(-1)}`,
            count: versions.length,
            lower: versions[0],
            upper: versions.at(-1),
            items: versions.map((version) => ({
              '@id': `${registrationBase}${lowerId}/${version}.json`,
              catalogEntry: { id: lowerId, version, listed: listedOf(lowerId, version) },
              packageContent: `${flatBase}${lowerId}/${version}/${lowerId}.${version}.nupkg`,
            })),
          },
        ],
      };
    }
    if (url.startsWith(flatBase)) {
      const m = /^([^/]+)\/([^/]+)\/([^/]+)\.nupkg$/.exec(url.slice(flatBase.length));
      if (!m || m[3] !== `${m[1]}.${m[2]}`) return undefined;
      if (!live(m[1]!, m[2]!)) return undefined;
      return corrupted.get(`${m[1]}/${m[2]}`) ?? bytesOf(m[1]!, m[2]!);
    }
    return undefined;
  }

  /** Whether the latest visible item of a version is a PackageDetails (deleted versions are not downloadable). */
  function live(lowerId: string, version: string): boolean {
    let state = false;
    for (let n = 0; n < visible; n++) {
      for (const item of commits[n]!.items) if (item.lowerId === lowerId && item.version === version) state = item.type === 'PackageDetails';
    }
    return state;
  }

  /** Versions of an id whose latest visible item is a PackageDetails. */
  function liveVersions(lowerId: string): string[] {
    const versions = new Set<string>();
    for (let n = 0; n < visible; n++) for (const item of commits[n]!.items) if (item.lowerId === lowerId) versions.add(item.version);
    return [...versions].filter((v) => live(lowerId, v)).sort();
  }

  function listedOf(lowerId: string, version: string): boolean {
    let listed = true;
    for (let n = 0; n < visible; n++) {
      for (const item of commits[n]!.items) if (item.lowerId === lowerId && item.version === version && item.type === 'PackageDetails') listed = item.listed;
    }
    return listed;
  }

  function serviceIndex(): object {
    return {
      version: '3.0.0',
      resources: [
        { '@id': flatBase, '@type': 'PackageBaseAddress/3.0.0', comment: 'Base URL of where NuGet packages are stored' },
        { '@id': `${base}/query`, '@type': 'SearchQueryService/3.5.0', comment: 'Query endpoint of NuGet Search service' },
        { '@id': registrationBase, '@type': 'RegistrationsBaseUrl/3.6.0', comment: 'Base URL of NuGet package registration info' },
        { '@id': `${catalogBase}index.json`, '@type': 'Catalog/3.0.0', comment: 'Index of the NuGet package catalog.' },
      ],
      '@context': { '@vocab': 'http://schema.nuget.org/services#', comment: 'http://www.w3.org/2000/01/rdf-schema#comment' },
    };
  }

  function pagesVisible(): { page: number; last: number; count: number }[] {
    const pages = new Map<number, { page: number; last: number; count: number }>();
    for (let n = 0; n < visible; n++) {
      const c = commits[n]!;
      const entry = pages.get(c.page) ?? { page: c.page, last: n, count: 0 };
      entry.last = n;
      entry.count += c.items.length;
      pages.set(c.page, entry);
    }
    return [...pages.values()].sort((a, b) => a.page - b.page);
  }

  function catalogIndex(): object {
    const pages = pagesVisible();
    const newest = visible - 1;
    return {
      '@id': `${catalogBase}index.json`,
      '@type': ['CatalogRoot', 'AppendOnlyCatalog', 'Permalink'],
      commitId: newest >= 0 ? commitIds[newest] : '00000000-0000-0000-0000-000000000000',
      commitTimeStamp: newest >= 0 ? commits[newest]!.commitTimeStamp : '0001-01-01T00:00:00Z',
      count: pages.length,
      'nuget:lastCreated': newest >= 0 ? commits[newest]!.commitTimeStamp : '0001-01-01T00:00:00Z',
      'nuget:lastDeleted': newest >= 0 ? commits[newest]!.commitTimeStamp : '0001-01-01T00:00:00Z',
      'nuget:lastEdited': newest >= 0 ? commits[newest]!.commitTimeStamp : '0001-01-01T00:00:00Z',
      // the official gallery does not promise any order of the index's items: list them newest first.
      items: pages.reverse().map((p) => ({
        '@id': `${catalogBase}page${p.page}.json`,
        '@type': 'CatalogPage',
        commitId: commitIds[p.last],
        commitTimeStamp: commits[p.last]!.commitTimeStamp,
        count: p.count,
      })),
      '@context': CATALOG_CONTEXT,
    };
  }

  function catalogPage(page: number): object | undefined {
    const entry = pagesVisible().find((p) => p.page === page);
    if (!entry) return undefined;
    const items: object[] = [];
    for (let n = 0; n < visible; n++) {
      const c = commits[n]!;
      if (c.page !== page) continue;
      for (const item of c.items) {
        items.push({
          '@id': leafUrl(c, item),
          '@type': item.type === 'PackageDelete' ? 'nuget:PackageDelete' : 'nuget:PackageDetails',
          commitId: commitIds[n],
          commitTimeStamp: c.commitTimeStamp,
          'nuget:id': idOf(item),
          'nuget:version': item.version,
        });
      }
    }
    return {
      '@id': `${catalogBase}page${page}.json`,
      '@type': 'CatalogPage',
      commitId: commitIds[entry.last],
      commitTimeStamp: commits[entry.last]!.commitTimeStamp,
      count: items.length,
      // the official gallery's page items come in no particular order.
      items: items.reverse(),
      parent: `${catalogBase}index.json`,
      '@context': CATALOG_CONTEXT,
    };
  }

  function idOf(item: RecordedItem): string {
    return readNupkg(bytesOf(item.lowerId, item.version)).manifest.id;
  }

  function leaf(n: number, item: RecordedItem): object {
    const c = commits[n]!;
    const url = leafUrl(c, item);
    if (item.type === 'PackageDelete') {
      return {
        '@id': url,
        '@type': ['PackageDelete', 'catalog:Permalink'],
        'catalog:commitId': commitIds[n],
        'catalog:commitTimeStamp': c.commitTimeStamp,
        id: idOf(item),
        originalId: idOf(item),
        published: c.commitTimeStamp,
        version: item.version,
        '@context': DELETE_CONTEXT,
      };
    }
    const bytes = bytesOf(item.lowerId, item.version);
    const contents = readNupkg(bytes);
    const m = contents.manifest;
    return {
      '@id': url,
      '@type': ['PackageDetails', 'catalog:Permalink'],
      authors: m.authors,
      'catalog:commitId': commitIds[n],
      'catalog:commitTimeStamp': c.commitTimeStamp,
      created: '2024-01-01T00:00:00.0000000Z',
      description: m.description,
      id: m.id,
      isPrerelease: m.version.releaseLabels.length > 0,
      lastEdited: '0001-01-01T00:00:00',
      listed: item.listed,
      packageHash: createHash('sha512').update(bytes).digest('base64'),
      packageHashAlgorithm: 'SHA512',
      packageSize: bytes.length,
      published: item.listed ? '2024-01-01T00:00:00.0000000Z' : '1900-01-01T00:00:00Z',
      requireLicenseAcceptance: m.requireLicenseAcceptance,
      verbatimVersion: m.verbatimVersion,
      version: item.version,
      packageEntries: contents.entries.map((e) => ({
        '@id': `${url}#${e.fullName}`,
        '@type': 'PackageEntry',
        compressedLength: e.compressedLength,
        fullName: e.fullName,
        length: e.length,
        name: e.name,
      })),
      tags: m.tags,
      '@context': DETAILS_CONTEXT,
    };
  }

  return {
    serviceIndexUrl: `${base}/v3/index.json`,
    publish(count) {
      visible = Math.min(count, commits.length);
    },
    setCursors(value) {
      cursors = value;
    },
    corrupt(lowerId, version, replacement, contentType) {
      if (replacement) {
        const body = Buffer.from(replacement); // a copy of its own, so its Content-Type is its own
        if (contentType) replacementTypes.set(body, contentType);
        corrupted.set(`${lowerId}/${version}`, body);
      } else {
        corrupted.delete(`${lowerId}/${version}`);
      }
    },
    requests,
    bytesOf,
    close: () => new Promise<void>((resolve, reject) => server.close((e) => (e ? reject(e) : resolve()))),
  };
}
