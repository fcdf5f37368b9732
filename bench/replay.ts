/**
 * Catalog replay: rebuild the restore projections (flat container, registration) from the catalog and
 * measure leaves/s at 1, 10 and 1,000 versions per id — one fresh stack (feed) per shape, the same
 * number of leaves in each (2,000; quick: 200; the 1,000-version shape has at least one whole id).
 * The per-leaf cost must not grow much with versions per id.
 *
 * Per shape: the catalog is filled (support/catalog-fill.ts: the publish libraries, 100 leaves per
 * commit, worker stopped). Then, for each projection, a worker running only that projection (default
 * concurrency and batch size) is started with its cursor at the head; its projected trees are deleted,
 * `resetCursor` (@nucat/catalog) sets it back to the start, a catalog notification wakes the worker,
 * and it is timed until its cursor is back at the head. Reported: leaves/s, wall and worker-CPU ms per
 * leaf, files written. References, same run: the 1-version shape (the per-leaf cost ratio), and the
 * disk floor — durable small-file writes/s (temp file, fsync, rename, folder fsync) at the worker's
 * concurrency.
 *
 * Then, on the 1,000-version feed, the incremental cost: more versions (10; quick: 3) pushed one at a
 * time through the publish API to the 1,000-version id and to a new id, each timed from its 201 until
 * both projections have it.
 *
 *   npx tsx bench/replay.ts [--quick] [--leaves N] [--incremental N] [--profile]
 */
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, open, readdir, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { sql } from 'kysely';
import { CATALOG_NOTIFY_CHANNEL, findFeedId, getCursor, resetCursor } from '@nucat/catalog';
import { createDb, type Db } from '@nucat/db';
import { createFilesystemBlobStore } from '@nucat/storage';
import { buildNupkg } from '@nucat/testing';
import { pushRaw } from '../test/support/feed.js';
import type { Stack } from '../test/support/stack.js';
import { fillCatalog } from './support/catalog-fill.js';
import { createCorpus } from './support/corpus.js';
import { printProfile, profilesIn, summarizeProfiles } from './support/cpu-profile.js';
import { recordFigures, type BenchFigure } from './support/results.js';
import { heading, int, machineLine, median, ms, ratio, seconds, table } from './support/report.js';
import { cpuSeconds, feedOf, readCursors, startApp, startBenchStack, waitForProjections } from './support/stack-tools.js';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    leaves: { type: 'string' },
    profile: { type: 'boolean', default: false },
    incremental: { type: 'string' },
  },
});
const quick = values.quick;
const leaves = Number(values.leaves ?? (quick ? 200 : 2000));
const incrementalPushes = Number(values.incremental ?? (quick ? 3 : 10));
const SHAPES = [1, 10, 1000];
const PROJECTIONS = ['flatcontainer', 'registration'] as const;
const WORKER_CONCURRENCY = 4; // the worker's default (NUCAT_WORKER_CONCURRENCY)

/** Trees each projection writes under the blob root. */
const TREES: Record<(typeof PROJECTIONS)[number], string[]> = {
  flatcontainer: ['flatcontainer'],
  registration: ['registration5-semver1', 'registration5-gz-semver1', 'registration5-gz-semver2'],
};

interface PassResult {
  versionsPerId: number;
  ids: number;
  projection: string;
  seconds: number;
  workerCpuSeconds: number;
  files: number;
}

async function countFiles(dir: string): Promise<number> {
  let n = 0;
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true }).catch(() => [])) if (entry.isFile()) n += 1;
  return n;
}

/** Durable small-file writes per second at `concurrency` (the disk floor of a projection). */
async function measureDiskFloor(concurrency: number, secondsToRun: number): Promise<number> {
  const dir = await mkdtemp(join(tmpdir(), 'nucat-bench-disk-'));
  await mkdir(join(dir, 'tmp'));
  await mkdir(join(dir, 'out'));
  const body = Buffer.alloc(1500, 'x');
  let done = 0;
  const deadline = performance.now() + secondsToRun * 1000;
  const started = performance.now();
  try {
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (performance.now() < deadline) {
          const name = randomUUID();
          const handle = await open(join(dir, 'tmp', name), 'w');
          await handle.writeFile(body);
          await handle.sync();
          await handle.close();
          await rename(join(dir, 'tmp', name), join(dir, 'out', name));
          const folder = await open(join(dir, 'out'), 'r');
          await folder.sync();
          await folder.close();
          done += 1;
        }
      }),
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return done / ((performance.now() - started) / 1000);
}

/**
 * Replays `projection`: a worker running it alone is started while its cursor is at the head (nothing
 * to do); then its trees are deleted, `resetCursor` sets it back to the start and a catalog
 * notification wakes the worker; timed from there until the cursor is back at the head.
 */
