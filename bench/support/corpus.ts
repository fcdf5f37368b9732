/**
 * A seeded package corpus for the benchmarks, pushed through the real publish API.
 *
 * The shape follows a real feed: most ids have 1–10 versions (few are long-lived), a tenth have
 * 11–100, a few ids have 1,000+ versions (nightly-style histories), and a few packages weigh several
 * megabytes (one stored, incompressible entry). Small packages carry a few KB of random bytes and
 * depend on earlier ids, so a restore walks a dependency graph. Prereleases are about one version in
 * eight, some of them SemVer 2 (`-preview.3`). The same options always give the same ids, versions and
 * bytes.
 */
import AdmZip from 'adm-zip';
import { buildNupkg, type NupkgDependencySpec } from '@nucat/testing';
import { pushRaw, type Feed } from '../../test/support/feed.js';
import { createRandom, pick, randomBytes, randomInt, shuffled, type Random } from './random.js';

/** Options of {@link createCorpus}. */
export interface CorpusOptions {
  /** @defaultValue 42 */
  seed?: number;
  /** Ids with an ordinary history. */
  ids: number;
  /**
   * Versions of every ordinary id. When absent they are drawn: 1–10 for ~88% of ids (skewed low), 11–100
   * for the rest.
   */
  versionsPerId?: number;
  /** Caps the drawn version counts of ordinary ids. @defaultValue 100 */
  maxVersions?: number;
  /** Ids with a 1,000+ version history. @defaultValue 0 */
  hugeIds?: number;
  /** Versions of the first huge id; each further one has 100 more. @defaultValue 1000 */
  hugeVersions?: number;
  /** Ids with one large package. @defaultValue 0 */
  largeIds?: number;
  /** Size of the stored random entry of a large package. @defaultValue 4 MiB */
  largeBytes?: number;
  /** Give small packages dependencies on earlier ids. @defaultValue true */
  dependencies?: boolean;
  /** Id prefix (keeps corpora of different shapes apart). @defaultValue 'Bench' */
  prefix?: string;
}

/** What kind of id it is (decides its history and payload). */
export type CorpusIdKind = 'ordinary' | 'huge' | 'large';

/** One id of the corpus. */
export interface CorpusId {
  readonly id: string;
  readonly lowerId: string;
  readonly kind: CorpusIdKind;
  /** Normalized versions, in push order (ascending). */
  readonly versions: readonly string[];
  /** Bytes of random payload in each package of this id. */
  readonly payloadBytes: number;
  /** Dependencies (same for every version), on earlier ids. */
  readonly dependencies: readonly NupkgDependencySpec[];
}

/** A reproducible corpus: ids and versions are fixed up front, packages are built on demand. */
export interface Corpus {
  readonly ids: readonly CorpusId[];
  /** Sum of versions over all ids (= pushes). */
  readonly totalVersions: number;
  /** The `.nupkg` of version `versionIndex` of `id`; the same bytes every time. */
  build(id: CorpusId, versionIndex: number): Buffer;
  /** The (id, version index) pairs in push order: ids interleaved, each id's versions ascending. */
  pushOrder(): { id: CorpusId; versionIndex: number }[];
  /** One line describing the corpus. */
  describe(): string;
}

const WORDS = [
  'Contoso', 'Fabrikam', 'Northwind', 'Adatum', 'Litware', 'Proseware', 'Tailspin', 'Wingtip', 'Woodgrove', 'Acme',
  'Json', 'Http', 'Data', 'Core', 'Logging', 'Client', 'Storage', 'Cache', 'Queue', 'Security', 'Xml', 'Csv',
  'Mapping', 'Testing', 'Hosting', 'Metrics', 'Tracing', 'Analyzers', 'Grpc', 'Sql', 'Redis', 'Imaging', 'Pdf',
  'Scheduler', 'Workflow', 'Reactive', 'Collections', 'Text', 'Numerics', 'Geo', 'Compression', 'Abstractions',
];

/**
 * The corpus of corpus.ts and read-path.ts. Quick: 30 ordinary ids, one 300-version id, two 4 MiB
 * packages (~450 pushes). Default: 300 ordinary ids, two huge ids (1,000 and 1,100 versions), three
 * 4 MiB packages (~5,000 pushes).
 */
export function standardCorpus(quick: boolean, seed = 42): CorpusOptions {
  return quick
    ? { seed, ids: 30, hugeIds: 1, hugeVersions: 300, largeIds: 2, largeBytes: 4 * 1048576 }
    : { seed, ids: 300, hugeIds: 2, hugeVersions: 1000, largeIds: 3, largeBytes: 4 * 1048576 };
}

