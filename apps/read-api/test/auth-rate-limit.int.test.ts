/**
 * Rate-limited failed key checks on a private read feed (reliability.md §2 #22), over real HTTP with
 * a real database, wired as main.ts wires it: `createAuthFailureLimiter(config.authFailures)` passed
 * as `access.failedKeyLimiter`. Clients come from different loopback addresses (127.0.0.x as the
 * source address); the server sees the socket's address.
 *
 * Decided and shown here: the limit is per client address; a valid key from another address is never
 * locked out; from the blocked address a key that verified recently keeps reading and a key never seen
 * there waits out the block; anonymous requests (NuGet's first, before the 401 challenge) are never
 * rate-limited.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '@nucat/auth';
import { createFeedUrls, findFeedId } from '@nucat/catalog';
import { createDb, migrateToLatest, type Db } from '@nucat/db';
import { createAuthFailureLimiter, createMetrics } from '@nucat/http';
import { createFilesystemBlobStore, type BlobStore } from '@nucat/storage';
import { createTestDatabase, type TestDatabase, requestFrom, type HttpReply } from '@nucat/testing';
import { createReadApp } from '../src/index.js';

const MAX_FAILURES = 5;
const INDEX = JSON.stringify({ versions: ['1.0.0'] });
const PATH = '/v3/flatcontainer/contoso.private/index.json';

let database: TestDatabase;
let db: Db;
let feedId: number;
let store: BlobStore;
let workDir: string;
let server: Server;
let base: string;
let readKey: string;
const metrics = createMetrics({ app: 'read-api', processMetrics: false });

beforeAll(async () => {
  database = await createTestDatabase();
  db = createDb({ url: database.url });
  await migrateToLatest(db);
  feedId = (await findFeedId(db, 'main'))!;
  workDir = await mkdtemp(join(tmpdir(), 'nucat-read-ratelimit-'));
  store = createFilesystemBlobStore({ root: join(workDir, 'blobs') });
  await store.put('flatcontainer/contoso.private/index.json', Buffer.from(INDEX));
  const failedKeyLimiter = createAuthFailureLimiter({ maxFailures: MAX_FAILURES, windowMs: 60_000, metrics });
  const app = createReadApp({
    db,
    store,
    feedId,
    urls: createFeedUrls('http://127.0.0.1/v3/'),
    publishUrl: 'http://127.0.0.1:1',
    log: pino({ level: 'silent' }),
    metrics,
    access: { private: true, failedKeyLimiter },
  });
  server = createServer(app.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  readKey = (await createApiKey(db, { feedId, name: 'ci', scopes: ['read'] })).key;
});

afterAll(async () => {
  server?.closeAllConnections();
  if (server) await new Promise((resolve) => server.close(resolve));
  await db?.destroy();
  await store?.close();
  await database?.drop();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

const get = (from: string, path: string, headers: Record<string, string> = {}): Promise<HttpReply> => requestFrom(from, `${base}${path}`, { headers });

const basic = (password: string) => ({ Authorization: `Basic ${Buffer.from(`ci:${password}`).toString('base64')}` });
const unknownKey = `nucat_0123456789abcdef_${'u'.repeat(43)}`;
const wrongSecret = () => `${readKey.slice(0, -4)}zzzz`;

describe('#22 rate-limited failed key checks: private read feed', () => {
  it('#22 rate-limited failed key checks: after 5 refused Basic passwords from one address the next gets 429 with Retry-After, the same for an unknown key and a wrong secret', async () => {
    const from = '127.0.0.21';
    const refusals: HttpReply[] = [];
    for (let i = 0; i < MAX_FAILURES; i += 1) refusals.push(await get(from, PATH, basic(i % 2 === 0 ? unknownKey : wrongSecret())));
    expect(refusals.map((r) => r.status)).toEqual(Array(MAX_FAILURES).fill(401));
    expect(new Set(refusals.map((r) => r.body)).size).toBe(1); // no such key = wrong secret
    const limited = [await get(from, PATH, basic(unknownKey)), await get(from, PATH, basic(wrongSecret()))];
    for (const reply of limited) {
      expect(reply.status).toBe(429);
      expect(Number(reply.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect(Number(reply.headers['retry-after'])).toBeLessThanOrEqual(60);
      expect(JSON.parse(reply.body)).toMatchObject({ error: { code: 'too_many_requests' } });
    }
    expect(limited[0]!.body).toBe(limited[1]!.body);
  });

  it('#22 rate-limited failed key checks: a valid key from another address keeps reading', async () => {
    for (let i = 0; i < MAX_FAILURES + 2; i += 1) await get('127.0.0.22', PATH, { 'X-NuGet-ApiKey': unknownKey });
    expect((await get('127.0.0.22', PATH, basic(unknownKey))).status).toBe(429);
    const reply = await get('127.0.0.23', PATH, basic(readKey));
    expect(reply.status).toBe(200);
    expect(reply.body).toBe(INDEX);
  });

  it('#22 rate-limited failed key checks: from the blocked address, a key that verified recently keeps reading; a key never seen there waits', async () => {
    const shared = '127.0.0.24';
    expect((await get(shared, PATH, basic(readKey))).status).toBe(200);
    for (let i = 0; i < MAX_FAILURES; i += 1) await get(shared, PATH, basic(wrongSecret()));
    expect((await get(shared, PATH, basic(wrongSecret()))).status).toBe(429);
    expect((await get(shared, PATH, basic(readKey))).status).toBe(200);
    const fresh = (await createApiKey(db, { feedId, name: 'fresh', scopes: ['read'] })).key;
    expect((await get(shared, PATH, basic(fresh))).status).toBe(429);
    expect((await get('127.0.0.25', PATH, basic(fresh))).status).toBe(200);
  });

  it('#22 rate-limited failed key checks: anonymous requests from a blocked address still get the 401 Basic challenge', async () => {
    const from = '127.0.0.26';
    for (let i = 0; i < MAX_FAILURES; i += 1) await get(from, PATH, basic(unknownKey));
    const anonymous = await get(from, PATH);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers['www-authenticate']).toMatch(/^Basic /);
  });

  it('#22 rate-limited failed key checks: refused keys and 429s are counted in /metrics', async () => {
    const text = (await get('127.0.0.27', '/metrics', basic(readKey))).body;
    const value = (name: string) => Number(new RegExp(`^${name}\\{app="read-api"\\} (\\d+)$`, 'm').exec(text)?.[1]);
    expect(value('nucat_auth_rate_limited_total')).toBeGreaterThanOrEqual(5);
    expect(value('nucat_auth_failed_key_checks_total')).toBeGreaterThanOrEqual(4 * MAX_FAILURES);
  });
});
