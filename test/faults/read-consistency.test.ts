/**
 * reliability.md §2 #42: a read node lags behind, or its sync is interrupted. It may serve stale data, never
 * inconsistent data: a flat container `index.json` never lists a version whose `.nupkg` is missing, and a
 * registration index never links a page or leaf (or a leaf a package or catalog leaf) that is missing.
 *
 * 1. Readers walk ids over HTTP (`support/consistency.ts`) without pause while pushes are projected in small
 *    batches, while the worker is killed (`kill -9`) in the middle of a batch, while it is down (the read side
 *    lags), and after it restarts. One id passes 128 versions during the run, so its registration switches to
 *    standalone pages that are rewritten as versions arrive.
 * 2. A replica fed by `nucat mirror` (through a proxy that slows package downloads) is killed mid-run: once
 *    its worker has projected what the mirror committed, it serves a subset of the primary — every version it
 *    lists has the primary's bytes, every link answers, and every commit up to its mirror cursor is there —
 *    and the next run completes it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { buildNupkg, waitFor } from '@nucat/testing';
import { startCli } from '../support/background.js';
import { ConsistencyReader, type IdReading } from '../support/consistency.js';
import { CursorWatch, lastCommitTimestamp, mapLimit, useFaultRig } from '../support/faults.js';
import { describeResponse, flatNupkgUrl, pushRaw, resourceUrl, sha512Base64, timestampMs, under, type Feed, type RegistrationLeaf } from '../support/feed.js';
import { startSourceProxy, type SourceProxy } from '../support/source-proxy.js';
import { RESTORE_PROJECTIONS, startStack, type Stack } from '../support/stack.js';

// Small batches: many cursor moves, so the kill lands in the middle of the work.
const rig = useFaultRig({ env: { NUCAT_WORKER_BATCH: '4', NUCAT_WORKER_CONCURRENCY: '4' } });

const SMALL_IDS = Array.from({ length: 5 }, (_, i) => `Nucat.Fault.Read${i}`);
const PAGED_ID = 'Nucat.Fault.Read.Paged';
/** 5 ids × 8 versions, and 136 versions of one more (registration pages from 128 versions on), interleaved. */
const PLAN: { id: string; version: string }[] = (() => {
  const small = SMALL_IDS.flatMap((id) => Array.from({ length: 8 }, (_, v) => ({ id, version: `1.0.${v}` })));
  const paged = Array.from({ length: 136 }, (_, v) => ({ id: PAGED_ID, version: `1.${Math.floor(v / 10)}.${v % 10}` }));
  const plan: { id: string; version: string }[] = [];
  for (let i = 0; i < paged.length; i++) {
    plan.push(paged[i]!);
    if (i % 3 === 0 && small.length > 0) plan.push(small.shift()!);
  }
  return [...plan, ...small];
})();
const ALL_IDS = [...SMALL_IDS, PAGED_ID];

/** Expected flat container versions of an id after the whole plan (lowercase, ascending as pushed). */
function plannedVersions(id: string): string[] {
  return PLAN.filter((p) => p.id === id).map((p) => p.version);
}

/** Summarises readings for assertion messages. */
function problemsOf(readings: IdReading[]): string[] {
  return readings.flatMap((r) => r.violations);
}