/** Builds the corpus described by `options` (pure: nothing is pushed). */
export function createCorpus(options: CorpusOptions): Corpus {
  const seed = options.seed ?? 42;
  const prefix = options.prefix ?? 'Bench';
  const random = createRandom(seed);
  const ids: CorpusId[] = [];
  const withDependencies = options.dependencies ?? true;

  for (let i = 0; i < options.ids; i++) {
    const count = options.versionsPerId ?? Math.min(options.maxVersions ?? 100, drawVersionCount(random));
    const id = `${prefix}.${pick(random, WORDS)}.${pick(random, WORDS)}${i}`;
    const dependencies: NupkgDependencySpec[] = [];
    if (withDependencies && ids.length > 0) {
      // 0–3 dependencies on earlier ordinary ids, at their first version ("[x, )" resolves to x exactly).
      const n = Math.min(ids.length, Math.floor(random() * random() * 4.5));
      const seen = new Set<string>();
      for (let d = 0; d < n; d++) {
        const target = ids[Math.floor(random() * ids.length)]!;
        if (target.kind !== 'ordinary' || seen.has(target.lowerId)) continue;
        seen.add(target.lowerId);
        dependencies.push({ id: target.id, range: `[${target.versions[0]!}, )`, targetFramework: 'netstandard2.0' });
      }
    }
    ids.push({
      id,
      lowerId: id.toLowerCase(),
      kind: 'ordinary',
      versions: drawVersions(random, count),
      payloadBytes: Math.round(Math.exp(Math.log(1024) + random() * Math.log(40))), // 1–40 KB, log-uniform
      dependencies,
    });
  }
  for (let i = 0; i < (options.hugeIds ?? 0); i++) {
    const id = `${prefix}.Nightly.${pick(random, WORDS)}${i}`;
    ids.push({
      id,
      lowerId: id.toLowerCase(),
      kind: 'huge',
      versions: drawVersions(random, (options.hugeVersions ?? 1000) + 100 * i),
      payloadBytes: 2048,
      dependencies: [],
    });
  }
  for (let i = 0; i < (options.largeIds ?? 0); i++) {
    const id = `${prefix}.Large.${pick(random, WORDS)}${i}`;
    ids.push({
      id,
      lowerId: id.toLowerCase(),
      kind: 'large',
      versions: ['1.0.0'],
      payloadBytes: options.largeBytes ?? 4 * 1024 * 1024,
      dependencies: [],
    });
  }
  const totalVersions = ids.reduce((sum, id) => sum + id.versions.length, 0);
  const indexOf = new Map(ids.map((id, index) => [id, index]));

  return {
    ids,
    totalVersions,
    build(id, versionIndex) {
      const version = id.versions[versionIndex]!;
      const packageSeed = (seed * 0x01000193) ^ (indexOf.get(id)! * 0x9e3779b1) ^ (versionIndex * 0x85ebca6b);
      if (id.kind === 'large') {
        // The big entry is stored (not deflated), as packages of native binaries and assets often are.
        const placeholder = 'tools/payload.bin';
        const zip = new AdmZip(buildNupkg({ id: id.id, version, description: `Large benchmark package ${id.id}.`, files: { [placeholder]: 'x' } }));
        const entry = zip.getEntry(placeholder)!;
        entry.setData(randomBytes(packageSeed, id.payloadBytes));
        entry.header.method = 0;
        return zip.toBuffer();
      }
      return buildNupkg({
        id: id.id,
        version,
        authors: 'nucat bench',
        description: `Benchmark package ${id.id}, a ${id.kind} id with ${id.versions.length} versions.`,
        tags: 'bench corpus',
        dependencies: [...id.dependencies],
        files: { [`lib/netstandard2.0/${id.id}.dll`]: randomBytes(packageSeed, id.payloadBytes) },
      });
    },
    pushOrder() {
      // Every id's slots shuffled together, then each id's k-th slot gets its k-th version.
      const slots: number[] = [];
      ids.forEach((id, index) => {
        for (let v = 0; v < id.versions.length; v++) slots.push(index);
      });
      const next = new Array<number>(ids.length).fill(0);
      return shuffled(createRandom(seed ^ 0x5a5a5a5a), slots).map((index) => ({ id: ids[index]!, versionIndex: next[index]!++ }));
    },
    describe() {
      const kinds = (kind: CorpusIdKind) => ids.filter((i) => i.kind === kind);
      const ordinary = kinds('ordinary');
      const spread = [1, 2, 5, 10, 100].map((limit, k, all) => {
        const low = k === 0 ? 0 : all[k - 1]!;
        return `${ordinary.filter((i) => i.versions.length > low && i.versions.length <= limit).length} with ${low + 1 === limit ? limit : `${low + 1}–${limit}`}`;
      });
      const huge = kinds('huge').map((i) => i.versions.length);
      const large = kinds('large');
      return (
        `${ids.length} ids, ${totalVersions} versions (seed ${seed}): ${ordinary.length} ordinary ids (${spread.join(', ')} versions)` +
        (huge.length > 0 ? `, ${huge.length} huge (${huge.join(', ')} versions)` : '') +
        (large.length > 0 ? `, ${large.length} large (${(large[0]!.payloadBytes / 1048576).toFixed(1)} MiB stored entry)` : '')
      );
    },
  };
}

