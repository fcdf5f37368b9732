import type { AddressInfo } from 'node:net';
import type { Logger } from '@nucat/config';
import Koa from 'koa';
import { afterEach, describe, expect, it } from 'vitest';
import { createErrorMiddleware, createRequestContext, errorStatus } from './index.js';

interface LogLine {
  level: string;
  bindings: Record<string, unknown>;
  fields: Record<string, unknown>;
  message: string | undefined;
}

/** A real Logger that records lines instead of writing them. */
function createRecordingLogger(lines: LogLine[] = [], bindings: Record<string, unknown> = {}): Logger & { lines: LogLine[] } {
  const write = (level: string) => (first: object | string, message?: string) => {
    if (typeof first === 'string') lines.push({ level, bindings, fields: {}, message: first });
    else lines.push({ level, bindings, fields: { ...first }, message });
  };
  return {
    lines,
    error: write('error'),
    warn: write('warn'),
    info: write('info'),
    debug: write('debug'),
    child: (more) => createRecordingLogger(lines, { ...bindings, ...more }),
  };
}

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

class CodedError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'CodedError';
  }
}

/** An app with both middlewares, whose only handler throws what `fail` returns. */
function createFailingApp(fail: (ctx: Koa.Context) => unknown): { app: Koa; emitted: unknown[]; logger: ReturnType<typeof createRecordingLogger> } {
  const app = new Koa();
  const emitted: unknown[] = [];
  const logger = createRecordingLogger();
  app.on('error', (error: unknown) => emitted.push(error));
  app.use(createErrorMiddleware());
  app.use(createRequestContext(logger));
  app.use(async (ctx) => {
    ctx.set('ETag', '"set-before-failing"');
    throw fail(ctx);
  });
  return { app, emitted, logger };
}

