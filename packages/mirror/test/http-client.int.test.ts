/**
 * The mirror's HTTP client against a real loopback HTTP server: it connects to the address its guard
 * checked, resolving names through the same lookup at connect time, so a name whose answer changes
 * between the check and the connection (DNS rebinding) cannot reach a metadata address.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BlockedAddressError } from '../src/errors.js';
import { createHttpClient } from '../src/http-client.js';
import type { LookupFn } from '../src/address-guard.js';

let server: Server;
let port: number;
const received: string[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    received.push(`${req.headers.host} ${req.url}`);
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify({ path: req.url }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

/** A resolver that knows only `*.feed.test` names, answering from `answers` in turn (the last one sticks). */
function resolver(answers: string[]): { lookup: LookupFn; calls: () => number } {
  let calls = 0;
  return {
    calls: () => calls,
    lookup: async (hostname) => {
      if (!hostname.endsWith('.feed.test')) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
      const address = answers[Math.min(calls, answers.length - 1)]!;
      calls += 1;
      return [{ address, family: 4 }];
    },
  };
}

describe('#44 upstream: the mirror connects to the address it checked', () => {
  it('resolves a host name at connect time through its own lookup: a name only that lookup knows reaches the loopback source', async () => {
    const names = resolver(['127.0.0.1']);
    const http = createHttpClient({ lookup: names.lookup, attempts: 1 });
    expect(await http.getJson(`http://source.feed.test:${port}/v3/index.json`)).toEqual({ path: '/v3/index.json' });
    expect(received.at(-1)).toBe(`source.feed.test:${port} /v3/index.json`);
    expect(names.calls(), 'once for the check, once for the connection').toBe(2);
  });

  it('refuses to connect when the name resolves to a metadata address after the check (DNS rebinding), sending nothing', async () => {
    const before = received.length;
    const names = resolver(['127.0.0.1', '169.254.169.254']);
    const http = createHttpClient({ lookup: names.lookup, attempts: 3, retryDelayMs: 1 });
    const error = await http.getJson(`http://rebind.feed.test:${port}/v3/index.json`).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BlockedAddressError);
    expect(error).toMatchObject({
      code: 'blocked_address',
      message: expect.stringContaining('refusing to connect to rebind.feed.test: rebind.feed.test resolves to 169.254.169.254'),
      details: { host: 'rebind.feed.test', address: '169.254.169.254' },
    });
    expect(received.length, 'requests that reached the server').toBe(before);
    expect(names.calls(), 'not retried').toBe(2);
  });
});
