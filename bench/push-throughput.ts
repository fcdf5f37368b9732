/**
 * Push throughput: pushes/s of 10 KB packages through the real publish API at 1, 8 and 32 concurrent
 * clients (~10 s each; quick: 2 s), with the check that the catalog holds exactly one event per 201.
 *
 * Reference, same run, same clients: the durability floor of a push — per operation one 10 KB file
 * written to a temp file, fsync'd, renamed and its folder fsync'd, then one PostgreSQL transaction
 * that locks a head row (appends are serialised, as the catalog requires), inserts a 2 KB row,
 * updates the head and commits. No HTTP, no zip, no validation: what the disk and PostgreSQL allow.
 *
 *   npx tsx bench/push-throughput.ts [--quick] [--seconds 10] [--clients 1,8,32] [--profile]
 *
 * The pushes go to a publish-api started for the benchmark (the stack's own stays idle), so its CPU
 * time per push can be reported; --profile runs it under `node --cpu-prof` and prints where the time went.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, open, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { buildNupkg } from '@nucat/testing';
import { pushRaw, type Feed } from '../test/support/feed.js';
import { summarize } from './stats.js';
import { printProfile, profilesIn, summarizeProfiles } from './support/cpu-profile.js';
import { randomBytes } from './support/random.js';
import { recordFigures, type BenchFigure } from './support/results.js';
import { heading, int, machineLine, ms, ratio, table } from './support/report.js';
import { cpuSeconds, feedOf, startApp, startBenchStack, type OwnProcess } from './support/stack-tools.js';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    seconds: { type: 'string' },
    clients: { type: 'string', default: '1,8,32' },
    profile: { type: 'boolean', default: false },
  },
});
const quick = values.quick;
const phaseSeconds = Number(values.seconds ?? (quick ? 2 : 10));
const clientCounts = values.clients.split(',').map(Number);
const PAYLOAD = randomBytes(0x10cb, 10 * 1024);

/** One measured phase. */
interface Phase {
  clients: number;
  ok: number;
  failed: Map<number, number>;
  seconds: number;
  latencies: number[];
}

/** A pool of distinct 10 KB packages, built before the clock starts. */
function createPackagePool(): { take(): Buffer; fill(n: number): void; size(): number } {
  const ready: Buffer[] = [];
  let made = 0;
  const make = () => buildNupkg({ id: `Push.Bench.Id${made % 64}`, version: `1.0.${made++}`, description: 'push throughput probe', files: { 'lib/netstandard2.0/Probe.dll': PAYLOAD } });
  return {
    take: () => ready.pop() ?? make(),
    fill(n) {
      while (ready.length < n) ready.push(make());
    },
    size: () => ready.length,
  };
}

/** Runs `clients` loops of `op` for `seconds`; an op returns the HTTP-like status it got. */
async function runPhase(clients: number, seconds: number, op: () => Promise<number>): Promise<Phase> {
  const latencies: number[] = [];
  const failed = new Map<number, number>();
  let ok = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (performance.now() < deadline) {
        const t0 = performance.now();
        const status = await op();
        if (status === 201) {
          ok += 1;
          latencies.push(performance.now() - t0);
        } else {
          failed.set(status, (failed.get(status) ?? 0) + 1);
        }
      }
    }),
  );
  return { clients, ok, failed, seconds: (performance.now() - started) / 1000, latencies };
}

/** Mean number of publish-api PostgreSQL sessions in each state over a phase. */
type SessionStates = Record<'lock wait' | 'in tx, waiting for app' | 'WAL flush' | 'running' | 'idle', number>;

/**
 * Samples `pg_stat_activity` for the publish-api's sessions (application_name nucat-publish-api)
 * every 25 ms until `stop` resolves: where a push's database time goes.
 */
