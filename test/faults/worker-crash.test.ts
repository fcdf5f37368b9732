/**
 * reliability.md §2 #35 and #36, and promise P5: workers die mid-batch (`kill -9`) while a second worker runs
 * the same queues (so batches are scheduled twice and jobs of the dead worker are delivered again). The
 * projections converge, no cursor ever moves back, and the result is byte-identical to a clean rebuild from an
 * empty store.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resetCursor } from '@nucat/catalog';
import { createDb } from '@nucat/db';
import { buildNupkg, waitFor } from '@nucat/testing';
import { CursorWatch, diffTrees, lastCommitTimestamp, mapLimit, readTree, useFaultRig, type CursorWatchReport } from '../support/faults.js';
import { describeResponse, pushRaw, readFlatVersions, readRegistrationLeaves } from '../support/feed.js';
import { RESTORE_PROJECTIONS } from '../support/stack.js';

// Small batches: many cursor moves, so a kill lands in the middle of the work rather than after it.
const rig = useFaultRig({ env: { NUCAT_WORKER_BATCH: '4', NUCAT_WORKER_CONCURRENCY: '4' } });

const ALL_PROJECTIONS = [...RESTORE_PROJECTIONS, 'search'];
/** 25 ids × 2 versions = 50 packages. */
const PACKAGES = Array.from({ length: 50 }, (_, i) => ({ id: `Nucat.Fault.Worker${i % 25}`, version: `1.0.${Math.floor(i / 25)}` }));
const IDS = [...new Set(PACKAGES.map((p) => p.id))];
/** A killed worker's jobs come back after BullMQ's stalled-job check (lock 30 s + check interval 30 s). */
const CONVERGE_MS = 120_000;

/** The projected trees compared byte for byte (the content blobs are the source, not a projection). */
const PROJECTED_TREES = ['flatcontainer', 'registration5-semver1', 'registration5-gz-semver1', 'registration5-gz-semver2'];

let watch: CursorWatch;
beforeAll(() => {
  watch = new CursorWatch(rig().stack.env['DATABASE_URL']!, rig().feedId, 10);
});
afterAll(async () => {
  await watch?.stop();
});

async function readProjectedTrees(dataDir: string): Promise<Map<string, Buffer>> {
  const all = new Map<string, Buffer>();
  for (const tree of PROJECTED_TREES) {
    for (const [path, bytes] of await readTree(join(dataDir, 'blobs', tree))) all.set(`${tree}/${path}`, bytes);
  }
  return all;
}

describe('workers killed mid-batch', () => {
  let report: CursorWatchReport;

  it('#35/#36 kill -9 a worker mid-batch, with a second worker on the same queues: projections converge, cursors never move back', async () => {
    const { stack, db, feedId } = rig();
    const second = await stack.startCopy('worker');

    const pushes = mapLimit(PACKAGES, 6, (p) => pushRaw(stack, buildNupkg(p)));
    pushes.catch(() => {});

    // The first cursor move: batches are running on both workers. Kill the stack's worker right there.
    await waitFor(() => (watch.current('flatcontainer') ?? 0) > 0 || (watch.current('registration') ?? 0) > 0, {
      what: 'the first projection cursor move',
      timeoutMs: 30_000,
      intervalMs: 5,
    });
    await stack.kill('worker');
    // …and the second one a moment later, in the middle of whatever it picked up, so no worker is left.
    const movedAt = Object.fromEntries(ALL_PROJECTIONS.map((p) => [p, watch.current(p) ?? 0]));
    await waitFor(() => ALL_PROJECTIONS.some((p) => (watch.current(p) ?? 0) > movedAt[p]!), {
      what: 'another cursor move on the second worker',
      timeoutMs: 3_000,
      intervalMs: 5,
    }).catch(() => undefined); // none (the batches in flight wait on the dead worker's jobs): kill it anyway
    await second.kill();

    const results = await pushes;
    const failed = results.filter((r) => r.status !== 201).map((r) => describeResponse('PUT', 'push', r));
    expect(failed, 'every push answers 201').toEqual([]);

    const started = Date.now();
    await stack.restart('worker');
    const last = await lastCommitTimestamp(db, feedId);
    await stack.waitForProjection(last.toISOString(), ALL_PROJECTIONS, CONVERGE_MS);
    console.info(`#35/#36 converged ${Date.now() - started} ms after the worker restarted`);

    for (const id of IDS) {
      const versions = PACKAGES.filter((p) => p.id === id).map((p) => p.version);
      expect(await readFlatVersions(stack, id), `flat container of ${id}`).toEqual(versions);
      expect((await readRegistrationLeaves(stack, id))?.map((l) => l.catalogEntry.version), `registration of ${id}`).toEqual(versions);
    }

    report = await watch.stop();
    expect(report.samples, 'cursor samples taken').toBeGreaterThan(10);
    expect(report.regressions, 'cursor moves backwards').toEqual([]);
  });

  it('#35 P5 the converged projections are byte-identical to a clean rebuild from the catalog', async () => {
    expect(report, 'the previous test converged').toBeDefined();
    const { stack, feedId } = rig();
    await stack.kill('worker', 'SIGTERM');
    const converged = await readProjectedTrees(stack.dataDir);
    expect(converged.size).toBeGreaterThan(IDS.length * 4);

    // A clean rebuild: empty projection trees, cursors back to the epoch, one worker replays the whole catalog.
    for (const tree of PROJECTED_TREES) await rm(join(stack.dataDir, 'blobs', tree), { recursive: true, force: true });
    const db = createDb({ url: stack.env['DATABASE_URL']!, poolSize: 1 });
    try {
      for (const projection of RESTORE_PROJECTIONS) await resetCursor(db, feedId, projection);
    } finally {
      await db.destroy();
    }
    await stack.restart('worker');
    const last = await lastCommitTimestamp(rig().db, feedId);
    await stack.waitForProjection(last.toISOString(), RESTORE_PROJECTIONS, CONVERGE_MS);

    const rebuilt = await readProjectedTrees(stack.dataDir);
    expect(diffTrees(converged, rebuilt)).toEqual([]);
  });
});
