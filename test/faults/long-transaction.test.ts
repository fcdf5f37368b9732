/**
 * reliability.md §2 #41: a long-running transaction. nucat orders its catalog with a serialised append (§1
 * fix 1: the feed's catalog head row is locked FOR UPDATE for the append), not with transaction-id
 * visibility, so the two shapes of "a long transaction" behave differently:
 *
 * - A session that holds an old snapshot open (it pins xmin) stops nothing: pushes commit, the worker
 *   projects them, `nucat status` shows no lag, and a catalog reader sees every event once.
 * - A session that holds the catalog head lock (a stuck appender — here a real push held inside its append
 *   by a trigger gate, after it took its commit timestamp) makes other writes wait; each gives up after the
 *   publish API's bounded lock wait (NUCAT_PUBLISH_LOCK_TIMEOUT_MS, 1.5 s here) and answers 503 with
 *   Retry-After instead of hanging. The late commit carries the timestamp it took when it locked the head,
 *   so once it commits, the projection lag (`nucat status`, the read node's `/ready`) counts the whole time
 *   it was stuck; it is projected, and so is everything committed after it, nothing skipped.
 */
import pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildNupkg, waitFor } from '@nucat/testing';
import { backendsOf, CatalogFollower, lastCommitTimestamp, mapLimit, useFaultRig } from '../support/faults.js';
import { describeResponse, pushRaw, readFlatVersions, request, timestampMs, unlistRaw, type PushResult } from '../support/feed.js';

const LOCK_TIMEOUT_MS = 1_500;
const rig = useFaultRig({ env: { NUCAT_PUBLISH_LOCK_TIMEOUT_MS: String(LOCK_TIMEOUT_MS), NUCAT_READY_MAX_LAG_SECONDS: '1' } });
const ALL_PROJECTIONS = ['flatcontainer', 'registration', 'search'];

/** `nucat status --json`, as far as these tests read it. */
interface StatusJson {
  catalogHead: string | null;
  projections: { projection: string; cursor: string; lagCommits: number; pendingSeconds: number }[];
  errors: string[];
}

async function status(): Promise<StatusJson> {
  const result = await rig().stack.cli(['status', '--json']);
  expect(result.code, `nucat status --json: ${result.stderr}`).toBe(0);
  return JSON.parse(result.stdout) as StatusJson;
}

let follower: CatalogFollower;
beforeAll(async () => {
  follower = await CatalogFollower.of(rig().stack);
  await follower.runOnce();
});

/** Runs the follower until it has processed `count` items in all (or gives up after a minute). */
async function followUntil(count: number): Promise<void> {
  await waitFor(
    async () => {
      await follower.runOnce();
      return follower.processed.length >= count;
    },
    { what: `the catalog follower to see ${count} items (has ${follower.processed.length})`, timeoutMs: 60_000, intervalMs: 50 },
  );
  for (let i = 0; i < 2; i++) await follower.runOnce(); // anything appearing now behind the cursor would be a duplicate
}

