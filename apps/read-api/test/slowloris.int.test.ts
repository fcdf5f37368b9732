/**
 * The read API against slow clients (reliability.md §2 #2), over real loopback sockets, served the
 * way main.ts serves it: `createLimitedServer(app.callback(), config.http)` (@nucat/http), with small
 * limits so each case ends within seconds. Every trickling client stops by itself.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { createFeedUrls } from '@nucat/catalog';
import { createDb, type Db } from '@nucat/db';
import { createLimitedServer, type ServerLimits } from '@nucat/http';
import { createFilesystemBlobStore, type BlobStore } from '@nucat/storage';
import { REFUSING_PORT, openRawConnection, type RawConnection } from '@nucat/testing';
import { createReadApp } from '../src/index.js';

const LIMITS: ServerLimits = {
  headersTimeoutMs: 400,
  requestTimeoutMs: 60_000,
  keepAliveTimeoutMs: 400,
  bodyMinBytesPerSecond: 1_000,
  bodyRateWindowMs: 300,
  maxConnections: 1_000,
};
const INDEX = JSON.stringify({ versions: ['1.0.0', '2.0.0'] });

let db: Db;
let store: BlobStore;
let workDir: string;
let server: Server;
let port: number;
const sockets: Socket[] = [];

beforeAll(async () => {
  // The flat container is served from the blob store alone: no database is needed (or reachable).
  db = createDb({ url: `postgres://nucat:nucat@127.0.0.1:${REFUSING_PORT}/nucat` });
  workDir = await mkdtemp(join(tmpdir(), 'nucat-read-slowloris-'));
  store = createFilesystemBlobStore({ root: join(workDir, 'blobs') });
  await store.put('flatcontainer/contoso.slow/index.json', Buffer.from(INDEX));
  const app = createReadApp({ db, store, feedId: 1, urls: createFeedUrls('http://127.0.0.1/v3/'), publishUrl: 'http://127.0.0.1:1', log: pino({ level: 'silent' }) });
  server = createLimitedServer(app.callback(), LIMITS);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  if (server) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
  await db?.destroy();
  await store?.close();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

/** A raw connection to the server (or another port), closed after all tests. */
async function open(to = port): Promise<RawConnection> {
  const raw = await openRawConnection(to);
  sockets.push(raw.socket);
  return raw;
}

async function trickle(socket: Socket, text: string, everyMs: number): Promise<number> {
  let sent = 0;
  for (const char of text) {
    if (!socket.writable || socket.destroyed) break;
    socket.write(char);
    sent += 1;
    await sleep(everyMs);
  }
  return sent;
}

function bounded<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([promise, sleep(ms).then(() => Promise.reject(new Error(`${what}: not within ${ms} ms`)))]);
}

const trickledGet = `GET /v3/flatcontainer/contoso.slow/index.json HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: NuGet ${'x'.repeat(60)}\r\n\r\n`;

describe('#2 slowloris: read API', { timeout: 30_000 }, () => {
  it('#2 slowloris: a GET whose headers trickle in gets 408 and a closed connection before they are complete', async () => {
    const raw = await open();
    const sent = await trickle(raw.socket, trickledGet, 20);
    await bounded(raw.closed, 5_000, 'connection closed');
    expect(raw.received()).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    expect(raw.received()).toMatch(/\r\nConnection: close\r\n/i);
    expect(sent).toBeLessThan(trickledGet.length);
  });

  it('#2 slowloris: a connection that sends nothing is closed with 408', async () => {
    const raw = await open();
    await bounded(raw.closed, 5_000, 'connection closed');
    expect(raw.received()).toMatch(/^HTTP\/1\.1 408 /);
  });

  it('#2 slowloris: an idle keep-alive connection is closed by the server after a response', async () => {
    const raw = await open();
    raw.socket.write('GET /v3/flatcontainer/contoso.slow/index.json HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    await bounded(raw.closed, 5_000, 'connection closed');
    expect(raw.received()).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(raw.received().endsWith(INDEX)).toBe(true);
  });

  it('#2 slowloris: 100 trickling clients do not pin the read API: other clients are served meanwhile, then every trickler gets 408', async () => {
    // Its own server, with a 3 s headers timeout, so "meanwhile" does not race the timeout.
    const app = createReadApp({ db, store, feedId: 1, urls: createFeedUrls('http://127.0.0.1/v3/'), publishUrl: 'http://127.0.0.1:1', log: pino({ level: 'silent' }) });
    const patient = createLimitedServer(app.callback(), { ...LIMITS, headersTimeoutMs: 3_000 });
    await new Promise<void>((resolve) => patient.listen(0, '127.0.0.1', resolve));
    onTestFinished(async () => {
      patient.closeAllConnections();
      await new Promise((resolve) => patient.close(resolve));
    });
    const patientPort = (patient.address() as AddressInfo).port;
    const tricklers = await Promise.all(Array.from({ length: 100 }, () => open(patientPort)));
    const trickling = tricklers.map((raw) => trickle(raw.socket, trickledGet, 50));
    await sleep(100);
    const bodies: string[] = [];
    for (let i = 0; i < 20; i += 1) bodies.push(await (await fetch(`http://127.0.0.1:${patientPort}/v3/flatcontainer/contoso.slow/index.json`)).text());
    expect(bodies).toEqual(Array(20).fill(INDEX));
    expect(tricklers.filter((raw) => raw.socket.destroyed)).toHaveLength(0); // still trickling while the others were served
    await bounded(Promise.all(tricklers.map((raw) => raw.closed)), 10_000, 'tricklers closed');
    await Promise.all(trickling);
    expect(tricklers.map((raw) => raw.received().slice(0, 12))).toEqual(Array(100).fill('HTTP/1.1 408'));
  });
});
