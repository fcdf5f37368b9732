import { fullVersion, lowerNormalizedVersion, parseVersion } from '@nucat/nuget';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSearchQuery } from './query-parser.js';
import {
  SEARCH_VARIANTS,
  type DownloadTotals,
  type PackageOwners,
  type ParsedQuery,
  type SearchBackend,
  type SearchDocument,
  type SearchResult,
  type SearchVariant,
} from './types.js';

/** Feed ids the contract suite writes to; a backend whose storage checks feed ids must accept these. */
export const SEARCH_CONTRACT_FEED_IDS: readonly number[] = [1, 2];

/** What `make` returns to {@link runSearchBackendContract}. */
export interface SearchBackendUnderTest {
  backend: SearchBackend;
  /** Closes the backend and removes everything it stored. The suite never calls `backend.close()` itself. */
  cleanup(): Promise<void>;
}

/**
 * The vitest suite every {@link SearchBackend} must pass: it pins the query semantics of the
 * search contract so that all backends answer alike.
 *
 * `make` is called once per group of tests (about ten times) and must return an EMPTY backend each
 * time; the suite writes to feeds {@link SEARCH_CONTRACT_FEED_IDS} only and calls `flush()` after
 * every write before reading.
 *
 * Pinned semantics, in short:
 * - ranking tiers: exact id, then id prefix, then id token (prefix of a token of the id, split on
 *   `.`, `-`, `_` and camelCase, or of a whole word between separators: `aspnet` matches
 *   `Microsoft.AspNetCore.Mvc`; or a run of such words, `aspnetcore.mvc`), then matches in other
 *   fields; inside the id tiers and for an empty query, by total downloads descending then lowerId
 *   ascending;
 * - an id typed in full as free text, in any case, finds that id first (`Microsoft.AspNetCore.Mvc`);
 * - every free term must match (AND) in id, title, tags, description, authors or summary; field
 *   terms (AND as well) match their field only; `packageid:` is exact, `id:` a token prefix or a
 *   literal substring, `version:` a normalized version, `owner:` an owner name (case-insensitive);
 * - the stored document comes back unchanged (its owners as last written: by `replacePackage`,
 *   or later by `setOwners`); downloads are absolute, per id, survive `replacePackage`, and
 *   `totalDownloads` sums every version given for the id;
 * - hostile input never throws and `%`/`_` are literal.
 *
 * @example
 * runSearchBackendContract('postgres', async () => {
 *   const db = await createTestDatabase();
 *   return { backend: createPostgresSearchBackend({ db: db.kysely }), cleanup: () => db.drop() };
 * });
 */
export function runSearchBackendContract(name: string, make: () => Promise<SearchBackendUnderTest>): void {
  describe(`SearchBackend contract: ${name}`, () => {
    describe('ranking and matching', () => rankingAndMatching(make));
    describe('exact ids and camelCase ids', () => exactIds(make));
    describe('fields', () => fields(make));
    describe('paging and package types', () => pagingAndPackageTypes(make));
    describe('autocomplete ids', () => autocompleteIds(make));
    describe('variants', () => variants(make));
    describe('replacing packages', () => replacing(make));
    describe('downloads', () => downloads(make));
    describe('owners', () => owners(make));
    describe('hostile input', () => hostileInput(make));
    describe('feeds', () => feeds(make));
  });
}

// ---------------------------------------------------------------------------------------------
// Fixtures

/** A package as the tests describe it; {@link makeDocument} turns it into a document. */
interface PackageSpec {
  id: string;
  /** Full versions, ascending. @defaultValue ['1.0.0'] */
  versions?: string[];
  title?: string;
  description?: string;
  summary?: string;
  tags?: string[];
  authors?: string[];
  /** @defaultValue ['Dependency'] */
  packageTypes?: string[];
  /** Downloads per full version (seeded with setDownloads). */
  downloads?: Record<string, number>;
  /** Owner names, as the projection gives them. @defaultValue [] */
  owners?: string[];
}

const FEED = 1;
const OTHER_FEED = 2;
const DEFAULT_VARIANT: SearchVariant = 'semver1-stable';

function lowerOf(id: string): string {
  return id.toLowerCase();
}

function makeDocument(spec: PackageSpec, variant: SearchVariant): SearchDocument {
  const versions = (spec.versions ?? ['1.0.0']).map((text) => {
    const parsed = parseVersion(text);
    return { version: fullVersion(parsed), lowerVersion: lowerNormalizedVersion(parsed) };
  });
  return {
    lowerId: lowerOf(spec.id),
    variant,
    id: spec.id,
    version: versions[versions.length - 1]!.version,
    versions,
    title: spec.title ?? '',
    description: spec.description ?? '',
    summary: spec.summary ?? '',
    tags: spec.tags ?? [],
    authors: spec.authors ?? [],
    iconUrl: '',
    licenseUrl: '',
    projectUrl: `https://example.test/${lowerOf(spec.id)}`,
    packageTypes: spec.packageTypes ?? ['Dependency'],
    lastCommitTimestamp: '2025-03-01T10:00:00.000Z',
    owners: spec.owners ?? [],
  };
}

/** The documents of a stable SemVer1 package: the same metadata in every variant. */
function everyVariant(spec: PackageSpec): SearchDocument[] {
  return SEARCH_VARIANTS.map((variant) => makeDocument(spec, variant));
}

function downloadTotals(spec: PackageSpec): DownloadTotals {
  const versions: Record<string, number> = {};
  for (const [version, count] of Object.entries(spec.downloads ?? {})) versions[lowerNormalizedVersion(parseVersion(version))] = count;
  return { lowerId: lowerOf(spec.id), versions };
}

/**
 * The main catalogue. Downloads (total): Fabrikam.Serializer 9000, System.Text.Json 5000,
 * Newtonsoft.Json 1000, Contoso.Core 300, Contoso.Widgets 300, Newtonsoft.Json.Bson 100,
 * Contoso.JsonHelpers 50, Json.Schema 20, JsonPath.Lite 10, Json 1, the rest 0.
 */
const CATALOGUE: PackageSpec[] = [
  { id: 'Json', description: 'Tiny helpers.', authors: ['Someone'], downloads: { '1.0.0': 1 } },
  { id: 'Json.Schema', description: 'Schema validation.', downloads: { '1.0.0': 20 } },
  { id: 'JsonPath.Lite', description: 'Query documents with expressions.', downloads: { '1.0.0': 10 } },
  {
    id: 'System.Text.Json',
    description: 'Provides high-performance types that serialize objects to JSON.',
    authors: ['Microsoft'],
    downloads: { '1.0.0': 5000 },
  },
  {
    id: 'Newtonsoft.Json',
    title: 'Json.NET',
    description: 'Json.NET is a popular high-performance JSON framework for .NET',
    tags: ['json'],
    authors: ['James Newton-King'],
    downloads: { '1.0.0': 1000 },
  },
  {
    id: 'Newtonsoft.Json.Bson',
    title: 'Json.NET BSON',
    description: 'Json.NET BSON adds support for reading and writing BSON',
    tags: ['json', 'bson'],
    authors: ['James Newton-King'],
    downloads: { '1.0.0': 100 },
  },
  { id: 'Contoso.JsonHelpers', description: 'Helpers that make json fast.', downloads: { '1.0.0': 50 } },
  {
    id: 'Fabrikam.Serializer',
    title: 'Fabrikam Serializer',
    description: 'A fast JSON serializer for .NET',
    tags: ['serialization'],
    authors: ['Fabrikam'],
    downloads: { '1.0.0': 9000 },
  },
  {
    id: 'Contoso.Widgets',
    versions: ['1.0.0', '2.0.0'],
    title: 'Contoso Widgets',
    description: 'Widgets for every occasion',
    summary: 'Widgets!',
    tags: ['widgets', 'ui'],
    authors: ['Contoso', 'Fabrikam'],
    downloads: { '1.0.0': 200, '2.0.0': 100 },
  },
  {
    id: 'Contoso.Core',
    versions: ['1.5.0'],
    description: 'Core library of the Contoso suite',
    tags: ['core'],
    authors: ['Contoso'],
    downloads: { '1.5.0': 300 },
  },
  { id: 'Contoso.Tool', description: 'A command line tool', packageTypes: ['DotnetTool'] },
  { id: 'Acme.Http-Client_Utils', description: 'Small pieces for requests.' },
  { id: 'Zeta.Thing', description: 'Nothing über anything', summary: 'Reticulates splines' },
];

