/**
 * A synthetic, reproducible package corpus for search benchmarks: realistic-looking ids
 * (`Company.Product.Feature`), descriptions, tags, authors and version histories, and a skewed
 * (Zipf-like) download distribution. Everything comes from a seeded PRNG, so the same seed and
 * count always give the same corpus; each package is drawn from its own seed, so packages can be
 * generated in any order (for example by concurrent writers).
 */
import type { PackageDetailsData } from '@nucat/catalog';

/** A PRNG returning numbers in [0, 1). */
export type Random = () => number;

/** mulberry32: small, fast, good enough for test data. */
export function createRandom(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** Mixes two integers into a seed (so package `i` of seed `s` has its own stream). */
export function mixSeed(a: number, b: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(b + 0x7f4a7c15, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16), 0x45d9f3b);
  return (h ^ (h >>> 13)) >>> 0;
}

/** Draws indexes 0..n-1 with probability ∝ 1/(rank+1)^exponent. */
export function createZipf(n: number, exponent: number): (random: Random) => number {
  const cumulative = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    sum += 1 / Math.pow(i + 1, exponent);
    cumulative[i] = sum;
  }
  return (random) => {
    const target = random() * sum;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cumulative[mid]! < target) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

const COMPANIES = [
  'Contoso', 'Fabrikam', 'Northwind', 'Adatum', 'Litware', 'Proseware', 'Tailspin', 'Wingtip', 'Woodgrove', 'Acme',
  'Globex', 'Initech', 'Umbrella', 'Hooli', 'Vandelay', 'Wonka', 'Stark', 'Wayne', 'Cyberdyne', 'Soylent',
  'Aperture', 'Monarch', 'Tyrell', 'Oscorp', 'Gringotts', 'Massive', 'Blue', 'Red', 'Silver', 'Open',
];
const PRODUCTS = [
  'Json', 'Http', 'Data', 'Core', 'Logging', 'Extensions', 'Client', 'Server', 'Identity', 'Storage', 'Cache', 'Queue',
  'Messaging', 'Security', 'Crypto', 'Xml', 'Yaml', 'Csv', 'Serialization', 'Validation', 'Mapping', 'Testing', 'Mocking',
  'Benchmarks', 'Configuration', 'Hosting', 'Diagnostics', 'Telemetry', 'Metrics', 'Tracing', 'Analyzers', 'Generators',
  'Templates', 'Tools', 'Cli', 'Web', 'Mvc', 'Grpc', 'Graph', 'Sql', 'Sqlite', 'Postgres', 'Redis', 'Mongo', 'Blob',
  'Search', 'Imaging', 'Drawing', 'Pdf', 'Excel', 'Email', 'Sms', 'Payments', 'Auth', 'OAuth', 'Jwt', 'Scheduler', 'Jobs',
  'Workflow', 'Rules', 'Reactive', 'Collections', 'Text', 'Numerics', 'Geo', 'Time', 'Units', 'Compression', 'Networking',
];
const FEATURES = [
  'Abstractions', 'Core', 'Extensions', 'AspNetCore', 'DependencyInjection', 'Options', 'Hosting', 'Tests', 'TestHelpers',
  'Analyzers', 'SourceGenerator', 'Newtonsoft', 'SystemTextJson', 'Polly', 'Resilience', 'Http', 'Redis', 'Sql', 'Azure',
  'Aws', 'Kubernetes', 'Docker', 'OpenTelemetry', 'Serilog', 'NLog', 'Console', 'File', 'Memory', 'Distributed',
  'Streaming', 'Batching', 'Retry', 'Caching', 'Compression', 'Encryption', 'Signing', 'Validation', 'Fluent', 'Linq',
  'Async', 'Sync', 'Native', 'Wasm', 'Blazor', 'Maui', 'Wpf', 'WinForms', 'Uwp', 'Android', 'iOS', 'Mac', 'Linux',
  'Windows', 'Legacy', 'Compat', 'Experimental', 'Preview', 'Contracts', 'Models', 'Schema', 'Migrations', 'Seed', 'Admin',
];
const DESCRIPTION_WORDS = [
  'library', 'for', 'the', 'and', 'a', 'to', 'net', 'with', 'of', 'in', 'support', 'data', 'json', 'http', 'client',
  'simple', 'fast', 'core', 'extensions', 'provides', 'api', 'framework', 'based', 'using', 'lightweight', 'easy',
  'implementation', 'server', 'web', 'application', 'applications', 'service', 'services', 'logging', 'configuration',
  'asp', 'entity', 'sql', 'database', 'azure', 'cloud', 'storage', 'test', 'testing', 'unit', 'mock', 'tools', 'tool',
  'helpers', 'utilities', 'async', 'performance', 'high', 'memory', 'cache', 'caching', 'serializer', 'serialization',
  'xml', 'csv', 'parser', 'generator', 'source', 'code', 'analyzer', 'analyzers', 'roslyn', 'dependency', 'injection',
  'container', 'middleware', 'pipeline', 'messaging', 'queue', 'events', 'event', 'bus', 'distributed', 'microservices',
  'grpc', 'rest', 'graphql', 'authentication', 'authorization', 'identity', 'security', 'crypto', 'encryption', 'hash',
  'validation', 'fluent', 'mapping', 'mapper', 'object', 'objects', 'types', 'type', 'collections', 'immutable',
  'functional', 'reactive', 'streams', 'stream', 'files', 'file', 'compression', 'zip', 'image', 'images', 'pdf',
  'excel', 'reports', 'email', 'templates', 'template', 'engine', 'rules', 'workflow', 'scheduler', 'background', 'jobs',
  'tasks', 'retry', 'resilience', 'circuit', 'breaker', 'metrics', 'telemetry', 'tracing', 'diagnostics', 'health',
  'checks', 'monitoring', 'console', 'command', 'line', 'arguments', 'cross', 'platform', 'mobile', 'desktop', 'native',
  'interop', 'wrapper', 'bindings', 'sdk', 'official', 'community', 'extension', 'plugin', 'integration', 'adapter',
  'provider', 'providers', 'driver', 'connector', 'abstractions', 'contracts', 'models', 'schema', 'migrations', 'orm',
  'query', 'linq', 'expressions', 'dynamic', 'reflection', 'emit', 'compiler', 'runtime', 'standard', 'compatible',
];
const SYLLABLES = [
  'ka', 'lo', 'mi', 'tra', 'ven', 'dor', 'qui', 'zen', 'pha', 'rux', 'bel', 'sto', 'nar', 'vex', 'ori', 'thal', 'gro',
  'mek', 'sil', 'fen', 'dra', 'kor', 'lum', 'pyr', 'xan', 'vol', 'tes', 'rin', 'ca', 'do',
];
const TAGS = [
  'json', 'http', 'netstandard', 'netcore', 'aspnetcore', 'logging', 'testing', 'azure', 'aws', 'sql', 'database', 'orm',
  'cache', 'redis', 'messaging', 'grpc', 'rest', 'api', 'client', 'sdk', 'security', 'auth', 'jwt', 'oauth', 'crypto',
  'xml', 'csv', 'serialization', 'validation', 'mapping', 'di', 'ioc', 'mvvm', 'wpf', 'maui', 'blazor', 'xamarin',
  'roslyn', 'analyzers', 'sourcegenerator', 'cli', 'tool', 'dotnet-tool', 'performance', 'async', 'reactive', 'rx',
  'linq', 'collections', 'functional', 'fsharp', 'pdf', 'excel', 'image', 'graphics', 'email', 'scheduler', 'jobs',
  'workflow', 'telemetry', 'metrics', 'opentelemetry', 'diagnostics', 'health', 'docker', 'kubernetes', 'cloud', 'web',
];
const PEOPLE = [
  'Ada Lovelace', 'Alan Turing', 'Grace Hopper', 'Edsger Dijkstra', 'Barbara Liskov', 'Donald Knuth', 'Margaret Hamilton',
  'Ken Thompson', 'Dennis Ritchie', 'Frances Allen', 'John Backus', 'Radia Perlman', 'Niklaus Wirth', 'Tony Hoare',
];
const LICENSES = ['MIT', 'Apache-2.0', 'BSD-3-Clause', 'MPL-2.0', 'GPL-3.0-only'];

