import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { gunzipSync, gzipSync } from 'node:zlib';
import Koa from 'koa';
import { afterEach, describe, expect, it } from 'vitest';
import { createErrorMiddleware, sendBytes, sendJson, sendStream } from './index.js';

const servers: { close(): void }[] = [];
afterEach(() => {
  for (const server of servers.splice(0)) server.close();
});

/** Starts an app whose only handler is `handle`, behind the error middleware; returns its base URL. */
async function serve(handle: Koa.Middleware): Promise<string> {
  const app = new Koa();
  app.on('error', () => {}); // 500s are asserted through the response
  app.use(createErrorMiddleware());
  app.use(handle);
  const server = app.listen(0, '127.0.0.1');
  servers.push(server);
  await new Promise<void>((resolve) => server.once('listening', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** The bytes on the wire: not decompressed. */
  body: Buffer;
}

/** A plain HTTP request that, unlike fetch, sends only the given headers and never decompresses. */
function raw(url: string, options: { method?: string; headers?: Record<string, string> } = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: options.method ?? 'GET', headers: options.headers ?? {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

const small = { id: 'Contoso.Widgets', versions: ['1.0.0', '2.0.0-beta.1'] };
const large = { items: Array.from({ length: 200 }, (_, i) => ({ version: `1.0.${i}`, listed: true })) };

describe('sendJson', () => {
  it('answers JSON with a strong ETag and the given Cache-Control', async () => {
    const url = await serve((ctx) => sendJson(ctx, small, { cacheControl: 'public, max-age=60' }));
    const response = await raw(url);
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(response.headers['cache-control']).toBe('public, max-age=60');
    expect(response.headers.etag).toMatch(/^"[A-Za-z0-9_-]{27}"$/);
    expect(response.headers['content-length']).toBe(String(response.body.length));
    expect(JSON.parse(response.body.toString('utf8'))).toEqual(small);
  });

  it('gives equal bodies equal tags and different bodies different tags', async () => {
    let body: unknown = small;
    const url = await serve((ctx) => sendJson(ctx, body, { cacheControl: 'no-cache' }));
    const first = (await raw(url)).headers.etag;
    expect((await raw(url)).headers.etag).toBe(first);
    body = { ...small, versions: ['1.0.0'] };
    expect((await raw(url)).headers.etag).not.toBe(first);
  });

  it('answers 304 without a body when If-None-Match names the current tag', async () => {
    const url = await serve((ctx) => sendJson(ctx, small, { cacheControl: 'public, max-age=60' }));
    const etag = (await raw(url)).headers.etag!;
    for (const ifNoneMatch of [etag, `W/${etag}`, `"other", ${etag}`, `"a",W/${etag} , "b"`, '*']) {
      const response = await raw(url, { headers: { 'If-None-Match': ifNoneMatch } });
      expect(response.status, ifNoneMatch).toBe(304);
      expect(response.body.length).toBe(0);
      expect(response.headers.etag).toBe(etag);
      expect(response.headers['cache-control']).toBe('public, max-age=60');
    }
  });

  it('answers 200 when If-None-Match names other tags', async () => {
    const url = await serve((ctx) => sendJson(ctx, small, { cacheControl: 'no-cache' }));
    const response = await raw(url, { headers: { 'If-None-Match': '"stale", W/"older"' } });
    expect(response.status).toBe(200);
    expect(JSON.parse(response.body.toString())).toEqual(small);
  });

  it('answers HEAD with the headers of GET and no body', async () => {
    const url = await serve((ctx) => sendJson(ctx, small, { cacheControl: 'no-cache' }));
    const get = await raw(url);
    const head = await raw(url, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
    expect(head.headers.etag).toBe(get.headers.etag);
    expect(head.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(head.headers['content-length']).toBe(get.headers['content-length']);
  });

  it('gzips bodies over 1 KiB for clients that accept gzip', async () => {
    const url = await serve((ctx) => sendJson(ctx, large, { cacheControl: 'no-cache' }));
    const plain = await raw(url);
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(plain.body.length).toBeGreaterThan(1024);

    const zipped = await raw(url, { headers: { 'Accept-Encoding': 'gzip, deflate, br' } });
    expect(zipped.headers['content-encoding']).toBe('gzip');
    expect(zipped.headers.vary).toBe('Accept-Encoding');
    expect(JSON.parse(gunzipSync(zipped.body).toString())).toEqual(large);
    expect(zipped.headers.etag).not.toBe(plain.headers.etag);

    const revalidated = await raw(url, { headers: { 'Accept-Encoding': 'gzip', 'If-None-Match': zipped.headers.etag! } });
    expect(revalidated.status).toBe(304);
  });

  it('does not gzip small bodies, or for clients that refuse gzip', async () => {
    const url = await serve((ctx) => sendJson(ctx, ctx.path === '/small' ? small : large, { cacheControl: 'no-cache' }));
    expect((await raw(`${url}/small`, { headers: { 'Accept-Encoding': 'gzip' } })).headers['content-encoding']).toBeUndefined();
    const refused = await raw(`${url}/large`, { headers: { 'Accept-Encoding': 'gzip;q=0, identity' } });
    expect(refused.headers['content-encoding']).toBeUndefined();
    expect(JSON.parse(refused.body.toString())).toEqual(large);
  });

  it('is read correctly by fetch, which decompresses', async () => {
    const url = await serve((ctx) => sendJson(ctx, large, { cacheControl: 'no-cache' }));
    const response = await fetch(url);
    expect(response.headers.get('content-encoding')).toBe('gzip');
    expect(await response.json()).toEqual(large);
  });

  it('rejects a body that is not JSON', async () => {
    const url = await serve((ctx) => sendJson(ctx, undefined, { cacheControl: 'no-cache' }));
    expect((await raw(url)).status).toBe(500);
  });
});

describe('sendBytes', () => {
  const page = Buffer.from(JSON.stringify(large));
  const storedPage = gzipSync(page);

  it('sends stored gzip bytes as they are to clients that accept gzip', async () => {
    const url = await serve((ctx) =>
      sendBytes(ctx, storedPage, { contentType: 'application/json', cacheControl: 'no-store', storedGzip: true }),
    );
    const response = await raw(url, { headers: { 'Accept-Encoding': 'gzip, deflate' } });
    expect(response.status).toBe(200);
    expect(response.headers['content-encoding']).toBe('gzip');
    expect(response.headers.vary).toBe('Accept-Encoding');
    expect(response.headers['content-type']).toBe('application/json');
    expect(response.headers['cache-control']).toBe('no-store');
    expect(response.headers['content-length']).toBe(String(storedPage.length));
    expect(response.body.equals(storedPage)).toBe(true);
  });

  it('decompresses stored gzip bytes for clients that do not accept gzip', async () => {
    const url = await serve((ctx) =>
      sendBytes(ctx, storedPage, { contentType: 'application/json', cacheControl: 'no-store', storedGzip: true }),
    );
    const variants: Record<string, string>[] = [{}, { 'Accept-Encoding': 'identity' }, { 'Accept-Encoding': 'gzip;q=0' }];
    for (const headers of variants) {
      const response = await raw(url, { headers });
      expect(response.status).toBe(200);
      expect(response.headers['content-encoding']).toBeUndefined();
      expect(response.headers.vary).toBe('Accept-Encoding');
      expect(response.body.equals(page)).toBe(true);
    }
  });

  it('gives the gzip and the plain representation different tags, each revalidating to 304', async () => {
    const url = await serve((ctx) =>
      sendBytes(ctx, storedPage, { contentType: 'application/json', cacheControl: 'no-store', storedGzip: true }),
    );
    const zipped = await raw(url, { headers: { 'Accept-Encoding': 'gzip' } });
    const plain = await raw(url);
    expect(zipped.headers.etag).not.toBe(plain.headers.etag);
    expect((await raw(url, { headers: { 'Accept-Encoding': 'gzip', 'If-None-Match': zipped.headers.etag! } })).status).toBe(304);
    expect((await raw(url, { headers: { 'If-None-Match': plain.headers.etag! } })).status).toBe(304);
    expect((await raw(url, { headers: { 'If-None-Match': zipped.headers.etag! } })).status).toBe(200);
  });

  it('answers HEAD with headers only', async () => {
    const url = await serve((ctx) =>
      sendBytes(ctx, storedPage, { contentType: 'application/json', cacheControl: 'no-store', storedGzip: true }),
    );
    const head = await raw(url, { method: 'HEAD', headers: { 'Accept-Encoding': 'gzip' } });
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
    expect(head.headers['content-encoding']).toBe('gzip');
    expect(head.headers['content-length']).toBe(String(storedPage.length));
  });

  it('sends plain bytes unchanged, with a given etag, and honours If-None-Match', async () => {
    const icon = Buffer.from([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]);
    const url = await serve((ctx) =>
      sendBytes(ctx, icon, { contentType: 'image/png', cacheControl: 'public, max-age=120', etag: 'blob-etag-1' }),
    );
    const response = await raw(url, { headers: { 'Accept-Encoding': 'gzip' } });
    expect(response.headers.etag).toBe('"blob-etag-1"');
    expect(response.headers['content-type']).toBe('image/png');
    expect(response.headers['content-encoding']).toBeUndefined();
    expect(response.body.equals(icon)).toBe(true);
    expect((await raw(url, { headers: { 'If-None-Match': 'W/"blob-etag-1"' } })).status).toBe(304);
  });
});

describe('sendStream', () => {
  const nupkg = Buffer.alloc(300_000, 7);

  /** A stream over `nupkg` that records whether it was read and destroyed. */
  function trackedBody(): { opened: { info: { key: string; size: number; lastModified: Date; etag: string }; stream: Readable }; state: { read: boolean; destroyed: boolean } } {
    const state = { read: false, destroyed: false };
    let sent = false;
    const stream = new Readable({
      read() {
        state.read = true;
        this.push(sent ? null : nupkg);
        sent = true;
      },
      destroy(error, callback) {
        state.destroyed = true;
        callback(error);
      },
    });
    return { opened: { info: { key: 'k', size: nupkg.length, lastModified: new Date(), etag: 'abc123' }, stream }, state };
  }

  it('streams the blob with its length and tag', async () => {
    const tracked = trackedBody();
    const url = await serve((ctx) =>
      sendStream(ctx, tracked.opened, { contentType: 'application/octet-stream', cacheControl: 'public, max-age=120' }),
    );
    const response = await raw(url, { headers: { 'Accept-Encoding': 'gzip' } });
    expect(response.status).toBe(200);
    expect(response.headers['content-length']).toBe(String(nupkg.length));
    expect(response.headers['content-type']).toBe('application/octet-stream');
    expect(response.headers['content-encoding']).toBeUndefined();
    expect(response.headers.etag).toBe('"abc123"');
    expect(response.body.equals(nupkg)).toBe(true);
  });

  it('answers 304 and destroys the stream unread when the tag matches', async () => {
    const tracked = trackedBody();
    const url = await serve((ctx) => sendStream(ctx, tracked.opened, { contentType: 'application/octet-stream', cacheControl: 'x' }));
    const response = await raw(url, { headers: { 'If-None-Match': '"abc123"' } });
    expect(response.status).toBe(304);
    expect(response.body.length).toBe(0);
    expect(tracked.state).toEqual({ read: false, destroyed: true });
  });

  it('answers HEAD with the length and destroys the stream unread', async () => {
    const tracked = trackedBody();
    const url = await serve((ctx) => sendStream(ctx, tracked.opened, { contentType: 'application/octet-stream', cacheControl: 'x' }));
    const response = await raw(url, { method: 'HEAD' });
    expect(response.status).toBe(200);
    expect(response.headers['content-length']).toBe(String(nupkg.length));
    expect(response.headers.etag).toBe('"abc123"');
    expect(response.body.length).toBe(0);
    expect(tracked.state).toEqual({ read: false, destroyed: true });
  });
});
