/**
 * The read API's operations endpoints over real HTTP: `/ready` follows the database and the projection
 * lag, while reads of the flat container keep answering with the database down (reliability P7);
 * `/metrics` labels requests by route template and counts downloads.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { advanceCursor, appendCatalogCommit, createFeedUrls, findFeedId, getCursor } from '@nucat/catalog';
import { createDb, migrateToLatest, type Db } from '@nucat/db';
import { createFilesystemBlobStore, type BlobStore } from '@nucat/storage';
import { createTestDatabase, REFUSING_PORT, type TestDatabase } from '@nucat/testing';
import { createReadApp, type ReadAppDeps } from '../src/index.js';

const log = pino({ level: 'silent' });
const NUPKG = Buffer.from('PK\u0003\u0004 not really a zip, but bytes to serve');

let database: TestDatabase;
let db: Db;
let feedId: number;
let workDir: string;
let store: BlobStore;
const servers: Server[] = [];
const closers: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  database = await createTestDatabase();
  db = createDb({ url: database.url });
  await migrateToLatest(db);
  feedId = (await findFeedId(db, 'main'))!;
  workDir = await mkdtemp(join(tmpdir(), 'nucat-read-ops-'));
  store = createFilesystemBlobStore({ root: join(workDir, 'blobs') });
  // What the flat container projection would have written.
  await store.put('flatcontainer/contoso.p7/index.json', Buffer.from(JSON.stringify({ versions: ['1.0.0'] })));
  await store.put('flatcontainer/contoso.p7/1.0.0/contoso.p7.1.0.0.nupkg', NUPKG);
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

async function startReadApp(overrides: Partial<ReadAppDeps> = {}): Promise<string> {
  const server = createServer();
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const app = createReadApp({ db, store, localFiles: { root: join(workDir, 'blobs') }, feedId, urls: createFeedUrls(`${base}/v3/`), publishUrl: 'http://127.0.0.1:1', log, ...overrides });
  server.on('request', app.callback());
  return base;
}

/** A database handle whose server is a closed port: every query fails to connect. */
async function unreachableDb(): Promise<Db> {
  const down = createDb({ url: `postgres://nucat:nucat@127.0.0.1:${REFUSING_PORT}/nucat` });
  closers.push(() => down.destroy());
  return down;
}

interface ReadyBody {
  status: string;
  failing: string[];
  checks: Record<string, { ok: boolean; error?: string; details?: Record<string, unknown> }>;
}

describe('read-api /ready', () => {
  it('answers 200 with each check when the database answers and no projection lags', async () => {
    const base = await startReadApp();
    const response = await fetch(`${base}/ready`);
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    const body = (await response.json()) as ReadyBody;
    expect(body).toMatchObject({ status: 'ready', failing: [], checks: { database: { ok: true }, projections: { ok: true } } });
    expect(body.checks['projections']!.details).toEqual({ maxLagSeconds: 300, lagSeconds: { flatcontainer: 0, registration: 0 } });
    expect(Object.keys(body.checks)).toEqual(['database', 'projections']);
  });

  it('answers 503 naming the database when it is unreachable, while flat container reads still answer 200 (P7)', async () => {
    const base = await startReadApp({ db: await unreachableDb() });

    const ready = await fetch(`${base}/ready`);
    expect(ready.status).toBe(503);
    const body = (await ready.json()) as ReadyBody;
    expect(body.status).toBe('not_ready');
    expect(body.failing).toContain('database');
    expect(body.checks['database']).toMatchObject({ ok: false, error: 'database check failed (ECONNREFUSED)' });

    const index = await fetch(`${base}/v3/flatcontainer/contoso.p7/index.json`);
    expect(index.status).toBe(200);
    expect(await index.json()).toEqual({ versions: ['1.0.0'] });
    const nupkg = await fetch(`${base}/v3/flatcontainer/contoso.p7/1.0.0/contoso.p7.1.0.0.nupkg`);
    expect(nupkg.status).toBe(200);
    expect(Buffer.from(await nupkg.arrayBuffer()).equals(NUPKG)).toBe(true);
    expect((await fetch(`${base}/health`)).status).toBe(200);
  });

  it('answers 503 naming projections when a served projection lags past the limit', async () => {
    const before = await getCursor(db, feedId, 'registration');
    await getCursor(db, feedId, 'flatcontainer');
    const stamp = await db.transaction().execute((trx) =>
      appendCatalogCommit(trx, feedId, [
        { type: 'PackageDelete', lowerId: 'contoso.late', lowerVersion: '1.0.0', build: (c) => ({ id: 'Contoso.Late', originalId: 'Contoso.Late', version: '1.0.0', published: c.commitTimestamp.toISOString() }) },
      ]),
    );
    await advanceCursor(db, feedId, 'flatcontainer', await getCursor(db, feedId, 'flatcontainer'), stamp.commitTimestamp);
    const base = await startReadApp({ ready: { maxLagSeconds: 1 } });
    await sleep(1200);
    const response = await fetch(`${base}/ready`);
    expect(response.status).toBe(503);
    const body = (await response.json()) as ReadyBody;
    expect(body.failing).toEqual(['projections']);
    expect(body.checks['projections']!.error).toMatch(/^projections behind the catalog by more than 1 s: registration \d+\.\d s$/);
    await advanceCursor(db, feedId, 'registration', before, stamp.commitTimestamp);
  });

  it('answers 503 on /health and /ready once shutting down', async () => {
    const shutdown = new AbortController();
    const base = await startReadApp({ shutdownSignal: shutdown.signal });
    expect((await fetch(`${base}/health`)).status).toBe(200);
    shutdown.abort();
    const health = await fetch(`${base}/health`);
    expect(health.status).toBe(503);
    expect(await health.json()).toEqual({ status: 'shutting_down' });
    expect((await fetch(`${base}/ready`)).status).toBe(503);
  });
});

describe('read-api /metrics', () => {
  it('labels requests by route template and counts nupkg downloads (not HEAD)', async () => {
    const base = await startReadApp();
    await (await fetch(`${base}/v3/flatcontainer/contoso.p7/1.0.0/contoso.p7.1.0.0.nupkg`)).arrayBuffer();
    await (await fetch(`${base}/v3/flatcontainer/contoso.p7/1.0.0/contoso.p7.1.0.0.nupkg`)).arrayBuffer();
    await (await fetch(`${base}/v3/flatcontainer/contoso.p7/1.0.0/contoso.p7.1.0.0.nupkg`, { method: 'HEAD' })).arrayBuffer();
    await (await fetch(`${base}/v3/flatcontainer/contoso.p7/index.json`)).arrayBuffer();
    await (await fetch(`${base}/v3/flatcontainer/contoso.nothing/index.json`)).arrayBuffer();
    await (await fetch(`${base}/no/such/path`)).arrayBuffer();

    const response = await fetch(`${base}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const text = await response.text();
    expect(text).toMatch(/^nucat_downloads_total\{app="read-api"\} 2$/m);
    const routes = new Set([...text.matchAll(/^nucat_http_request_duration_seconds_count\{.*route="([^"]*)".*\} \d+$/gm)].map((m) => m[1]));
    expect(routes).toEqual(new Set(['/v3/flatcontainer/:id/:version/:file', '/v3/flatcontainer/:id/index.json', 'unmatched']));
    expect(text).not.toContain('contoso');
    expect(text).toMatch(/^nucat_http_request_duration_seconds_count\{(?=.*method="GET")(?=.*route="\/v3\/flatcontainer\/:id\/index.json")(?=.*status_class="4xx").*\} 1$/m);
  });
});
