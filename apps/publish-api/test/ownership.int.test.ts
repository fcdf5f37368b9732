/**
 * Ownership over real HTTP (reliability.md §2 #14, #15; P8 for unlist/relist): keys of two owners
 * against one publish API, a real PostgreSQL database and a filesystem blob store. The rules themselves
 * are specified in packages/auth/test/ownership.int.test.ts; the CLI and dotnet in test/ownership.test.ts.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addOwner, createApiKey, listOwners, reserveIdPattern, type ApiKeyScope } from '@nucat/auth';
import { findFeedId } from '@nucat/catalog';
import { createDb, migrateToLatest, type Db } from '@nucat/db';
import { createFilesystemBlobStore, type BlobStore } from '@nucat/storage';
import { buildNupkg, createTestDatabase, type TestDatabase } from '@nucat/testing';
import { createPublishApp } from '../src/index.js';

let database: TestDatabase;
let db: Db;
let store: BlobStore;
let feedId: number;
let workDir: string;
let server: Server;
let base: string;
const keys: Record<'alice' | 'bob' | 'contoso' | 'admin', string> = { alice: '', bob: '', contoso: '', admin: '' };

interface Reply {
  status: number;
  body: { error?: { code: string; message: string; details?: { reason?: string } }; id?: string; version?: string };
}

async function call(method: string, path: string, apiKey: string, body?: Buffer): Promise<Reply> {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { 'X-NuGet-ApiKey': apiKey, ...(body ? { 'Content-Type': 'application/octet-stream' } : {}) },
    ...(body ? { body } : {}),
  });
  const text = await response.text();
  const isJson = response.headers.get('content-type')?.includes('json') ?? false;
  return { status: response.status, body: isJson ? (JSON.parse(text) as Reply['body']) : {} };
}

const push = (id: string, version: string, apiKey: string) => call('PUT', '/v3/package/', apiKey, buildNupkg({ id, version }));
const unlist = (id: string, version: string, apiKey: string) => call('DELETE', `/v3/package/${id}/${version}`, apiKey);
const relist = (id: string, version: string, apiKey: string) => call('POST', `/v3/package/${id}/${version}`, apiKey);

async function key(name: string, owner?: string, scopes?: ApiKeyScope[]): Promise<string> {
  return (await createApiKey(db, { feedId, name, ...(owner ? { owner } : {}), ...(scopes ? { scopes } : {}) })).key;
}

async function versionsOf(lowerId: string): Promise<{ id: string; version: string; listed: boolean }[]> {
  return db.selectFrom('packages').select(['id', 'version', 'listed']).where('lower_id', '=', lowerId).orderBy('created').execute();
}

beforeAll(async () => {
  database = await createTestDatabase();
  db = createDb({ url: database.url, poolSize: 20 });
  await migrateToLatest(db);
  feedId = (await findFeedId(db, 'main'))!;
  workDir = await mkdtemp(join(tmpdir(), 'nucat-ownership-int-'));
  store = createFilesystemBlobStore({ root: join(workDir, 'blobs') });
  const app = createPublishApp({ db, store, feedId, log: pino({ level: 'silent' }), maxPackageBytes: 1024 * 1024, tempDir: join(workDir, 'uploads') });
  server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  keys.alice = await key('alice-ci', 'alice');
  keys.bob = await key('bob-ci', 'bob');
  keys.contoso = await key('contoso-release', 'contoso');
  keys.admin = await key('admin'); // every scope, every id, owner 'default'
});

afterAll(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
  await db?.destroy();
  await store?.close();
  await database?.drop();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

describe('#14 case-variant id squatting', () => {
  it('#14 case-variant id squatting: another owner pushing any casing of an id gets 403 "belongs to another owner"', async () => {
    expect((await push('Nucat.Squat.Json', '1.0.0', keys.alice)).status).toBe(201);
    for (const [id, version] of [
      ['nucat.squat.json', '2.0.0'],
      ['NUCAT.SQUAT.JSON', '3.0.0'],
      ['Nucat.Squat.Json', '1.0.0'], // even an existing version: 403 (no hint whether it exists), not 409
    ] as const) {
      const refused = await push(id, version, keys.bob);
      expect(refused.status, `${id} ${version}`).toBe(403);
      expect(refused.body.error).toEqual({
        code: 'forbidden',
        message: `The package id '${id}' belongs to another owner; ask one of its owners to share it with you.`,
        details: { reason: 'id_owned_by_another_owner' },
      });
    }
    expect((await versionsOf('nucat.squat.json')).map((v) => v.version)).toEqual(['1.0.0']);
  });

  it('#14 case-variant id squatting: the owner keeps pushing new versions in any casing; the claimed casing is kept for display', async () => {
    expect((await push('nucat.squat.json', '2.0.0', keys.alice)).status).toBe(201);
    expect(await listOwners(db, feedId, 'NUCAT.squat.JSON')).toMatchObject({ id: 'Nucat.Squat.Json', owners: ['alice'] });
    expect((await push('Nucat.Squat.Json', '2.0.0', keys.alice)).status).toBe(409); // the usual duplicate answer for its owner
  });

  it('#14 case-variant id squatting: two owners pushing the same new id at once — exactly one 201, the other 403', async () => {
    for (let round = 0; round < 6; round++) {
      const [a, b] = await Promise.all([push(`Nucat.Race${round}`, '1.0.0', keys.alice), push(`nucat.race${round}`, '1.0.0', keys.bob)]);
      expect([a.status, b.status].sort(), `round ${round}`).toEqual([201, 403]);
      const winner = a.status === 201 ? 'alice' : 'bob';
      expect((await listOwners(db, feedId, `nucat.race${round}`))?.owners, `round ${round}`).toEqual([winner]);
      expect(await versionsOf(`nucat.race${round}`), `round ${round}`).toHaveLength(1);
    }
  });

  it('a key of the default owner with every scope and every id does not bypass ownership', async () => {
    const refused = await push('NUCAT.SQUAT.JSON', '9.0.0', keys.admin);
    expect(refused.status).toBe(403);
    expect(refused.body.error?.details?.reason).toBe('id_owned_by_another_owner');
  });

  it('an id shared with another owner may be pushed by both', async () => {
    expect(await addOwner(db, feedId, 'nucat.squat.json', 'bob')).toBe('added');
    expect((await push('NuCat.Squat.Json', '4.0.0', keys.bob)).status).toBe(201);
    expect((await push('Nucat.Squat.Json', '5.0.0', keys.alice)).status).toBe(201);
  });
});

describe('unlist and relist (P8: the same authorisation on every write path)', () => {
  it('a non-owner cannot unlist or relist a version of someone else\'s id (403); the owner can', async () => {
    expect((await push('Nucat.Owned.Unlist', '1.0.0', keys.alice)).status).toBe(201);
    for (const [method, path] of [
      ['DELETE', 'Nucat.Owned.Unlist/1.0.0'],
      ['DELETE', 'nucat.owned.unlist/1.0.0'],
      ['POST', 'NUCAT.OWNED.UNLIST/1.0.0'],
      ['DELETE', 'nucat.owned.unlist/7.0.0'], // a version that does not exist: still 403, nothing revealed
    ] as const) {
      const refused = await call(method, `/v3/package/${path}`, keys.bob);
      expect(refused.status, `${method} ${path}`).toBe(403);
      expect(refused.body.error?.details?.reason).toBe('id_owned_by_another_owner');
    }
    expect((await versionsOf('nucat.owned.unlist'))[0]?.listed).toBe(true);
    expect((await unlist('nucat.owned.unlist', '1.0.0', keys.alice)).status).toBe(204);
    expect((await versionsOf('nucat.owned.unlist'))[0]?.listed).toBe(false);
    expect((await relist('NUCAT.OWNED.UNLIST', '1.0.0', keys.alice)).status).toBe(200);
    expect((await unlist('No.Such.Package', '1.0.0', keys.bob)).status).toBe(404);
  });
});

describe('#15 reserved prefix', () => {
  it('#15 reserved prefix: a non-owner pushing a NEW id under it gets 403; its owner 201; existing ids and their owners are unaffected', async () => {
    expect((await push('Nucat.Contoso.Before', '1.0.0', keys.bob)).status).toBe(201); // claimed before the reservation
    await reserveIdPattern(db, feedId, 'Nucat.Contoso.*', 'contoso');

    const refused = await push('nucat.contoso.Widgets', '1.0.0', keys.bob);
    expect(refused.status).toBe(403);
    expect(refused.body.error).toEqual({
      code: 'forbidden',
      message: "The package id 'nucat.contoso.Widgets' is reserved: only the owners of its prefix may push new ids under it.",
      details: { reason: 'id_prefix_reserved' },
    });
    expect((await push('Nucat.ContosoEvil', '1.0.0', keys.bob)).status).toBe(201); // not under 'Nucat.Contoso.'
    expect((await push('Nucat.Contoso.Widgets', '1.0.0', keys.contoso)).status).toBe(201);
    expect((await push('nucat.contoso.before', '2.0.0', keys.bob)).status).toBe(201); // existing id, new version by its owner
    expect((await push('Nucat.Contoso.Before', '3.0.0', keys.contoso)).status).toBe(403); // the prefix does not take existing ids
    expect((await versionsOf('nucat.contoso.widgets')).map((v) => v.id)).toEqual(['Nucat.Contoso.Widgets']);
  });

  it('#15 reserved prefix: the key\'s scopes and id globs still apply first', async () => {
    const versionOnly = await key('contoso-versions', 'contoso', ['push-version']);
    const refused = await push('Nucat.Contoso.Gadgets', '1.0.0', versionOnly);
    expect(refused.status).toBe(403);
    expect(refused.body.error?.message).toMatch(/may not push a new package id/);
  });
});