/** Every catalogue id, ranked for an empty query (downloads descending, then lowerId). */
const ALL_BY_DOWNLOADS = [
  'Fabrikam.Serializer',
  'System.Text.Json',
  'Newtonsoft.Json',
  'Contoso.Core',
  'Contoso.Widgets',
  'Newtonsoft.Json.Bson',
  'Contoso.JsonHelpers',
  'Json.Schema',
  'JsonPath.Lite',
  'Json',
  'Acme.Http-Client_Utils',
  'Contoso.Tool',
  'Zeta.Thing',
];

/** `json`: exact, then id prefix, then id token, then other fields (whatever their downloads). */
const JSON_RANKED = [
  'Json',
  'Json.Schema',
  'JsonPath.Lite',
  'System.Text.Json',
  'Newtonsoft.Json',
  'Newtonsoft.Json.Bson',
  'Contoso.JsonHelpers',
  'Fabrikam.Serializer',
];

// ---------------------------------------------------------------------------------------------
// Harness

interface SearchOptions {
  variant?: SearchVariant;
  skip?: number;
  take?: number;
  packageType?: string;
  feedId?: number;
}

/** One backend per group: made before the group, cleaned up after it. */
class Harness {
  #made: SearchBackendUnderTest | undefined;

  constructor(make: () => Promise<SearchBackendUnderTest>) {
    beforeAll(async () => {
      this.#made = await make();
    });
    afterAll(async () => {
      await this.#made?.cleanup();
    });
  }

