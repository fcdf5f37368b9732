/**
 * A read API in a process of its own, for connection-flood.int.test.ts (reliability.md §2 #29): so
 * its file descriptors, memory and event loop delay are the server's alone, not the flooding
 * client's. Started with `fork()` (IPC) under tsx; served as main.ts serves it
 * (`createLimitedServer(app.callback(), limits)`), from a blob store the parent filled, with no
 * database (the flat container needs none).
 *
 * argv[2]: JSON `{ limits: ServerLimits, blobRoot: string, refusingPort: number }`.
 * Messages in: `{ type: 'stats' }`, `{ type: 'eld-start' }`, `{ type: 'eld-stop' }`; each is answered
 * with one message of the same type.
 */
import { readdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { pino } from 'pino';
import { createFeedUrls } from '@nucat/catalog';
import { createDb } from '@nucat/db';
import { createLimitedServer, serverLimitStats, type ServerLimits } from '@nucat/http';
import { createFilesystemBlobStore } from '@nucat/storage';
import { createReadApp } from '../../src/index.js';

const options = JSON.parse(process.argv[2] ?? '{}') as { limits: ServerLimits; blobRoot: string; refusingPort: number };
const db = createDb({ url: `postgres://nucat:nucat@127.0.0.1:${options.refusingPort}/nucat` });
const store = createFilesystemBlobStore({ root: options.blobRoot });
const app = createReadApp({ db, store, feedId: 1, urls: createFeedUrls('http://127.0.0.1/v3/'), publishUrl: 'http://127.0.0.1:1', log: pino({ level: 'silent' }) });
const server = createLimitedServer(app.callback(), options.limits);
let histogram: IntervalHistogram | undefined;

const ms = (ns: number) => Math.round(ns / 1e4) / 100;
const send = (message: unknown) => process.send?.(message);

process.on('message', (message: { type: string }) => {
  if (message.type === 'stats') {
    const memory = process.memoryUsage();
    send({ type: 'stats', stats: serverLimitStats(server), fds: readdirSync('/proc/self/fd').length, rss: memory.rss, heapUsed: memory.heapUsed });
  } else if (message.type === 'eld-start') {
    histogram = monitorEventLoopDelay({ resolution: 10 });
    histogram.enable();
    send({ type: 'eld-start' });
  } else if (message.type === 'eld-stop') {
    histogram?.disable();
    const h = histogram;
    send({ type: 'eld-stop', eld: h ? { minMs: ms(h.min), meanMs: ms(h.mean), p50Ms: ms(h.percentile(50)), p99Ms: ms(h.percentile(99)), maxMs: ms(h.max), samples: h.count } : undefined });
  }
});
process.on('disconnect', () => process.exit(0));

server.listen(0, '127.0.0.1', () => send({ type: 'listening', port: (server.address() as AddressInfo).port }));
