/**
 * Connection flood against the read API (reliability.md §2 #29): thousands of idle keep-alive sockets,
 * and 1,024 concurrent requests from one client (NuGet's default on Linux). The server runs in a
 * process of its own (support/flood-server.ts, served as main.ts serves it), so its file descriptors,
 * memory and event loop delay are measured apart from this flooding client.
 *
 * Sizes: 5,000 idle sockets and 1,024 concurrent requests when this process's open-files limit
 * (`ulimit -n`) allows, else as many as fit (see CONCURRENT), printed. The event loop delay during the
 * flood is printed, never asserted (timings depend on the machine and its load).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { Agent, get as httpGet } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openFilesLimit, type ServerLimitStats, type ServerLimits } from '@nucat/http';
import { createFilesystemBlobStore } from '@nucat/storage';
import { REFUSING_PORT } from '@nucat/testing';

const SERVER_SCRIPT = fileURLToPath(new URL('./support/flood-server.ts', import.meta.url));
const PATH = '/v3/flatcontainer/contoso.flood/index.json';
const INDEX = JSON.stringify({ versions: Array.from({ length: 50 }, (_, i) => `1.0.${i}`) });
const fileLimit = openFilesLimit() ?? 1024;
/**
 * Node.js raises its soft open-files limit to the hard one at startup, and cannot go past that, so the
 * flood is sized to it: 1,024 concurrent requests and 5,000 idle sockets when it allows (20,000 on the
 * project's machines), else as many as fit with 300 descriptors to spare; the sizes are printed (and in
 * the test's title). The server process has the same limit.
 */
const CONCURRENT = Math.max(50, Math.min(1_024, Math.floor((fileLimit - 300) / 4)));
/** The server keeps two descriptors per connection free (effectiveMaxConnections): stay within that. */
const IDLE = Math.max(50, Math.min(5_000, Math.floor((fileLimit - 300) / 2) - CONCURRENT - 10));

const LIMITS: ServerLimits = {
  headersTimeoutMs: 60_000,
  requestTimeoutMs: 120_000,
  keepAliveTimeoutMs: 120_000,
  bodyMinBytesPerSecond: 1024,
  bodyRateWindowMs: 30_000,
  maxConnections: 10_000,
};

let workDir: string;
const children: ChildProcess[] = [];
const sockets: Socket[] = [];
const agents: Agent[] = [];

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'nucat-flood-'));
  const store = createFilesystemBlobStore({ root: join(workDir, 'blobs') });
  await store.put('flatcontainer/contoso.flood/index.json', Buffer.from(INDEX));
  await store.close();
});

afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  for (const agent of agents) agent.destroy();
  for (const child of children) child.kill('SIGTERM');
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

interface ServerStats {
  stats: ServerLimitStats;
  fds: number;
  rss: number;
  heapUsed: number;
}

interface FloodServer {
  port: number;
  ask<T>(type: string): Promise<T>;
}

