/**
 * Search at scale, over real HTTP, against the PostgreSQL search backend.
 *
 * 1. Starts a fresh stack on loopback and fills its search index directly through the backend
 *    (`replacePackage` + `setDownloads`) with N generated ids (bench/search-corpus.ts: seeded,
 *    `Company.Product.Feature` ids, 10–40 word descriptions, tags, authors, 1–20 versions with a few
 *    ids of hundreds, Zipf-like downloads), printing the fill rate.
 * 2. Measures GET /v3/query and /v3/autocomplete latency (p50/p99, req/s) per query shape with
 *    autocannon at 1 and 16 connections, each next to the same number of GET /v3/index.json
 *    requests (static, in memory: the HTTP floor). Shapes whose p99 at 1 connection is over
 *    --slow-ms get the EXPLAIN ANALYZE of the SQL the backend ran for them.
 * 3. Pushes packages one at a time through the publish API and times publish → searchable
 *    (`packageid:<id>` answers totalHits 1), with the N ids in the index.
 *
 *   npx tsx bench/search-latency.ts [--ids 100000] [--quick] [--seconds 5] [--pushes 100]
 *                                   [--poll-ms 2] [--seed 1] [--writers 8] [--slow-ms 100]
 *
 * `--quick` means 5 000 ids, 1 s per measurement at 16 connections only, and 30 pushes (unless --ids / --seconds / --pushes say otherwise).
 * Needs the apps built (`npm run build`), PostgreSQL and Redis (`bash infra/local/services.sh`).
 */
