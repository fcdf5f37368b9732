/**
 * Rate-limited failed API key checks on the publish API (reliability.md §2 #22), over real HTTP with a
 * real database. Clients come from different loopback addresses (127.0.0.x as the source address), so
 * "another address" is real: the server sees the socket's address (`app.proxy` is off).
 *
 * Decided and shown here: the limit is per client address; a valid key from another address is never
 * locked out; from the blocked address, a key that verified recently keeps working and a key never
 * seen there waits out the block; no credentials at all is never rate-limited (it costs nothing).
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
import { createMetrics } from '@nucat/http';
import { createFilesystemBlobStore, type BlobStore } from '@nucat/storage';
import { buildNupkg, createTestDatabase, type TestDatabase, requestFrom, type HttpReply } from '@nucat/testing';
import { createPublishApp } from '../src/index.js';

const MAX_FAILURES = 5;

let database: TestDatabase;
let db: Db;
let feedId: number;
let store: BlobStore;
let workDir: string;
let server: Server;
let base: string;
let adminKey: string;
const metrics = createMetrics({ app: 'publish-api', processMetrics: false });

beforeAll(async () => {
  database = await createTestDatabase();
  db = createDb({ url: database.url });
  await migrateToLatest(db);
  feedId = (await findFeedId(db, 'main'))!;
  workDir = await mkdtemp(join(tmpdir(), 'nucat-publish-ratelimit-'));
  store = createFilesystemBlobStore({ root: join(workDir, 'blobs') });
  const app = createPublishApp({
    db,
    store,
    feedId,
    log: pino({ level: 'silent' }),
    maxPackageBytes: 1024 * 1024,
    tempDir: join(workDir, 'uploads'),
    metrics,
    authFailures: { maxFailures: MAX_FAILURES, windowMs: 60_000 },
  });
  server = createServer(app.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  adminKey = (await createApiKey(db, { feedId, name: 'admin' })).key;
});

afterAll(async () => {
  server?.closeAllConnections();
  if (server) await new Promise((resolve) => server.close(resolve));
  await db?.destroy();
  await store?.close();
  await database?.drop();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

/** One request from source address `from` (127.0.0.x). */
const send = (from: string, method: string, path: string, headers: Record<string, string> = {}, body?: Buffer): Promise<HttpReply> =>
  requestFrom(from, `${base}${path}`, { method, headers, ...(body ? { body } : {}) });

/** Unlist of a version that does not exist: checks the key, then answers 404 (valid key) or 403. */
const unlist = (from: string, key: string) => send(from, 'DELETE', '/v3/package/Contoso.Nothing/1.0.0', { 'X-NuGet-ApiKey': key });
const unknownKey = `nucat_0123456789abcdef_${'u'.repeat(43)}`;
const wrongSecret = () => `${adminKey.slice(0, -4)}zzzz`;

describe('#22 rate-limited failed key checks: publish API', () => {
  it('#22 rate-limited failed key checks: after 5 refused keys from one address the next gets 429 with Retry-After, the same for an unknown key and a wrong secret', async () => {
    const from = '127.0.0.11';
    const refusals: HttpReply[] = [];
    for (let i = 0; i < MAX_FAILURES; i += 1) refusals.push(await unlist(from, i % 2 === 0 ? unknownKey : wrongSecret()));
    expect(refusals.map((r) => r.status)).toEqual(Array(MAX_FAILURES).fill(403));
    // "No such key" and "wrong secret": one body.
    expect(new Set(refusals.map((r) => r.body)).size).toBe(1);

    const limited = [await unlist(from, unknownKey), await unlist(from, wrongSecret())];
    for (const reply of limited) {
      expect(reply.status).toBe(429);
      const retryAfter = Number(reply.headers['retry-after']);
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(60);
      expect(JSON.parse(reply.body)).toEqual({ error: { code: 'too_many_requests', message: expect.stringMatching(/Too many failed API key checks/) } });
    }
    expect(limited[0]!.body).toBe(limited[1]!.body);
    // A push from there is refused the same way, before its body is read.
    const push = await send(from, 'PUT', '/v3/package/', { 'X-NuGet-ApiKey': unknownKey, 'Content-Type': 'application/octet-stream' }, buildNupkg({ id: 'Contoso.Limited', version: '1.0.0' }));
    expect(push.status).toBe(429);
  });

  it('#22 rate-limited failed key checks: a valid key from another address is not locked out by those failures', async () => {
    const attacker = '127.0.0.12';
    for (let i = 0; i < MAX_FAILURES + 3; i += 1) await unlist(attacker, unknownKey);
    expect((await unlist(attacker, unknownKey)).status).toBe(429);
    expect((await unlist('127.0.0.13', adminKey)).status).toBe(404);
    const pushed = await send('127.0.0.13', 'PUT', '/v3/package/', { 'X-NuGet-ApiKey': adminKey, 'Content-Type': 'application/octet-stream' }, buildNupkg({ id: 'Contoso.Unaffected', version: '1.0.0' }));
    expect(pushed.status).toBe(201);
  });

  it('#22 rate-limited failed key checks: from the blocked address itself, a key that verified recently keeps working; a key never seen there waits', async () => {
    const shared = '127.0.0.14'; // e.g. one NAT address for a team
    expect((await unlist(shared, adminKey)).status).toBe(404); // the team's key, in use
    for (let i = 0; i < MAX_FAILURES; i += 1) await unlist(shared, wrongSecret()); // one misconfigured machine
    expect((await unlist(shared, wrongSecret())).status).toBe(429);
    expect((await unlist(shared, adminKey)).status).toBe(404);
    const fresh = (await createApiKey(db, { feedId, name: 'fresh' })).key;
    expect((await unlist(shared, fresh)).status).toBe(429);
  });

  it('#22 rate-limited failed key checks: requests without credentials are never rate-limited (401 with the Basic challenge)', async () => {
    const from = '127.0.0.15';
    for (let i = 0; i < MAX_FAILURES; i += 1) await unlist(from, unknownKey);
    const anonymous = await send(from, 'DELETE', '/v3/package/Contoso.Nothing/1.0.0');
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers['www-authenticate']).toMatch(/^Basic /);
  });

  it('#22 rate-limited failed key checks: refused keys and 429s are counted in /metrics', async () => {
    const text = await (await fetch(`${base}/metrics`)).text();
    const value = (name: string) => Number(new RegExp(`^${name}\\{app="publish-api"\\} (\\d+)$`, 'm').exec(text)?.[1]);
    expect(value('nucat_auth_rate_limited_total')).toBeGreaterThanOrEqual(6);
    expect(value('nucat_auth_failed_key_checks_total')).toBeGreaterThanOrEqual(4 * MAX_FAILURES);
  });
});