const RARE_CONSONANTS = 'bdfgklmnprstvz';
const RARE_VOWELS = 'aeiou';
const RARE_WORD = /^x(?:[bdfgklmnprstvz][aeiou]){3}$/;

/**
 * Rare word number `k`: `x` and three consonant-vowel pairs (`xbadefi`). All have the same length
 * and no other corpus word starts with `x` + consonant, so no rare word is a prefix of another word.
 */
function rareWord(k: number): string {
  let word = 'x';
  for (let i = 0; i < 3; i++) {
    const syllable = k % (RARE_CONSONANTS.length * RARE_VOWELS.length);
    k = Math.floor(k / (RARE_CONSONANTS.length * RARE_VOWELS.length));
    word += RARE_CONSONANTS[Math.floor(syllable / RARE_VOWELS.length)]! + RARE_VOWELS[syllable % RARE_VOWELS.length]!;
  }
  return word;
}

/** True for the words {@link Corpus} sprinkles sparsely (each in about 2–3 descriptions, whatever the corpus size). */
export function isRareWord(word: string): boolean {
  return RARE_WORD.test(word);
}

/** `count` distinct made-up words (letters only) built from syllables. */
function makeWords(random: Random, count: number, taken: Set<string>): string[] {
  const words: string[] = [];
  while (words.length < count) {
    const parts = 2 + Math.floor(random() * 3);
    let word = '';
    for (let i = 0; i < parts; i++) word += SYLLABLES[Math.floor(random() * SYLLABLES.length)]!;
    if (!taken.has(word)) {
      taken.add(word);
      words.push(word);
    }
  }
  return words;
}