describe('createErrorMiddleware', () => {
  it.each(Object.entries(errorStatus))('answers %s with status %i and the JSON error body', async (code, status) => {
    const { app, emitted } = createFailingApp(() => new CodedError(code, `message for ${code}`));
    const response = await fetch(`${await listen(app)}/x`);
    expect(response.status).toBe(status);
    expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(await response.json()).toEqual({ error: { code, message: `message for ${code}` } });
    expect(emitted).toEqual([]);
  });

  it('includes details when the error has them', async () => {
    const { app } = createFailingApp(
      () => new CodedError('invalid_package', 'the nuspec has no id', { entry: 'contoso.nuspec' }),
    );
    const response = await fetch(`${await listen(app)}/`);
    expect(await response.json()).toEqual({
      error: { code: 'invalid_package', message: 'the nuspec has no id', details: { entry: 'contoso.nuspec' } },
    });
  });

  it('challenges for Basic credentials on 401', async () => {
    const { app } = createFailingApp(() => new CodedError('unauthorized', 'an API key is required'));
    const response = await fetch(`${await listen(app)}/`);
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe('Basic realm="nucat"');
  });

  it('asks the client to retry later on 503', async () => {
    const { app } = createFailingApp(() => new CodedError('unavailable', 'the database is unreachable'));
    const response = await fetch(`${await listen(app)}/`);
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('5');
  });

  it('answers 500 with the request id and no internals, and emits the error once', async () => {
    const secret = new Error('connect ECONNREFUSED postgres://nucat:hunter2@db:5432');
    const { app, emitted } = createFailingApp(() => secret);
    const response = await fetch(`${await listen(app)}/`, { headers: { 'X-Request-Id': 'req-500' } });
    expect(response.status).toBe(500);
    const text = await response.text();
    expect(JSON.parse(text)).toEqual({ error: { code: 'internal', message: 'internal error', requestId: 'req-500' } });
    expect(text).not.toContain('hunter2');
    expect(text).not.toContain('ECONNREFUSED');
    expect(response.headers.get('x-request-id')).toBe('req-500');
    expect(emitted).toEqual([secret]);
  });

  it('treats errors with unknown codes as internal', async () => {
    const { app, emitted } = createFailingApp(() => Object.assign(new Error('ENOENT: /srv/secret/path'), { code: 'ENOENT' }));
    const response = await fetch(`${await listen(app)}/`);
    expect(response.status).toBe(500);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('internal');
    expect(emitted).toHaveLength(1);
  });

  it('wraps a thrown non-error value before emitting it', async () => {
    const { app, emitted } = createFailingApp(() => 'just a string');
    const response = await fetch(`${await listen(app)}/`);
    expect(response.status).toBe(500);
    expect(emitted).toHaveLength(1);
    expect(emitted[0]).toBeInstanceOf(Error);
    expect((emitted[0] as Error).cause).toBe('just a string');
  });

  it('keeps the 4xx status of Koa errors from ctx.throw', async () => {
    const app = new Koa();
    const emitted: unknown[] = [];
    app.on('error', (error: unknown) => emitted.push(error));
    app.use(createErrorMiddleware());
    app.use(async (ctx) => {
      if (ctx.path === '/missing') ctx.throw(404);
      if (ctx.path === '/auth') ctx.throw(401, 'log in first');
      if (ctx.path === '/teapot') ctx.throw(418, 'short and stout');
      ctx.throw(500, 'database password is hunter2');
    });
    const url = await listen(app);

    const missing = await fetch(`${url}/missing`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ error: { code: 'not_found', message: 'Not Found' } });

    const auth = await fetch(`${url}/auth`);
    expect(auth.status).toBe(401);
    expect(auth.headers.get('www-authenticate')).toBe('Basic realm="nucat"');

    const teapot = await fetch(`${url}/teapot`);
    expect(teapot.status).toBe(418);
    expect(await teapot.json()).toEqual({ error: { code: 'invalid_request', message: 'short and stout' } });

    expect(emitted).toEqual([]);
    const internal = await fetch(`${url}/other`);
    expect(internal.status).toBe(500);
    expect(await internal.text()).not.toContain('hunter2');
    expect(emitted).toHaveLength(1);
  });

  it('drops headers set before the error', async () => {
    const { app } = createFailingApp(() => new CodedError('not_found', 'no such package'));
    const response = await fetch(`${await listen(app)}/`);
    expect(response.headers.get('etag')).toBeNull();
    expect(response.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('answers a request nothing handled with a JSON 404', async () => {
    const app = new Koa();
    app.use(createErrorMiddleware());
    const response = await fetch(`${await listen(app)}/nothing/here`);
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({ error: { code: 'not_found', message: 'not found' } });
  });
});

describe('createRequestContext', () => {
  async function waitForLines(logger: { lines: LogLine[] }, count: number): Promise<void> {
    for (let i = 0; i < 100 && logger.lines.length < count; i++) await new Promise((r) => setTimeout(r, 5));
  }

  function createEchoApp(): { app: Koa; logger: ReturnType<typeof createRecordingLogger> } {
    const app = new Koa();
    const logger = createRecordingLogger();
    app.use(createErrorMiddleware());
    app.use(createRequestContext(logger));
    app.use(async (ctx) => {
      ctx.state.log.debug({ step: 'handler' }, 'handling');
      ctx.body = { requestId: ctx.state.requestId };
    });
    return { app, logger };
  }

  it('reuses a sane incoming X-Request-Id', async () => {
    const { app } = createEchoApp();
    const response = await fetch(`${await listen(app)}/`, { headers: { 'X-Request-Id': 'abc-123_x.y:z' } });
    expect(response.headers.get('x-request-id')).toBe('abc-123_x.y:z');
    expect(await response.json()).toEqual({ requestId: 'abc-123_x.y:z' });
  });

  it.each([
    ['too long', 'a'.repeat(65)],
    ['with spaces', 'two words'],
    ['with quotes', '"quoted"'],
    ['empty', ''],
  ])('replaces an incoming id that is %s with a fresh one', async (_why, incoming) => {
    const { app } = createEchoApp();
    const response = await fetch(`${await listen(app)}/`, { headers: { 'X-Request-Id': incoming } });
    expect(response.headers.get('x-request-id')).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  });

  it('gives each request a different id', async () => {
    const { app } = createEchoApp();
    const url = await listen(app);
    const a = (await fetch(url)).headers.get('x-request-id');
    const b = (await fetch(url)).headers.get('x-request-id');
    expect(a).not.toBe(b);
  });

  it('puts a child logger bound to the request id on ctx.state.log', async () => {
    const { app, logger } = createEchoApp();
    await fetch(`${await listen(app)}/`, { headers: { 'X-Request-Id': 'bound-1' } });
    await waitForLines(logger, 2);
    expect(logger.lines[0]).toEqual({ level: 'debug', bindings: { requestId: 'bound-1' }, fields: { step: 'handler' }, message: 'handling' });
  });

  it('logs one info line per request with method, path, final status and duration', async () => {
    const { app, logger } = createFailingApp(() => new CodedError('package_conflict', 'exists'));
    await fetch(`${await listen(app)}/v3/package?x=1`, { method: 'PUT', headers: { 'X-Request-Id': 'log-1' } });
    await waitForLines(logger, 1);
    expect(logger.lines).toHaveLength(1);
    expect(logger.lines[0]).toMatchObject({
      level: 'info',
      fields: { requestId: 'log-1', method: 'PUT', path: '/v3/package', status: 409 },
      message: 'request',
    });
    expect(typeof logger.lines[0]?.fields.ms).toBe('number');
  });
});
