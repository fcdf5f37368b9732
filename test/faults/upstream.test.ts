/**
 * reliability.md §2 #44, upstream/proxy mode. nucat has no pull-through proxy: its one operator-configured
 * upstream is the mirror (`nucat mirror --source`, or a worker with NUCAT_MIRROR_SOURCE). End to end, with a
 * primary nucat, a replica, and a loopback proxy in front of the primary (`support/source-proxy.ts`) that can
 * answer a package path with something else:
 * - a source on a link-local or cloud metadata address is refused before any request, with a message saying
 *   why, by `nucat mirror` and by the worker;
 * - a package path answered with an HTML page (200, text/html) or with another package's bytes is never stored
 *   as that package: `nucat mirror` exits 1 naming the item and the reason, the replica does not serve it, its
 *   mirror status keeps the error, and the cursor does not move past it; once the source answers correctly the
 *   next run mirrors it. Loopback sources keep working.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildNupkg, waitFor } from '@nucat/testing';
import { lastCommitTimestamp, useFaultRig } from '../support/faults.js';
import { describeResponse, flatNupkgUrl, pushRaw, readFlatVersions, request, sha512Base64, timestampMs } from '../support/feed.js';
import { startSourceProxy, type SourceProxy } from '../support/source-proxy.js';
import { startStack, type CommandResult, type Stack } from '../support/stack.js';

const rig = useFaultRig();
let replica: Stack | undefined;
let proxy: SourceProxy | undefined;
let replicaDb: pg.Pool | undefined;
let replicaFeedId: number;

beforeAll(async () => {
  replica = await startStack();
  proxy = await startSourceProxy(rig().stack.publicUrl);
  replicaDb = new pg.Pool({ connectionString: replica.env['DATABASE_URL'], max: 2 });
  replicaFeedId = (await replicaDb.query<{ id: number }>(`SELECT id FROM feeds WHERE name = 'main'`)).rows[0]!.id;
});
afterAll(async () => {
  await replicaDb?.end();
  await proxy?.close();
  await replica?.stop();
});

const PACKAGES = ['Nucat.Upstream.A', 'Nucat.Upstream.B', 'Nucat.Upstream.C'].map((id) => ({ id, bytes: buildNupkg({ id, version: '1.0.0' }) }));
const HTML = '<!DOCTYPE html>\n<html><head><title>Proxy error</title></head><body><h1>502 Bad Gateway</h1></body></html>\n';

/** The proxy path of a package's .nupkg in the flat container. */
function nupkgPath(id: string): string {
  const lower = id.toLowerCase();
  return `/v3/flatcontainer/${lower}/1.0.0/${lower}.1.0.0.nupkg`;
}

async function mirror(): Promise<CommandResult> {
  return replica!.cli(['mirror', '--source', proxy!.serviceIndexUrl]);
}

/** The replica's mirror state for the proxy source, from `nucat status --json`. */
async function mirrorStatus(): Promise<{ cursor: string | null; lastError: string | null }> {
  const status = JSON.parse((await replica!.cli(['status', '--json'])).stdout) as { mirrors: { source: string; cursor: string | null; lastError: string | null }[] };
  const state = status.mirrors.find((m) => m.source === proxy!.serviceIndexUrl);
  if (!state) throw new Error(`no mirror state for ${proxy!.serviceIndexUrl} in ${JSON.stringify(status.mirrors)}`);
  return state;
}

/** Whether the replica has a packages row for the id (any version). */
async function replicaHas(id: string): Promise<boolean> {
  const result = await replicaDb!.query('SELECT 1 FROM packages WHERE lower_id = $1', [id.toLowerCase()]);
  return (result.rowCount ?? 0) > 0;
}