import { availableParallelism, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { Kysely, PostgresDialect, sql, type CompiledQuery } from 'kysely';
import pg from 'pg';
import { createFeedUrls } from '@nucat/catalog';
import { createDb, type Database, type Db } from '@nucat/db';
import { buildSearchDocuments } from '@nucat/projections';
import { parseSearchParameters, parseSearchQuery, selectVariant, type DownloadTotals, type SearchBackend } from '@nucat/search';
import { createPostgresSearchBackend } from '@nucat/search-postgres';
import { buildNupkg } from '@nucat/testing';
import { pushRaw } from '../test/support/feed.js';
import { startStack, type Stack } from '../test/support/stack.js';
import { createCorpus, createRandom, isRareWord, mixSeed, type Corpus } from './search-corpus.js';
import { formatMs, summarize } from './stats.js';
import { recordFigures } from './support/results.js';

const { values } = parseArgs({
  options: {
    ids: { type: 'string' },
    quick: { type: 'boolean', default: false },
    seconds: { type: 'string' },
    pushes: { type: 'string' },
    'poll-ms': { type: 'string', default: '2' },
    seed: { type: 'string', default: '1' },
    writers: { type: 'string', default: '8' },
    'slow-ms': { type: 'string', default: '100' },
  },
});
const idCount = Number(values.ids ?? (values.quick ? 5_000 : 100_000));
const seconds = Number(values.seconds ?? (values.quick ? 1 : 5));
const pushes = Number(values.pushes ?? (values.quick ? 30 : 100));
const pollMs = Number(values['poll-ms']);
const seed = Number(values.seed);
const writers = Number(values.writers);
/** A shape with p99 above this at one connection gets its query plan printed. */
const slowMs = Number(values['slow-ms']);
for (const [name, value, min] of [
  ['ids', idCount, 1],
  ['seconds', seconds, 1],
  ['pushes', pushes, 1],
  ['writers', writers, 1],
  ['poll-ms', pollMs, 0],
  ['seed', seed, 0],
  ['slow-ms', slowMs, 0],
] as const) {
  if (!Number.isInteger(value) || value < min) throw new Error(`--${name} must be a whole number ≥ ${min}; got ${value}`);
}

/** Connection counts each shape is measured at. */
/** Connections per measurement; --quick measures at 16 only. */
const CONCURRENCY: readonly number[] = values.quick ? [16] : [1, 16];
/** Ids per setDownloads call, and how many calls run at once. */
const DOWNLOAD_BATCH = 5_000;
const DOWNLOAD_LANES = 4;
/** The longest a pushed package may take to become searchable before the run fails. */
const SEARCHABLE_TIMEOUT_MS = 60_000;
/** What clients send by default: SemVer 2.0.0 aware, prerelease off (the "Browse" tab). */
const CLIENT_PARAMS = 'prerelease=false&semVerLevel=2.0.0';

/** A query shape: requests rotate over `paths` (all of the same kind). */
interface Shape {
  name: string;
  /** What the query looks like, for the key printed above the table. */
  example: string;
  paths: string[];
}

/** Outcome of one load run. */
interface LoadResult {
  /** Latency of each 2xx response, ms. */
  samples: number[];
  requestsPerSecond: number;
  /** Non-2xx responses, connection errors and timeouts. */
  failures: number;
}

const stack = await startStack();
// The bench's own connections skip the WAL flush at each commit: the fill is ~100k small
// transactions and needs no durability. The apps keep the server's settings.
const fillUrl = new URL(stack.env['DATABASE_URL']!);
fillUrl.searchParams.set('options', '-c synchronous_commit=off');
const db = createDb({ url: fillUrl.toString(), poolSize: writers });
let cleanedUp: Promise<void> | undefined;
const cleanUp = (): Promise<void> => (cleanedUp ??= db.destroy().finally(() => stack.stop()));
// Ctrl-C, or an error thrown outside any promise (autocannon's timers), still drops the stack.
process.once('SIGINT', () => void cleanUp().finally(() => process.exit(130)));
process.once('uncaughtException', (error) => {
  console.error(error);
  void cleanUp().finally(() => process.exit(1));
});
try {
  const feedId = await findFeedId(db);
  const backend = createPostgresSearchBackend({ db });
  const corpus = createCorpus({ ids: idCount, seed });

  console.log(
    `search latency: ${idCount} ids, seed ${seed}, ${seconds} s per measurement; ${availableParallelism()} CPUs, ` +
      `load average ${loadavg()[0]!.toFixed(1)}, Node ${process.version}`,
  );
  const stats = await fillIndex(corpus, backend, feedId, stack.publicUrl);
  await setDownloads(corpus, backend, feedId);
  const vacuumStarted = performance.now();
  await sql`VACUUM ANALYZE search_documents`.execute(db);
  const size = await sql<{ rows: string; size: string }>`
    SELECT (SELECT count(*) FROM search_documents) AS rows, pg_size_pretty(pg_total_relation_size('search_documents')) AS size`.execute(db);
  console.log(
    `  VACUUM ANALYZE search_documents: ${((performance.now() - vacuumStarted) / 1000).toFixed(1)} s; ` +
      `${size.rows[0]!.rows} rows, ${size.rows[0]!.size} with indexes`,
  );

  const shapes = pickShapes(corpus, stats);
  await printQueryKey(stack, shapes);
  const slow = await measureShapes(stack, shapes);
  for (const shape of slow) await explainShape(stack.env['DATABASE_URL']!, feedId, shape);
  await measurePublishToSearchable(stack);
} finally {
  await cleanUp();
}

async function findFeedId(database: Db): Promise<number> {
  const row = await database.selectFrom('feeds').select('id').where('name', '=', 'main').executeTakeFirst();
  if (!row) throw new Error('the stack has no feed named "main"');
  return row.id;
}

/** Document frequencies gathered while filling, to pick common and rare query words. */
interface CorpusStats {
  wordIds: Map<string, number>;
  tagIds: Map<string, number>;
}

/** replacePackage for every id of the corpus, `writers` at a time. */
async function fillIndex(corpus: Corpus, backend: SearchBackend, feedId: number, publicUrl: string): Promise<CorpusStats> {
  const urls = createFeedUrls(`${publicUrl}/v3/`);
  const wordIds = new Map<string, number>();
  const tagIds = new Map<string, number>();
  let next = 0;
  let documents = 0;
  let versions = 0;
  let reported = 0;
  const started = performance.now();
  const writer = async (): Promise<void> => {
    while (next < corpus.ids.length) {
      const pkg = corpus.packageAt(next++);
      const docs = buildSearchDocuments({ lowerId: pkg.lowerId, leaves: corpus.leavesOf(pkg), urls });
      await backend.replacePackage(feedId, pkg.lowerId, docs);
      documents += docs.length;
      versions += pkg.versions.length;
      for (const word of pkg.descriptionWords) wordIds.set(word, (wordIds.get(word) ?? 0) + 1);
      for (const tag of pkg.tags) tagIds.set(tag, (tagIds.get(tag) ?? 0) + 1);
      if (next - reported >= corpus.ids.length / 4 && next < corpus.ids.length) {
        reported = next;
        console.error(`  … ${next}/${corpus.ids.length} ids, ${((performance.now() - started) / 1000).toFixed(1)} s`);
      }
    }
  };
  await Promise.all(Array.from({ length: writers }, writer));
  const elapsed = (performance.now() - started) / 1000;
  console.log(
    `  fill: ${corpus.ids.length} ids (${documents} documents, ${versions} versions) in ${elapsed.toFixed(1)} s ` +
      `→ ${Math.round(corpus.ids.length / elapsed)} ids/s, ${Math.round(documents / elapsed)} documents/s (${writers} concurrent replacePackage, synchronous_commit=off)`,
  );
  return { wordIds, tagIds };
}

/** setDownloads with Zipf-like totals, in batches. */
async function setDownloads(corpus: Corpus, backend: SearchBackend, feedId: number): Promise<void> {
  const ranks = corpus.downloadRanks();
  const started = performance.now();
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < corpus.ids.length) {
      const from = next;
      next = Math.min(corpus.ids.length, next + DOWNLOAD_BATCH);
      const totals: DownloadTotals[] = [];
      for (let i = from; i < next; i++) {
        const pkg = corpus.packageAt(i);
        totals.push({ lowerId: pkg.lowerId, versions: corpus.downloadsOf(pkg, ranks[i]!) });
      }
      await backend.setDownloads(feedId, totals);
    }
  };
  await Promise.all(Array.from({ length: DOWNLOAD_LANES }, lane));
  const elapsed = (performance.now() - started) / 1000;
  console.log(
    `  downloads: ${corpus.ids.length} ids in ${elapsed.toFixed(1)} s → ${Math.round(corpus.ids.length / elapsed)} ids/s ` +
      `(batches of ${DOWNLOAD_BATCH}, ${DOWNLOAD_LANES} at a time; total ≈ 3e9/rank^1.1)`,
  );
}