/** 1–10 for most ids (skewed towards few), 11–100 for about one in eight. */
function drawVersionCount(random: Random): number {
  if (random() < 0.12) return randomInt(random, 11, 100);
  return Math.min(10, 1 + Math.floor(-Math.log(1 - random()) * 2.2));
}

/** `count` distinct ascending normalized versions: patches, minors, majors and prereleases before a release. */
function drawVersions(random: Random, count: number): string[] {
  const versions: string[] = [];
  let major = randomInt(random, 0, 3);
  let minor = randomInt(random, 0, 9);
  let patch = 0;
  let afterPrerelease = false;
  while (versions.length < count) {
    const roll = random();
    if (roll < 0.12 && !afterPrerelease) {
      // A prerelease of the next patch, then usually the release itself.
      const label = random() < 0.5 ? `preview.${randomInt(random, 1, 9)}` : pick(random, ['beta', 'rc1', 'alpha']);
      versions.push(`${major}.${minor}.${patch + 1}-${label}`);
      afterPrerelease = true;
      continue;
    }
    afterPrerelease = false;
    if (roll < 0.16) {
      major += 1;
      minor = 0;
      patch = 0;
    } else if (roll < 0.4) {
      minor += 1;
      patch = 0;
    } else {
      patch += 1;
    }
    versions.push(`${major}.${minor}.${patch}`);
  }
  return versions;
}

/** Outcome of {@link pushCorpus}. */
export interface PushReport {
  pushes: number;
  seconds: number;
  /** Bytes uploaded (package bytes, multipart framing excluded). */
  bytes: number;
  /** The latest `X-Nucat-Commit-Timestamp` seen. */
  lastCommitTimestamp: string;
  /** Push latencies, ms. */
  latencies: number[];
}

/**
 * Pushes every package of the corpus in {@link Corpus.pushOrder}, `concurrency` at a time (spread
 * over `publishUrls` when given). Every push must answer 201; anything else throws with the answer.
 */
export async function pushCorpus(
  feed: Feed,
  corpus: Corpus,
  options: { concurrency?: number; publishUrls?: readonly string[]; onProgress?: (done: number, total: number) => void } = {},
): Promise<PushReport> {
  const order = corpus.pushOrder();
  const concurrency = options.concurrency ?? 16;
  const latencies: number[] = [];
  let next = 0;
  let bytes = 0;
  let last = '';
  let lastMs = 0;
  const started = performance.now();
  const urls = options.publishUrls ?? [feed.publishUrl];
  const lane = async (laneIndex: number): Promise<void> => {
    const laneFeed = { ...feed, publishUrl: urls[laneIndex % urls.length]! };
    while (next < order.length) {
      const { id, versionIndex } = order[next++]!;
      const nupkg = corpus.build(id, versionIndex);
      const t0 = performance.now();
      const result = await pushRaw(laneFeed, nupkg);
      latencies.push(performance.now() - t0);
      if (result.status !== 201) {
        throw new Error(`push ${id.id} ${id.versions[versionIndex]} answered ${result.status}: ${result.text.slice(0, 500)}`);
      }
      bytes += nupkg.length;
      const at = Date.parse(result.commitTimestamp ?? '');
      if (at > lastMs) {
        lastMs = at;
        last = result.commitTimestamp!;
      }
      options.onProgress?.(latencies.length, order.length);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, order.length) }, (_, i) => lane(i)));
  return { pushes: order.length, seconds: (performance.now() - started) / 1000, bytes, lastCommitTimestamp: last, latencies };
}
