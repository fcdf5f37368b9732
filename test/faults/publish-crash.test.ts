/**
 * reliability.md §2 #32 and #33: the publish process dies (`kill -9`) in the middle of a push.
 *
 * Both crashes are placed deterministically, on a private PostgreSQL cluster:
 * - #32 holds the feed's catalog head row lock from another session, so the push blocks inside its transaction
 *   after the content blob was written and before anything commits;
 * - #32 again, then `nucat gc` collects the orphaned blob (and the id claim the dead push left), and a retry gets 201;
 * - #33 makes every commit wait for a synchronous standby that does not exist (`synchronous_standby_names`):
 *   PostgreSQL has written the commit durably but not yet answered `COMMIT`, so the publish-api cannot have
 *   replied. The process is killed there; then the setting is cleared and the commit completes without anyone
 *   to answer.
 */
import { readdir, readFile, utimes } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { buildNupkg, waitFor } from '@nucat/testing';
import {
  catalogItemsOf,
  backendsOf,
  contentBlobPath,
  packageRowExists,
  sha512Hex,
  useFaultRig,
} from '../support/faults.js';
import {
  describeResponse,
  flatNupkgUrl,
  pushRaw,
  readAllCatalogItems,
  readFlatVersions,
  readRegistrationLeaves,
  request,
  type PushResult,
} from '../support/feed.js';

const rig = useFaultRig({ privatePostgres: true });

/** Starts a push whose outcome is read later; a network failure (the server died) becomes `{ error }`. */
function startPush(nupkg: Buffer): Promise<PushResult | { error: string }> {
  return pushRaw(rig().stack, nupkg).catch((error: unknown) => ({ error: String(error) }));
}

/**
 * Pushes `nupkg` and kills the publish-api (`kill -9`) once its content blob is written and it waits, inside
 * its transaction, for the catalog head row another session holds: a push that died between blob and commit.
 */
async function crashBetweenBlobAndCommit(nupkg: Buffer): Promise<void> {
  const { stack, db, feedId } = rig();
  const blob = contentBlobPath(stack.dataDir, nupkg);
  const locker = new pg.Client({ connectionString: stack.env['DATABASE_URL'] });
  await locker.connect();
  try {
    await locker.query('BEGIN');
    await locker.query('SELECT last_commit_timestamp FROM catalog_heads WHERE feed_id = $1 FOR UPDATE', [feedId]);
    const push = startPush(nupkg);
    await waitFor(
      async () => {
        if (!(await readFile(blob).catch(() => undefined))) return false;
        return (await backendsOf(db, 'publish-api')).some((b) => b.waitEventType === 'Lock');
      },
      { what: 'the content blob to be written and the push to block on the catalog head lock', timeoutMs: 20_000, intervalMs: 20 },
    );
    await stack.kill('publish-api');
    const outcome = await push;
    expect('error' in outcome ? 'no reply' : outcome.status, 'the client got no answer').toBe('no reply');
    await locker.query('ROLLBACK');
  } finally {
    await locker.end();
  }
  await waitFor(async () => (await backendsOf(db, 'publish-api')).length === 0, {
    what: "the killed publish-api's database sessions to end",
    timeoutMs: 20_000,
  });
  await stack.restart('publish-api');
}

/** Back-dates every file of a package's content folder by `ms` (the orphan has been lying there that long). */
async function ageContent(nupkg: Buffer, ms: number): Promise<string[]> {
  const folder = dirname(contentBlobPath(rig().stack.dataDir, nupkg));
  const names = await readdir(folder);
  const when = new Date(Date.now() - ms);
  for (const name of names) await utimes(join(folder, name), when, when);
  return names;
}