/** The query shapes, with values drawn from the corpus (so hits are realistic). */
function pickShapes(corpus: Corpus, stats: CorpusStats): Shape[] {
  const random = createRandom(mixSeed(seed, 0x9e7));
  // Ids with a listed stable version: the ones a default (prerelease=false) search can find.
  const sample: string[] = [];
  for (let tries = 0; sample.length < Math.min(500, corpus.ids.length) && tries < 10_000; tries++) {
    const pkg = corpus.packageAt(Math.floor(random() * corpus.ids.length));
    if (pkg.versions.some((v) => v.listed && !v.prerelease)) sample.push(pkg.id);
  }
  const query = (q: string): string => `/v3/query?q=${encodeURIComponent(q)}&skip=0&take=20&${CLIENT_PARAMS}`;
  const byDistance = (counts: Map<string, number>, target: number) =>
    [...counts].sort((a, b) => Math.abs(a[1] - target) - Math.abs(b[1] - target) || (a[0] < b[0] ? -1 : 1)).map(([word]) => word);
  const commonWord = byDistance(stats.wordIds, corpus.ids.length * 0.2)[0]!;
  const rareWords = [...stats.wordIds]
    .filter(([word, count]) => isRareWord(word) && count <= 3)
    .map(([word]) => word)
    .sort()
    .slice(0, 50);
  const tags = byDistance(stats.tagIds, corpus.ids.length * 0.03).slice(0, 5);
  const prefixes = [...new Set(sample.filter((id) => id.includes('.')).map((id) => {
    const [company, product] = id.toLowerCase().split('.');
    return `${company}.${product!.slice(0, 3)}`;
  }))];
  const autocomplete = [...new Set(sample.map((id) => id.toLowerCase().slice(0, 4)))];
  const shapes: Shape[] = [
    { name: 'browse (q empty)', example: 'q=', paths: [query('')] },
    { name: 'exact id', example: `q=${sample[0]}`, paths: sample.map((id) => query(id)) },
    { name: 'id prefix', example: `q=${prefixes[0]}`, paths: prefixes.map((p) => query(p)) },
    { name: 'common word', example: `q=${commonWord}`, paths: [query(commonWord)] },
    { name: 'rare word', example: `q=${rareWords[0]}`, paths: rareWords.map((w) => query(w)) },
    { name: 'tags:x', example: `q=tags:${tags[0]}`, paths: tags.map((t) => query(`tags:${t}`)) },
    { name: 'packageid:x', example: `q=packageid:${sample[0]}`, paths: sample.map((id) => query(`packageid:${id}`)) },
    {
      name: 'autocomplete prefix',
      example: `autocomplete q=${autocomplete[0]}`,
      paths: autocomplete.map((p) => `/v3/autocomplete?q=${encodeURIComponent(p)}&skip=0&take=20&${CLIENT_PARAMS}`),
    },
    { name: 'browse take=100', example: 'q=&take=100', paths: [`/v3/query?q=&skip=0&take=100&${CLIENT_PARAMS}`] },
  ];
  const empty = shapes.filter((shape) => shape.paths.length === 0).map((shape) => shape.name);
  if (empty.length > 0) throw new Error(`the corpus gave no query values for: ${empty.join(', ')} (try more --ids)`);
  return shapes;
}