describe('readers while the worker projects, dies and catches up', () => {
  it('#42 read node lag: during pushes, a kill -9 of the worker mid-batch and its restart, every listed .nupkg and every linked page and leaf answers 200', async () => {
    const { stack, db, feedId } = rig();
    const reader = await ConsistencyReader.of(stack);
    const watch = new CursorWatch(stack.env['DATABASE_URL']!, feedId, 5);
    const readings: IdReading[] = [];
    let pushing = true;
    const readers = Array.from({ length: 2 }, async (_, lane) => {
      for (let n = lane; pushing; n++) readings.push(await reader.read(ALL_IDS[n % ALL_IDS.length]!));
    });

    try {
      const push = async (items: typeof PLAN) => {
        const results = await mapLimit(items, 3, (p) => pushRaw(stack, buildNupkg(p)));
        const failed = results.filter((r) => r.status !== 201).map((r) => describeResponse('PUT', 'push', r));
        expect(failed, 'every push answers 201').toEqual([]);
      };
      const third = Math.ceil(PLAN.length / 3);
      await push(PLAN.slice(0, third));

      // The worker is busy with the next pushes: kill it at the next cursor move, in the middle of the work.
      const second = push(PLAN.slice(third, 2 * third));
      second.catch(() => {});
      const moved = watch.current('registration') ?? 0;
      await waitFor(() => (watch.current('registration') ?? 0) > moved || (watch.current('flatcontainer') ?? 0) > moved, {
        what: 'a projection cursor to move',
        timeoutMs: 60_000,
        intervalMs: 2,
      });
      await stack.kill('worker');
      await second;
      // While the worker is down the read side lags: pushes go on, readers keep reading.
      await push(PLAN.slice(2 * third));
      await stack.restart('worker');
      await stack.waitForProjection((await lastCommitTimestamp(db, feedId)).toISOString(), RESTORE_PROJECTIONS, 180_000);
      // One more walk of every id once everything is projected: however fast the catch-up was, the
      // paged registration is walked at least once.
      for (const id of ALL_IDS) readings.push(await reader.read(id));
    } finally {
      pushing = false;
      await Promise.all(readers);
      await watch.stop();
    }

    const links = readings.reduce((n, r) => n + r.links, 0);
    console.info(`#42 ${readings.length} id readings, ${links} links followed while projecting`);
    expect(problemsOf(readings), 'broken links seen by readers').toEqual([]);
    expect(readings.filter((r) => (r.flatVersions?.length ?? 0) > 0).length, 'readings that saw versions').toBeGreaterThan(ALL_IDS.length);
    expect(readings.some((r) => (r.registrationVersions?.length ?? 0) >= 128), 'a reading walked the registration in standalone pages').toBe(true);

    // Converged: every id shows exactly what was pushed, in both resources, with every link answering.
    for (const id of ALL_IDS) {
      const final = await reader.read(id);
      expect(final.violations, id).toEqual([]);
      expect(final.flatVersions, `${id} flat container`).toEqual(plannedVersions(id));
      expect(final.registrationVersions, `${id} registration`).toEqual(plannedVersions(id));
    }
  });
});

describe('a reader holding an older registration index', () => {
  /** The three registration hives, by service index type. */
  const HIVES = ['RegistrationsBaseUrl', 'RegistrationsBaseUrl/3.4.0', 'RegistrationsBaseUrl/3.6.0'];
  const HELD_ID = 'Nucat.Fault.Read.Held';

  async function readIndex(base: string): Promise<{ pages: string[] }> {
    const response = await fetch(under(base, `${HELD_ID.toLowerCase()}/index.json`));
    expect(response.status).toBe(200);
    const index = (await response.json()) as { items: { '@id': string; items?: unknown[] }[] };
    expect(index.items.every((page) => page.items === undefined), 'pages are separate documents').toBe(true);
    return { pages: index.items.map((page) => page['@id']) };
  }

  it('#42 finds every page the index it holds links (a client keeps it 30 minutes) after a new version renames the last page', async () => {
    const { stack, db, feedId } = rig();
    // 129 versions: three page documents of up to 64, the last one holding 1.0.128 alone.
    const versions = Array.from({ length: 129 }, (_, v) => `1.0.${v}`);
    const pushed = await mapLimit(versions, 4, (version) => pushRaw(stack, buildNupkg({ id: HELD_ID, version })));
    expect(pushed.filter((r) => r.status !== 201).map((r) => describeResponse('PUT', 'push', r))).toEqual([]);
    await stack.waitForProjection((await lastCommitTimestamp(db, feedId)).toISOString(), RESTORE_PROJECTIONS, 60_000);

    const held = new Map<string, { pages: string[]; bodies: string[] }>();
    for (const type of HIVES) {
      const { pages } = await readIndex(await resourceUrl(stack, type));
      const bodies = await Promise.all(pages.map(async (url) => (await fetch(url)).text()));
      held.set(type, { pages, bodies });
    }

    expect((await pushRaw(stack, buildNupkg({ id: HELD_ID, version: '1.0.129' }))).status).toBe(201);
    await stack.waitForProjection((await lastCommitTimestamp(db, feedId)).toISOString(), RESTORE_PROJECTIONS, 60_000);

    for (const type of HIVES) {
      const { pages, bodies } = held.get(type)!;
      const now = await readIndex(await resourceUrl(stack, type));
      expect(now.pages, `${type}: the last page was renamed`).not.toContain(pages.at(-1));
      expect(now.pages[0], `${type}: the first page kept its name`).toBe(pages[0]);
      for (const [i, url] of pages.entries()) {
        const response = await fetch(url);
        expect(response.status, `${type}: ${url}`).toBe(200);
        expect(await response.text(), `${type}: ${url} serves what it served`).toBe(bodies[i]);
      }
      const last = (await (await fetch(now.pages.at(-1)!)).json()) as { items: RegistrationLeaf[] };
      expect(last.items.at(-1)?.catalogEntry.version).toBe('1.0.129');
    }
  });
});