async function replayPass(stack: Stack, db: Db, feedId: number, projection: (typeof PROJECTIONS)[number], lastCommit: Date, profileDir?: string): Promise<{ seconds: number; cpu: number; files: number }> {
  const blobs = join(stack.dataDir, 'blobs');
  await getCursor(db, feedId, projection); // creates the row when missing
  await db.updateTable('projection_cursors').set({ cursor: lastCommit }).where('feed_id', '=', feedId).where('projection', '=', projection).execute();
  const worker = await startApp(stack, 'worker', {
    logFile: join(stack.dataDir, `worker-${projection}.log`),
    args: ['--projections', projection],
    ...(profileDir ? { nodeFlags: ['--cpu-prof', `--cpu-prof-dir=${join(profileDir, projection)}`] } : {}),
  });
  try {
    for (const tree of TREES[projection]) await rm(join(blobs, tree), { recursive: true, force: true });
    await resetCursor(db, feedId, projection);
    const cpuBefore = cpuSeconds(worker.pid) ?? Number.NaN;
    const started = performance.now();
    await sql`SELECT pg_notify(${CATALOG_NOTIFY_CHANNEL}, ${String(feedId)})`.execute(db);
    await waitForProjections(stack, lastCommit.toISOString(), [projection]);
    const elapsed = (performance.now() - started) / 1000;
    const cpu = (cpuSeconds(worker.pid) ?? Number.NaN) - cpuBefore;
    let files = 0;
    for (const tree of TREES[projection]) files += await countFiles(join(blobs, tree));
    return { seconds: elapsed, cpu, files };
  } finally {
    await worker.stop();
  }
}

/** Pushes `count` versions of `id` one at a time; returns ms from each 201 until both projections have it. */
async function incremental(stack: Stack, id: string, firstPatch: number, count: number): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    const nupkg = buildNupkg({ id, version: `99.0.${firstPatch + i}`, description: 'incremental replay probe' });
    const pushed = await pushRaw(feedOf(stack), nupkg);
    const t0 = performance.now();
    if (pushed.status !== 201) throw new Error(`push ${id} answered ${pushed.status}: ${pushed.text}`);
    await waitForProjections(stack, pushed.commitTimestamp!, PROJECTIONS, 120_000);
    samples.push(performance.now() - t0);
  }
  return samples;
}

console.log(`replay: ${await machineLine()}`);
console.log(`  ${leaves} leaves per shape (at least one id); worker concurrency ${WORKER_CONCURRENCY}, batch 500 (defaults)`);
const profileRoot = values.profile ? await mkdtemp(join(tmpdir(), 'nucat-bench-prof-')) : undefined;
const results: PassResult[] = [];
let incrementalRows: string[][] = [];
let incrementalFigure: BenchFigure | undefined;
for (const versionsPerId of SHAPES) {
  const ids = Math.max(1, Math.round(leaves / versionsPerId)); // the 1,000-version shape has at least 1,000 leaves
  const corpus = createCorpus({ seed: 7 + versionsPerId, ids, versionsPerId, dependencies: false, prefix: `Replay${versionsPerId}` });
  heading(`${versionsPerId} version(s) per id: ${int(ids)} ids × ${versionsPerId} = ${int(corpus.totalVersions)} leaves`);
  const stack = await startBenchStack();
  const db = createDb({ url: stack.env['DATABASE_URL']! });
  const store = createFilesystemBlobStore({ root: join(stack.dataDir, 'blobs') });
  try {
    await stack.kill('worker', 'SIGTERM');
    const feedId = (await findFeedId(db, 'main'))!;
    const fill = await fillCatalog(db, store, feedId, corpus);
    console.log(`  catalog filled: ${int(fill.leaves)} leaves in ${fill.commits} commits, ${seconds(fill.seconds)}`);
    for (const projection of PROJECTIONS) {
      const profileDir = profileRoot ? join(profileRoot, `v${versionsPerId}`) : undefined;
      const pass = await replayPass(stack, db, feedId, projection, fill.lastCommit, profileDir);
      results.push({ versionsPerId, ids, projection, seconds: pass.seconds, workerCpuSeconds: pass.cpu, files: pass.files });
      console.log(`  ${projection.padEnd(14)} ${seconds(pass.seconds)} → ${int(fill.leaves / pass.seconds)} leaves/s, worker CPU ${seconds(pass.cpu)}, ${int(pass.files)} files`);
    }
    if (versionsPerId === SHAPES.at(-1) && incrementalPushes > 0) {
      // Incremental cost of one more version, on a big id and on a small one (worker with both projections).
      await stack.restart('worker');
      const cursors = await readCursors(stack);
      if (PROJECTIONS.some((p) => (cursors[p] ?? 0) < fill.lastCommit.getTime())) throw new Error('projections are behind before the incremental test');
      const big = corpus.ids[0]!;
      const bigSamples = await incremental(stack, big.id, 0, incrementalPushes);
      const smallSamples = await incremental(stack, 'Replay.Incremental.Small', 0, incrementalPushes);
      incrementalRows = [
        [`${big.id} (${big.versions.length}+ versions)`, String(incrementalPushes), ms(median(bigSamples)), ms(Math.max(...bigSamples))],
        ['a new id (1–' + incrementalPushes + ' versions)', String(incrementalPushes), ms(median(smallSamples)), ms(Math.max(...smallSamples))],
      ];
      incrementalRows.push(['ratio big / small', '', ratio(median(bigSamples), median(smallSamples)), '']);
      incrementalFigure = {
        bench: 'replay',
        figure: `one more version of a ${big.versions.length}-version id, 201 → projected (median)`,
        value: median(bigSamples),
        unit: 'ms',
        reference: median(smallSamples),
        referenceName: 'a new small id',
        target: 'must not grow with versions/id',
        met: median(bigSamples) <= 2 * median(smallSamples),
      };
    }
  } finally {
    await store.close();
    await db.destroy();
    await stack.stop();
  }
}