describe('a long-running transaction', () => {
  let committed = 0;

  it('#41 long-running transaction: a session holding an old snapshot (xmin) open stops neither pushes nor projections, and nothing is skipped', async () => {
    const { stack, db, feedId } = rig();
    const holder = new pg.Client({ connectionString: stack.env['DATABASE_URL'] });
    await holder.connect();
    try {
      await holder.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
      const before = Number((await holder.query<{ n: string }>('SELECT count(*) AS n FROM catalog_items')).rows[0]!.n);
      const pid = (await holder.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
      const xminHeld = async () =>
        (await db.query<{ xmin: string | null }>('SELECT backend_xmin AS xmin FROM pg_stat_activity WHERE pid = $1', [pid])).rows[0]?.xmin ?? null;
      expect(await xminHeld(), 'the holder pins xmin').not.toBeNull();

      const results = await mapLimit(Array.from({ length: 12 }, (_, i) => i), 4, (i) => pushRaw(stack, buildNupkg({ id: `Nucat.Fault.Xmin${i % 3}`, version: `1.0.${i}` })));
      expect(results.filter((r) => r.status !== 201).map((r) => describeResponse('PUT', 'push', r)), 'every push answers 201').toEqual([]);
      committed += results.length;
      const last = await lastCommitTimestamp(db, feedId);
      await stack.waitForProjection(last.toISOString(), ALL_PROJECTIONS);

      // Still inside the old snapshot: nothing waits on it.
      expect(await xminHeld(), 'the holder still pins xmin').not.toBeNull();
      expect(Number((await holder.query<{ n: string }>('SELECT count(*) AS n FROM catalog_items')).rows[0]!.n), 'the holder sees its old snapshot').toBe(before);
      const report = await status();
      for (const p of report.projections) expect(p, p.projection).toMatchObject({ lagCommits: 0, cursor: report.catalogHead });
      await followUntil(committed);
      expect(follower.processed, 'every push seen once by the catalog reader').toHaveLength(committed);
    } finally {
      await holder.query('COMMIT').catch(() => {});
      await holder.end();
    }
  });

  it('#41 stuck appender: pushes behind a session holding the catalog head lock answer 503 + Retry-After after a bounded wait; the late commit shows as projection lag and nothing is skipped', async () => {
    const { stack, db, feedId } = rig();
    // A gate inside the append: a push of Nucat.Fault.Stuck stops when inserting its catalog item — after it
    // locked the catalog head and took its commit timestamp — until the gate opens.
    await db.query('CREATE TABLE fault_gate (open boolean NOT NULL)');
    await db.query('INSERT INTO fault_gate VALUES (false)');
    await db.query(`
      CREATE FUNCTION fault_wait_at_gate() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        WHILE NOT (SELECT open FROM fault_gate LIMIT 1) LOOP PERFORM pg_sleep(0.02); END LOOP;
        RETURN NEW;
      END $$`);
    await db.query(`CREATE TRIGGER fault_gate BEFORE INSERT ON catalog_items FOR EACH ROW
                    WHEN (NEW.lower_id = 'nucat.fault.stuck') EXECUTE FUNCTION fault_wait_at_gate()`);
    const headBefore = await lastCommitTimestamp(db, feedId);

    const stuck = pushRaw(stack, buildNupkg({ id: 'Nucat.Fault.Stuck', version: '1.0.0' }));
    stuck.catch(() => {});
    let gateOpen = false;
    const openGate = async () => {
      if (gateOpen) return;
      gateOpen = true;
      await db.query('UPDATE fault_gate SET open = true');
    };
    try {
      await waitFor(async () => (await backendsOf(db, 'publish-api')).some((b) => b.waitEvent === 'PgSleep'), {
        what: 'the stuck push to hold the catalog head, waiting at the gate',
        timeoutMs: 30_000,
        intervalMs: 20,
      });

      // Other writes queue behind it, then give up: 503 with Retry-After, never a hang or a 500.
      const blocked = await Promise.all([
        ...Array.from({ length: 4 }, (_, i) => pushRaw(stack, buildNupkg({ id: 'Nucat.Fault.Behind', version: `1.0.${i}` }))),
        unlistRaw(stack, 'Nucat.Fault.Xmin0', '1.0.0'),
      ]);
      for (const result of blocked) {
        expect(result.status, describeResponse('write', 'behind the stuck appender', result)).toBe(503);
        expect(Number(result.headers.get('retry-after')), 'Retry-After').toBeGreaterThan(0);
        expect(JSON.parse(result.text)).toMatchObject({ error: { code: 'unavailable', message: expect.stringMatching(/catalog is busy/), details: { reason: 'catalog_busy' } } });
      }
      expect((await backendsOf(db, 'publish-api')).filter((b) => b.waitEventType === 'Lock'), 'writes still waiting on a lock').toEqual([]);
      const metrics = (await request(`${stack.publishUrl}/metrics`)).text;
      const unavailable = /^nucat_pushes_total\{[^}]*result="unavailable"[^}]*\} (\d+)/m.exec(metrics);
      expect(Number(unavailable?.[1] ?? 0), 'nucat_pushes_total{result="unavailable"}').toBeGreaterThanOrEqual(4);

      // Readers are not blocked by the lock: status answers, and nothing uncommitted shows as lag.
      const during = await status();
      expect(timestampMs(during.catalogHead!)).toBe(headBefore.getTime());
      for (const p of during.projections) expect(p, p.projection).toMatchObject({ lagCommits: 0 });

      // The stuck appender commits while no worker runs: the lag it caused becomes visible.
      await stack.kill('worker', 'SIGTERM');
      await openGate();
      const late = await stuck;
      expect(late.status, describeResponse('PUT', 'the stuck push', late)).toBe(201);
      const after = await status();
      for (const p of after.projections) {
        expect(p.lagCommits, `${p.projection} commits behind`).toBe(1);
        // Its commit timestamp was taken before the other writes started their 1.5 s waits.
        expect(p.pendingSeconds, `${p.projection} pending seconds`).toBeGreaterThanOrEqual(LOCK_TIMEOUT_MS / 1000);
      }
      const ready = await request(`${stack.publicUrl}/ready`);
      expect(ready.status, `read node /ready while the late commit waits: ${ready.text}`).toBe(503);
      expect(ready.text).toMatch(/projections/);
    } finally {
      await openGate();
    }

    // The clients retry (Retry-After): everything goes through, after the late commit.
    const retried: PushResult[] = [];
    for (let i = 0; i < 4; i++) retried.push(await pushRaw(stack, buildNupkg({ id: 'Nucat.Fault.Behind', version: `1.0.${i}` })));
    const unlisted = await unlistRaw(stack, 'Nucat.Fault.Xmin0', '1.0.0');
    expect([...retried, unlisted].map((r) => r.status)).toEqual([201, 201, 201, 201, 204]);
    committed += 6;

    await stack.restart('worker');
    const last = await lastCommitTimestamp(db, feedId);
    await stack.waitForProjection(last.toISOString(), ALL_PROJECTIONS);
    expect(await readFlatVersions(stack, 'Nucat.Fault.Stuck')).toEqual(['1.0.0']);
    expect(await readFlatVersions(stack, 'Nucat.Fault.Behind')).toEqual(['1.0.0', '1.0.1', '1.0.2', '1.0.3']);
    await waitFor(async () => (await request(`${stack.publicUrl}/ready`)).status === 200, { what: 'the read node to be ready again', timeoutMs: 30_000 });

    // The catalog reader sees every commit once, in order: the late one (older timestamp) first.
    await followUntil(committed);
    expect(follower.processed, 'every commit seen once').toHaveLength(committed);
    expect(new Set(follower.processed.map((i) => i.commitId)).size).toBe(committed);
    const tail = follower.processed.slice(-6).map((i) => `${i['nuget:id']} ${i['nuget:version']}`);
    expect(tail[0]).toBe('Nucat.Fault.Stuck 1.0.0');
    const times = follower.processed.map((i) => timestampMs(i.commitTimeStamp));
    expect(times.every((t, n) => n === 0 || t > times[n - 1]!), 'strictly increasing commit timestamps').toBe(true);
  });

  it('#41 stuck appender: a push and an unlist behind another session holding the catalog head lock answer 503 + Retry-After, then succeed once it lets go', async () => {
    const { stack, db, feedId } = rig();
    const locker = new pg.Client({ connectionString: stack.env['DATABASE_URL'] });
    await locker.connect();
    try {
      await locker.query('BEGIN');
      await locker.query('SELECT 1 FROM catalog_heads WHERE feed_id = $1 FOR UPDATE', [feedId]);
      const nupkg = buildNupkg({ id: 'Nucat.Fault.Locked', version: '1.0.0' });
      const [push, unlist] = await Promise.all([pushRaw(stack, nupkg), unlistRaw(stack, 'Nucat.Fault.Xmin1', '1.0.1')]);
      for (const result of [push, unlist]) {
        expect(result.status, describeResponse('write', 'behind the held lock', result)).toBe(503);
        expect(Number(result.headers.get('retry-after'))).toBeGreaterThan(0);
      }
      await locker.query('ROLLBACK');
      expect((await pushRaw(stack, nupkg)).status).toBe(201);
      expect((await unlistRaw(stack, 'Nucat.Fault.Xmin1', '1.0.1')).status).toBe(204);
    } finally {
      await locker.end();
    }
    await stack.waitForProjection((await lastCommitTimestamp(db, feedId)).toISOString());
    expect(await readFlatVersions(stack, 'Nucat.Fault.Locked')).toEqual(['1.0.0']);
  });
});
