import type { AddressInfo } from 'node:net';
import Router from '@koa/router';
import Koa from 'koa';
import { afterEach, describe, expect, it } from 'vitest';
import { createErrorMiddleware, createMetrics, type HttpMetrics } from './index.js';

const servers: { close(): void }[] = [];
afterEach(() => {
  for (const server of servers.splice(0)) server.close();
});

/** Starts `app` on a free port and returns its base URL. */
async function listen(app: Koa): Promise<string> {
  const server = app.listen(0, '127.0.0.1');
  servers.push(server);
  await new Promise<void>((resolve) => server.once('listening', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** An app shaped like the read API: metrics first, the error middleware, a router with templates. */
async function startApp(): Promise<{ url: string; metrics: HttpMetrics }> {
  const metrics = createMetrics({ app: 'test-app', processMetrics: false });
  const app = new Koa();
  const router = new Router();
  router.get('/metrics', metrics.handler);
  router.get('/v3/flatcontainer/:id/index.json', (ctx) => {
    if (ctx.params.id === 'missing') return; // nothing answered: 404
    ctx.body = { versions: ['1.0.0'] };
  });
  router.get('/v3/:hive/:id/:leaf', (ctx) => {
    ctx.body = { hive: ctx.params.hive };
  });
  router.put('/v3/package', () => {
    throw new Error('boom');
  });
  app.on('error', () => {});
  app.use(metrics.middleware);
  app.use(createErrorMiddleware());
  app.use(router.routes());
  app.use(router.allowedMethods());
  return { url: await listen(app), metrics };
}

async function scrape(url: string): Promise<string> {
  const response = await fetch(`${url}/metrics`);
  expect(response.status).toBe(200);
  return response.text();
}

interface Sample {
  labels: Record<string, string>;
  value: number;
}

/** The `_count` samples of the request histogram. */
function requestCounts(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    const match = /^nucat_http_request_duration_seconds_count\{(.*)\} (\S+)$/.exec(line);
    if (!match) continue;
    const labels = Object.fromEntries([...match[1]!.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1]!, m[2]!]));
    samples.push({ labels, value: Number(match[2]) });
  }
  return samples;
}

/** The request count with exactly these labels (app="test-app" implied); 0 when there is none. */
function countOf(samples: Sample[], labels: Record<string, string>): number {
  const want = { app: 'test-app', ...labels };
  const found = samples.find((s) => JSON.stringify(Object.entries(s.labels).sort()) === JSON.stringify(Object.entries(want).sort()));
  return found?.value ?? 0;
}

describe('createMetrics', () => {
  it('answers GET /metrics in the Prometheus text format, never cached', async () => {
    const { url } = await startApp();
    const response = await fetch(`${url}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(await response.text()).toContain('# TYPE nucat_http_request_duration_seconds histogram');
  });

  it('labels requests with the route template, never the raw path', async () => {
    const { url } = await startApp();
    for (const id of ['contoso.lib', 'fabrikam.core', 'northwind.data']) {
      expect((await fetch(`${url}/v3/flatcontainer/${id}/index.json`)).status).toBe(200);
      expect((await fetch(`${url}/v3/registration5-semver1/${id}/1.0.0.json`)).status).toBe(200);
    }
    const text = await scrape(url);
    const samples = requestCounts(text);
    expect(countOf(samples, { method: 'GET', route: '/v3/flatcontainer/:id/index.json', status_class: '2xx' })).toBe(3);
    expect(countOf(samples, { method: 'GET', route: '/v3/:hive/:id/:leaf', status_class: '2xx' })).toBe(3);
    expect(samples.map((s) => s.labels['route']).sort()).toEqual(['/v3/:hive/:id/:leaf', '/v3/flatcontainer/:id/index.json']);
    for (const raw of ['contoso', 'fabrikam', 'northwind', 'registration5-semver1']) expect(text).not.toContain(raw);
  });

  it('labels paths no route serves as unmatched, whatever they are', async () => {
    const { url } = await startApp();
    for (const path of ['/nothing', '/v3/unknown/a/b/c/d', '/.env', '/v3/flatcontainer']) {
      expect((await fetch(`${url}${path}`)).status).toBe(404);
    }
    const samples = requestCounts(await scrape(url));
    expect(countOf(samples, { method: 'GET', route: 'unmatched', status_class: '4xx' })).toBe(4);
    expect(samples).toHaveLength(1);
  });

  it('counts a 404 inside a route under its template, and a thrown error as 5xx', async () => {
    const { url } = await startApp();
    expect((await fetch(`${url}/v3/flatcontainer/missing/index.json`)).status).toBe(404);
    expect((await fetch(`${url}/v3/package`, { method: 'PUT', body: 'x' })).status).toBe(500);
    const samples = requestCounts(await scrape(url));
    expect(countOf(samples, { method: 'GET', route: '/v3/flatcontainer/:id/index.json', status_class: '4xx' })).toBe(1);
    expect(countOf(samples, { method: 'PUT', route: '/v3/package', status_class: '5xx' })).toBe(1);
  });

  it('folds unusual methods into method="other"', async () => {
    const { url } = await startApp();
    await (await fetch(`${url}/v3/flatcontainer/a/index.json`, { method: 'PROPFIND' })).arrayBuffer();
    expect(requestCounts(await scrape(url)).map((s) => s.labels['method'])).toEqual(['other']);
  });

  it('registers the app’s own counters in the same registry', async () => {
    const { url, metrics } = await startApp();
    const pushes = metrics.counter({ name: 'nucat_test_pushes_total', help: 'pushes', labelNames: ['result'] as const });
    pushes.inc({ result: 'created' });
    pushes.inc({ result: 'created' });
    expect(await scrape(url)).toMatch(/^nucat_test_pushes_total\{(app="test-app",result="created"|result="created",app="test-app")\} 2$/m);
  });

  it('exports the process metrics by default', async () => {
    const metrics = createMetrics({ app: 'with-process' });
    const text = await metrics.registry.metrics();
    expect(text).toContain('process_cpu_seconds_total');
    expect(text).toContain('nodejs_eventloop_lag_seconds');
  });
});