describe('a replica fed by nucat mirror, interrupted mid-run', () => {
  let replica: Stack | undefined;
  let proxy: SourceProxy | undefined;
  let replicaDb: pg.Pool | undefined;
  beforeAll(async () => {
    replica = await startStack();
    proxy = await startSourceProxy(rig().stack.publicUrl);
    replicaDb = new pg.Pool({ connectionString: replica.env['DATABASE_URL'], max: 2 });
  });
  afterAll(async () => {
    await replicaDb?.end();
    await proxy?.close();
    await replica?.stop();
  });

  /** The .nupkg SHA-512 (base64) of each version `feed` lists for `id`. */
  async function hashesOf(feed: Pick<Feed, 'serviceIndexUrl'>, id: string, versions: readonly string[]): Promise<Record<string, string>> {
    const hashes: Record<string, string> = {};
    for (const version of versions) {
      const response = await fetch(await flatNupkgUrl(feed, id, version));
      hashes[version] = response.status === 200 ? sha512Base64(Buffer.from(await response.arrayBuffer())) : `HTTP ${response.status}`;
    }
    return hashes;
  }

  it('#42 interrupted sync: a replica whose nucat mirror was killed mid-run serves a consistent subset of the primary, and the next run completes it', async () => {
    const primary = rig().stack;
    const r = replica!;
    const countReplicaPackages = async () => Number((await replicaDb!.query<{ n: string }>('SELECT count(*) AS n FROM packages')).rows[0]!.n);

    // Slow package downloads, so the run is still going when it is killed.
    proxy!.delay(/\.nupkg$/, 150);
    const mirror = startCli(r, ['mirror', '--source', proxy!.serviceIndexUrl, '--concurrency', '2']);
    await waitFor(
      async () => {
        if (mirror.exited()) throw new Error(`nucat mirror finished before it could be interrupted: ${(await mirror.done).stderr}`);
        return (await countReplicaPackages()) >= 12;
      },
      { what: 'the mirror to have applied a dozen packages', timeoutMs: 120_000, intervalMs: 20 },
    );
    await mirror.kill('SIGKILL');
    const applied = await countReplicaPackages();
    expect(applied, 'packages on the replica after the kill').toBeLessThan(PLAN.length);

    // The replica's own worker projects whatever the mirror committed before it died.
    const feedId = (await replicaDb!.query<{ id: number }>(`SELECT id FROM feeds WHERE name = 'main'`)).rows[0]!.id;
    await r.waitForProjection((await lastCommitTimestamp(replicaDb!, feedId)).toISOString());

    const status = JSON.parse((await r.cli(['status', '--json'])).stdout) as { mirrors: { source: string; cursor: string | null }[] };
    const cursor = status.mirrors.find((m) => m.source === proxy!.serviceIndexUrl)?.cursor;
    const primaryCommits = await rig().db.query<{ lower_id: string; lower_version: string; commit_timestamp: Date }>(
      'SELECT lower_id, lower_version, commit_timestamp FROM catalog_items WHERE feed_id = $1',
      [rig().feedId],
    );

    const reader = await ConsistencyReader.of(r);
    let served = 0;
    for (const id of ALL_IDS) {
      const reading = await reader.read(id);
      expect(reading.violations, `${id} on the replica`).toEqual([]);
      const versions = reading.flatVersions ?? [];
      served += versions.length;
      expect(plannedVersions(id), `${id}: the replica lists only versions the primary has`).toEqual(expect.arrayContaining(versions));
      expect(reading.registrationVersions ?? [], `${id}: registration and flat container agree`).toEqual(versions);
      expect(await hashesOf(r, id, versions), `${id}: the replica serves the primary's bytes`).toEqual(await hashesOf(primary, id, versions));
      // Every commit up to the mirror cursor is there.
      const upTo = cursor ? timestampMs(cursor) : Number.NEGATIVE_INFINITY;
      const due = primaryCommits.rows.filter((c) => c.lower_id === id.toLowerCase() && c.commit_timestamp.getTime() <= upTo).map((c) => c.lower_version);
      expect(versions, `${id}: versions committed up to the mirror cursor ${cursor}`).toEqual(expect.arrayContaining(due));
    }
    console.info(`#42 the interrupted mirror left ${applied} of ${PLAN.length} packages; the replica serves ${served} versions (cursor ${cursor})`);
    expect(served, 'versions served by the replica').toBe(applied);

    // The next run resumes from the cursor and completes the replica.
    proxy!.delay(undefined);
    const rerun = await r.cli(['mirror', '--source', proxy!.serviceIndexUrl, '--concurrency', '4']);
    expect(rerun.code, `nucat mirror (rerun): ${rerun.stderr}`).toBe(0);
    await r.waitForProjection((await lastCommitTimestamp(replicaDb!, feedId)).toISOString());
    for (const id of ALL_IDS) {
      const reading = await reader.read(id);
      expect(reading.violations, id).toEqual([]);
      expect(reading.flatVersions, `${id} after the rerun`).toEqual(plannedVersions(id));
    }
  });
});