  get backend(): SearchBackend {
    if (this.#made === undefined) throw new Error('The backend was not made (did make() fail?).');
    return this.#made.backend;
  }

  /** Replaces the documents of each spec (every variant) and seeds its downloads. */
  async seed(specs: PackageSpec[], feedId = FEED): Promise<void> {
    for (const spec of specs) await this.backend.replacePackage(feedId, lowerOf(spec.id), everyVariant(spec));
    await this.backend.flush();
    const totals = specs.filter((s) => s.downloads !== undefined).map(downloadTotals);
    if (totals.length > 0) await this.backend.setDownloads(feedId, totals);
    await this.backend.flush();
  }

  async replace(lowerId: string, documents: SearchDocument[], feedId = FEED): Promise<void> {
    await this.backend.replacePackage(feedId, lowerId, documents);
    await this.backend.flush();
  }

  async setDownloads(totals: DownloadTotals[], feedId = FEED): Promise<void> {
    await this.backend.setDownloads(feedId, totals);
    await this.backend.flush();
  }

  async setOwners(owners: PackageOwners[], feedId = FEED): Promise<void> {
    await this.backend.setOwners(feedId, owners);
    await this.backend.flush();
  }

  /** Searches with `q` parsed like the read-api parses it. */
  search(q: string, options: SearchOptions = {}): Promise<SearchResult> {
    return this.searchParsed(parseSearchQuery(q), options);
  }

  async searchParsed(query: ParsedQuery, options: SearchOptions = {}): Promise<SearchResult> {
    const result = await this.backend.search(options.feedId ?? FEED, {
      query,
      variant: options.variant ?? DEFAULT_VARIANT,
      skip: options.skip ?? 0,
      take: options.take ?? 100,
      ...(options.packageType !== undefined ? { packageType: options.packageType } : {}),
    });
    expectWellFormed(result, options.take ?? 100);
    return result;
  }

  /** The ids (display casing) of a search, in order. */
  async ids(q: string, options: SearchOptions = {}): Promise<string[]> {
    return (await this.search(q, options)).hits.map((hit) => hit.document.id);
  }

  async autocomplete(prefix: string, options: SearchOptions = {}): Promise<{ totalHits: number; ids: string[] }> {
    const result = await this.backend.autocompleteIds(options.feedId ?? FEED, {
      prefix,
      variant: options.variant ?? DEFAULT_VARIANT,
      skip: options.skip ?? 0,
      take: options.take ?? 100,
      ...(options.packageType !== undefined ? { packageType: options.packageType } : {}),
    });
    expect(Number.isInteger(result.totalHits)).toBe(true);
    expect(Array.isArray(result.ids)).toBe(true);
    expect(result.ids.length).toBeLessThanOrEqual(options.take ?? 100);
    return result;
  }

  versions(lowerId: string, variant: SearchVariant = DEFAULT_VARIANT, feedId = FEED): Promise<string[] | undefined> {
    return this.backend.autocompleteVersions(feedId, { lowerId, variant });
  }
}

function expectWellFormed(result: SearchResult, take: number): void {
  expect(Number.isInteger(result.totalHits)).toBe(true);
  expect(result.totalHits).toBeGreaterThanOrEqual(result.hits.length);
  expect(Array.isArray(result.hits)).toBe(true);
  expect(result.hits.length).toBeLessThanOrEqual(take);
  for (const hit of result.hits) {
    expect(Number.isInteger(hit.totalDownloads)).toBe(true);
    expect(typeof hit.downloads).toBe('object');
  }
}

function sorted(ids: string[]): string[] {
  return [...ids].sort();
}

// ---------------------------------------------------------------------------------------------
// Groups

function rankingAndMatching(make: () => Promise<SearchBackendUnderTest>): void {
  const h = new Harness(make);
  beforeAll(() => h.seed(CATALOGUE));

  it('returns every package for an empty query, by downloads then lowerId', async () => {
    const result = await h.search('');
    expect(result.totalHits).toBe(ALL_BY_DOWNLOADS.length);
    expect(result.hits.map((hit) => hit.document.id)).toEqual(ALL_BY_DOWNLOADS);
  });

  it('returns the stored document unchanged, with its downloads', async () => {
    const [hit] = (await h.search('packageid:contoso.widgets')).hits;
    const spec = CATALOGUE.find((s) => s.id === 'Contoso.Widgets')!;
    expect(hit?.document).toEqual(makeDocument(spec, DEFAULT_VARIANT));
    expect(hit?.totalDownloads).toBe(300);
    expect(hit?.downloads['1.0.0']).toBe(200);
    expect(hit?.downloads['2.0.0']).toBe(100);
  });

  it('ranks exact id, then id prefix, then id token, then other fields, ignoring downloads across tiers', async () => {
    const result = await h.search('json');
    expect(result.hits.map((hit) => hit.document.id)).toEqual(JSON_RANKED);
    expect(result.totalHits).toBe(JSON_RANKED.length);
  });

  it('ranks an exact dotted id first and ids starting with it next', async () => {
    expect((await h.ids('newtonsoft.json')).slice(0, 2)).toEqual(['Newtonsoft.Json', 'Newtonsoft.Json.Bson']);
    expect((await h.ids('Newtonsoft.Json')).slice(0, 2)).toEqual(['Newtonsoft.Json', 'Newtonsoft.Json.Bson']);
  });

  it('breaks ties in a tier by lowerId', async () => {
    expect(await h.ids('contoso')).toEqual(['Contoso.Core', 'Contoso.Widgets', 'Contoso.JsonHelpers', 'Contoso.Tool']);
  });

  it('puts an id match above a match in another field', async () => {
    expect(await h.ids('fabrikam')).toEqual(['Fabrikam.Serializer', 'Contoso.Widgets']);
  });

  it('matches a prefix of the id', async () => {
    expect(await h.ids('newt')).toEqual(['Newtonsoft.Json', 'Newtonsoft.Json.Bson']);
  });

  it('matches a prefix of any id token (dot, dash, underscore and camelCase boundaries)', async () => {
    expect((await h.ids('seri'))[0]).toBe('Fabrikam.Serializer');
    expect((await h.ids('text'))[0]).toBe('System.Text.Json');
    expect((await h.ids('helpers'))[0]).toBe('Contoso.JsonHelpers');
    expect(await h.ids('path')).toContain('JsonPath.Lite');
    expect(await h.ids('client')).toEqual(['Acme.Http-Client_Utils']);
    expect(await h.ids('utils')).toEqual(['Acme.Http-Client_Utils']);
    expect(await h.ids('http')).toEqual(['Acme.Http-Client_Utils']);
  });

  it('matches free text in title, tags, description, authors and summary', async () => {
    expect(await h.ids('occasion')).toEqual(['Contoso.Widgets']);
    expect(await h.ids('serialization')).toEqual(['Fabrikam.Serializer']);
    expect(sorted(await h.ids('james'))).toEqual(['Newtonsoft.Json', 'Newtonsoft.Json.Bson']);
    expect(await h.ids('splines')).toEqual(['Zeta.Thing']);
    expect(await h.ids('ui')).toEqual(['Contoso.Widgets']);
    expect(await h.ids('microsoft')).toEqual(['System.Text.Json']);
  });

  it('matches case-insensitively', async () => {
    expect(await h.ids('OCCASION')).toEqual(['Contoso.Widgets']);
    expect(await h.ids('JSON')).toEqual(JSON_RANKED);
  });

  it('matches non-ASCII words', async () => {
    expect(await h.ids('über')).toEqual(['Zeta.Thing']);
    expect(await h.ids('ÜBER')).toEqual(['Zeta.Thing']);
  });

  it('requires every free term to match (AND)', async () => {
    expect(await h.ids('json bson')).toEqual(['Newtonsoft.Json.Bson']);
    expect(await h.ids('contoso widgets')).toEqual(['Contoso.Widgets']);
    expect(await h.ids('widgets json')).toEqual([]);
    expect(sorted(await h.ids('json fast'))).toEqual(['Contoso.JsonHelpers', 'Fabrikam.Serializer']);
  });

  it('lets terms match in different fields', async () => {
    expect(await h.ids('serializer fast')).toEqual(['Fabrikam.Serializer']);
    expect(sorted(await h.ids('newtonsoft james'))).toEqual(['Newtonsoft.Json', 'Newtonsoft.Json.Bson']);
  });

  it('matches a quoted phrase only with its words adjacent and in order', async () => {
    expect(await h.ids('"fast json"')).toEqual(['Fabrikam.Serializer']);
    expect(await h.ids('"json fast"')).toEqual(['Contoso.JsonHelpers']);
  });

  it('finds nothing for a word that appears nowhere', async () => {
    const result = await h.search('xylophone');
    expect(result).toEqual({ totalHits: 0, hits: [] });
  });
}

/**
 * Ids as people type them: dotted, camelCase segments anywhere (not only last), digits inside
 * words. Downloads (total): Contoso.MvcExtras 20000, Microsoft.AspNetCore 9000, AWSSDK.Core 9000,
 * System.IO 8000, Microsoft.AspNetCore.Mvc.Core 5000, xunit 5000, Microsoft.AspNetCore.Mvc 1000,
 * AWSSDK.S3Control 700, xunit.runner.console 600, Newtonsoft.Json.Bson 500, AWSSDK.S3 400,
 * xunit.runner.visualstudio 300, System.IO.Pipelines 200, Newtonsoft.Json 100, Contoso.Log4Net 50,
 * Contoso.Log4Net.Http2Client 10.
 */
const ID_CATALOGUE: PackageSpec[] = [
  { id: 'Microsoft.AspNetCore.Mvc', description: 'Model view controller framework for web apps.', downloads: { '1.0.0': 1000 } },
  { id: 'Microsoft.AspNetCore.Mvc.Core', description: 'Core pieces of the framework.', downloads: { '1.0.0': 5000 } },
  { id: 'Microsoft.AspNetCore', description: 'Web host.', downloads: { '1.0.0': 9000 } },
  { id: 'Contoso.MvcExtras', description: 'Extensions for microsoft.aspnetcore.mvc applications.', downloads: { '1.0.0': 20000 } },
  { id: 'Newtonsoft.Json', description: 'Serializer.', downloads: { '1.0.0': 100 } },
  { id: 'Newtonsoft.Json.Bson', description: 'Binary serializer.', downloads: { '1.0.0': 500 } },
  { id: 'xunit', description: 'Unit tests.', downloads: { '1.0.0': 5000 } },
  { id: 'xunit.runner.visualstudio', description: 'Runs tests in the IDE.', downloads: { '1.0.0': 300 } },
  { id: 'xunit.runner.console', description: 'Runs tests from a shell.', downloads: { '1.0.0': 600 } },
  { id: 'System.IO', description: 'Streams.', downloads: { '1.0.0': 8000 } },
  { id: 'System.IO.Pipelines', description: 'High-performance streaming.', downloads: { '1.0.0': 200 } },
  { id: 'AWSSDK.Core', description: 'Cloud client core.', downloads: { '1.0.0': 9000 } },
  { id: 'AWSSDK.S3', description: 'Object storage client.', downloads: { '1.0.0': 400 } },
  { id: 'AWSSDK.S3Control', description: 'Object storage control plane client.', downloads: { '1.0.0': 700 } },
  { id: 'Contoso.Log4Net', description: 'Logging adapter.', downloads: { '1.0.0': 50 } },
  { id: 'Contoso.Log4Net.Http2Client', description: 'Logs requests.', downloads: { '1.0.0': 10 } },
];

function exactIds(make: () => Promise<SearchBackendUnderTest>): void {
  const h = new Harness(make);
  beforeAll(() => h.seed(ID_CATALOGUE));

  it('finds an id with a camelCase segment before the last one, typed exactly, in any case', async () => {
    const expected = ['Microsoft.AspNetCore.Mvc', 'Microsoft.AspNetCore.Mvc.Core', 'Contoso.MvcExtras'];
    for (const q of ['Microsoft.AspNetCore.Mvc', 'microsoft.aspnetcore.mvc', 'MICROSOFT.ASPNETCORE.MVC']) {
      const result = await h.search(q);
      expect(result.hits.map((hit) => hit.document.id), q).toEqual(expected);
      expect(result.totalHits, q).toBe(expected.length);
    }
  });

  it('ranks the exact id first, ahead of ids that start with it and have more downloads', async () => {
    const cases: [string, string[]][] = [
      ['Newtonsoft.Json', ['Newtonsoft.Json', 'Newtonsoft.Json.Bson']],
      ['xunit.runner.visualstudio', ['xunit.runner.visualstudio']],
      ['xunit.runner', ['xunit.runner.console', 'xunit.runner.visualstudio']],
      ['System.IO.Pipelines', ['System.IO.Pipelines']],
      ['system.io.pipelines', ['System.IO.Pipelines']],
      ['AWSSDK.S3', ['AWSSDK.S3', 'AWSSDK.S3Control']],
      ['awssdk.s3', ['AWSSDK.S3', 'AWSSDK.S3Control']],
      ['Microsoft.AspNetCore', ['Microsoft.AspNetCore', 'Microsoft.AspNetCore.Mvc.Core', 'Microsoft.AspNetCore.Mvc', 'Contoso.MvcExtras']],
      ['Contoso.Log4Net.Http2Client', ['Contoso.Log4Net.Http2Client']],
      ['contoso.log4net', ['Contoso.Log4Net', 'Contoso.Log4Net.Http2Client']],
    ];
    for (const [q, expected] of cases) expect(await h.ids(q), q).toEqual(expected);
  });

  it('matches a whole camelCase word of an id, and a prefix of it', async () => {
    const aspNetCore = ['Microsoft.AspNetCore', 'Microsoft.AspNetCore.Mvc.Core', 'Microsoft.AspNetCore.Mvc'];
    expect(await h.ids('AspNetCore')).toEqual([...aspNetCore, 'Contoso.MvcExtras']);
    expect(await h.ids('aspnetcore')).toEqual([...aspNetCore, 'Contoso.MvcExtras']);
    expect((await h.ids('aspnet')).slice(0, 3)).toEqual(aspNetCore);
    expect((await h.ids('AspNet')).slice(0, 3)).toEqual(aspNetCore);
  });

  it('matches the parts of a camelCase word, alone or as a phrase', async () => {
    expect(await h.ids('"asp net core"')).toEqual(['Microsoft.AspNetCore', 'Microsoft.AspNetCore.Mvc.Core', 'Microsoft.AspNetCore.Mvc']);
    expect(await h.ids('s3control')).toEqual(['AWSSDK.S3Control']);
    expect(await h.ids('http2')).toEqual(['Contoso.Log4Net.Http2Client']);
  });

  it('matches a dotted or quoted run of whole id words that is not a prefix of the id', async () => {
    const expected = ['Microsoft.AspNetCore.Mvc.Core', 'Microsoft.AspNetCore.Mvc', 'Contoso.MvcExtras'];
    expect(await h.ids('aspnetcore.mvc')).toEqual(expected);
    expect(await h.ids('AspNetCore.Mvc')).toEqual(expected);
    expect(await h.ids('"aspnetcore mvc"')).toEqual(expected);
    expect(await h.ids('runner.visualstudio')).toEqual(['xunit.runner.visualstudio']);
  });

  it('agrees with packageid: and autocomplete', async () => {
    expect(await h.ids('packageid:Microsoft.AspNetCore.Mvc')).toEqual(['Microsoft.AspNetCore.Mvc']);
    expect((await h.autocomplete('Microsoft.AspNetCore.M')).ids).toEqual(['Microsoft.AspNetCore.Mvc.Core', 'Microsoft.AspNetCore.Mvc']);
    expect((await h.autocomplete('aspnet')).ids).toEqual(['Microsoft.AspNetCore', 'Microsoft.AspNetCore.Mvc.Core', 'Microsoft.AspNetCore.Mvc']);
  });
}

function fields(make: () => Promise<SearchBackendUnderTest>): void {
  const h = new Harness(make);
  beforeAll(() => h.seed(CATALOGUE));

  it('id: matches ids with a token starting with the value', async () => {
    expect(sorted(await h.ids('id:json'))).toEqual(
      sorted(['Json', 'Json.Schema', 'JsonPath.Lite', 'System.Text.Json', 'Newtonsoft.Json', 'Newtonsoft.Json.Bson', 'Contoso.JsonHelpers']),
    );
    expect(await h.ids('id:wid')).toEqual(['Contoso.Widgets']);
  });

  it('id: matches ids containing the value as a substring', async () => {
    expect(await h.ids('id:tonsoft')).toEqual(['Newtonsoft.Json', 'Newtonsoft.Json.Bson']);
    expect(await h.ids('id:newtonsoft.json')).toEqual(['Newtonsoft.Json', 'Newtonsoft.Json.Bson']);
    expect(await h.ids('id:p-client_u')).toEqual(['Acme.Http-Client_Utils']);
  });

  it('id: does not look at other fields', async () => {
    expect(await h.ids('id:occasion')).toEqual([]);
  });

  it('packageid: matches the whole id, case-insensitively', async () => {
    expect(await h.ids('packageid:newtonsoft.json')).toEqual(['Newtonsoft.Json']);
    expect(await h.ids('PackageId:NEWTONSOFT.JSON')).toEqual(['Newtonsoft.Json']);
    expect(await h.ids('packageid:newtonsoft')).toEqual([]);
    expect(await h.ids('packageid:acme.http-client_utils')).toEqual(['Acme.Http-Client_Utils']);
  });

  it('title: matches the title only', async () => {
    expect(await h.ids('title:serializer')).toEqual(['Fabrikam.Serializer']);
    expect(await h.ids('title:widgets')).toEqual(['Contoso.Widgets']);
    expect(await h.ids('title:occasion')).toEqual([]);
  });

  it('description: matches the description only', async () => {
    expect(await h.ids('description:occasion')).toEqual(['Contoso.Widgets']);
    expect(await h.ids('description:contoso')).toEqual(['Contoso.Core']);
    expect(await h.ids('description:splines')).toEqual([]);
  });

  it('tags: and tag: match the tags only', async () => {
    expect(await h.ids('tags:bson')).toEqual(['Newtonsoft.Json.Bson']);
    expect(sorted(await h.ids('tag:json'))).toEqual(['Newtonsoft.Json', 'Newtonsoft.Json.Bson']);
    expect(await h.ids('tags:occasion')).toEqual([]);
  });

  it('authors: and author: match the authors only', async () => {
    expect(sorted(await h.ids('authors:fabrikam'))).toEqual(['Contoso.Widgets', 'Fabrikam.Serializer']);
    expect(sorted(await h.ids('author:james'))).toEqual(['Newtonsoft.Json', 'Newtonsoft.Json.Bson']);
    expect(await h.ids('authors:json')).toEqual([]);
  });

  it('summary: matches the summary only', async () => {
    expect(await h.ids('summary:splines')).toEqual(['Zeta.Thing']);
    expect(await h.ids('summary:nothing')).toEqual([]);
  });

  it('version: matches documents listing that version, normalized', async () => {
    expect(await h.ids('version:1.5')).toEqual(['Contoso.Core']);
    expect(await h.ids('version:2.0.0.0')).toEqual(['Contoso.Widgets']);
    expect(await h.ids('version:9.9.9')).toEqual([]);
    expect(await h.ids('version:banana')).toEqual([]);
    expect((await h.ids('version:1.0.0')).length).toBe(ALL_BY_DOWNLOADS.length - 1);
  });

  it('owner: and owners: match nothing when no document has that owner', async () => {
    expect(await h.search('owner:contoso')).toEqual({ totalHits: 0, hits: [] });
    expect(await h.search('owners:someone json')).toEqual({ totalHits: 0, hits: [] });
  });

  it('combines field terms and free terms with AND', async () => {
    expect(await h.ids('id:json tags:bson')).toEqual(['Newtonsoft.Json.Bson']);
    expect(await h.ids('tags:json tags:bson')).toEqual(['Newtonsoft.Json.Bson']);
    expect(await h.ids('contoso id:core')).toEqual(['Contoso.Core']);
    expect(sorted(await h.ids('json authors:james'))).toEqual(['Newtonsoft.Json', 'Newtonsoft.Json.Bson']);
    expect(await h.ids('id:json title:widgets')).toEqual([]);
  });

  it('ignores unknown fields with their values', async () => {
    expect((await h.search('invalid:jquery')).totalHits).toBe(ALL_BY_DOWNLOADS.length);
    expect(await h.ids('invalid:jquery widgets')).toEqual(['Contoso.Widgets']);
  });

  it('treats an empty field value as no term', async () => {
    expect((await h.search('id:')).totalHits).toBe(ALL_BY_DOWNLOADS.length);
  });
}

function pagingAndPackageTypes(make: () => Promise<SearchBackendUnderTest>): void {
  const h = new Harness(make);
  beforeAll(() => h.seed(CATALOGUE));

  it('pages consistently: the pages of an empty query add up to the whole list', async () => {
    const pages: string[] = [];
    for (let skip = 0; skip < ALL_BY_DOWNLOADS.length; skip += 5) {
      const page = await h.search('', { skip, take: 5 });
      expect(page.totalHits).toBe(ALL_BY_DOWNLOADS.length);
      pages.push(...page.hits.map((hit) => hit.document.id));
    }
    expect(pages).toEqual(ALL_BY_DOWNLOADS);
  });

  it('pages a ranked query the same way', async () => {
    const page = await h.search('json', { skip: 3, take: 3 });
    expect(page.totalHits).toBe(JSON_RANKED.length);
    expect(page.hits.map((hit) => hit.document.id)).toEqual(JSON_RANKED.slice(3, 6));
  });

  it('counts every match with take 0 or a skip past the end', async () => {
    expect(await h.search('', { take: 0 })).toEqual({ totalHits: ALL_BY_DOWNLOADS.length, hits: [] });
    expect(await h.search('json', { skip: 100, take: 10 })).toEqual({ totalHits: JSON_RANKED.length, hits: [] });
  });

  it('filters on package type, case-insensitively', async () => {
    for (const packageType of ['DotnetTool', 'dotnettool', 'DOTNETTOOL']) {
      expect(await h.ids('', { packageType }), packageType).toEqual(['Contoso.Tool']);
    }
    const dependencies = await h.search('', { packageType: 'dependency' });
    expect(dependencies.totalHits).toBe(ALL_BY_DOWNLOADS.length - 1);
    expect(dependencies.hits.map((hit) => hit.document.id)).toEqual(ALL_BY_DOWNLOADS.filter((id) => id !== 'Contoso.Tool'));
  });

  it('finds nothing for an unknown package type', async () => {
    expect(await h.search('', { packageType: 'NoSuchType' })).toEqual({ totalHits: 0, hits: [] });
  });

  it('combines the package type with the query', async () => {
    expect(await h.ids('tool', { packageType: 'dotnettool' })).toEqual(['Contoso.Tool']);
    expect(await h.ids('json', { packageType: 'dotnettool' })).toEqual([]);
    expect(await h.ids('json', { packageType: 'Dependency' })).toEqual(JSON_RANKED);
  });
}

function autocompleteIds(make: () => Promise<SearchBackendUnderTest>): void {
  const h = new Harness(make);
  beforeAll(() => h.seed(CATALOGUE));

  it('returns ids starting with the prefix or with a token starting with it, ranked like search', async () => {
    expect(await h.autocomplete('json')).toEqual({ totalHits: 7, ids: JSON_RANKED.filter((id) => id !== 'Fabrikam.Serializer') });
  });

  it('matches the prefix case-insensitively and returns display casing', async () => {
    expect((await h.autocomplete('JSON')).ids).toEqual(JSON_RANKED.filter((id) => id !== 'Fabrikam.Serializer'));
    expect((await h.autocomplete('Newtonsoft.J')).ids).toEqual(['Newtonsoft.Json', 'Newtonsoft.Json.Bson']);
  });

  it('ranks ties by lowerId', async () => {
    expect(await h.autocomplete('cont')).toEqual({
      totalHits: 4,
      ids: ['Contoso.Core', 'Contoso.Widgets', 'Contoso.JsonHelpers', 'Contoso.Tool'],
    });
  });

  it('matches token prefixes at dot, dash, underscore and camelCase boundaries', async () => {
    expect((await h.autocomplete('wid')).ids).toEqual(['Contoso.Widgets']);
    expect((await h.autocomplete('help')).ids).toEqual(['Contoso.JsonHelpers']);
    expect((await h.autocomplete('cli')).ids).toEqual(['Acme.Http-Client_Utils']);
    expect((await h.autocomplete('util')).ids).toEqual(['Acme.Http-Client_Utils']);
  });

  it('ignores substrings that are not token prefixes, and other fields', async () => {
    expect(await h.autocomplete('tonsoft')).toEqual({ totalHits: 0, ids: [] });
    expect(await h.autocomplete('occasion')).toEqual({ totalHits: 0, ids: [] });
  });

  it('returns every id for an empty prefix, by downloads', async () => {
    expect(await h.autocomplete('')).toEqual({ totalHits: ALL_BY_DOWNLOADS.length, ids: ALL_BY_DOWNLOADS });
  });

  it('pages with skip and take while counting every match', async () => {
    expect(await h.autocomplete('cont', { skip: 1, take: 2 })).toEqual({ totalHits: 4, ids: ['Contoso.Widgets', 'Contoso.JsonHelpers'] });
    expect(await h.autocomplete('cont', { take: 0 })).toEqual({ totalHits: 4, ids: [] });
  });

  it('filters on package type, case-insensitively', async () => {
    expect(await h.autocomplete('cont', { packageType: 'dotnettool' })).toEqual({ totalHits: 1, ids: ['Contoso.Tool'] });
    expect(await h.autocomplete('cont', { packageType: 'nope' })).toEqual({ totalHits: 0, ids: [] });
  });
}

/** Packages whose documents differ by variant, as the projection builds them. */
const PREVIEW_ONLY: PackageSpec = { id: 'Contoso.Preview', versions: ['1.0.0-beta'], description: 'Preview bits' };
const SEMVER2_STABLE: PackageSpec = { id: 'Contoso.Modern', versions: ['1.0.0+build.5'], description: 'Modern bits' };
const SEMVER2_PRERELEASE: PackageSpec = { ...SEMVER2_STABLE, versions: ['1.0.0+build.5', '2.0.0-beta.1'] };
const MIXED_STABLE: PackageSpec = { id: 'Contoso.Mixed', versions: ['1.0.0'], title: 'Mixed One', description: 'Mixed bits' };
const MIXED_PRERELEASE: PackageSpec = { ...MIXED_STABLE, versions: ['1.0.0', '2.0.0-beta'], title: 'Mixed Two' };

function variantDocuments(): Record<string, SearchDocument[]> {
  return {
    'contoso.preview': [makeDocument(PREVIEW_ONLY, 'semver1-prerelease'), makeDocument(PREVIEW_ONLY, 'semver2-prerelease')],
    'contoso.modern': [makeDocument(SEMVER2_STABLE, 'semver2-stable'), makeDocument(SEMVER2_PRERELEASE, 'semver2-prerelease')],
    'contoso.mixed': [
      makeDocument(MIXED_STABLE, 'semver1-stable'),
      makeDocument(MIXED_PRERELEASE, 'semver1-prerelease'),
      makeDocument(MIXED_STABLE, 'semver2-stable'),
      makeDocument(MIXED_PRERELEASE, 'semver2-prerelease'),
    ],
  };
}

function variants(make: () => Promise<SearchBackendUnderTest>): void {
  const h = new Harness(make);
  beforeAll(async () => {
    for (const [lowerId, documents] of Object.entries(variantDocuments())) await h.replace(lowerId, documents);
  });

  it('keeps each variant to its own documents', async () => {
    expect(sorted(await h.ids('', { variant: 'semver1-stable' }))).toEqual(['Contoso.Mixed']);
    expect(sorted(await h.ids('', { variant: 'semver1-prerelease' }))).toEqual(['Contoso.Mixed', 'Contoso.Preview']);
    expect(sorted(await h.ids('', { variant: 'semver2-stable' }))).toEqual(['Contoso.Mixed', 'Contoso.Modern']);
    expect(sorted(await h.ids('', { variant: 'semver2-prerelease' }))).toEqual(['Contoso.Mixed', 'Contoso.Modern', 'Contoso.Preview']);
  });

  it('finds a prerelease-only id in the prerelease variants only', async () => {
    expect(await h.ids('preview', { variant: 'semver1-stable' })).toEqual([]);
    expect(await h.ids('preview', { variant: 'semver2-stable' })).toEqual([]);
    expect(await h.ids('preview', { variant: 'semver1-prerelease' })).toEqual(['Contoso.Preview']);
    expect(await h.ids('preview', { variant: 'semver2-prerelease' })).toEqual(['Contoso.Preview']);
  });

  it('finds a SemVer2 package in the semver2 variants only', async () => {
    expect(await h.ids('modern', { variant: 'semver1-stable' })).toEqual([]);
    expect(await h.ids('modern', { variant: 'semver1-prerelease' })).toEqual([]);
    expect(await h.ids('modern', { variant: 'semver2-stable' })).toEqual(['Contoso.Modern']);
    expect(await h.ids('modern', { variant: 'semver2-prerelease' })).toEqual(['Contoso.Modern']);
  });

  it("answers with the variant's own document", async () => {
    const stable = (await h.search('mixed', { variant: 'semver1-stable' })).hits[0]?.document;
    const prerelease = (await h.search('mixed', { variant: 'semver1-prerelease' })).hits[0]?.document;
    expect(stable).toEqual(makeDocument(MIXED_STABLE, 'semver1-stable'));
    expect(prerelease).toEqual(makeDocument(MIXED_PRERELEASE, 'semver1-prerelease'));
    expect(prerelease?.version).toBe('2.0.0-beta');
  });

  it("matches the variant's own metadata only", async () => {
    expect(await h.ids('two', { variant: 'semver1-stable' })).toEqual([]);
    expect(await h.ids('two', { variant: 'semver1-prerelease' })).toEqual(['Contoso.Mixed']);
    expect(await h.ids('version:2.0.0-beta', { variant: 'semver1-stable' })).toEqual([]);
    expect(await h.ids('version:2.0.0-BETA', { variant: 'semver1-prerelease' })).toEqual(['Contoso.Mixed']);
  });

  it('matches version: against versions with metadata', async () => {
    expect(sorted(await h.ids('version:1.0.0+other', { variant: 'semver2-stable' }))).toEqual(['Contoso.Mixed', 'Contoso.Modern']);
  });

  it('autocompletes ids in the variant only', async () => {
    expect((await h.autocomplete('contoso', { variant: 'semver1-stable' })).ids).toEqual(['Contoso.Mixed']);
    expect(sorted((await h.autocomplete('contoso', { variant: 'semver2-prerelease' })).ids)).toEqual([
      'Contoso.Mixed',
      'Contoso.Modern',
      'Contoso.Preview',
    ]);
  });

  it("autocompletes the versions of one id in a variant, ascending, full strings", async () => {
    expect(await h.versions('contoso.mixed', 'semver1-stable')).toEqual(['1.0.0']);
    expect(await h.versions('contoso.mixed', 'semver2-prerelease')).toEqual(['1.0.0', '2.0.0-beta']);
    expect(await h.versions('contoso.modern', 'semver2-stable')).toEqual(['1.0.0+build.5']);
    expect(await h.versions('contoso.modern', 'semver2-prerelease')).toEqual(['1.0.0+build.5', '2.0.0-beta.1']);
  });

  it('autocompletes no versions for an id absent from the variant or unknown', async () => {
    expect(await h.versions('contoso.preview', 'semver1-stable')).toBeUndefined();
    expect(await h.versions('contoso.modern', 'semver1-prerelease')).toBeUndefined();
    expect(await h.versions('no.such.package', 'semver2-prerelease')).toBeUndefined();
  });
}

function replacing(make: () => Promise<SearchBackendUnderTest>): void {
  const h = new Harness(make);
  const spec: PackageSpec = { id: 'Replace.Me', versions: ['1.0.0', '2.0.0'], title: 'Original title', downloads: { '1.0.0': 5 } };

  it('replaces every variant of the id', async () => {
    await h.replace('replace.me', everyVariant(spec));
    await h.replace('replace.me', [makeDocument(spec, 'semver1-stable'), makeDocument(spec, 'semver2-stable')]);
    expect(await h.ids('replace', { variant: 'semver1-stable' })).toEqual(['Replace.Me']);
    expect(await h.ids('replace', { variant: 'semver2-stable' })).toEqual(['Replace.Me']);
    expect(await h.ids('replace', { variant: 'semver1-prerelease' })).toEqual([]);
    expect(await h.ids('replace', { variant: 'semver2-prerelease' })).toEqual([]);
    expect(await h.versions('replace.me', 'semver2-prerelease')).toBeUndefined();
    expect(await h.versions('replace.me', 'semver1-stable')).toEqual(['1.0.0', '2.0.0']);
  });

  it('replaces the metadata: the old text no longer matches', async () => {
    await h.replace('replace.me', everyVariant(spec));
    expect(await h.ids('original')).toEqual(['Replace.Me']);
    await h.replace('replace.me', everyVariant({ ...spec, title: 'Renamed title' }));
    expect(await h.ids('original')).toEqual([]);
    expect(await h.ids('renamed')).toEqual(['Replace.Me']);
  });

  it('removes the id from every variant when given no documents', async () => {
    await h.replace('remove.me', everyVariant({ id: 'Remove.Me' }));
    expect(await h.ids('packageid:remove.me')).toEqual(['Remove.Me']);
    await h.replace('remove.me', []);
    for (const variant of SEARCH_VARIANTS) {
      expect(await h.search('packageid:remove.me', { variant })).toEqual({ totalHits: 0, hits: [] });
      expect((await h.autocomplete('remove', { variant })).ids).toEqual([]);
      expect(await h.versions('remove.me', variant)).toBeUndefined();
    }
  });

  it('accepts removing an id it never had', async () => {
    await expect(h.replace('never.there', [])).resolves.toBeUndefined();
  });

  it('is idempotent', async () => {
    const documents = everyVariant({ id: 'Twice.Over', versions: ['1.0.0', '1.1.0'] });
    await h.replace('twice.over', documents);
    const first = await h.search('twice');
    await h.replace('twice.over', documents);
    await h.replace('twice.over', documents);
    const again = await h.search('twice');
    expect(again).toEqual(first);
    expect(again.totalHits).toBe(1);
    expect(await h.versions('twice.over')).toEqual(['1.0.0', '1.1.0']);
  });

  it('keeps the download counts of an id across replacements', async () => {
    await h.replace('keep.counts', everyVariant({ id: 'Keep.Counts' }));
    await h.setDownloads([{ lowerId: 'keep.counts', versions: { '1.0.0': 42 } }]);
    await h.replace('keep.counts', everyVariant({ id: 'Keep.Counts', versions: ['1.0.0', '1.1.0'] }));
    const [hit] = (await h.search('packageid:keep.counts')).hits;
    expect(hit?.totalDownloads).toBe(42);
    expect(hit?.downloads['1.0.0']).toBe(42);
  });

  it('takes the casing of the id from the latest documents', async () => {
    await h.replace('case.change', everyVariant({ id: 'case.change' }));
    await h.replace('case.change', everyVariant({ id: 'Case.Change' }));
    expect(await h.ids('packageid:case.change')).toEqual(['Case.Change']);
    expect((await h.autocomplete('case')).ids).toEqual(['Case.Change']);
  });

  it('survives concurrent replacements of different ids', async () => {
    const ids = ['Many.A', 'Many.B', 'Many.C', 'Many.D', 'Many.E'];
    await Promise.all(ids.map((id) => h.backend.replacePackage(FEED, lowerOf(id), everyVariant({ id }))));
    await h.backend.flush();
    expect(sorted(await h.ids('many'))).toEqual(ids);
  });

  it('survives concurrent replacements of one id, ending with one of them', async () => {
    const one = everyVariant({ id: 'Race.Id', title: 'First' });
    const two = [makeDocument({ id: 'Race.Id', title: 'Second' }, 'semver1-stable')];
    await Promise.all([
      h.backend.replacePackage(FEED, 'race.id', one),
      h.backend.replacePackage(FEED, 'race.id', two),
      h.backend.replacePackage(FEED, 'race.id', one),
    ]);
    await h.backend.flush();
    const result = await h.search('packageid:race.id');
    expect(result.totalHits).toBe(1);
    const title = result.hits[0]?.document.title;
    expect(['First', 'Second']).toContain(title);
    const inPrerelease = (await h.search('packageid:race.id', { variant: 'semver1-prerelease' })).totalHits;
    expect(inPrerelease).toBe(title === 'First' ? 1 : 0);
  });
}

function downloads(make: () => Promise<SearchBackendUnderTest>): void {
  const h = new Harness(make);
  const alpha: PackageSpec = { id: 'Alpha.Json', versions: ['1.0.0', '2.0.0-beta', '2.0.0'] };
  const beta: PackageSpec = { id: 'Beta.Json' };
  beforeAll(async () => {
    await h.replace('alpha.json', [
      makeDocument({ ...alpha, versions: ['1.0.0', '2.0.0'] }, 'semver1-stable'),
      makeDocument(alpha, 'semver1-prerelease'),
    ]);
    await h.replace('beta.json', everyVariant(beta));
  });

  it('reports zero downloads before any are set', async () => {
    const [hit] = (await h.search('packageid:beta.json')).hits;
    expect(hit?.totalDownloads).toBe(0);
    expect(hit?.downloads['1.0.0'] ?? 0).toBe(0);
  });

  it('sums every version of the id into totalDownloads, in every variant', async () => {
    await h.setDownloads([
      { lowerId: 'alpha.json', versions: { '1.0.0': 10, '2.0.0-beta': 1, '2.0.0': 4 } },
      { lowerId: 'beta.json', versions: { '1.0.0': 20 } },
    ]);
    const stable = (await h.search('packageid:alpha.json')).hits[0];
    expect(stable?.totalDownloads).toBe(15);
    expect(stable?.downloads['1.0.0']).toBe(10);
    expect(stable?.downloads['2.0.0']).toBe(4);
    const prerelease = (await h.search('packageid:alpha.json', { variant: 'semver1-prerelease' })).hits[0];
    expect(prerelease?.totalDownloads).toBe(15);
    expect(prerelease?.downloads['2.0.0-beta']).toBe(1);
  });

  it('orders by downloads, and reorders when they change', async () => {
    await h.setDownloads([
      { lowerId: 'alpha.json', versions: { '1.0.0': 10 } },
      { lowerId: 'beta.json', versions: { '1.0.0': 20 } },
    ]);
    expect(await h.ids('')).toEqual(['Beta.Json', 'Alpha.Json']);
    expect(await h.ids('json')).toEqual(['Beta.Json', 'Alpha.Json']);
    expect((await h.autocomplete('json')).ids).toEqual(['Beta.Json', 'Alpha.Json']);
    await h.setDownloads([{ lowerId: 'alpha.json', versions: { '1.0.0': 30 } }]);
    expect(await h.ids('')).toEqual(['Alpha.Json', 'Beta.Json']);
    expect(await h.ids('json')).toEqual(['Alpha.Json', 'Beta.Json']);
    expect((await h.autocomplete('json')).ids).toEqual(['Alpha.Json', 'Beta.Json']);
  });

  it('sets absolute counts rather than adding', async () => {
    await h.setDownloads([{ lowerId: 'beta.json', versions: { '1.0.0': 7 } }]);
    await h.setDownloads([{ lowerId: 'beta.json', versions: { '1.0.0': 7 } }]);
    const [hit] = (await h.search('packageid:beta.json')).hits;
    expect(hit?.totalDownloads).toBe(7);
    expect(hit?.downloads['1.0.0']).toBe(7);
  });

  it('ignores ids that are not in the index', async () => {
    await h.setDownloads([{ lowerId: 'ghost.package', versions: { '1.0.0': 1_000_000 } }]);
    expect(sorted(await h.ids(''))).toEqual(['Alpha.Json', 'Beta.Json']);
    await expect(h.setDownloads([])).resolves.toBeUndefined();
  });

  it('handles counts beyond 32 bits', async () => {
    await h.setDownloads([{ lowerId: 'beta.json', versions: { '1.0.0': 5_000_000_000 } }]);
    const [hit] = (await h.search('packageid:beta.json')).hits;
    expect(hit?.totalDownloads).toBe(5_000_000_000);
  });
}

function owners(make: () => Promise<SearchBackendUnderTest>): void {
  const h = new Harness(make);
  beforeAll(async () => {
    await h.seed([
      { id: 'Contoso.Core', description: 'Core library', owners: ['contoso'], downloads: { '1.0.0': 30 } },
      { id: 'Contoso.Json', description: 'Json for Contoso', owners: ['contoso', 'fabrikam'], downloads: { '1.0.0': 20 } },
      { id: 'Fabrikam.Json', description: 'Json for Fabrikam', owners: ['fabrikam'], downloads: { '1.0.0': 10 } },
      { id: 'Unowned.Json', description: 'Nobody in particular' },
    ]);
  });

  it('returns the owners given with the documents, sorted, in every variant', async () => {
    const [hit] = (await h.search('packageid:Contoso.Json')).hits;
    expect(hit?.document.owners).toEqual(['contoso', 'fabrikam']);
    const [prerelease] = (await h.search('packageid:Contoso.Json', { variant: 'semver2-prerelease' })).hits;
    expect(prerelease?.document.owners).toEqual(['contoso', 'fabrikam']);
    expect((await h.search('packageid:Unowned.Json')).hits[0]?.document.owners).toEqual([]);
  });

  it('owner: matches an owner name exactly, in any case; owners: is the same field', async () => {
    expect(await h.ids('owner:contoso')).toEqual(['Contoso.Core', 'Contoso.Json']);
    expect(await h.ids('owner:FABRIKAM')).toEqual(['Contoso.Json', 'Fabrikam.Json']);
    expect(await h.ids('owners:fabrikam')).toEqual(['Contoso.Json', 'Fabrikam.Json']);
    expect(await h.ids('owner:contos')).toEqual([]);
    expect(await h.ids('owner:%')).toEqual([]);
    expect(await h.ids('owner:_ontoso')).toEqual([]);
  });

  it('combines owner: with free terms and other fields (AND), and counts what it matches', async () => {
    expect(await h.ids('owner:fabrikam json')).toEqual(['Contoso.Json', 'Fabrikam.Json']);
    expect(await h.ids('owner:fabrikam id:fabrikam')).toEqual(['Fabrikam.Json']);
    expect(await h.ids('owner:contoso owner:fabrikam')).toEqual(['Contoso.Json']);
    expect((await h.search('owner:contoso', { take: 1 })).totalHits).toBe(2);
  });

  it('setOwners replaces the owners of an id in every variant, and owner: follows', async () => {
    await h.setOwners([{ lowerId: 'unowned.json', owners: ['wingtip', 'adatum'] }]);
    expect((await h.search('packageid:unowned.json')).hits[0]?.document.owners).toEqual(['adatum', 'wingtip']);
    expect((await h.search('packageid:unowned.json', { variant: 'semver2-stable' })).hits[0]?.document.owners).toEqual(['adatum', 'wingtip']);
    expect(await h.ids('owner:wingtip')).toEqual(['Unowned.Json']);

    await h.setOwners([{ lowerId: 'contoso.json', owners: ['contoso'] }]);
    expect(await h.ids('owner:fabrikam')).toEqual(['Fabrikam.Json']);
    expect(await h.ids('owner:contoso')).toEqual(['Contoso.Core', 'Contoso.Json']);
  });

  it('setOwners keeps the rest of the document and its downloads, ignores ids not in the index, and the last entry of an id wins', async () => {
    await h.setOwners([
      { lowerId: 'ghost.package', owners: ['contoso'] },
      { lowerId: 'fabrikam.json', owners: ['first'] },
      { lowerId: 'fabrikam.json', owners: ['second'] },
    ]);
    const [hit] = (await h.search('packageid:fabrikam.json')).hits;
    expect(hit?.document).toEqual({ ...makeDocument({ id: 'Fabrikam.Json', description: 'Json for Fabrikam' }, DEFAULT_VARIANT), owners: ['second'] });
    expect(hit?.totalDownloads).toBe(10);
    expect(await h.ids('owner:first')).toEqual([]);
    expect(await h.ids('packageid:ghost.package')).toEqual([]);
    await expect(h.setOwners([])).resolves.toBeUndefined();
  });

  it('a replacePackage writes the owners its documents carry', async () => {
    await h.replace('contoso.core', everyVariant({ id: 'Contoso.Core', description: 'Core library', owners: ['northwind'] }));
    expect(await h.ids('owner:northwind')).toEqual(['Contoso.Core']);
    expect(await h.ids('owner:contoso')).toEqual(['Contoso.Json']);
  });
}

/** Raw query texts that must be taken literally. */
const HOSTILE_TEXTS = [
  'a & | ! :* ( ) "',
  "'",
  "o'neil'; DROP TABLE search_documents; --",
  '\\',
  '\\\\ \\" \\\'',
  '%',
  '_',
  '*',
  'json:*',
  '!json',
  '(json | bson) & !xml',
  '<->',
  'a <-> b',
  'id:',
  'id:"',
  'packageid:',
  'version:',
  'x'.repeat(10 * 1024),
  'json '.repeat(2048),
  'a\u0000b',
  '\u0000',
  '🎉',
  'json 🎉 👩‍👩‍👧',
  '\uD800',
  '日本語 ünïcödé',
  'lowerId = "json" OR variant != "x"',
  'packageTypes IN [Dependency] AND totalDownloads > 0',
  '"unterminated',
  '""',
  ':',
  '::::',
  'id:id:id:',
  '${x}',
  '\r\n\t',
];

function hostileInput(make: () => Promise<SearchBackendUnderTest>): void {
  const h = new Harness(make);
  beforeAll(() => h.seed(CATALOGUE));

  it('answers every hostile query text without throwing', async () => {
    for (const q of HOSTILE_TEXTS) {
      for (const variant of ['semver1-stable', 'semver2-prerelease'] as const) {
        const result = await h.search(q, { variant, take: 5 }).catch((error: unknown) => {
          throw new Error(`search threw for q=${JSON.stringify(q.slice(0, 80))}: ${String(error)}`);
        });
        expectWellFormed(result, 5);
      }
    }
  });

  it('answers hostile terms handed to the backend directly (as the parser can produce them)', async () => {
    const queries: ParsedQuery[] = [
      { terms: ['a&b', 'x:*', '(json)', '!json', 'a|b'], fields: {} },
      { terms: ["o'neil", '\\', 'x\\y', '"', "'"], fields: {} },
      { terms: ['%', '_', '*', 'x🎉', '日本語'], fields: {} },
      { terms: ['x'.repeat(256)], fields: { id: ['y'.repeat(256)] } },
      {
        terms: [],
        fields: {
          id: ["'", '\\', '"', '&', ':*'],
          packageid: ["x' OR '1'='1"],
          version: ["'"],
          title: ['a & b'],
          description: ['!'],
          tags: ['('],
          authors: [')'],
          summary: ['<->'],
          owners: ['%'],
        },
      },
      { terms: ['lowerId = "json" OR 1=1'], fields: { tags: ['variant = semver1-stable'] } },
    ];
    for (const query of queries) {
      const result = await h.searchParsed(query, { take: 5 }).catch((error: unknown) => {
        throw new Error(`search threw for ${JSON.stringify(query).slice(0, 120)}: ${String(error)}`);
      });
      expectWellFormed(result, 5);
    }
  });

  it('takes % and _ literally in id: and packageid:', async () => {
    expect(await h.searchParsed({ terms: [], fields: { id: ['%'] } })).toEqual({ totalHits: 0, hits: [] });
    expect(await h.searchParsed({ terms: [], fields: { packageid: ['%'] } })).toEqual({ totalHits: 0, hits: [] });
    expect(await h.searchParsed({ terms: [], fields: { packageid: ['json_schema'] } })).toEqual({ totalHits: 0, hits: [] });
    expect((await h.searchParsed({ terms: [], fields: { id: ['_'] } })).hits.map((hit) => hit.document.id)).toEqual([
      'Acme.Http-Client_Utils',
    ]);
  });

  it('autocompletes hostile prefixes without throwing', async () => {
    for (const prefix of [...HOSTILE_TEXTS, 'x\u0000']) {
      const result = await h.autocomplete(prefix, { take: 5 }).catch((error: unknown) => {
        throw new Error(`autocompleteIds threw for prefix=${JSON.stringify(prefix.slice(0, 80))}: ${String(error)}`);
      });
      expect(result.ids.length).toBeLessThanOrEqual(5);
    }
  });

  it('takes % and _ literally in autocomplete prefixes', async () => {
    expect(await h.autocomplete('%')).toEqual({ totalHits: 0, ids: [] });
    expect(await h.autocomplete('_')).toEqual({ totalHits: 0, ids: [] });
    expect(await h.autocomplete('j_on')).toEqual({ totalHits: 0, ids: [] });
  });

  it('autocompletes no versions for hostile ids', async () => {
    for (const lowerId of ["'", '%', '_', 'json%', 'x\u0000', '\\', 'x'.repeat(10 * 1024)]) {
      expect(await h.versions(lowerId), JSON.stringify(lowerId.slice(0, 20))).toBeUndefined();
    }
  });

  it('finds nothing for a hostile package type', async () => {
    for (const packageType of ["'", '"', '\\', '%', "Dependency' OR '1'='1", 'Dependency" OR variant = "semver1-stable', 'x\u0000']) {
      expect(await h.search('', { packageType }), packageType).toEqual({ totalHits: 0, hits: [] });
      expect(await h.autocomplete('', { packageType }), packageType).toEqual({ totalHits: 0, ids: [] });
    }
  });

  it('still answers normal queries afterwards', async () => {
    expect(await h.ids('json')).toEqual(JSON_RANKED);
  });
}

function feeds(make: () => Promise<SearchBackendUnderTest>): void {
  const h = new Harness(make);
  const inFirst: PackageSpec = { id: 'Contoso.Widgets', versions: ['1.0.0'], title: 'First feed' };
  const inSecond: PackageSpec = { id: 'Contoso.Widgets', versions: ['1.0.0', '3.0.0'], title: 'Second feed' };
  beforeAll(async () => {
    await h.replace('contoso.widgets', everyVariant(inFirst), FEED);
    await h.replace('contoso.widgets', everyVariant(inSecond), OTHER_FEED);
    await h.replace('fabrikam.only', everyVariant({ id: 'Fabrikam.Only' }), OTHER_FEED);
  });

  it('searches one feed only', async () => {
    const first = await h.search('', { feedId: FEED });
    expect(first.totalHits).toBe(1);
    expect(first.hits[0]?.document.title).toBe('First feed');
    const second = await h.search('', { feedId: OTHER_FEED });
    expect(sorted(second.hits.map((hit) => hit.document.id))).toEqual(['Contoso.Widgets', 'Fabrikam.Only']);
    expect(await h.ids('second', { feedId: FEED })).toEqual([]);
  });

  it('autocompletes within one feed', async () => {
    expect(await h.autocomplete('fab', { feedId: FEED })).toEqual({ totalHits: 0, ids: [] });
    expect((await h.autocomplete('fab', { feedId: OTHER_FEED })).ids).toEqual(['Fabrikam.Only']);
    expect(await h.versions('contoso.widgets', DEFAULT_VARIANT, FEED)).toEqual(['1.0.0']);
    expect(await h.versions('contoso.widgets', DEFAULT_VARIANT, OTHER_FEED)).toEqual(['1.0.0', '3.0.0']);
  });

  it('keeps download counts per feed', async () => {
    await h.setDownloads([{ lowerId: 'contoso.widgets', versions: { '1.0.0': 99 } }], OTHER_FEED);
    expect((await h.search('', { feedId: FEED })).hits[0]?.totalDownloads).toBe(0);
    expect((await h.search('packageid:contoso.widgets', { feedId: OTHER_FEED })).hits[0]?.totalDownloads).toBe(99);
  });

  it('removes an id from one feed only', async () => {
    await h.replace('contoso.widgets', [], OTHER_FEED);
    expect(await h.ids('widgets', { feedId: OTHER_FEED })).toEqual([]);
    expect(await h.ids('widgets', { feedId: FEED })).toEqual(['Contoso.Widgets']);
  });
}