describe('the mirror as an upstream', () => {
  it('#44 upstream: nucat mirror refuses a source on a link-local or cloud metadata address before sending anything, and says why', async () => {
    for (const source of ['http://169.254.169.254/v3/index.json', 'http://[fe80::1]:8080/v3/index.json', 'http://[::ffff:169.254.169.254]/v3/index.json']) {
      const result = await replica!.cli(['mirror', '--source', source]);
      expect(result.code, `${source}: exit code`).not.toBe(0);
      expect(result.stderr, source).toMatch(/refusing to fetch .*link-local or cloud metadata address/);
    }
  });

  it('#44 upstream: a worker following a metadata address as its mirror source refuses it too, logging why', async () => {
    const { stack } = rig();
    const source = 'http://169.254.169.254/v3/index.json';
    const copy = await stack.startCopy('worker', { env: { NUCAT_MIRROR_SOURCE: source, NUCAT_MIRROR_INTERVAL_MS: '200', NUCAT_WORKER_PORT: '0' } });
    try {
      await waitFor(() => /"msg":"mirror run failed"/.test(stack.logs()) && /refusing to fetch http:\/\/169\.254\.169\.254/.test(stack.logs()), {
        what: 'the worker to log the refused mirror source',
        timeoutMs: 30_000,
      });
    } finally {
      await copy.kill('SIGTERM');
    }
  });

  it('#44 upstream: a package path answered with an HTML page is never stored; nucat mirror exits 1 naming it, and the cursor stays before it', async () => {
    const { stack, db, feedId } = rig();
    for (const p of PACKAGES) {
      const pushed = await pushRaw(stack, p.bytes);
      expect(pushed.status, describeResponse('PUT', 'push', pushed)).toBe(201);
    }
    await stack.waitForProjection((await lastCommitTimestamp(db, feedId)).toISOString());
    const [, b] = PACKAGES;
    proxy!.replace(nupkgPath(b!.id), { status: 200, contentType: 'text/html; charset=utf-8', body: HTML });

    const result = await mirror();
    expect(result.code, `nucat mirror:\n${result.stderr}`).toBe(1);
    expect(result.stderr).toMatch(new RegExp(`error ${b!.id} 1\\.0\\.0 .*not_a_package: .*text/html.*not a \\.nupkg`));
    expect(await replicaHas(b!.id), 'the replica has no row for the refused package').toBe(false);
    const state = await mirrorStatus();
    expect(state.lastError).toMatch(/^not_a_package: /);
    const bCommit = (await db.query<{ commit_timestamp: Date }>('SELECT commit_timestamp FROM catalog_items WHERE lower_id = $1', [b!.id.toLowerCase()])).rows[0]!.commit_timestamp;
    expect(state.cursor === null ? -Infinity : timestampMs(state.cursor), 'the mirror cursor').toBeLessThan(bCommit.getTime());
    // What the replica serves of it: nothing (its worker projected only what the mirror committed).
    await replica!.waitForProjection((await lastCommitTimestamp(replicaDb!, replicaFeedId)).toISOString());
    expect(await readFlatVersions(replica!, b!.id)).toBeUndefined();
    // Running again while the source still answers HTML changes nothing.
    expect((await mirror()).code).toBe(1);
    expect(await replicaHas(b!.id)).toBe(false);
  });

  it('#44 upstream: once the source answers with the package, the next run mirrors it with the primary’s bytes', async () => {
    const [, b] = PACKAGES;
    proxy!.replace(nupkgPath(b!.id), undefined);
    const result = await mirror();
    expect(result.code, `nucat mirror:\n${result.stderr}`).toBe(0);
    expect((await mirrorStatus()).lastError).toBeNull();
    await replica!.waitForProjection((await lastCommitTimestamp(replicaDb!, replicaFeedId)).toISOString());
    for (const p of PACKAGES) {
      const response = await request(await flatNupkgUrl(replica!, p.id, '1.0.0'));
      expect(response.status, p.id).toBe(200);
    }
    const served = await fetch(await flatNupkgUrl(replica!, b!.id, '1.0.0'));
    expect(sha512Base64(Buffer.from(await served.arrayBuffer()))).toBe(sha512Base64(b!.bytes));
  });

  it('#44 upstream: a package path answered with another valid package is refused by the catalog hash, then mirrored once corrected', async () => {
    const { stack, db, feedId } = rig();
    const d = { id: 'Nucat.Upstream.D', bytes: buildNupkg({ id: 'Nucat.Upstream.D', version: '1.0.0' }) };
    expect((await pushRaw(stack, d.bytes)).status).toBe(201);
    await stack.waitForProjection((await lastCommitTimestamp(db, feedId)).toISOString());
    proxy!.replace(nupkgPath(d.id), { status: 200, contentType: 'application/octet-stream', body: PACKAGES[0]!.bytes });

    const refused = await mirror();
    expect(refused.code, `nucat mirror:\n${refused.stderr}`).toBe(1);
    expect(refused.stderr).toMatch(new RegExp(`error ${d.id} 1\\.0\\.0 .*package_mismatch: .*SHA-512`));
    expect(await replicaHas(d.id)).toBe(false);

    proxy!.replace(nupkgPath(d.id), undefined);
    expect((await mirror()).code).toBe(0);
    expect(await replicaHas(d.id)).toBe(true);
  });
});