describe('publish-api killed during a push', () => {
  it('#32 kill -9 between blob write and commit: nothing visible, the orphan blob is never served, a retry gets 201', async () => {
    const { stack, db, feedId } = rig();
    const id = 'Nucat.Fault.BetweenBlobAndCommit';
    const nupkg = buildNupkg({ id, version: '1.0.0' });
    const blob = contentBlobPath(stack.dataDir, nupkg);

    // Another session holds the catalog head: the push will block inside its transaction, before committing.
    const locker = new pg.Client({ connectionString: stack.env['DATABASE_URL'] });
    await locker.connect();
    try {
      await locker.query('BEGIN');
      await locker.query('SELECT last_commit_timestamp FROM catalog_heads WHERE feed_id = $1 FOR UPDATE', [feedId]);

      const push = startPush(nupkg);
      await waitFor(
        async () => {
          if (!(await readFile(blob).catch(() => undefined))) return false;
          const backends = await backendsOf(db, 'publish-api');
          return backends.some((b) => b.waitEventType === 'Lock');
        },
        { what: 'the content blob to be written and the push to block on the catalog head lock', timeoutMs: 20_000, intervalMs: 20 },
      );
      expect((await readFile(blob)).equals(nupkg), 'the bytes on disk are the pushed package').toBe(true);

      await stack.kill('publish-api');
      const outcome = await push;
      expect('error' in outcome ? 'no reply' : outcome.status, 'the client got no answer').toBe('no reply');
      await locker.query('ROLLBACK');
    } finally {
      await locker.end();
    }

    // The dead process's transaction is rolled back by PostgreSQL once its session notices the client is gone.
    await waitFor(async () => (await backendsOf(db, 'publish-api')).length === 0, {
      what: "the killed publish-api's database sessions to end",
      timeoutMs: 20_000,
    });
    expect(await packageRowExists(db, feedId, id.toLowerCase(), '1.0.0'), 'packages row').toBe(false);
    expect(await catalogItemsOf(db, feedId, id.toLowerCase(), '1.0.0'), 'catalog items').toEqual([]);

    // Let the worker run over a later commit, then check nothing of the orphan shows on the read side.
    await stack.restart('publish-api');
    const sentinel = await pushRaw(stack, buildNupkg({ id: 'Nucat.Fault.Sentinel32', version: '1.0.0' }));
    expect(sentinel.status, describeResponse('PUT', 'push', sentinel)).toBe(201);
    await stack.waitForProjection(sentinel.commitTimestamp!);
    expect(await readFlatVersions(stack, id), 'flat container index.json').toBeUndefined();
    expect((await request(await flatNupkgUrl(stack, id, '1.0.0'))).status, 'flat container .nupkg').toBe(404);
    expect(await readRegistrationLeaves(stack, id), 'registration index').toBeUndefined();
    expect((await readAllCatalogItems(stack)).filter((i) => i['nuget:id'] === id), 'HTTP catalog').toEqual([]);

    // The client retries: 201, exactly one catalog item, restorable with the pushed bytes.
    const retry = await pushRaw(stack, nupkg);
    expect(retry.status, describeResponse('PUT', 'push (retry)', retry)).toBe(201);
    const items = await catalogItemsOf(db, feedId, id.toLowerCase(), '1.0.0');
    expect(items.map((i) => i.commitId)).toEqual([retry.commitId]);
    await stack.waitForProjection(retry.commitTimestamp!);
    expect(await readFlatVersions(stack, id)).toEqual(['1.0.0']);
    const download = await fetch(await flatNupkgUrl(stack, id, '1.0.0'));
    expect(download.status).toBe(200);
    expect(Buffer.from(await download.arrayBuffer()).equals(nupkg), 'served bytes = pushed bytes').toBe(true);
  });

  it('#32 orphaned blob collected: after a kill -9 between blob write and commit, `nucat gc` deletes the orphan (and the dead push\'s id claim), keeps every referenced blob, and a retry gets 201', async () => {
    const { stack, db, feedId } = rig();
    const id = 'Nucat.Fault.OrphanCollected';
    const nupkg = buildNupkg({ id, version: '1.0.0' });
    const blob = contentBlobPath(stack.dataDir, nupkg);
    const kept = buildNupkg({ id: 'Nucat.Fault.Kept', version: '1.0.0' });
    const keptPush = await pushRaw(stack, kept);
    expect(keptPush.status, describeResponse('PUT', 'push', keptPush)).toBe(201);

    await crashBetweenBlobAndCommit(nupkg);
    expect(await packageRowExists(db, feedId, id.toLowerCase(), '1.0.0'), 'packages row').toBe(false);
    expect((await readFile(blob)).equals(nupkg), 'the orphan is on disk').toBe(true);

    // Fresh: younger than the minimum age, so it could be a push about to commit. Nothing is deleted.
    const young = await stack.cli(['gc', '--min-age', '1h']);
    expect(young.code, young.stderr).toBe(0);
    expect(young.stdout).toBe('');
    expect(young.stderr).toMatch(/1 too young/);

    // Two hours later (file times and the claim's last push moved back): a dry run lists, then gc deletes.
    const orphanFiles = await ageContent(nupkg, 2 * 3_600_000);
    expect(orphanFiles.sort()).toEqual(['package.nupkg', 'package.nuspec']);
    await ageContent(kept, 2 * 3_600_000);
    await db.query(`UPDATE package_ids SET touched_at = now() - interval '2 hours' WHERE lower_id = $1`, [id.toLowerCase()]);
    const dry = await stack.cli(['gc', '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    const folder = `content/${sha512Hex(nupkg).slice(0, 2)}/${sha512Hex(nupkg)}`;
    expect(dry.stdout).toContain(`would delete ${folder}/package.nupkg ${folder}/package.nuspec `);
    expect(dry.stdout).toContain(`would release claim of ${id}`);
    expect((await readFile(blob)).equals(nupkg), 'a dry run deletes nothing').toBe(true);

    const gc = await stack.cli(['gc', '--min-age', '1h']);
    expect(gc.code, gc.stderr).toBe(0);
    expect(gc.stdout).toContain(`deleted ${folder}/package.nupkg ${folder}/package.nuspec `);
    expect(gc.stdout).toContain(`released claim of ${id}`);
    expect(gc.stderr).toMatch(/1 orphaned/);
    expect(await readFile(blob).catch(() => undefined), 'the orphan is gone').toBeUndefined();
    expect(await readFile(contentBlobPath(stack.dataDir, kept)).catch(() => undefined), 'a referenced blob stays').toBeDefined();
    await stack.waitForProjection(keptPush.commitTimestamp!);
    const keptDownload = await fetch(await flatNupkgUrl(stack, 'Nucat.Fault.Kept', '1.0.0'));
    expect(Buffer.from(await keptDownload.arrayBuffer()).equals(kept), 'the referenced package still downloads').toBe(true);

    // The client retries: the bytes are written again, 201, restorable.
    const retry = await pushRaw(stack, nupkg);
    expect(retry.status, describeResponse('PUT', 'push (retry)', retry)).toBe(201);
    await stack.waitForProjection(retry.commitTimestamp!);
    const download = await fetch(await flatNupkgUrl(stack, id, '1.0.0'));
    expect(Buffer.from(await download.arrayBuffer()).equals(nupkg), 'served bytes = pushed bytes').toBe(true);
    const again = await stack.cli(['gc', '--min-age', '1m']);
    expect(again.stdout, 'nothing more to collect').toBe('');
  });

  it('#33 kill -9 after commit, before the reply: the package exists and is projected, a retry gets 409, one catalog item', async () => {
    const { stack, db, feedId } = rig();
    const id = 'Nucat.Fault.AfterCommit';
    const nupkg = buildNupkg({ id, version: '1.0.0' });
    // An earlier version, so the id is claimed already: the first push of a new id commits its ownership
    // claim on its own, before the package, and that COMMIT would be the one caught waiting below.
    const earlier = await pushRaw(stack, buildNupkg({ id, version: '0.1.0' }));
    expect(earlier.status, describeResponse('PUT', 'push 0.1.0', earlier)).toBe(201);

    // From now on COMMIT returns only once a synchronous standby (there is none) confirms it: the commit is
    // durable locally, invisible to others, and the publish-api is stuck before it could reply.
    await db.query(`ALTER SYSTEM SET synchronous_standby_names = 'nucat_fault_no_such_standby'`);
    await db.query('SELECT pg_reload_conf()');
    let cleared = false;
    const clearSyncRep = async () => {
      if (cleared) return;
      cleared = true;
      await db.query('ALTER SYSTEM RESET synchronous_standby_names');
      await db.query('SELECT pg_reload_conf()');
    };
    try {
      // The checkpointer applies the setting on reload, a moment after pg_reload_conf() returns.
      await new Promise((resolve) => setTimeout(resolve, 500));
      const push = startPush(nupkg);
      const waiting = await waitFor(
        async () => (await backendsOf(db, 'publish-api')).find((b) => b.waitEvent === 'SyncRep'),
        { what: "the push's COMMIT to wait for the (absent) synchronous standby", timeoutMs: 20_000, intervalMs: 20 },
      );
      expect(waiting.query.trim().toLowerCase(), 'the statement waiting is the push transaction’s COMMIT').toBe('commit');

      await stack.kill('publish-api');
      const outcome = await push;
      expect('error' in outcome ? 'no reply' : outcome.status, 'the client got no answer').toBe('no reply');
    } finally {
      await clearSyncRep();
    }

    // The commit completes now, with nobody left to answer: the package exists with exactly one catalog item.
    const items = await waitFor(
      async () => {
        const found = await catalogItemsOf(db, feedId, id.toLowerCase(), '1.0.0');
        return found.length > 0 ? found : undefined;
      },
      { what: 'the committed push to become visible', timeoutMs: 20_000 },
    );
    expect(items).toHaveLength(1);
    expect(await packageRowExists(db, feedId, id.toLowerCase(), '1.0.0')).toBe(true);

    // Projected although the publish-api died before it could say anything (projectors follow the catalog).
    await stack.restart('publish-api');
    await stack.waitForProjection(items[0]!.commitTimestamp.toISOString());
    expect(await readFlatVersions(stack, id)).toEqual(['0.1.0', '1.0.0']);
    const download = await fetch(await flatNupkgUrl(stack, id, '1.0.0'));
    expect(Buffer.from(await download.arrayBuffer()).equals(nupkg), 'restorable with the pushed bytes').toBe(true);
    expect((await readRegistrationLeaves(stack, id))?.map((l) => l.catalogEntry.version)).toEqual(['0.1.0', '1.0.0']);

    // The client retries: 409 (documented), still exactly one catalog item.
    const retry = await pushRaw(stack, nupkg);
    expect(retry.status, describeResponse('PUT', 'push (retry)', retry)).toBe(409);
    expect((await catalogItemsOf(db, feedId, id.toLowerCase(), '1.0.0')).map((i) => i.commitId)).toEqual([items[0]!.commitId]);
    expect((await readAllCatalogItems(stack)).filter((i) => i['nuget:id'] === id && i['nuget:version'] === '1.0.0')).toHaveLength(1);
  });
});