/** Prints each shape's example and the range of totalHits over its rotation (one request each). */
async function printQueryKey(s: Stack, shapes: Shape[]): Promise<void> {
  console.log(`\nquery shapes (all with ${CLIENT_PARAMS}, take=20 unless said; requests rotate over the values)`);
  for (const shape of shapes) {
    const hits: number[] = [];
    for (const path of shape.paths.slice(0, 50)) {
      const response = await fetch(`${s.publicUrl}${path}`);
      const text = await response.text();
      if (response.status !== 200) throw new Error(`GET ${path} answered ${response.status}: ${text.slice(0, 300)}`);
      hits.push((JSON.parse(text) as { totalHits: number }).totalHits);
    }
    const min = Math.min(...hits);
    const max = Math.max(...hits);
    console.log(
      `  ${shape.name.padEnd(20)} ${String(shape.paths.length).padStart(3)} value(s)  totalHits ${min === max ? min : `${min}–${max}`}`.padEnd(64) +
        `  e.g. ${shape.example}`,
    );
  }
}

/** Runs autocannon against the read API; latencies come from each response (sub-millisecond). */
function load(s: Stack, paths: readonly string[], connections: number, limit: { seconds: number } | { amount: number }): Promise<LoadResult> {
  const samples: number[] = [];
  let failures = 0;
  let n = 0;
  // Throughput from the responses themselves: autocannon only notices the end of a run on its 1 s tick.
  let firstStart = Number.POSITIVE_INFINITY;
  let lastEnd = 0;
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: s.publicUrl,
        connections,
        ...('seconds' in limit ? { duration: limit.seconds } : { amount: limit.amount }),
        requests: [{ method: 'GET', setupRequest: (request) => ({ ...request, path: paths[n++ % paths.length]! }) }],
      },
      (error: unknown, result: autocannon.Result) => {
        if (error) return reject(error instanceof Error ? error : new Error(String(error)));
        const elapsed = (lastEnd - firstStart) / 1000;
        resolve({ samples, requestsPerSecond: elapsed > 0 ? samples.length / elapsed : 0, failures: failures + result.errors });
      },
    );
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      const now = performance.now();
      firstStart = Math.min(firstStart, now - responseTime);
      lastEnd = now;
      if (statusCode >= 200 && statusCode < 300) samples.push(responseTime);
      else failures++;
    });
  });
}