function capitalize(word: string): string {
  return word.charAt(0).toUpperCase() + word.slice(1);
}

/** The version history of one package, ascending. */
export interface CorpusVersion {
  /** Normalized version (also what the nuspec says). */
  version: string;
  listed: boolean;
  prerelease: boolean;
}

/** One package id of the corpus with everything its catalog leaves need. */
export interface CorpusPackage {
  id: string;
  lowerId: string;
  title?: string;
  summary?: string;
  description: string;
  /** Distinct vocabulary words of the description (for picking common and rare query words). */
  descriptionWords: string[];
  tags: string[];
  authors: string;
  licenseExpression: string;
  packageTypes?: { name: string }[];
  versions: CorpusVersion[];
}

/** Options of {@link createCorpus}. */
export interface CorpusOptions {
  /** How many distinct ids. */
  ids: number;
  seed: number;
  /** One id in this many gets hundreds of versions. @defaultValue 5000 */
  hugeEvery?: number;
}

/** A reproducible corpus: the ids are fixed up front, each package is generated on demand. */
export interface Corpus {
  readonly ids: readonly string[];
  /** Package `index` (0-based), always the same for the same seed. */
  packageAt(index: number): CorpusPackage;
  /** Catalog leaves (latest PackageDetails per version) of a package, as the search projector sees them. */
  leavesOf(pkg: CorpusPackage): { lowerVersion: string; commitTimestamp: Date; data: PackageDetailsData }[];
  /**
   * Absolute download counts by lower version for the package of download rank `rank` (1 = most
   * downloaded): total ≈ 3·10⁹ / rank^1.1, newer versions taking the larger shares.
   */
  downloadsOf(pkg: CorpusPackage, rank: number): Record<string, number>;
  /** A random permutation of 1..ids: the download rank of each package index. */
  downloadRanks(): Uint32Array;
}