function sampleSessions(databaseUrl: string): { stop(): Promise<SessionStates> } {
  const client = new pg.Client({ connectionString: databaseUrl });
  const sums: SessionStates = { 'lock wait': 0, 'in tx, waiting for app': 0, 'WAL flush': 0, running: 0, idle: 0 };
  let samples = 0;
  let done = false;
  const loop = (async () => {
    await client.connect();
    while (!done) {
      const { rows } = await client.query<{ state: string; type: string | null; event: string | null }>(
        `SELECT state, wait_event_type AS type, wait_event AS event FROM pg_stat_activity WHERE application_name = 'nucat-publish-api'`,
      );
      samples += 1;
      for (const row of rows) {
        if (row.type === 'Lock') sums['lock wait'] += 1;
        else if (row.state === 'idle in transaction') sums['in tx, waiting for app'] += 1;
        else if (row.event === 'WALSync' || row.event === 'WALWrite' || row.event === 'WALFlush') sums['WAL flush'] += 1;
        else if (row.state === 'active') sums.running += 1;
        else sums.idle += 1;
      }
      await new Promise((r) => setTimeout(r, 25));
    }
    await client.end();
  })();
  return {
    async stop() {
      done = true;
      await loop;
      return Object.fromEntries(Object.entries(sums).map(([k, v]) => [k, v / Math.max(1, samples)])) as SessionStates;
    },
  };
}