/** Measures every shape at each concurrency; returns the shapes slow at one connection. */
async function measureShapes(s: Stack, shapes: Shape[]): Promise<Shape[]> {
  // Warm the JIT, the pools and PostgreSQL's cache before anything counts.
  for (const shape of shapes) await load(s, shape.paths, 4, { seconds: 0.5 });
  await load(s, ['/v3/index.json'], 4, { seconds: 0.5 });

  console.log(`\nGET latency over HTTP, ${seconds} s per row; floor = the same number of GET /v3/index.json at the same concurrency`);
  const header =
    `  ${'shape'.padEnd(20)} ${'c'.padStart(2)} ${'requests'.padStart(8)} ${'req/s'.padStart(7)} ${'p50'.padStart(9)} ${'p99'.padStart(9)}` +
    `  | ${'floor p50'.padStart(9)} ${'floor p99'.padStart(9)} ${'floor r/s'.padStart(9)} | ${'p50 ×'.padStart(6)} ${'p99 ×'.padStart(6)}`;
  console.log(header);
  console.log(`  ${'-'.repeat(header.length - 2)}`);
  const slow: Shape[] = [];
  const notes: string[] = [];
  for (const connections of CONCURRENCY) {
    for (const shape of shapes) {
      const run = await load(s, shape.paths, connections, { seconds });
      // autocannon refuses fewer requests than connections.
      const floor = await load(s, ['/v3/index.json'], connections, { amount: Math.max(connections, run.samples.length) });
      const a = summarize(run.samples);
      const f = summarize(floor.samples);
      if (connections === 1 && a.p99 > slowMs) slow.push(shape);
      if (connections === CONCURRENCY.at(-1)) {
        recordFigures([
          { bench: 'search', figure: `${shape.name} p99, c=${connections}, ${idCount.toLocaleString('en-US')} ids`, value: a.p99, unit: 'ms', reference: f.p99, referenceName: 'GET /v3/index.json' },
        ]);
      }
      if (run.failures > 0 || floor.failures > 0) notes.push(`${shape.name} c=${connections}: ${run.failures} failed requests (floor: ${floor.failures})`);
      console.log(
        `  ${shape.name.padEnd(20)} ${String(connections).padStart(2)} ${String(a.n).padStart(8)} ${run.requestsPerSecond.toFixed(0).padStart(7)} ` +
          `${formatMs(a.p50).padStart(9)} ${formatMs(a.p99).padStart(9)}  | ${formatMs(f.p50).padStart(9)} ${formatMs(f.p99).padStart(9)} ` +
          `${floor.requestsPerSecond.toFixed(0).padStart(9)} | ${(a.p50 / f.p50).toFixed(1).padStart(6)} ${(a.p99 / f.p99).toFixed(1).padStart(6)}`,
      );
    }
  }
  for (const note of notes) console.log(`  ! ${note}`);
  console.log(`  (load average after: ${loadavg()[0]!.toFixed(1)})`);
  return slow;
}

/**
 * Runs the shape's first request through a backend whose SQL is captured, then prints
 * EXPLAIN (ANALYZE, BUFFERS) of each search statement with the same parameters.
 */