/** Creates the corpus of `options.ids` distinct ids. */
export function createCorpus(options: CorpusOptions): Corpus {
  const { seed } = options;
  const hugeEvery = options.hugeEvery ?? 5000;
  const setup = createRandom(mixSeed(seed, 0x5eed));
  const taken = new Set<string>(DESCRIPTION_WORDS);
  const companies = [...COMPANIES, ...makeWords(setup, 400, taken).map(capitalize)];
  const products = [...PRODUCTS, ...makeWords(setup, 150, taken).map(capitalize)];
  const vocabulary = [...DESCRIPTION_WORDS, ...makeWords(setup, 4000, taken)];
  const tagVocabulary = [...TAGS, ...makeWords(setup, 600, taken)];
  const pickCompany = createZipf(companies.length, 1.0);
  const pickProduct = createZipf(products.length, 0.8);
  const pickWord = createZipf(vocabulary.length, 1.07);
  const pickTag = createZipf(tagVocabulary.length, 1.0);
  const rareWords = Math.max(1, Math.round(options.ids / 50));

  const ids = generateIds(options.ids, createRandom(mixSeed(seed, 0x1d5)), (random) => {
    const company = companies[pickCompany(random)]!;
    const product = products[pickProduct(random)]!;
    const feature = FEATURES[Math.floor(random() * FEATURES.length)]!;
    const extra = FEATURES[Math.floor(random() * FEATURES.length)]!;
    const shape = random();
    if (shape < 0.25) return `${company}.${product}`;
    if (shape < 0.7) return `${company}.${product}.${feature}`;
    if (shape < 0.85) return `${company}.${product}.${feature}.${extra}`;
    if (shape < 0.95) return `${company}.${product}${feature}`;
    return `${product}.${feature}`;
  });

  function packageAt(index: number): CorpusPackage {
    const id = ids[index]!;
    const random = createRandom(mixSeed(seed, index + 1));
    const words = id.split('.');
    const wordCount = 10 + Math.floor(random() * 31);
    const description: string[] = [];
    for (let i = 0; i < wordCount; i++) description.push(vocabulary[pickWord(random)]!);
    // One package in twenty mentions a rare word; there are ids/50 of them, so each is in about 2.5 descriptions.
    if (random() < 0.05) description.push(rareWord(Math.floor(random() * rareWords)));
    const descriptionWords = [...new Set(description)];
    // Descriptions usually name what the package is about.
    if (random() < 0.5) description.splice(Math.floor(random() * description.length), 0, words.at(-1)!.toLowerCase());
    const tags = new Set<string>();
    const tagCount = Math.floor(random() * 7);
    for (let i = 0; i < tagCount; i++) tags.add(tagVocabulary[pickTag(random)]!);
    const authors = random() < 0.7 ? words[0]! : [PEOPLE[Math.floor(random() * PEOPLE.length)]!, ...(random() < 0.3 ? [PEOPLE[Math.floor(random() * PEOPLE.length)]!] : [])].join(', ');
    const huge = index % hugeEvery === hugeEvery - 1;
    const versionCount = huge ? 200 + Math.floor(random() * 601) : 1 + Math.floor(19 * random() ** 2.2);
    const pkg: CorpusPackage = {
      id,
      lowerId: id.toLowerCase(),
      description: `${capitalize(description.join(' '))}.`,
      descriptionWords,
      tags: [...tags],
      authors,
      licenseExpression: LICENSES[Math.floor(random() * LICENSES.length)]!,
      versions: generateVersions(random, versionCount),
    };
    if (random() < 0.6) pkg.title = words.join(' ');
    if (random() < 0.2) pkg.summary = `${capitalize(vocabulary[pickWord(random)]!)} ${vocabulary[pickWord(random)]!} for ${words.at(-1)!}.`;
    if (random() < 0.02) pkg.packageTypes = [{ name: 'DotnetTool' }];
    return pkg;
  }

  function leavesOf(pkg: CorpusPackage) {
    const start = Date.UTC(2016, 0, 1);
    return pkg.versions.map((v, i) => {
      const at = new Date(start + i * 3_600_000);
      const data: PackageDetailsData = {
        id: pkg.id,
        version: v.version,
        verbatimVersion: v.version,
        authors: pkg.authors,
        description: pkg.description,
        created: at.toISOString(),
        published: v.listed ? at.toISOString() : '1900-01-01T00:00:00.0000000Z',
        listed: v.listed,
        isPrerelease: v.prerelease,
        packageHash: 'AAAA',
        packageHashAlgorithm: 'SHA512',
        packageSize: 4096 + i,
        requireLicenseAcceptance: false,
        tags: pkg.tags,
        licenseExpression: pkg.licenseExpression,
        projectUrl: `https://example.com/${pkg.lowerId}`,
        packageEntries: [],
        ...(pkg.title !== undefined ? { title: pkg.title } : {}),
        ...(pkg.summary !== undefined ? { summary: pkg.summary } : {}),
        ...(pkg.packageTypes !== undefined ? { packageTypes: pkg.packageTypes } : {}),
      };
      return { lowerVersion: v.version.toLowerCase(), commitTimestamp: at, data };
    });
  }

  function downloadsOf(pkg: CorpusPackage, rank: number): Record<string, number> {
    const total = Math.max(1, Math.round(3e9 / Math.pow(rank, 1.1)));
    const weights = pkg.versions.map((_, i) => Math.pow(1.35, Math.min(i, 60)));
    const sum = weights.reduce((a, b) => a + b, 0);
    const out: Record<string, number> = {};
    pkg.versions.forEach((v, i) => {
      out[v.version.toLowerCase()] = Math.floor((total * weights[i]!) / sum);
    });
    return out;
  }

  function downloadRanks(): Uint32Array {
    const ranks = new Uint32Array(ids.length);
    for (let i = 0; i < ranks.length; i++) ranks[i] = i + 1;
    const random = createRandom(mixSeed(seed, 0xd0d0));
    for (let i = ranks.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [ranks[i], ranks[j]] = [ranks[j]!, ranks[i]!];
    }
    return ranks;
  }

  return { ids, packageAt, leavesOf, downloadsOf, downloadRanks };
}