/** The durability floor (see the file comment), in the stack's own throwaway database. */
async function createFloor(databaseUrl: string, clients: number): Promise<{ op: () => Promise<number>; close(): Promise<void> }> {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: clients });
  await pool.query(`CREATE TABLE IF NOT EXISTS bench_floor_head (id int PRIMARY KEY, last timestamptz, n int NOT NULL DEFAULT 0);
    INSERT INTO bench_floor_head (id) VALUES (1) ON CONFLICT DO NOTHING;
    CREATE TABLE IF NOT EXISTS bench_floor_items (seq bigserial PRIMARY KEY, at timestamptz NOT NULL, data jsonb NOT NULL);`);
  const dir = await mkdtemp(join(tmpdir(), 'nucat-bench-floor-'));
  await mkdir(join(dir, '.tmp'));
  await mkdir(join(dir, 'blobs'));
  const row = JSON.stringify({ id: 'Push.Bench', description: 'x'.repeat(2000) });
  const fsyncDir = async (path: string) => {
    const handle = await open(path, 'r');
    await handle.sync();
    await handle.close();
  };
  return {
    async op() {
      const name = randomUUID();
      const temp = join(dir, '.tmp', name);
      const handle = await open(temp, 'w');
      await handle.writeFile(PAYLOAD);
      await handle.sync();
      await handle.close();
      await rename(temp, join(dir, 'blobs', `${name}.nupkg`));
      await fsyncDir(join(dir, 'blobs'));
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        await client.query('SELECT last FROM bench_floor_head WHERE id = 1 FOR UPDATE');
        await client.query('INSERT INTO bench_floor_items (at, data) VALUES (clock_timestamp(), $1)', [row]);
        await client.query('UPDATE bench_floor_head SET last = clock_timestamp(), n = n + 1 WHERE id = 1');
        await client.query('COMMIT');
      } finally {
        client.release();
      }
      return 201;
    },
    async close() {
      await pool.end();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

console.log(`push throughput: ${await machineLine()}`);
console.log(`  10 KB packages (${buildNupkg({ id: 'Push.Bench.Id0', version: '1.0.0', files: { 'lib/netstandard2.0/Probe.dll': PAYLOAD } }).length} bytes), ${phaseSeconds} s per phase, clients ${clientCounts.join(', ')}`);
const stack = await startBenchStack({ projections: ['flatcontainer', 'registration', 'search'] });
let publisher: (OwnProcess & { url: string }) | undefined;
const profileDir = values.profile ? await mkdtemp(join(tmpdir(), 'nucat-bench-prof-')) : undefined;
try {
  let feed: Feed = feedOf(stack);
  // Pushes go to a publish-api of our own (the stack's stays idle), so its CPU time can be read.
  publisher = await startApp(stack, 'publish-api', profileDir ? { nodeFlags: ['--cpu-prof', `--cpu-prof-dir=${profileDir}`], logFile: join(profileDir, 'publish-api.log') } : {});
  feed = { ...feed, publishUrl: publisher.url };
  const packages = createPackagePool();
  // Warm-up (JIT, pools, first id creation), not counted in the phases; counted in the catalog check.
  let created = 0;
  const warm = await runPhase(4, 1, async () => (await pushRaw(feed, packages.take())).status);
  created += warm.ok;

  heading('pushes/s: nucat publish-api vs the durability floor');
  const rows: string[][] = [];
  const failures: string[] = [];
  const sessionRows: string[][] = [];
  const figures: BenchFigure[] = [];
  let expectedRate = 50;
  for (const clients of clientCounts) {
    packages.fill(Math.ceil(expectedRate * 2 * phaseSeconds));
    const sampler = sampleSessions(stack.env['DATABASE_URL']!);
    const cpuBefore = cpuSeconds(publisher.pid) ?? Number.NaN;
    const nucat = await runPhase(clients, phaseSeconds, async () => {
      const result = await pushRaw(feed, packages.take());
      if (result.status !== 201 && failures.length < 5) failures.push(`${result.status} ${result.text.slice(0, 200)}`);
      return result.status;
    });
    const cpuPerPush = (((cpuSeconds(publisher.pid) ?? Number.NaN) - cpuBefore) * 1000) / Math.max(1, nucat.ok);
    sessionRows.push([String(clients), ...Object.values(await sampler.stop()).map((v) => v.toFixed(2))]);
    created += nucat.ok;
    expectedRate = Math.max(expectedRate, nucat.ok / nucat.seconds);
    const floor = await createFloor(stack.env['DATABASE_URL']!, clients);
    let floorPhase: Phase;
    try {
      floorPhase = await runPhase(clients, quick ? Math.min(2, phaseSeconds) : phaseSeconds, floor.op);
    } finally {
      await floor.close();
    }
    const a = summarize(nucat.latencies);
    const f = summarize(floorPhase.latencies);
    const rate = nucat.ok / nucat.seconds;
    const floorRate = floorPhase.ok / floorPhase.seconds;
    const errors = [...nucat.failed].map(([status, n]) => `${n}×${status}`).join(' ') || '0';
    figures.push({
      bench: 'push-throughput',
      figure: `pushes/s, 10 KB packages, ${clients} client(s)`,
      value: rate,
      unit: 'pushes/s',
      reference: floorRate,
      referenceName: 'durability floor',
      ...(clients === 32 ? { target: '≥ 200 pushes/s', met: rate >= 200 } : {}),
    });
    rows.push([String(clients), int(nucat.ok), errors, int(rate), ms(a.p50), ms(a.p99), ms(cpuPerPush), int(floorRate), ms(f.p50), ms(f.p99), ratio(rate, floorRate)]);
  }
  console.log(table(['clients', '201s', 'errors', 'pushes/s', 'p50', 'p99', 'CPU/push', 'floor ops/s', 'floor p50', 'floor p99', 'nucat/floor'], rows));
  console.log('  CPU/push = CPU time of the publish-api process (all threads) per 201.');
  for (const failure of failures) console.log(`  ! ${failure}`);
  console.log('\n  publish-api PostgreSQL sessions during each nucat phase (mean count, pg_stat_activity sampled every 25 ms):');
  console.log(table(['clients', 'lock wait', 'in tx, waiting for app', 'WAL flush', 'running', 'idle'], sessionRows));
  console.log('  "lock wait" = blocked on the catalog head row; "in tx, waiting for app" = the transaction holding it waits for the next statement from Node.');

  heading('catalog check: exactly one catalog event per 201');
  const client = new pg.Client({ connectionString: stack.env['DATABASE_URL'] });
  await client.connect();
  try {
    const { rows: counts } = await client.query<{ items: number; distinct: number; commits: number }>(
      `SELECT count(*)::int AS items, count(DISTINCT (lower_id, lower_version))::int AS distinct,
              (SELECT count(*)::int FROM catalog_commits c JOIN feeds f ON f.id = c.feed_id WHERE f.name = 'main') AS commits
       FROM catalog_items i JOIN feeds f ON f.id = i.feed_id WHERE f.name = 'main'`,
    );
    const { items, distinct, commits } = counts[0]!;
    const verdict = items === created && distinct === created && commits === created ? 'OK' : 'MISMATCH';
    console.log(`  201s ${int(created)} · catalog items ${int(items)} · distinct id+version ${int(distinct)} · commits ${int(commits)} → ${verdict}`);
    if (verdict !== 'OK') process.exitCode = 1;
    figures.push({ bench: 'push-throughput', figure: 'catalog events per 201', value: items / created, unit: '', target: 'exactly 1', met: verdict === 'OK' });
    recordFigures(figures);
  } finally {
    await client.end();
  }
} finally {
  await publisher?.stop();
  await stack.stop();
}
if (profileDir) {
  printProfile('publish-api CPU profile (all phases)', await summarizeProfiles(await profilesIn(profileDir)));
  console.log(`  profiles and log kept in ${profileDir}`);
}
