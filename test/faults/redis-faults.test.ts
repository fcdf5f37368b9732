/**
 * reliability.md §2 #34: Redis down, restarted empty, or flushed. PostgreSQL is the source of truth: pushes
 * keep succeeding, and the projections catch up from their durable cursors once Redis answers again; no event
 * is lost and no cursor moves back. The stack runs on a private redis-server that the test stops and flushes.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildNupkg } from '@nucat/testing';
import { CursorWatch, lastCommitTimestamp, mapLimit, useFaultRig } from '../support/faults.js';
import { describeResponse, pushRaw, readFlatVersions, readRegistrationLeaves, timestampMs } from '../support/feed.js';
import { RESTORE_PROJECTIONS } from '../support/stack.js';

const rig = useFaultRig({ privateRedis: true });

/** Every projection the worker runs by default; search must catch up too. */
const ALL_PROJECTIONS = [...RESTORE_PROJECTIONS, 'search'];
const CATCH_UP_MS = 45_000;

let watch: CursorWatch;
beforeAll(() => {
  watch = new CursorWatch(rig().stack.env['DATABASE_URL']!, rig().feedId);
});
afterAll(async () => {
  await watch?.stop();
});

/** Pushes `1.0.0` of each id (at most 4 at once); every push must answer 201. @returns the newest commit timestamp. */
async function pushAll(ids: readonly string[]): Promise<string> {
  const { stack } = rig();
  const results = await mapLimit(ids, 4, (id) => pushRaw(stack, buildNupkg({ id, version: '1.0.0' })));
  const failed = results.filter((r) => r.status !== 201).map((r) => describeResponse('PUT', 'push', r));
  expect(failed, 'every push answers 201').toEqual([]);
  return results.map((r) => r.commitTimestamp!).sort((a, b) => timestampMs(a) - timestampMs(b)).at(-1)!;
}

async function expectRestorable(ids: readonly string[]): Promise<void> {
  const { stack } = rig();
  for (const id of ids) {
    expect(await readFlatVersions(stack, id), `flat container of ${id}`).toEqual(['1.0.0']);
    expect((await readRegistrationLeaves(stack, id))?.map((l) => l.catalogEntry.version), `registration of ${id}`).toEqual(['1.0.0']);
  }
}

describe('Redis faults', () => {
  it('#34 Redis down: pushes answer 201 from PostgreSQL alone, projections catch up when Redis returns empty', async () => {
    const { stack, redis, db, feedId } = rig();
    await redis!.stop();
    const ids = Array.from({ length: 5 }, (_, i) => `Nucat.Fault.RedisDown${i}`);
    const last = await pushAll(ids);

    // Without Redis the worker cannot run a batch: the pushes are durable but not projected yet (the fault bit).
    await sleep(1_500);
    const cursors = await (await fetch(`${stack.publicUrl}/v3/cursors.json`)).json() as Record<string, string>;
    expect(timestampMs(cursors['flatcontainer'] ?? ''), 'flatcontainer cursor while Redis is down').toBeLessThan(timestampMs(last));

    await redis!.start();
    const started = Date.now();
    await stack.waitForProjection(last, ALL_PROJECTIONS, CATCH_UP_MS);
    console.info(`#34 caught up ${Date.now() - started} ms after Redis came back`);
    await expectRestorable(ids);
    expect((await lastCommitTimestamp(db, feedId)).getTime()).toBe(timestampMs(last));
  });

  it('#34 FLUSHALL while idle: the next pushes are projected', async () => {
    const { stack, redis } = rig();
    await redis!.flushAll();
    const ids = Array.from({ length: 3 }, (_, i) => `Nucat.Fault.FlushIdle${i}`);
    const last = await pushAll(ids);
    await stack.waitForProjection(last, ALL_PROJECTIONS, CATCH_UP_MS);
    await expectRestorable(ids);
  });

  it('#34 FLUSHALL while pushing: no projection lost, no cursor moved back', async () => {
    const { stack, redis } = rig();
    const ids = Array.from({ length: 20 }, (_, i) => `Nucat.Fault.FlushBusy${i}`);
    let flushes = 0;
    let pushing = true;
    const flusher = (async () => {
      while (pushing || flushes < 3) {
        await sleep(120);
        await redis!.flushAll();
        flushes++;
      }
    })();
    let last: string;
    try {
      last = await pushAll(ids);
    } finally {
      pushing = false;
      await flusher;
    }
    await stack.waitForProjection(last, ALL_PROJECTIONS, CATCH_UP_MS);
    await expectRestorable(ids);
    expect(flushes).toBeGreaterThanOrEqual(3);

    const report = await watch.stop();
    expect(report.samples, 'cursor samples taken').toBeGreaterThan(10);
    expect(report.regressions, 'cursor moves backwards').toEqual([]);
  });
});