heading('disk floor (reference)');
const floor = await measureDiskFloor(WORKER_CONCURRENCY, quick ? 2 : 4);
console.log(`  ${int(floor)} durable small-file writes/s at concurrency ${WORKER_CONCURRENCY} (temp file + fsync + rename + folder fsync)`);

heading('replay: leaves/s per projection, by versions per id');
const rows: string[][] = [];
for (const r of results) {
  const leavesDone = r.ids * r.versionsPerId;
  const base = results.find((b) => b.projection === r.projection && b.versionsPerId === SHAPES[0])!;
  const baseLeaves = base.ids * base.versionsPerId;
  const perLeaf = (r.seconds * 1000) / leavesDone;
  const basePerLeaf = (base.seconds * 1000) / baseLeaves;
  rows.push([
    r.projection,
    String(r.versionsPerId),
    int(leavesDone),
    seconds(r.seconds),
    int(leavesDone / r.seconds),
    ms(perLeaf),
    ms((r.workerCpuSeconds * 1000) / leavesDone),
    (r.files / leavesDone).toFixed(1),
    int(r.files / r.seconds),
    ratio(r.files / r.seconds, floor),
    ratio(perLeaf, basePerLeaf),
  ]);
}
const figures: BenchFigure[] = [];
for (const v of SHAPES) {
  const both = results.filter((r) => r.versionsPerId === v);
  const leavesDone = both[0]!.ids * v;
  const total = both.reduce((s, r) => s + r.seconds, 0);
  const base = results.filter((r) => r.versionsPerId === SHAPES[0]);
  const baseTotal = base.reduce((s, r) => s + r.seconds, 0) / (base[0]!.ids * SHAPES[0]!);
  const target = v === 1 ? 5000 : v >= 1000 ? 1000 : undefined;
  figures.push({
    bench: 'replay',
    figure: `replay flat container + registration, ${v} version(s)/id, leaves/s`,
    value: leavesDone / total,
    unit: 'leaves/s',
    ...(target !== undefined ? { target: `≥ ${int(target)} leaves/s`, met: leavesDone / total >= target } : {}),
  });
  if (v !== SHAPES[0]) {
    figures.push({
      bench: 'replay',
      figure: `replay ms/leaf at ${v} versions/id vs 1/id`,
      value: (total * 1000) / leavesDone,
      unit: 'ms',
      reference: baseTotal * 1000,
      referenceName: '1 version/id',
      target: 'must not grow (≤ 1×)',
      met: total / leavesDone <= baseTotal * 1.1,
    });
  }
  rows.push(['both (sum)', String(v), int(leavesDone), seconds(total), int(leavesDone / total), ms((total * 1000) / leavesDone), ms((both.reduce((s, r) => s + r.workerCpuSeconds, 0) * 1000) / leavesDone), (both.reduce((s, r) => s + r.files, 0) / leavesDone).toFixed(1), '', '', ratio(total / leavesDone, baseTotal)]);
}
console.log(table(['projection', 'versions/id', 'leaves', 'time', 'leaves/s', 'ms/leaf', 'worker CPU ms/leaf', 'files/leaf', 'files/s', 'files/s ÷ disk floor', 'ms/leaf × vs 1/id'], rows));
recordFigures(incrementalFigure ? [...figures, incrementalFigure] : figures);
if (incrementalRows.length > 0) {
  heading('incremental: one more version, 201 → flat container and registration projected');
  console.log(table(['id', 'pushes', 'median', 'max'], incrementalRows));
}
if (profileRoot) {
  for (const v of SHAPES) {
    for (const projection of PROJECTIONS) {
      const files = await profilesIn(join(profileRoot, `v${v}`, projection));
      if (files.length > 0) printProfile(`worker CPU profile, ${projection}, ${v} version(s)/id`, await summarizeProfiles(files), 10);
    }
  }
  console.log(`  profiles kept in ${profileRoot}`);
}
