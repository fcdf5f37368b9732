/**
 * reliability.md §2 #43 and promise P3, through the real HTTP API: unlist, then push the same version; hard
 * delete, then push it again. Every re-push answers 409 — with the same bytes, other bytes, or another
 * spelling of the version — writes no catalog event and leaves the stored bytes and hash as they were. An
 * unlisted version leaves search but stays restorable (flat container and registration, `listed: false`);
 * a deleted one is gone everywhere and its id+version can never be used again.
 */
import { describe, expect, it } from 'vitest';
import { buildNupkg } from '@nucat/testing';
import { catalogItemsOf, lastCommitTimestamp, useFaultRig } from '../support/faults.js';
import {
  describeResponse,
  flatNupkgUrl,
  getJson,
  pushRaw,
  readFlatVersions,
  readRegistrationLeaves,
  relistRaw,
  request,
  sha512Base64,
  unlistRaw,
} from '../support/feed.js';

const rig = useFaultRig();

const ID = 'Nucat.Fault.Immutable';
const LOWER_ID = ID.toLowerCase();
const original = buildNupkg({ id: ID, version: '1.0.0', description: 'The original bytes.' });
const otherBytes = buildNupkg({ id: ID, version: '1.0.0', description: 'Other bytes under the same version.' });
const otherSpelling = buildNupkg({ id: 'NUCAT.fault.IMMUTABLE', version: '1.0' });
const ALL_PROJECTIONS = ['flatcontainer', 'registration', 'search'];

async function caughtUp(): Promise<void> {
  const { stack, db, feedId } = rig();
  await stack.waitForProjection((await lastCommitTimestamp(db, feedId)).toISOString(), ALL_PROJECTIONS);
}

/** Ids and versions search returns for the id (prerelease and SemVer 2.0.0 included). */
async function searchVersions(): Promise<string[]> {
  const { stack } = rig();
  const result = await getJson<{ data: { id: string; version: string }[] }>(
    `${stack.publicUrl}/v3/query?q=${encodeURIComponent(ID)}&prerelease=true&semVerLevel=2.0.0&take=100`,
  );
  return result.data.filter((d) => d.id.toLowerCase() === LOWER_ID).map((d) => d.version);
}

/** Re-pushes the original bytes, other bytes and another spelling: each must answer 409 and write nothing. */
async function expectEveryRePushRefused(when: string): Promise<void> {
  const { stack, db, feedId } = rig();
  const before = await catalogItemsOf(db, feedId, LOWER_ID, '1.0.0');
  const head = await lastCommitTimestamp(db, feedId);
  for (const [what, bytes] of [['same bytes', original], ['other bytes', otherBytes], ['1.0 in other casing', otherSpelling]] as const) {
    const result = await pushRaw(stack, bytes);
    expect(result.status, `${when}, re-push with ${what}: ${describeResponse('PUT', 'push', result)}`).toBe(409);
    expect(JSON.parse(result.text)).toMatchObject({ error: { code: 'package_conflict' } });
  }
  expect(await catalogItemsOf(db, feedId, LOWER_ID, '1.0.0'), `${when}: catalog items of 1.0.0`).toEqual(before);
  expect((await lastCommitTimestamp(db, feedId)).getTime(), `${when}: catalog head`).toBe(head.getTime());
  const row = await db.query<{ package_hash: string }>('SELECT package_hash FROM packages WHERE feed_id = $1 AND lower_id = $2 AND lower_version = $3', [
    feedId,
    LOWER_ID,
    '1.0.0',
  ]);
  expect(row.rows[0]?.package_hash, `${when}: stored hash`).toBe(sha512Base64(original));
}

describe('immutable versions through the HTTP API', () => {
  it('#43 unlist then re-push: 409 with the same bytes, other bytes or another spelling; no event, bytes unchanged', async () => {
    const { stack } = rig();
    const pushed = await pushRaw(stack, original);
    expect(pushed.status, describeResponse('PUT', 'push', pushed)).toBe(201);
    await caughtUp();
    expect(await searchVersions(), 'search before the unlist').toEqual(['1.0.0']);

    const unlisted = await unlistRaw(stack, ID, '1.0.0');
    expect(unlisted.status, describeResponse('DELETE', 'unlist', unlisted)).toBe(204);
    await expectEveryRePushRefused('after the unlist');
  });

  it('#43 unlist then re-push: the unlisted version is out of search but still restorable with its original bytes', async () => {
    const { stack } = rig();
    await caughtUp();
    expect(await searchVersions(), 'search after the unlist').toEqual([]);
    expect(await readFlatVersions(stack, ID), 'flat container').toEqual(['1.0.0']);
    const download = await fetch(await flatNupkgUrl(stack, ID, '1.0.0'));
    expect(download.status).toBe(200);
    expect(Buffer.from(await download.arrayBuffer()).equals(original), 'served bytes = the original').toBe(true);
    expect((await readRegistrationLeaves(stack, ID))?.map((l) => [l.catalogEntry.version, l.catalogEntry.listed])).toEqual([['1.0.0', false]]);

    // Relisting brings it back to search, with the same bytes: unlisting was reversible, the version never changed.
    expect((await relistRaw(stack, ID, '1.0.0')).status).toBe(200);
    await caughtUp();
    expect(await searchVersions(), 'search after the relist').toEqual(['1.0.0']);
    await expectEveryRePushRefused('after the relist');
  });

  it('#43 delete then re-push: after a hard delete the version is gone everywhere and never accepted again', async () => {
    const { stack, db, feedId } = rig();
    const deleted = await stack.cli(['delete', ID, '1.0.0']);
    expect(deleted.code, `nucat delete: ${deleted.stdout}${deleted.stderr}`).toBe(0);
    await caughtUp();
    expect(await readFlatVersions(stack, ID), 'flat container').toBeUndefined();
    expect((await request(await flatNupkgUrl(stack, ID, '1.0.0'))).status, 'the .nupkg').toBe(404);
    expect(await readRegistrationLeaves(stack, ID), 'registration').toBeUndefined();
    expect(await searchVersions(), 'search').toEqual([]);

    await expectEveryRePushRefused('after the delete');
    expect((await relistRaw(stack, ID, '1.0.0')).status, 'relist of a deleted version').toBe(404);
    expect((await unlistRaw(stack, ID, '1.0.0')).status, 'unlist of a deleted version').toBe(404);

    // Other versions of the id are fine; 1.0.0 stays refused after them ("forever").
    const next = await pushRaw(stack, buildNupkg({ id: ID, version: '1.0.1' }));
    expect(next.status, describeResponse('PUT', 'push 1.0.1', next)).toBe(201);
    await expectEveryRePushRefused('after another version was pushed');
    await caughtUp();
    expect(await readFlatVersions(stack, ID)).toEqual(['1.0.1']);
    expect((await catalogItemsOf(db, feedId, LOWER_ID, '1.0.0')).map((i) => i.type)).toEqual(['PackageDetails', 'PackageDetails', 'PackageDetails', 'PackageDelete']);
  });
});