async function startServer(limits: ServerLimits): Promise<FloodServer> {
  const child = fork(SERVER_SCRIPT, [JSON.stringify({ limits, blobRoot: join(workDir, 'blobs'), refusingPort: REFUSING_PORT })], {
    execArgv: ['--conditions=source', '--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  children.push(child);
  const next = <T>(type: string) =>
    new Promise<T>((resolve, reject) => {
      const onMessage = (message: { type: string }) => {
        if (message.type !== type) return;
        child.off('message', onMessage);
        child.off('exit', onExit);
        resolve(message as T);
      };
      const onExit = (code: number | null) => reject(new Error(`flood server exited (${code})`));
      child.on('message', onMessage);
      child.once('exit', onExit);
    });
  const { port } = await next<{ port: number }>('listening');
  return {
    port,
    ask<T>(type: string) {
      const answer = next<T>(type);
      child.send({ type });
      return answer;
    },
  };
}

/** Opens `count` keep-alive connections, `batch` at a time, each making one request and then left idle. */
async function openIdle(port: number, count: number, batch = 250): Promise<Socket[]> {
  const opened: Socket[] = [];
  for (let from = 0; from < count; from += batch) {
    const group = await Promise.all(
      Array.from({ length: Math.min(batch, count - from) }, () =>
        new Promise<Socket>((resolve, reject) => {
          const socket = connect(port, '127.0.0.1');
          sockets.push(socket);
          let data = '';
          socket.setEncoding('utf8');
          const onData = (chunk: string) => {
            data += chunk;
            if (data.endsWith(INDEX)) {
              socket.off('data', onData);
              socket.on('data', () => {});
              resolve(socket);
            }
          };
          socket.on('data', onData);
          socket.on('error', (err) => (data.endsWith(INDEX) ? undefined : reject(err)));
          socket.once('connect', () => socket.write(`GET ${PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n`));
        }),
      ),
    );
    opened.push(...group);
  }
  return opened;
}

function getText(port: number, agent: Agent, path = PATH): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpGet({ host: '127.0.0.1', port, path, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

describe('#29 connection flood: read API', { timeout: 180_000 }, () => {
  it(`#29 connection flood: ${IDLE.toLocaleString('en')} idle keep-alive sockets plus ${CONCURRENT.toLocaleString('en')} concurrent requests from one client: every request answered correctly, a well-behaved client served throughout, server file descriptors and memory bounded`, async () => {
    const server = await startServer(LIMITS);
    const before = await server.ask<ServerStats>('stats');

    const idle = await openIdle(server.port, IDLE);
    const withIdle = await server.ask<ServerStats>('stats');
    expect(withIdle.stats.open).toBe(IDLE);
    expect(withIdle.stats.idle).toBe(IDLE);

    await server.ask('eld-start');
    // A well-behaved client: one connection, one request at a time, for as long as the flood lasts.
    const polite = new Agent({ keepAlive: true, maxSockets: 1 });
    const flood = new Agent({ keepAlive: true, maxSockets: CONCURRENT });
    agents.push(polite, flood);
    let flooding = true;
    const politeLatencies: number[] = [];
    const politeStatuses: number[] = [];
    const politeLoop = (async () => {
      while (flooding) {
        const started = performance.now();
        const reply = await getText(server.port, polite, '/v3/index.json');
        politeLatencies.push(performance.now() - started);
        politeStatuses.push(reply.status);
      }
    })();
    const rounds = 3;
    const replies: { status: number; body: string }[] = [];
    const floodStarted = performance.now();
    for (let round = 0; round < rounds; round += 1) {
      replies.push(...(await Promise.all(Array.from({ length: CONCURRENT }, () => getText(server.port, flood)))));
    }
    const floodMs = performance.now() - floodStarted;
    flooding = false;
    await politeLoop;
    const { eld } = await server.ask<{ eld: Record<string, number> }>('eld-stop');
    const during = await server.ask<ServerStats>('stats');

    expect(replies).toHaveLength(rounds * CONCURRENT);
    expect(replies.filter((r) => r.status !== 200 || r.body !== INDEX)).toEqual([]);
    expect(politeStatuses.length).toBeGreaterThan(0);
    expect(politeStatuses.every((s) => s === 200)).toBe(true);
    // Every idle socket is still there (nothing was refused or shed: the cap was not reached).
    expect(idle.filter((s) => s.destroyed)).toHaveLength(0);
    expect(during.stats).toMatchObject({ shed: 0, refused: 0 });
    // File descriptors: one per open connection, and a handful more.
    expect(during.stats.open).toBeLessThanOrEqual(LIMITS.maxConnections);
    expect(during.fds - before.fds).toBeLessThanOrEqual(during.stats.open + 64);

    const sorted = [...politeLatencies].sort((a, b) => a - b);
    console.log(
      [
        `#29 connection flood (read API, own process; open-files limit ${fileLimit}; load average ${(await import('node:os')).loadavg().map((l) => l.toFixed(2)).join(' ')}):`,
        `  ${IDLE} idle keep-alive sockets, then ${rounds} × ${CONCURRENT} concurrent requests in ${Math.round(floodMs)} ms (${Math.round((rounds * CONCURRENT) / (floodMs / 1000))} req/s)`,
        `  event loop delay during the flood: min ${eld['minMs']} ms, mean ${eld['meanMs']} ms, p50 ${eld['p50Ms']} ms, p99 ${eld['p99Ms']} ms, max ${eld['maxMs']} ms (${eld['samples']} samples, 10 ms resolution)`,
        `  polite client: ${politeStatuses.length} requests, all 200; latency p50 ${sorted[Math.floor(sorted.length / 2)]?.toFixed(1)} ms, max ${sorted.at(-1)?.toFixed(1)} ms`,
        `  server: ${during.stats.open} connections open, fds ${before.fds} → ${withIdle.fds} (idle) → ${during.fds} (flood); RSS ${mb(before.rss)} → ${mb(withIdle.rss)} → ${mb(during.rss)}; heap ${mb(before.heapUsed)} → ${mb(during.heapUsed)}`,
        `  per open connection: ${((during.rss - before.rss) / during.stats.open / 1024).toFixed(1)} KB RSS`,
      ].join('\n'),
    );
    // Memory: bounded per connection (a few tens of KB each), not by requests served.
    expect(during.rss - before.rss).toBeLessThan(during.stats.open * 128 * 1024);
  });

  it('#29 connection flood: past maxConnections (1,000, or a third of what fits) the longest-idle sockets are shed: open connections and file descriptors stay at the cap, and a new client is served', async () => {
    const count = Math.min(3_000, IDLE);
    const cap = Math.min(1_000, Math.floor(count / 3));
    const server = await startServer({ ...LIMITS, maxConnections: cap });
    const before = await server.ask<ServerStats>('stats');
    const idle = await openIdle(server.port, count, Math.min(250, Math.floor(cap / 2)));
    await new Promise((resolve) => setTimeout(resolve, 200));
    const after = await server.ask<ServerStats>('stats');
    expect(after.stats.maxConnections).toBe(cap);
    expect(after.stats.open).toBeLessThanOrEqual(cap);
    expect(after.stats.shed).toBeGreaterThanOrEqual(count - cap);
    expect(after.fds - before.fds).toBeLessThanOrEqual(cap + 64);
    // The oldest were shed; the newest are the ones kept.
    expect(idle.slice(-Math.floor(cap / 2)).every((s) => !s.destroyed)).toBe(true);
    const fresh = new Agent({ keepAlive: false });
    agents.push(fresh);
    expect(await getText(server.port, fresh)).toEqual({ status: 200, body: INDEX });
    console.log(`#29 connection flood (cap ${cap}): ${count} idle sockets opened; server kept ${after.stats.open}, shed ${after.stats.shed}; fds ${before.fds} → ${after.fds}; RSS ${mb(before.rss)} → ${mb(after.rss)}`);
  });
});
