/**
 * The publish API against slow clients (reliability.md §2 #2), over real loopback sockets, served the
 * way main.ts serves it: `createLimitedServer(app.callback(), config.http)` (@nucat/http), here with
 * small limits so each case ends within seconds. Every trickling client stops by itself.
 *
 * What a correct server does: headers trickled in → 408 and a closed connection; a body trickled
 * below the minimum rate → 408 and a closed connection, no temp file left, nothing published; a slow
 * but steady upload is accepted (no short total bound); other clients are served meanwhile.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { createApiKey } from '@nucat/auth';
import { findFeedId } from '@nucat/catalog';
import { createDb, migrateToLatest, type Db } from '@nucat/db';
import { createLimitedServer, serverLimitStats, type ServerLimits } from '@nucat/http';
import { createFilesystemBlobStore, type BlobStore } from '@nucat/storage';
import { buildNupkg, createTestDatabase, type TestDatabase, openRawConnection, type RawConnection } from '@nucat/testing';
import { createPublishApp } from '../src/index.js';

const LIMITS: ServerLimits = {
  headersTimeoutMs: 500,
  requestTimeoutMs: 60_000,
  keepAliveTimeoutMs: 500,
  bodyMinBytesPerSecond: 2_000,
  bodyRateWindowMs: 300,
  maxConnections: 1_000,
};

let database: TestDatabase;
let db: Db;
let store: BlobStore;
let workDir: string;
let tempDir: string;
let server: Server;
let port: number;
let apiKey: string;
let app: ReturnType<typeof createPublishApp>;
const sockets: Socket[] = [];

beforeAll(async () => {
  database = await createTestDatabase();
  db = createDb({ url: database.url });
  await migrateToLatest(db);
  const feedId = (await findFeedId(db, 'main'))!;
  workDir = await mkdtemp(join(tmpdir(), 'nucat-publish-slowloris-'));
  tempDir = join(workDir, 'uploads');
  store = createFilesystemBlobStore({ root: join(workDir, 'blobs') });
  app = createPublishApp({ db, store, feedId, log: pino({ level: 'silent' }), maxPackageBytes: 1024 * 1024, tempDir });
  server = createLimitedServer(app.callback(), LIMITS);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
  apiKey = (await createApiKey(db, { feedId, name: 'pusher' })).key;
});

afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  if (server) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
  await db?.destroy();
  await store?.close();
  await database?.drop();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

/** A raw connection to the server (or another port), closed after all tests. */
async function open(to = port): Promise<RawConnection> {
  const raw = await openRawConnection(to);
  sockets.push(raw.socket);
  return raw;
}

/** Writes `bytes` in pieces of `size` every `everyMs`, until done or the connection is closed. */
async function trickle(socket: Socket, bytes: Buffer, size: number, everyMs: number): Promise<number> {
  let sent = 0;
  while (sent < bytes.length && socket.writable && !socket.destroyed) {
    socket.write(bytes.subarray(sent, sent + size));
    sent += Math.min(size, bytes.length - sent);
    await sleep(everyMs);
  }
  return sent;
}

function bounded<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([promise, sleep(ms).then(() => Promise.reject(new Error(`${what}: not within ${ms} ms`)))]);
}

function pushHead(length: number, key = apiKey): string {
  return `PUT /v3/package/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-NuGet-ApiKey: ${key}\r\nContent-Type: application/octet-stream\r\nContent-Length: ${length}\r\n\r\n`;
}

async function published(lowerId: string): Promise<number> {
  const rows = await db.selectFrom('packages').select('lower_id').where('lower_id', '=', lowerId).execute();
  return rows.length;
}

async function stagedUploads(): Promise<string[]> {
  return readdir(tempDir).catch(() => []);
}

