/**
 * Publish → restorable and publish → searchable latency, idle and under read load.
 *
 * Pushes packages one at a time through the real publish API of a fresh stack (all three
 * projections running) and, for each, polls the read API until it is
 * - restorable: the flat container's index.json lists the version and its .nupkg answers (the two
 *   requests restore makes), and
 * - searchable: `/v3/query?q=packageid:<id>` lists the version.
 * Each push is a new version of one id (its index grows as it would in a real feed) and a new id
 * every tenth push (search indexes new ids as well as new versions).
 *
 * Two phases: idle, then the same pushes while wrk (one thread, 16 keep-alive connections) keeps
 * reading the feed (service index, flat container index.json, registration index and .nupkg of the
 * probe ids). The reference is the idle phase: the loaded/idle ratio says what read traffic costs
 * the write path.
 *
 *   npx tsx bench/publish-latency.ts [--quick] [--pushes 120] [--poll-ms 2] [--connections 16]
 */
import { parseArgs } from 'node:util';
import { buildNupkg } from '@nucat/testing';
import { startStack, type Stack } from '../test/support/stack.js';
import { pushRaw } from '../test/support/feed.js';
import { summarize } from './stats.js';
import { heading, int, machineLine, ms, ratio, table } from './support/report.js';
import { recordFigures } from './support/results.js';
import { runWrk, type LoadResult } from './support/wrk.js';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    pushes: { type: 'string' },
    'poll-ms': { type: 'string', default: '2' },
    connections: { type: 'string', default: '16' },
  },
});
const pushes = Number(values.pushes ?? (values.quick ? 40 : 120));
const pollMs = Number(values['poll-ms']);
const connections = Number(values.connections);
/** A push not visible after this long fails the benchmark (something is broken, not slow). */
const VISIBLE_TIMEOUT_MS = 30_000;

interface Sample {
  push: number;
  restorable: number;
  searchable: number;
}

console.log(`publish latency: ${await machineLine()}`);
const stack = await startStack();
const feed = { serviceIndexUrl: stack.serviceIndexUrl, publishUrl: stack.publishUrl, apiKey: stack.apiKey };

async function restorable(s: Stack, lowerId: string, version: string): Promise<boolean> {
  const index = await fetch(`${s.publicUrl}/v3/flatcontainer/${lowerId}/index.json`);
  if (!index.ok) {
    await index.arrayBuffer();
    return false;
  }
  if (!((await index.json()) as { versions: string[] }).versions.includes(version)) return false;
  const nupkg = await fetch(`${s.publicUrl}/v3/flatcontainer/${lowerId}/${version}/${lowerId}.${version}.nupkg`, { method: 'HEAD' });
  return nupkg.ok;
}

async function searchable(s: Stack, id: string, version: string): Promise<boolean> {
  const response = await fetch(`${s.publicUrl}/v3/query?q=${encodeURIComponent(`packageid:${id}`)}&prerelease=true&semVerLevel=2.0.0`);
  if (!response.ok) {
    await response.arrayBuffer();
    return false;
  }
  const body = (await response.json()) as { data: { versions: { version: string }[] }[] };
  return body.data.some((hit) => hit.versions.some((v) => v.version === version));
}

/** Pushes `count` packages one at a time; for each, the push time and the time until restorable and searchable. */
async function measure(phase: string, count: number): Promise<Sample[]> {
  const samples: Sample[] = [];
  for (let i = 0; i < count; i++) {
    const id = `Bench.Latency.${phase}${Math.floor(i / 10)}`;
    const lowerId = id.toLowerCase();
    const version = `1.0.${i % 10}`;
    const nupkg = buildNupkg({ id, version, description: 'Publish latency probe.', tags: 'bench probe' });
    const t0 = performance.now();
    const pushed = await pushRaw(feed, nupkg);
    const t1 = performance.now();
    if (pushed.status !== 201) throw new Error(`push ${id} ${version} answered ${pushed.status}: ${pushed.text}`);
    let restorableAt: number | undefined;
    let searchableAt: number | undefined;
    while (restorableAt === undefined || searchableAt === undefined) {
      const [r, s] = await Promise.all([
        restorableAt === undefined ? restorable(stack, lowerId, version) : true,
        searchableAt === undefined ? searchable(stack, id, version) : true,
      ]);
      const now = performance.now();
      if (r && restorableAt === undefined) restorableAt = now;
      if (s && searchableAt === undefined) searchableAt = now;
      if (now - t1 > VISIBLE_TIMEOUT_MS) {
        throw new Error(`${id} ${version}: not ${restorableAt === undefined ? 'restorable' : 'searchable'} ${VISIBLE_TIMEOUT_MS} ms after its 201\n${stack.logs()}`);
      }
      if (restorableAt === undefined || searchableAt === undefined) await new Promise((done) => setTimeout(done, pollMs));
    }
    samples.push({ push: t1 - t0, restorable: restorableAt - t0, searchable: searchableAt - t0 });
  }
  return samples;
}