async function explainShape(databaseUrl: string, feedId: number, shape: Shape): Promise<void> {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 1 });
  const captured: CompiledQuery[] = [];
  const logged = new Kysely<Database>({
    dialect: new PostgresDialect({ pool }),
    log: (event) => {
      if (event.level === 'query') captured.push(event.query);
    },
  });
  try {
    const backend = createPostgresSearchBackend({ db: logged });
    const url = new URL(shape.paths[0]!, 'http://127.0.0.1');
    const params = parseSearchParameters(Object.fromEntries(url.searchParams));
    const variant = selectVariant({ prerelease: params.prerelease, semVer2: params.semVer2 });
    const packageType = params.packageType ? { packageType: params.packageType } : {};
    if (url.pathname === '/v3/autocomplete') {
      await backend.autocompleteIds(feedId, { prefix: params.q, variant, skip: params.skip, take: params.take, ...packageType });
    } else {
      await backend.search(feedId, { query: parseSearchQuery(params.q), variant, skip: params.skip, take: params.take, ...packageType });
    }
    for (const query of captured.filter((q) => /search_documents/.test(q.sql))) {
      const plan = await pool.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS) ${query.sql}`, [...query.parameters]);
      console.log(`\nEXPLAIN ANALYZE — ${shape.name} (${shape.example}), p99 at c=1 over ${slowMs} ms`);
      console.log(`  parameters: ${JSON.stringify(query.parameters)}`);
      for (const row of plan.rows) console.log(`  ${row['QUERY PLAN']}`);
    }
  } finally {
    await logged.destroy();
  }
}

/** Pushes packages one by one and polls search until each is found. */
async function measurePublishToSearchable(s: Stack): Promise<void> {
  const feed = { serviceIndexUrl: s.serviceIndexUrl, publishUrl: s.publishUrl, apiKey: s.apiKey };
  const pushMs: number[] = [];
  const afterCreated: number[] = [];
  const total: number[] = [];
  for (let i = 0; i < pushes; i++) {
    const id = `Bench.Searchable.Probe${i}`;
    const nupkg = buildNupkg({ id, version: '1.0.0', description: 'Publish to searchable latency probe.', tags: 'bench probe' });
    const url = `${s.publicUrl}/v3/query?q=${encodeURIComponent(`packageid:${id}`)}&prerelease=true&semVerLevel=2.0.0`;
    const t0 = performance.now();
    const pushed = await pushRaw(feed, nupkg);
    const t1 = performance.now();
    if (pushed.status !== 201) throw new Error(`push ${id} answered ${pushed.status}: ${pushed.text}`);
    for (;;) {
      const response = await fetch(url);
      const text = await response.text();
      if (response.ok && (JSON.parse(text) as { totalHits: number }).totalHits === 1) break;
      if (performance.now() - t1 > SEARCHABLE_TIMEOUT_MS) {
        throw new Error(`${id} was not searchable ${SEARCHABLE_TIMEOUT_MS} ms after its push; last answer ${response.status} ${text.slice(0, 300)}\n${s.logs()}`);
      }
      await new Promise((r) => setTimeout(r, pollMs));
    }
    const t2 = performance.now();
    pushMs.push(t1 - t0);
    afterCreated.push(t2 - t1);
    total.push(t2 - t0);
  }
  console.log(`\npublish → searchable, ${pushes} sequential pushes of new ids, ${idCount} ids in the index, poll every ${pollMs} ms`);
  for (const [name, samples] of [
    ['push request (201)', pushMs],
    ['201 → searchable', afterCreated],
    ['publish → searchable', total],
  ] as const) {
    const r = summarize(samples);
    if (name === 'publish → searchable') {
      recordFigures([{ bench: 'search', figure: `publish → searchable p99, ${idCount.toLocaleString('en-US')} ids in the index`, value: r.p99, unit: 'ms', target: '≤ 2,000 ms (P6)', met: r.p99 <= 2000 }]);
    }
    console.log(
      `  ${name.padEnd(22)} p50 ${formatMs(r.p50).padStart(9)}  p90 ${formatMs(r.p90).padStart(9)}  p99 ${formatMs(r.p99).padStart(9)}  max ${formatMs(r.max).padStart(9)}`,
    );
  }
}
