/**
 * createLimitedServer over real loopback sockets with small limits (reliability.md §2 #2 slowloris,
 * #29 connection flood). Every client here stops by itself: trickles are bounded in bytes and time.
 * The apps' own tests (apps/*\/test/slowloris.int.test.ts, connection-flood.int.test.ts) run the same
 * server around the real apps.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { createLimitedServer, effectiveMaxConnections, isTimedOutRequest, serverLimitStats, type ServerLimits } from './server-limits.js';

const LIMITS: ServerLimits = {
  headersTimeoutMs: 300,
  requestTimeoutMs: 0,
  keepAliveTimeoutMs: 300,
  bodyMinBytesPerSecond: 1000,
  bodyRateWindowMs: 200,
  maxConnections: 100,
};

const servers: Server[] = [];
const sockets: Socket[] = [];
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

/** Answers `ok <bytes of body>` once the body is read; records what happened to each request. */
function bodyCounter() {
  const seen: { aborted: boolean; timedOut: boolean }[] = [];
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const record = { aborted: false, timedOut: false };
    seen.push(record);
    let bytes = 0;
    req.on('data', (chunk: Buffer) => (bytes += chunk.length));
    req.on('error', () => {});
    req.on('aborted', () => {
      record.aborted = true;
      record.timedOut = isTimedOutRequest(req);
    });
    req.on('end', () => res.end(`ok ${bytes}`));
  };
  return { handler, seen };
}

async function start(handler: (req: IncomingMessage, res: ServerResponse) => void, limits: Partial<ServerLimits> = {}): Promise<{ server: Server; port: number }> {
  const server = createLimitedServer(handler, { ...LIMITS, ...limits });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

/** A raw connection: what it received, and when the server closed it (ms after opening). */
interface Raw {
  socket: Socket;
  received: () => string;
  closed: Promise<number>;
}

async function open(port: number): Promise<Raw> {
  const socket = connect(port, '127.0.0.1');
  sockets.push(socket);
  const opened = Date.now();
  let data = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => (data += chunk));
  socket.on('error', () => {});
  const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now() - opened)));
  await new Promise((resolve) => socket.once('connect', resolve));
  return { socket, received: () => data, closed };
}

/** Writes `text` one byte every `everyMs`, until done or the socket closes. */
async function trickle(socket: Socket, text: string, everyMs: number): Promise<number> {
  let sent = 0;
  for (const char of text) {
    if (socket.destroyed || !socket.writable) break;
    socket.write(char);
    sent += 1;
    await sleep(everyMs);
  }
  return sent;
}