describe('#2 slowloris: publish API', { timeout: 30_000 }, () => {
  it('#2 slowloris: a push whose headers trickle in gets 408 and a closed connection before they are complete', async () => {
    const raw = await open();
    const head = Buffer.from(pushHead(1000));
    const sent = await trickle(raw.socket, head, 1, 20);
    await bounded(raw.closed, 5_000, 'connection closed');
    expect(raw.received()).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    expect(raw.received()).toMatch(/\r\nConnection: close\r\n/i);
    expect(sent).toBeLessThan(head.length);
  });

  it('#2 slowloris: a push whose body trickles below the minimum rate gets 408 (request_timeout), the connection is closed, no upload is left staged and nothing is published', async () => {
    const nupkg = buildNupkg({ id: 'Contoso.Slowloris', version: '1.0.0', files: { 'lib/net8.0/a.bin': Buffer.alloc(4_000, 1) } });
    const raw = await open();
    raw.socket.write(pushHead(nupkg.length));
    // 1 byte every 25 ms: 40 bytes/s against a minimum of 2,000.
    const sent = await trickle(raw.socket, nupkg, 1, 25);
    await bounded(raw.closed, 5_000, 'connection closed');
    const [head, body] = raw.received().split('\r\n\r\n');
    expect(head).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    expect(head).toMatch(/\r\nConnection: close\r\n/i);
    expect(JSON.parse(body!)).toMatchObject({ error: { code: 'request_timeout' } });
    expect(sent).toBeLessThan(nupkg.length);
    await bounded(
      (async () => {
        while ((await stagedUploads()).length > 0) await sleep(20);
      })(),
      5_000,
      'staged upload removed',
    );
    expect(await published('contoso.slowloris')).toBe(0);
    expect(serverLimitStats(server)!.bodyTimeouts).toBeGreaterThanOrEqual(1);
  });

  it('#2 slowloris: a push on a slow but steady link is accepted (201), although it takes longer than the headers timeout and many rate windows', async () => {
    const nupkg = buildNupkg({ id: 'Contoso.SlowLink', version: '1.0.0', files: { 'lib/net8.0/a.bin': randomBytes(12_000) } });
    expect(nupkg.length).toBeGreaterThan(12_000); // incompressible: at least 20 pieces below, 100 ms apart
    const raw = await open();
    raw.socket.write(pushHead(nupkg.length).replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n'));
    // 600 bytes every 100 ms: 6,000 bytes/s, three times the minimum, for about two seconds.
    await trickle(raw.socket, nupkg, 600, 100);
    await bounded(raw.closed, 10_000, 'response');
    expect(raw.received()).toMatch(/^HTTP\/1\.1 201 Created\r\n/);
    expect(await published('contoso.slowlink')).toBe(1);
  });

  it('#2 slowloris: 40 trickling clients do not pin the publish API: pushes and /health are answered meanwhile, then every trickler gets 408', async () => {
    // Its own server, with 3 s limits, so "meanwhile" does not race the timeouts.
    const patient = createLimitedServer(app.callback(), { ...LIMITS, headersTimeoutMs: 3_000, bodyRateWindowMs: 1_500 });
    await new Promise<void>((resolve) => patient.listen(0, '127.0.0.1', resolve));
    onTestFinished(async () => {
      patient.closeAllConnections();
      await new Promise((resolve) => patient.close(resolve));
    });
    const port = (patient.address() as AddressInfo).port;
    const tricklers = await Promise.all(Array.from({ length: 40 }, () => open(port)));
    const trickling = tricklers.map((raw, i) => {
      if (i % 2 === 0) return trickle(raw.socket, Buffer.from(pushHead(5_000)), 1, 50);
      raw.socket.write(pushHead(5_000));
      return trickle(raw.socket, Buffer.alloc(5_000, 2), 1, 50);
    });
    await sleep(100);
    const answered: number[] = [];
    for (let i = 0; i < 5; i += 1) {
      const nupkg = buildNupkg({ id: 'Contoso.Meanwhile', version: `1.0.${i}` });
      const response = await fetch(`http://127.0.0.1:${port}/v3/package/`, {
        method: 'PUT',
        headers: { 'X-NuGet-ApiKey': apiKey, 'Content-Type': 'application/octet-stream' },
        body: nupkg,
      });
      answered.push(response.status);
      answered.push((await fetch(`http://127.0.0.1:${port}/health`)).status);
    }
    expect(answered).toEqual(Array(10).fill(0).map((_, i) => (i % 2 === 0 ? 201 : 200)));
    expect(tricklers.filter((raw) => raw.socket.destroyed)).toHaveLength(0); // still trickling while the others were served
    await bounded(Promise.all(tricklers.map((raw) => raw.closed)), 10_000, 'tricklers closed');
    await Promise.all(trickling);
    expect(tricklers.map((raw) => raw.received().slice(0, 12))).toEqual(Array(40).fill('HTTP/1.1 408'));
  });
});
