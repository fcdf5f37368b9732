/**
 * reliability.md §2 #39: the disk fills up. Two real full disks, each a small tmpfs (mounting needs root; the
 * tests are skipped, saying why, when this process cannot mount one):
 *
 * 1. The stack's data folder — blob store and the publish API's upload folder — is a 24 MiB tmpfs, filled
 *    with filler files. A push then answers 507 Insufficient Storage with a clear message, not 500 (NuGet
 *    retries any 5xx a few times; 507 names the cause, and a Retry-After would promise a recovery that
 *    only an operator can bring). Nothing partial is visible, no catalog event is written, and once the
 *    filler is deleted the same push succeeds. A worker whose projection writes fail with ENOSPC keeps its
 *    cursor and catches up once space is freed.
 * 2. PostgreSQL's own files: on a private cluster (where the test may create a tablespace, a superuser
 *    operation), the `packages` and catalog tables and their indexes move to a tablespace on a 4 MiB tmpfs.
 *    When PostgreSQL cannot extend them (SQLSTATE 53100 disk_full), the push answers 507 too, the
 *    transaction leaves nothing behind, and pushes succeed once space is freed. (WAL stays on the cluster's
 *    own disk: a full WAL disk makes PostgreSQL stop, which the clients see as #38's outage.)
 */
import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildNupkg, waitFor } from '@nucat/testing';
import { makeOwnedDir, mountSmallDisk, whyNoSmallDisk, type SmallDisk } from '../support/disk.js';
import { catalogItemsOf, contentBlobPath, lastCommitTimestamp, packageRowExists, useFaultRig } from '../support/faults.js';
import { describeResponse, flatNupkgUrl, pushRaw, readFlatVersions, readRegistrationLeaves, type PushResult } from '../support/feed.js';
import { RESTORE_PROJECTIONS } from '../support/stack.js';

const run = promisify(execFile);
const noDisk = await whyNoSmallDisk();

/** A package of about 256 KiB that does not compress. */
function bigPackage(id: string, version: string): Buffer {
  return buildNupkg({ id, version, files: { 'content/data.bin': randomBytes(256 * 1024) } });
}

