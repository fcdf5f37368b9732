/**
 * The worker's operations server against slow clients (reliability.md §2 #2): trickled headers get
 * 408 and a closed connection, and a scraper is answered meanwhile. Limits are shortened for the test
 * through `createOpsServer`'s `limits`; the defaults are OPS_SERVER_LIMITS.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterAll, describe, expect, it } from 'vitest';
import { createReadinessProbe } from '@nucat/http';
import { openRawConnection } from '@nucat/testing';
import { OPS_SERVER_LIMITS, createOpsServer, listenOpsServer } from '../src/ops-server.js';

const servers: Server[] = [];
afterAll(async () => {
  for (const server of servers) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

describe('#2 slowloris: the worker ops server', () => {
  it('#2 slowloris: trickled headers get 408 and a closed connection while /health is served to others', { timeout: 20_000 }, async () => {
    expect(OPS_SERVER_LIMITS).toMatchObject({ headersTimeoutMs: 10_000, keepAliveTimeoutMs: 5_000 });
    const server = createOpsServer({
      registry: new Registry(),
      readiness: createReadinessProbe({ checks: [] }),
      log: pino({ level: 'silent' }),
      limits: { headersTimeoutMs: 400, requestTimeoutMs: 2_000 },
    });
    servers.push(server);
    const { port } = (await listenOpsServer(server, 0, '127.0.0.1')) as AddressInfo;

    const { socket, received, closed } = await openRawConnection(port);
    const request = `GET /metrics HTTP/1.1\r\nHost: x\r\nX-Padding: ${'p'.repeat(200)}\r\n\r\n`;
    const trickling = (async () => {
      for (const char of request) {
        if (socket.destroyed || !socket.writable) return;
        socket.write(char);
        await sleep(20);
      }
    })();
    const health = await fetch(`http://127.0.0.1:${port}/health`);
    expect(health.status).toBe(200);
    await Promise.race([closed, sleep(10_000).then(() => Promise.reject(new Error('not closed within 10 s')))]);
    await trickling;
    expect(received()).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
  });
});