/** Resolves with the close, or rejects after `ms`: the bound of every wait here. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([promise, sleep(ms).then(() => Promise.reject(new Error(`${what}: not within ${ms} ms`)))]);
}

async function get(port: number, path = '/'): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`);
  return `${response.status} ${await response.text()}`;
}

describe('#2 slowloris: createLimitedServer', { timeout: 20_000 }, () => {
  it('#2 slowloris: headers trickled one byte at a time get 408 and a closed connection, before they are complete', async () => {
    const { handler, seen } = bodyCounter();
    const { port } = await start(handler);
    const raw = await open(port);
    const headers = 'GET / HTTP/1.1\r\nHost: x\r\nX-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n';
    const sent = await trickle(raw.socket, headers, 20);
    await within(raw.closed, 5_000, 'close');
    expect(raw.received()).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    expect(raw.received()).toMatch(/\r\nConnection: close\r\n/i);
    expect(sent).toBeLessThan(headers.length);
    expect(seen).toHaveLength(0); // the app never saw the request
  });

  it('#2 slowloris: a connection that never sends a byte is closed with 408', async () => {
    const { handler } = bodyCounter();
    const { port } = await start(handler);
    const raw = await open(port);
    await within(raw.closed, 5_000, 'close');
    expect(raw.received()).toMatch(/^HTTP\/1\.1 408 /);
  });

  it('#2 slowloris: a body trickled below the minimum rate gets 408 with a JSON error and a closed connection; the app sees the request aborted', async () => {
    const { handler, seen } = bodyCounter();
    const { server, port } = await start(handler);
    const raw = await open(port);
    raw.socket.write('PUT /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n');
    const sent = await trickle(raw.socket, 'x'.repeat(1000), 25); // 40 bytes/s, limit 1000 bytes/s
    await within(raw.closed, 5_000, 'close');
    const [head, body] = raw.received().split('\r\n\r\n');
    expect(head).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    expect(head).toMatch(/\r\nConnection: close\r\n/i);
    expect(JSON.parse(body!)).toEqual({ error: { code: 'request_timeout', message: expect.stringMatching(/slower than 1000 bytes\/s/) } });
    expect(sent).toBeLessThan(1000);
    await within(
      (async () => {
        while (!seen[0]?.aborted) await sleep(10);
      })(),
      3_000,
      'abort seen by the app',
    );
    expect(seen[0]).toEqual({ aborted: true, timedOut: true });
    expect(serverLimitStats(server)).toMatchObject({ bodyTimeouts: 1 });
  });

  it('#2 slowloris: a body that stalls completely is cut too, when no minimum rate is set', async () => {
    const { handler } = bodyCounter();
    const { port } = await start(handler, { bodyMinBytesPerSecond: 0 });
    const raw = await open(port);
    raw.socket.write('PUT /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc');
    await within(raw.closed, 5_000, 'close');
    expect(raw.received()).toMatch(/^HTTP\/1\.1 408 /);
    expect(raw.received()).toMatch(/stalled for 200 ms/);
  });

  it('#2 slowloris: a slow but steady body above the minimum rate is received whole, over many windows and past the headers timeout', async () => {
    const { handler } = bodyCounter();
    const { port } = await start(handler);
    const raw = await open(port);
    raw.socket.write('PUT /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 12000\r\nConnection: close\r\n\r\n');
    // 12,000 bytes as 400 bytes every 100 ms: 4,000 bytes/s for 3 s, 15 windows of the check.
    for (let i = 0; i < 30; i += 1) {
      raw.socket.write('y'.repeat(400));
      await sleep(100);
    }
    await within(raw.closed, 5_000, 'close');
    expect(raw.received()).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nok 12000$/);
  });

  it('#2 slowloris: time the app takes before reading the body (checking a key) does not count against the client', async () => {
    const { handler } = bodyCounter();
    const { port } = await start(async (req, res) => {
      await sleep(1_000); // five windows of the rate check
      handler(req, res);
    });
    const raw = await open(port);
    raw.socket.write('PUT /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello');
    await within(raw.closed, 5_000, 'close');
    expect(raw.received()).toMatch(/\r\n\r\nok 5$/);
  });

  it('#2 slowloris: trickling clients do not pin the server: other clients are served meanwhile', async () => {
    const { handler } = bodyCounter();
    const { port } = await start(handler, { headersTimeoutMs: 3_000, bodyRateWindowMs: 1_500 });
    const tricklers = await Promise.all(Array.from({ length: 50 }, () => open(port)));
    const trickling = tricklers.map((raw, i) =>
      i % 2 === 0 ? trickle(raw.socket, `GET / HTTP/1.1\r\nHost: x\r\nX-Padding: ${'p'.repeat(100)}\r\n\r\n`, 50) : (raw.socket.write('PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n'), trickle(raw.socket, 'z'.repeat(100), 50)),
    );
    await sleep(200);
    const answers = [];
    for (let i = 0; i < 20; i += 1) answers.push(await get(port));
    expect(answers).toEqual(Array(20).fill('200 ok 0'));
    expect(tricklers.every((raw) => !raw.socket.destroyed)).toBe(true); // they were still trickling
    await within(Promise.all(tricklers.map((raw) => raw.closed)), 10_000, 'tricklers closed');
    await Promise.all(trickling);
    expect(tricklers.every((raw) => /^HTTP\/1\.1 408 /.test(raw.received()))).toBe(true);
  });

  it('#2 slowloris: an idle keep-alive connection is closed after keepAliveTimeout', async () => {
    const { handler } = bodyCounter();
    const { port } = await start(handler);
    const raw = await open(port);
    raw.socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await within(raw.closed, 5_000, 'close');
    expect(raw.received()).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*Keep-Alive: timeout=0/i);
  });
});

describe('#29 connection flood: createLimitedServer', { timeout: 20_000 }, () => {
  it('#29 connection flood: at maxConnections a new connection closes the longest-idle one, so idle sockets cannot lock a client out', async () => {
    const { handler } = bodyCounter();
    const { server, port } = await start(handler, { maxConnections: 20, headersTimeoutMs: 30_000, keepAliveTimeoutMs: 30_000 });
    const idle: Raw[] = [];
    for (let i = 0; i < 60; i += 1) {
      const raw = await open(port);
      raw.socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      idle.push(raw);
      await sleep(2);
    }
    await sleep(100);
    const stats = serverLimitStats(server)!;
    expect(stats.open).toBeLessThanOrEqual(20);
    expect(stats.shed).toBeGreaterThanOrEqual(40);
    // The oldest were closed, the newest are open.
    expect(idle.slice(0, 40).every((raw) => raw.socket.destroyed)).toBe(true);
    expect(await get(port)).toBe('200 ok 0');
  });

  it('#29 connection flood: when every connection is busy, a new one gets 503 with Retry-After and is closed', async () => {
    const { handler } = bodyCounter();
    const { server, port } = await start(handler, { maxConnections: 5, bodyRateWindowMs: 0, headersTimeoutMs: 30_000 });
    // Five requests in progress (bodies not finished).
    const busy = await Promise.all(Array.from({ length: 5 }, () => open(port)));
    for (const raw of busy) raw.socket.write('PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab');
    await sleep(100);
    const refused = await open(port);
    refused.socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await within(refused.closed, 5_000, 'close');
    expect(refused.received()).toMatch(/^HTTP\/1\.1 503 Service Unavailable\r\n[\s\S]*Retry-After: 1\r\n/);
    expect(serverLimitStats(server)).toMatchObject({ open: 5, refused: 1 });
    // Finishing a request frees its connection for reuse.
    busy[0]!.socket.write('cdefghij');
    await sleep(100);
    expect(busy[0]!.received()).toMatch(/ok 10$/);
  });

  it('#29 connection flood: maxConnections is lowered to fit the open-files limit', () => {
    // 256 descriptors kept for the process, and up to two per connection (its socket, the file it serves).
    expect(effectiveMaxConnections(10_000, 1024)).toBe(384);
    expect(effectiveMaxConnections(10_000, 20_000)).toBe(9_872);
    expect(effectiveMaxConnections(500, 20_000)).toBe(500);
    expect(effectiveMaxConnections(500, undefined)).toBe(500);
    expect(effectiveMaxConnections(500, 100)).toBe(16);
  });
});