/** Files in `dir` (none when it does not exist). */
async function filesIn(dir: string): Promise<string[]> {
  if (!existsSync(dir)) return [];
  return (await readdir(dir, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

function expect507(result: PushResult, reason: string): void {
  expect(result.status, describeResponse('PUT', 'push', result)).toBe(507);
  expect(result.headers.get('retry-after'), 'no Retry-After on 507').toBeNull();
  const body = JSON.parse(result.text) as { error: { code: string; message: string; details?: { reason?: string } } };
  expect(body.error).toMatchObject({ code: 'insufficient_storage', message: expect.stringMatching(/storage is full.*not published/), details: { reason } });
}

describe.skipIf(noDisk !== undefined)(`the blob store and upload folder on a full disk${noDisk ? ` (skipped: ${noDisk})` : ''}`, () => {
  let disk: SmallDisk;
  const env: Record<string, string> = {};
  beforeAll(async () => {
    const mounted = await mountSmallDisk(24 * 1024 * 1024);
    if (typeof mounted === 'string') throw new Error(mounted);
    disk = mounted;
    env['NUCAT_DATA_DIR'] = disk.dir;
  });
  // Registered before the rig: runs after the rig has stopped the stack that uses the disk.
  afterAll(async () => {
    await disk?.unmount();
  });
  const rig = useFaultRig({ env });

  const uploads = () => join(disk.dir, 'tmp');
  const blobTemp = () => join(disk.dir, 'blobs', '.tmp');
  const pending = bigPackage('Nucat.Fault.DiskFull', '1.0.0');

  /** Nothing of `nupkg` is stored or committed, and no temporary file is left. */
  async function expectNothingOf(nupkg: Buffer, lowerId: string, version: string, headBefore: Date): Promise<void> {
    const { db, feedId } = rig();
    expect(existsSync(contentBlobPath(disk.dir, nupkg)), 'content blob').toBe(false);
    expect(await filesIn(uploads()), 'upload folder').toEqual([]);
    expect(await filesIn(blobTemp()), 'blob store temp folder').toEqual([]);
    expect(await packageRowExists(db, feedId, lowerId, version), 'packages row').toBe(false);
    expect(await catalogItemsOf(db, feedId, lowerId, version), 'catalog items').toEqual([]);
    expect((await lastCommitTimestamp(db, feedId)).getTime(), 'catalog head').toBe(headBefore.getTime());
  }

  it('#39 disk full: with the upload folder full, a push answers 507 with a clear message; nothing stored, no catalog event', async () => {
    const { stack, db, feedId } = rig();
    const base = await pushRaw(stack, buildNupkg({ id: 'Nucat.Fault.DiskBase', version: '1.0.0' }));
    expect(base.status, describeResponse('PUT', 'push', base)).toBe(201);
    const head = await lastCommitTimestamp(db, feedId);

    await disk.fill(0);
    expect507(await pushRaw(stack, pending), 'disk_full');
    await expectNothingOf(pending, 'nucat.fault.diskfull', '1.0.0', head);
  });

  it('#39 disk full: with room for the upload but not for the blob, a push answers 507 and leaves no partial blob', async () => {
    const { db, feedId, stack } = rig();
    const head = await lastCommitTimestamp(db, feedId);
    await disk.release();
    // The upload (≈ the package) fits; the blob store's copy of it does not.
    await disk.fill(Math.floor(pending.length * 1.5));
    expect507(await pushRaw(stack, pending), 'disk_full');
    await expectNothingOf(pending, 'nucat.fault.diskfull', '1.0.0', head);
  });

  it('#39 disk full: once space is freed, the same push answers 201 and the package is restorable', async () => {
    const { stack } = rig();
    await disk.release();
    const retry = await pushRaw(stack, pending);
    expect(retry.status, describeResponse('PUT', 'push (space freed)', retry)).toBe(201);
    await stack.waitForProjection(retry.commitTimestamp!);
    expect(await readFlatVersions(stack, 'Nucat.Fault.DiskFull')).toEqual(['1.0.0']);
    const download = await fetch(await flatNupkgUrl(stack, 'Nucat.Fault.DiskFull', '1.0.0'));
    expect(Buffer.from(await download.arrayBuffer()).equals(pending), 'served bytes = pushed bytes').toBe(true);
  });

  it('#39 disk full: a worker whose writes fail with ENOSPC keeps its cursor, shows nothing partial, and catches up once space is freed', async () => {
    const { stack, db, feedId } = rig();
    await stack.kill('worker', 'SIGTERM');
    const nupkg = buildNupkg({ id: 'Nucat.Fault.DiskWorker', version: '1.0.0' });
    const pushed = await pushRaw(stack, nupkg);
    expect(pushed.status, describeResponse('PUT', 'push', pushed)).toBe(201);
    const commit = await lastCommitTimestamp(db, feedId);

    await disk.fill(0);
    const logged = stack.logs().split('\n').filter((l) => l.includes('ENOSPC')).length;
    await stack.restart('worker');
    await waitFor(() => stack.logs().split('\n').filter((l) => l.includes('ENOSPC')).length > logged, {
      what: 'the worker to report a projection write failing with ENOSPC',
      timeoutMs: 60_000,
      intervalMs: 100,
    });

    // The failed projections did not move their cursors past the commit…
    const cursors = await db.query<{ projection: string; cursor: Date }>('SELECT projection, cursor FROM projection_cursors WHERE feed_id = $1', [feedId]);
    for (const projection of RESTORE_PROJECTIONS) {
      const cursor = cursors.rows.find((r) => r.projection === projection)?.cursor.getTime() ?? 0;
      expect(cursor, `${projection} cursor while the disk is full`).toBeLessThan(commit.getTime());
    }
    // …the flat container does not list the version, and no stored document is cut short.
    expect(await readFlatVersions(stack, 'Nucat.Fault.DiskWorker'), 'flat container index.json').toBeUndefined();
    const broken: string[] = [];
    for (const file of await filesIn(join(disk.dir, 'blobs'))) {
      if (file.includes('/.tmp/') || !file.endsWith('.json')) continue;
      const bytes = await readFile(file);
      try {
        JSON.parse((file.includes('-gz-') ? gunzipSync(bytes) : bytes).toString());
      } catch (error) {
        broken.push(`${file}: ${String(error)}`);
      }
    }
    expect(broken, 'stored documents that do not parse').toEqual([]);
    expect(await filesIn(blobTemp()), 'blob store temp folder').toEqual([]);

    await disk.release();
    await stack.waitForProjection(commit.toISOString(), RESTORE_PROJECTIONS, 120_000);
    expect(await readFlatVersions(stack, 'Nucat.Fault.DiskWorker')).toEqual(['1.0.0']);
    expect((await readRegistrationLeaves(stack, 'Nucat.Fault.DiskWorker'))?.map((l) => l.catalogEntry.version)).toEqual(['1.0.0']);
    const download = await fetch(await flatNupkgUrl(stack, 'Nucat.Fault.DiskWorker', '1.0.0'));
    expect(Buffer.from(await download.arrayBuffer()).equals(nupkg)).toBe(true);
  });
});

describe.skipIf(noDisk !== undefined)(`PostgreSQL's tables on a full disk${noDisk ? ` (skipped: ${noDisk})` : ''}`, () => {
  let disk: SmallDisk;
  // Registered before the rig, so it runs after the rig has stopped the stack and the cluster using the disk.
  afterAll(async () => {
    await disk?.unmount();
  });
  const rig = useFaultRig({ privatePostgres: true });
  // Registered after the rig (which starts the private cluster): the tablespace goes onto the small disk.
  beforeAll(async () => {
    const mounted = await mountSmallDisk(4 * 1024 * 1024);
    if (typeof mounted === 'string') throw new Error(mounted);
    disk = mounted;
    const [uid, gid] = await Promise.all([run('id', ['-u', 'postgres']), run('id', ['-g', 'postgres'])]);
    const location = join(disk.dir, 'pg');
    await makeOwnedDir(location, { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) });
    const { db } = rig();
    await db.query(`CREATE TABLESPACE nucat_small_disk LOCATION '${location}'`);
    const tables = ['packages', 'catalog_commits', 'catalog_items'];
    for (const table of tables) await db.query(`ALTER TABLE ${table} SET TABLESPACE nucat_small_disk`);
    const indexes = await db.query<{ indexname: string }>(`SELECT indexname FROM pg_indexes WHERE schemaname = 'public' AND tablename = ANY($1)`, [tables]);
    for (const { indexname } of indexes.rows) await db.query(`ALTER INDEX "${indexname}" SET TABLESPACE nucat_small_disk`);
  });

  it('#39 disk full: when PostgreSQL cannot extend the catalog tables, a push answers 507, leaves nothing behind, and pushes succeed once space is freed', async () => {
    const { stack, db, feedId } = rig();
    await disk.fill(0);

    // Pushes go on filling the tables' last pages; the first one that needs a new page fails.
    const accepted: string[] = [];
    let refused: { version: string; result: PushResult } | undefined;
    for (let n = 0; n < 300 && !refused; n++) {
      const version = `1.0.${n}`;
      const result = await pushRaw(stack, buildNupkg({ id: 'Nucat.Fault.PgFull', version }));
      if (result.status === 201) accepted.push(version);
      else refused = { version, result };
    }
    expect(refused, 'a push refused once the tablespace is full').toBeDefined();
    expect507(refused!.result, 'database_disk_full');
    expect(await packageRowExists(db, feedId, 'nucat.fault.pgfull', refused!.version), 'packages row of the refused push').toBe(false);
    expect(await catalogItemsOf(db, feedId, 'nucat.fault.pgfull', refused!.version), 'catalog items of the refused push').toEqual([]);
    const committed = await db.query<{ n: string }>(`SELECT count(*) AS n FROM catalog_items WHERE feed_id = $1 AND lower_id = 'nucat.fault.pgfull'`, [feedId]);
    expect(Number(committed.rows[0]!.n), 'one catalog item per accepted push, none more').toBe(accepted.length);

    await disk.release();
    const retry = await pushRaw(stack, buildNupkg({ id: 'Nucat.Fault.PgFull', version: refused!.version }));
    expect(retry.status, describeResponse('PUT', 'push (space freed)', retry)).toBe(201);
    await stack.waitForProjection(retry.commitTimestamp!);
    expect(await readFlatVersions(stack, 'Nucat.Fault.PgFull')).toEqual([...accepted, refused!.version]);
  });
});
