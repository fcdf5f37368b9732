import type { AddressInfo } from 'node:net';
import Router from '@koa/router';
import Koa from 'koa';
import { afterEach, describe, expect, it } from 'vitest';
import { ReadinessError, assertLagWithin, createProbes, runReadinessChecks, type ProbeOptions, type ReadinessCheck } from './index.js';

const servers: { close(): void }[] = [];
afterEach(() => {
  for (const server of servers.splice(0)) server.close();
});

async function serve(options: ProbeOptions): Promise<string> {
  const probes = createProbes(options);
  const router = new Router();
  router.get('/health', probes.health);
  router.get('/ready', probes.ready);
  const app = new Koa();
  app.use(router.routes());
  const server = app.listen(0, '127.0.0.1');
  servers.push(server);
  await new Promise<void>((resolve) => server.once('listening', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const passing = (name: string, details?: Record<string, unknown>): ReadinessCheck => ({ name, run: async () => details });
const failing = (name: string, error: unknown): ReadinessCheck => ({
  name,
  run: async () => {
    throw error;
  },
});

describe('runReadinessChecks', () => {
  it('is ready when every check passes, with each outcome and its details', async () => {
    const report = await runReadinessChecks([passing('database'), passing('projections', { maxLagSeconds: 300 })]);
    expect(report).toEqual({
      status: 'ready',
      failing: [],
      checks: {
        database: { ok: true, ms: expect.any(Number) },
        projections: { ok: true, ms: expect.any(Number), details: { maxLagSeconds: 300 } },
      },
    });
  });

  it('names every failing check, and runs them all', async () => {
    const report = await runReadinessChecks([
      failing('database', new ReadinessError('the database did not answer')),
      passing('redis'),
      failing('projections', new ReadinessError('too far behind', { lag: 900 })),
    ]);
    expect(report.status).toBe('not_ready');
    expect(report.failing).toEqual(['database', 'projections']);
    expect(report.checks['database']).toMatchObject({ ok: false, error: 'the database did not answer' });
    expect(report.checks['redis']).toMatchObject({ ok: true });
    expect(report.checks['projections']).toMatchObject({ ok: false, details: { lag: 900 } });
  });

  it('shows only the code of an error that is not a ReadinessError', async () => {
    const secret = Object.assign(new Error('password authentication failed for user "nucat" at db.internal:5432'), { code: '28P01' });
    const report = await runReadinessChecks([failing('database', secret)]);
    expect(report.checks['database']!.error).toBe('database check failed (28P01)');
    expect(JSON.stringify(report)).not.toContain('db.internal');
  });

  it('fails a check that does not answer in time', async () => {
    const hanging: ReadinessCheck = { name: 'redis', run: () => new Promise(() => {}) };
    const started = performance.now();
    const report = await runReadinessChecks([hanging], { timeoutMs: 100 });
    expect(performance.now() - started).toBeLessThan(1000);
    expect(report.checks['redis']).toMatchObject({ ok: false, error: 'redis did not answer within 100 ms' });
  });
});

describe('assertLagWithin', () => {
  it('passes lags up to the limit and reports them', () => {
    expect(assertLagWithin({ flatcontainer: 0, search: 300 }, 300)).toEqual({ maxLagSeconds: 300, lagSeconds: { flatcontainer: 0, search: 300 } });
  });

  it('names every projection past the limit', () => {
    expect(() => assertLagWithin({ flatcontainer: 12, registration: 301.25, search: 999 }, 300)).toThrow(
      'projections behind the catalog by more than 300 s: registration 301.3 s, search 999.0 s',
    );
  });
});

describe('createProbes', () => {
  it('answers /health 200 and /ready 200 with the report when all is well', async () => {
    const url = await serve({ checks: [passing('database')] });
    const health = await fetch(`${url}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${url}/ready`);
    expect(ready.status).toBe(200);
    expect(ready.headers.get('cache-control')).toBe('no-store');
    expect(await ready.json()).toMatchObject({ status: 'ready', failing: [], checks: { database: { ok: true } } });
  });

  it('answers /ready 503 naming the failing check, while /health stays 200', async () => {
    const url = await serve({ checks: [failing('database', new ReadinessError('unreachable')), passing('redis')] });
    const ready = await fetch(`${url}/ready`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({ status: 'not_ready', failing: ['database'] });
    expect((await fetch(`${url}/health`)).status).toBe(200);
  });

  it('answers 503 on both once shutting down, without running the checks', async () => {
    const shutdown = new AbortController();
    let runs = 0;
    const url = await serve({ checks: [{ name: 'database', run: async () => void runs++ }], shutdownSignal: shutdown.signal, cacheMs: 0 });
    expect((await fetch(`${url}/ready`)).status).toBe(200);
    shutdown.abort();
    const health = await fetch(`${url}/health`);
    expect(health.status).toBe(503);
    expect(await health.json()).toEqual({ status: 'shutting_down' });
    const ready = await fetch(`${url}/ready`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({ failing: ['shutdown'] });
    expect(runs).toBe(1);
  });

  it('runs the checks once per cache interval however many probes arrive', async () => {
    let runs = 0;
    const url = await serve({ checks: [{ name: 'database', run: async () => void runs++ }], cacheMs: 60_000 });
    await Promise.all(Array.from({ length: 20 }, () => fetch(`${url}/ready`).then((r) => r.arrayBuffer())));
    expect(runs).toBe(1);
  });
});