function generateIds(count: number, random: Random, make: (random: Random) => string): string[] {
  const ids: string[] = [];
  const seen = new Set<string>();
  let misses = 0;
  while (ids.length < count) {
    let id = make(random);
    // Past the point where the word lists run dry, a numeric suffix keeps ids distinct.
    if (misses > 50) id = `${id}${Math.floor(random() * 1000)}`;
    const lower = id.toLowerCase();
    if (id.length > 100 || seen.has(lower)) {
      misses++;
      continue;
    }
    misses = 0;
    seen.add(lower);
    ids.push(id);
  }
  return ids;
}

/**
 * Ascending versions: mostly patch and minor bumps; about one package in six ships prereleases,
 * some with SemVer 1 labels (`-beta3`), some with SemVer 2 labels (`-preview.3`); 2% unlisted.
 */
function generateVersions(random: Random, count: number): CorpusVersion[] {
  let major = Math.floor(random() * 4);
  let minor = Math.floor(random() * 5);
  let patch = 0;
  const prereleaseShare = random() < 0.17 ? 0.35 : 0;
  const semVer2Labels = random() < 0.5;
  const versions: CorpusVersion[] = [];
  for (let i = 0; i < count; i++) {
    if (i > 0) {
      const bump = random();
      if (bump < 0.05) {
        major++;
        minor = 0;
        patch = 0;
      } else if (bump < 0.35) {
        minor++;
        patch = 0;
      } else {
        patch++;
      }
    }
    const prerelease = random() < prereleaseShare;
    const label = prerelease ? (semVer2Labels ? `-preview.${1 + Math.floor(random() * 9)}` : `-beta${1 + Math.floor(random() * 9)}`) : '';
    versions.push({ version: `${major}.${minor}.${patch}${label}`, listed: random() >= 0.02, prerelease });
  }
  return versions;
}