/** Runs `work` while wrk reads the feed, in back-to-back 2 s runs; returns both results. */
async function underReadLoad<T>(paths: readonly string[], work: () => Promise<T>): Promise<{ result: T; load: LoadResult[] }> {
  let done = false;
  const load: LoadResult[] = [];
  const loader = (async () => {
    while (!done) load.push(await runWrk({ baseUrl: stack.publicUrl, paths, connections, seconds: 2, headers: { 'Accept-Encoding': 'gzip, deflate' } }));
  })();
  try {
    return { result: await work(), load };
  } finally {
    done = true;
    await loader;
  }
}

try {
  // Warm-up (not reported): JIT, connection pools, the first projection of an id.
  await measure('Warmup', 5);

  heading(`idle: ${pushes} sequential pushes, poll every ${pollMs} ms`);
  const idle = await measure('Idle', pushes);

  // The read load: what restore and IDEs fetch, over ids that exist.
  const readPaths = ['/v3/index.json'];
  for (let i = 0; i * 10 < pushes; i++) {
    const lowerId = `bench.latency.idle${i}`;
    readPaths.push(
      `/v3/flatcontainer/${lowerId}/index.json`,
      `/v3/registration5-gz-semver2/${lowerId}/index.json`,
      `/v3/flatcontainer/${lowerId}/1.0.0/${lowerId}.1.0.0.nupkg`,
    );
  }
  heading(`under read load: the same pushes while wrk reads the feed with ${connections} keep-alive connections`);
  const { result: loaded, load } = await underReadLoad(readPaths, () => measure('Loaded', pushes));
  const requests = load.reduce((sum, r) => sum + r.requests, 0);
  const loadSeconds = load.reduce((sum, r) => sum + r.seconds, 0);
  const loadErrors = load.reduce((sum, r) => sum + r.errors, 0);
  console.log(`  read load: ${int(requests / loadSeconds)} req/s over ${loadSeconds.toFixed(0)} s, ${loadErrors} errors, p99 ${ms(Math.max(...load.map((r) => r.p99Ms)))} (worst 2 s run)`);

  const rows: string[][] = [];
  const figures: Parameters<typeof recordFigures>[0][number][] = [];
  for (const [what, pick, p99Target] of [
    ['push request (201)', (s: Sample) => s.push, undefined],
    ['publish → restorable', (s: Sample) => s.restorable, 250],
    ['publish → searchable', (s: Sample) => s.searchable, 2000],
  ] as const) {
    const a = summarize(idle.map(pick));
    const b = summarize(loaded.map(pick));
    rows.push([what, ms(a.p50), ms(a.p99), ms(a.max), ms(b.p50), ms(b.p99), ms(b.max), ratio(b.p50, a.p50), ratio(b.p99, a.p99)]);
    if (p99Target !== undefined) {
      figures.push({
        bench: 'publish-latency',
        figure: `${what} p99, idle`,
        value: a.p99,
        unit: 'ms',
        target: `p99 ≤ ${p99Target} ms${what.endsWith('restorable') ? ' idle' : ''}`,
        met: a.p99 <= p99Target,
      });
      figures.push({ bench: 'publish-latency', figure: `${what} p99, under read load`, value: b.p99, unit: 'ms', reference: a.p99, referenceName: 'idle' });
    }
  }
  heading('summary (ms from the start of the push request)');
  console.log(table(['what', 'idle p50', 'idle p99', 'idle max', 'loaded p50', 'loaded p99', 'loaded max', 'p50 ×', 'p99 ×'], rows));
  console.log('  × = under read load / idle. Targets: restorable p99 ≤ 250 ms idle (issue 5); searchable p99 ≤ 2 s (reliability P6).');
  recordFigures(figures);
} finally {
  await stack.stop();
}
