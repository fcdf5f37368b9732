/**
 * The publish API's operations endpoints over real HTTP: pushes counted by result, `/ready` following
 * the database, `/health` cheap and 503 once shutting down.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '@nucat/auth';
import { findFeedId } from '@nucat/catalog';
import { createDb, migrateToLatest, type Db } from '@nucat/db';
import { createFilesystemBlobStore, type BlobStore } from '@nucat/storage';
import { buildNupkg, createTestDatabase, REFUSING_PORT, type TestDatabase } from '@nucat/testing';
import { createPublishApp, type PublishAppDeps } from '../src/index.js';
import { pushResult } from '../src/ops.js';

const log = pino({ level: 'silent' });

let database: TestDatabase;
let db: Db;
let feedId: number;
let workDir: string;
let store: BlobStore;
let apiKey: string;
const servers: Server[] = [];
const closers: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  database = await createTestDatabase();
  db = createDb({ url: database.url });
  await migrateToLatest(db);
  feedId = (await findFeedId(db, 'main'))!;
  workDir = await mkdtemp(join(tmpdir(), 'nucat-publish-ops-'));
  store = createFilesystemBlobStore({ root: join(workDir, 'blobs') });
  apiKey = (await createApiKey(db, { feedId, name: 'ops' })).key;
});

afterAll(async () => {
  for (const server of servers) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
  for (const close of closers) await close();
  await db?.destroy();
  await store?.close();
  await database?.drop();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

async function start(overrides: Partial<PublishAppDeps> = {}): Promise<string> {
  const app = createPublishApp({ db, store, feedId, log, maxPackageBytes: 64 * 1024, tempDir: join(workDir, 'uploads'), ...overrides });
  const server = createServer(app.callback());
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function push(base: string, body: Buffer, key: string | null = apiKey): Promise<Response> {
  return fetch(`${base}/v3/package/`, {
    method: 'PUT',
    headers: { 'Content-Type': 'application/octet-stream', ...(key ? { 'X-NuGet-ApiKey': key } : {}) },
    body,
  });
}

describe('publish-api /metrics', () => {
  it('counts pushes by result', async () => {
    const base = await start();
    const nupkg = buildNupkg({ id: 'Contoso.Ops', version: '1.0.0' });
    expect((await push(base, nupkg)).status).toBe(201);
    expect((await push(base, nupkg)).status).toBe(409);
    expect((await push(base, buildNupkg({ id: 'Contoso.Ops', version: '1.0' }))).status).toBe(409);
    expect((await push(base, Buffer.from('not a zip'))).status).toBe(400);
    expect((await push(base, nupkg, null)).status).toBe(401);
    expect((await push(base, nupkg, 'nucat_wrong_key')).status).toBe(403);
    expect((await push(base, Buffer.alloc(100 * 1024, 1))).status).toBe(413);

    const text = await (await fetch(`${base}/metrics`)).text();
    const count = (result: string) => Number(new RegExp(`^nucat_pushes_total\\{(?=.*result="${result}").*\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
    expect({ created: count('created'), conflict: count('conflict'), invalid: count('invalid'), unauthorized: count('unauthorized'), forbidden: count('forbidden'), too_large: count('too_large') }).toEqual({
      created: 1,
      conflict: 2,
      invalid: 1,
      unauthorized: 1,
      forbidden: 1,
      too_large: 1,
    });
    expect(text).toMatch(/^nucat_http_request_duration_seconds_count\{(?=.*method="PUT")(?=.*route="\/v3\/package\/?")(?=.*status_class="4xx").*\} 6$/m);
  });

  it('maps each status to one result', () => {
    expect([201, 202, 400, 401, 403, 408, 409, 413, 415, 500, 503].map(pushResult)).toEqual([
      'created',
      'created',
      'invalid',
      'unauthorized',
      'forbidden',
      'timeout',
      'conflict',
      'too_large',
      'rejected',
      'error',
      'unavailable',
    ]);
  });
});

describe('publish-api /health and /ready', () => {
  it('answers /ready 200 with the database check (Redis is not used by this app)', async () => {
    const base = await start();
    const response = await fetch(`${base}/ready`);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ status: 'ready', failing: [], checks: { database: { ok: true } } });
  });

  it('answers /ready 503 naming the database when it is unreachable; /health stays 200', async () => {
    const down = createDb({ url: `postgres://nucat:nucat@127.0.0.1:${REFUSING_PORT}/nucat` });
    closers.push(() => down.destroy());
    const base = await start({ db: down });
    const response = await fetch(`${base}/ready`);
    expect(response.status).toBe(503);
    expect(await response.json()).toMatchObject({ status: 'not_ready', failing: ['database'] });
    expect((await fetch(`${base}/health`)).status).toBe(200);
  });

  it('answers 503 on /health and /ready once shutting down', async () => {
    const shutdown = new AbortController();
    const base = await start({ shutdownSignal: shutdown.signal });
    shutdown.abort();
    expect((await fetch(`${base}/health`)).status).toBe(503);
    expect((await fetch(`${base}/ready`)).status).toBe(503);
  });
});
