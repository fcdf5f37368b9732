/**
 * How the publish API answers infrastructure failures (reliability.md #38, #39, #41), through the real
 * error middleware over HTTP: a full disk is 507 without Retry-After, a lock wait cut by `lock_timeout`
 * and an unreachable database are 503 with Retry-After, and none of them shows the driver's message.
 * The errors are shaped as `node:fs` and `pg` raise them (a `code` of errno or SQLSTATE).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createErrorMiddleware } from '@nucat/http';
import { translateInfrastructureErrors } from '../src/unavailable.js';

/** Errors as the filesystem and the PostgreSQL driver raise them. */
const FAILURES: Record<string, () => Error> = {
  enospc: () => Object.assign(new Error("ENOSPC: no space left on device, write '/data/tmp/upload-1.nupkg'"), { code: 'ENOSPC', errno: -28, syscall: 'write' }),
  edquot: () => Object.assign(new Error('EDQUOT: disk quota exceeded, copyfile'), { code: 'EDQUOT' }),
  wrapped: () => new Error('blob write failed', { cause: Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' }) }),
  'pg-disk-full': () => Object.assign(new Error('could not extend file "pg_tblspc/16390/PG_15/16384/16450": No space left on device'), { code: '53100', severity: 'ERROR' }),
  'pg-lock-timeout': () => Object.assign(new Error('canceling statement due to lock timeout'), { code: '55P03', severity: 'ERROR' }),
  'pg-down': () => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }),
  bug: () => new TypeError('cannot read properties of undefined'),
};

let server: Server;
let base: string;

beforeAll(async () => {
  const app = new Koa();
  app.use(createErrorMiddleware());
  app.use(translateInfrastructureErrors());
  app.use(async (ctx) => {
    const failure = FAILURES[ctx.path.slice(1)];
    if (!failure) ctx.throw(404);
    throw failure();
  });
  app.on('error', () => {
    // The 500 case is emitted here; nothing to log in a test.
  });
  server = createServer(app.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

async function get(path: string): Promise<{ status: number; retryAfter: string | null; body: { error: { code: string; message: string; details?: Record<string, unknown> } } }> {
  const response = await fetch(`${base}${path}`);
  return { status: response.status, retryAfter: response.headers.get('retry-after'), body: (await response.json()) as never };
}

describe('infrastructure failures of the publish API', () => {
  it.each(['enospc', 'edquot', 'wrapped'])('#39 disk full: %s answers 507 insufficient_storage, no Retry-After, no path or errno shown', async (name) => {
    const reply = await get(`/${name}`);
    expect(reply.status).toBe(507);
    expect(reply.retryAfter).toBeNull();
    expect(reply.body.error).toMatchObject({ code: 'insufficient_storage', message: expect.stringMatching(/storage is full.*not published/), details: { reason: 'disk_full' } });
    expect(JSON.stringify(reply.body)).not.toMatch(/ENOSPC|EDQUOT|\/data\//);
  });

  it('#39 disk full: PostgreSQL out of space (53100) answers 507 too, naming the database', async () => {
    const reply = await get('/pg-disk-full');
    expect(reply.status).toBe(507);
    expect(reply.body.error).toMatchObject({ code: 'insufficient_storage', details: { reason: 'database_disk_full' } });
    expect(JSON.stringify(reply.body)).not.toContain('pg_tblspc');
  });

  it('#41 stuck appender: a lock wait cut by lock_timeout (55P03) answers 503 with Retry-After, saying the catalog is busy', async () => {
    const reply = await get('/pg-lock-timeout');
    expect(reply.status).toBe(503);
    expect(Number(reply.retryAfter)).toBeGreaterThan(0);
    expect(reply.body.error).toMatchObject({ code: 'unavailable', message: expect.stringMatching(/catalog is busy/), details: { reason: 'catalog_busy' } });
  });

  it('#38 an unreachable database still answers 503 with Retry-After', async () => {
    const reply = await get('/pg-down');
    expect(reply.status).toBe(503);
    expect(Number(reply.retryAfter)).toBeGreaterThan(0);
    expect(reply.body.error.code).toBe('unavailable');
  });

  it('leaves other errors alone (500, nothing shown)', async () => {
    const reply = await get('/bug');
    expect(reply.status).toBe(500);
    expect(reply.body.error.code).toBe('internal');
  });
});
