/**
 * The read path's direct file reader and its document cache, over a real filesystem blob store:
 * files are written exactly as the projections write them (`BlobStore.put`: a temporary file renamed
 * or linked over the name), and every read is checked against what the store holds at that moment.
 */
import { readdirSync, readlinkSync } from 'node:fs';
import { mkdtemp, rm, truncate, utimes } from 'node:fs/promises';
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { pino } from 'pino';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFeedUrls } from '@nucat/catalog';
import { createDb } from '@nucat/db';
import { createFilesystemBlobStore, type BlobStore } from '@nucat/storage';
import { BlobDocument, createLocalBlobReader, createReadApp, type LargeBlob, type LocalBlobReaderOptions } from '../src/index.js';

let root: string;
let store: BlobStore;
/** The HTTP server of the running test, if it started one. */
let server: Server | undefined;

beforeEach(async () => {
  root = join(await mkdtemp(join(tmpdir(), 'nucat-local-blobs-')), 'blobs');
  store = createFilesystemBlobStore({ root });
});

afterEach(async () => {
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
  await rm(join(root, '..'), { recursive: true, force: true });
});

/** A reader over the test store; `settleMs: 0` caches files the moment they are written. */
const reader = (options: Partial<LocalBlobReaderOptions> = {}) => createLocalBlobReader({ root, settleMs: 0, ...options });

const json = (value: unknown) => Buffer.from(JSON.stringify(value));

/** `size` bytes of a pattern that a shifted or repeated chunk would break. */
function patterned(size: number): Buffer {
  const bytes = Buffer.alloc(size);
  for (let i = 0; i < size; i += 1) bytes[i] = (i * 31 + (i >> 12)) % 251;
  return bytes;
}

/** This process's open descriptors on `file` (Linux: /proc/self/fd). */
function descriptorsOf(file: string): string[] {
  return readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === file;
    } catch {
      return false; // closed while listing
    }
  });
}

/** A raw request: the bytes on the wire, never decompressed. */
function get(url: string, headers: Record<string, string>, method = 'GET'): Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

async function text(key: string, read: ReturnType<typeof reader>): Promise<string | undefined> {
  return (await read.document(key))?.bytes.toString('utf8');
}

describe('document cache: never stale', () => {
  it('serves a document from memory while its file is unchanged', async () => {
    await store.put('flatcontainer/contoso.lib/index.json', json({ versions: ['1.0.0'] }));
    const read = reader();

    expect(await text('flatcontainer/contoso.lib/index.json', read)).toBe('{"versions":["1.0.0"]}');
    expect(await text('flatcontainer/contoso.lib/index.json', read)).toBe('{"versions":["1.0.0"]}');
    expect(await text('flatcontainer/contoso.lib/index.json', read)).toBe('{"versions":["1.0.0"]}');
    expect(read.stats()).toMatchObject({ entries: 1, hits: 2, misses: 1 });
  });

  it('serves the new bytes on the first read after the projection replaces the file', async () => {
    const key = 'registration5-gz-semver2/contoso.lib/index.json';
    await store.put(key, json({ count: 1 }));
    const read = reader();
    expect(await text(key, read)).toBe('{"count":1}');
    expect(await text(key, read)).toBe('{"count":1}');

    // Same size, on purpose: only the file's identity tells the two apart.
    await store.put(key, json({ count: 2 }));
    expect(await text(key, read)).toBe('{"count":2}');
    expect(read.stats()).toMatchObject({ entries: 1, hits: 1, misses: 2 });
  });

  it('answers undefined once the file is deleted, and forgets the document', async () => {
    const key = 'flatcontainer/contoso.lib/index.json';
    await store.put(key, json({ versions: ['1.0.0'] }));
    const read = reader();
    expect(await text(key, read)).toBeDefined();

    await store.delete(key);
    expect(await read.document(key)).toBeUndefined();
    expect(read.stats()).toMatchObject({ entries: 0, bytes: 0 });
  });

  it('never serves a stale document across many same-size replacements, however quickly they follow each other', async () => {
    const key = 'flatcontainer/contoso.busy/index.json';
    const cached = reader();
    const settled = createLocalBlobReader({ root }); // the default settle window
    for (let i = 0; i < 60; i += 1) {
      const body = JSON.stringify({ versions: [`1.0.${String(i).padStart(3, '0')}`] });
      await store.put(key, Buffer.from(body));
      // Every other round the file is replaced twice between reads, so a freed inode may come back.
      if (i % 2 === 0) {
        expect(await text(key, cached)).toBe(body);
        expect(await text(key, settled)).toBe(body);
      }
    }
    const last = JSON.stringify({ versions: ['1.0.059'] });
    expect(await text(key, cached)).toBe(last);
    expect(await text(key, settled)).toBe(last);
  });

  it('does not cache a file changed within the settle window, and caches it once it has settled', async () => {
    const key = 'flatcontainer/contoso.lib/index.json';
    await store.put(key, json({ versions: ['1.0.0'] }));
    let clock = Date.now();
    const read = createLocalBlobReader({ root, settleMs: 60_000, now: () => clock });

    await read.document(key);
    await read.document(key);
    expect(read.stats()).toMatchObject({ entries: 0, hits: 0, misses: 2 });

    clock += 61_000;
    await read.document(key);
    await read.document(key);
    expect(read.stats()).toMatchObject({ entries: 1, hits: 1, misses: 3 });
  });

  it('reads the file again when only its modification time changed', async () => {
    const key = 'flatcontainer/contoso.lib/index.json';
    await store.put(key, json({ versions: ['1.0.0'] }));
    const read = reader();
    await read.document(key);
    await utimes(join(root, key), new Date(2020, 0, 1), new Date(2020, 0, 1));
    await read.document(key);
    expect(read.stats()).toMatchObject({ hits: 0, misses: 2 });
  });
});

describe('document cache: byte budget', () => {
  /** Bytes charged for a document of `size` bytes under `key` (content, key, fixed overhead). */
  const charge = (key: string, size: number) => size + key.length * 2 + 256;
  const keyOf = (name: string) => `flatcontainer/${name}/index.json`;

  it('keeps the charged bytes within the budget, dropping the least recently used document first', async () => {
    const body = Buffer.alloc(1000, 0x61);
    for (const name of ['a', 'b', 'c', 'd']) await store.put(keyOf(name), body);
    const budget = 3 * charge(keyOf('a'), 1000);
    const read = reader({ cacheBytes: budget, maxEntryBytes: 1000 });

    for (const name of ['a', 'b', 'c']) await read.document(keyOf(name));
    expect(read.stats()).toMatchObject({ entries: 3, bytes: budget, maxBytes: budget });

    await read.document(keyOf('a')); // a is now the most recently used: b goes first
    await read.document(keyOf('d'));
    expect(read.stats()).toMatchObject({ entries: 3, bytes: budget, hits: 1, misses: 4 });

    await read.document(keyOf('a'));
    await read.document(keyOf('c'));
    await read.document(keyOf('d'));
    expect(read.stats()).toMatchObject({ hits: 4, misses: 4 });
    await read.document(keyOf('b'));
    expect(read.stats()).toMatchObject({ entries: 3, bytes: budget, hits: 4, misses: 5 });
  });

  it('never goes over the budget with documents of mixed sizes', async () => {
    const read = reader({ cacheBytes: 20_000, maxEntryBytes: 8_000 });
    for (let i = 0; i < 40; i += 1) {
      await store.put(keyOf(`p${i}`), Buffer.alloc(500 + ((i * 977) % 7_000), 0x62));
    }
    for (let round = 0; round < 3; round += 1) {
      for (let i = 0; i < 40; i += 1) {
        const doc = await read.document(keyOf(`p${(i * 7 + round) % 40}`));
        expect(doc?.bytes.length).toBe(500 + ((((i * 7 + round) % 40) * 977) % 7_000));
        expect(read.stats().bytes).toBeLessThanOrEqual(20_000);
      }
    }
    expect(read.stats().entries).toBeGreaterThan(1);
  });

  it('serves a document larger than the largest cached entry without keeping it', async () => {
    await store.put(keyOf('big'), Buffer.alloc(5000, 0x63));
    const read = reader({ cacheBytes: 1_000_000, maxEntryBytes: 4096 });
    expect((await read.document(keyOf('big')))?.bytes.length).toBe(5000);
    expect(read.stats()).toMatchObject({ entries: 0, bytes: 0 });
  });

  it('keeps nothing in memory with a budget of 0, and still serves every read', async () => {
    await store.put(keyOf('a'), json({ versions: ['1.0.0'] }));
    const read = reader({ cacheBytes: 0 });
    expect(await text(keyOf('a'), read)).toBe('{"versions":["1.0.0"]}');
    expect(await text(keyOf('a'), read)).toBe('{"versions":["1.0.0"]}');
    expect(read.stats()).toMatchObject({ entries: 0, bytes: 0, hits: 0, misses: 2 });
  });
});

describe('local blob reader', () => {
  it('tags a blob exactly as the filesystem store does', async () => {
    const key = 'flatcontainer/contoso.lib/1.0.0/contoso.lib.1.0.0.nupkg';
    await store.put(key, Buffer.alloc(3000, 0x64));
    const doc = await reader().blob(key);
    expect(doc).toBeInstanceOf(BlobDocument);
    expect((doc as BlobDocument).fileTag).toBe((await store.stat(key))!.etag);
  });

  it('streams a blob larger than a whole read, with the store etag, and releases an unread one', async () => {
    const key = 'flatcontainer/contoso.big/1.0.0/contoso.big.1.0.0.nupkg';
    const bytes = patterned(300_000);
    await store.put(key, bytes);
    const read = reader({ wholeReadBytes: 64 * 1024, chunkBytes: 16 * 1024 });

    const large = (await read.blob(key)) as LargeBlob;
    expect(large).not.toBeInstanceOf(BlobDocument);
    expect(large.size).toBe(bytes.length);
    expect(large.fileTag).toBe((await store.stat(key))!.etag);
    const chunks: Buffer[] = [];
    for await (const chunk of large.stream()) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).equals(bytes)).toBe(true);

    const unread = (await read.blob(key)) as LargeBlob;
    unread.discard();
    expect(() => unread.stream()).toThrow(/already/);
    expect(read.stats().entries).toBe(0);
  });

  it('answers undefined for a key with no file, a folder, or a path through a file', async () => {
    await store.put('flatcontainer/contoso.lib/index.json', json({}));
    const read = reader();
    expect(await read.document('flatcontainer/contoso.none/index.json')).toBeUndefined();
    expect(await read.document('flatcontainer/contoso.lib')).toBeUndefined();
    expect(await read.document('flatcontainer/contoso.lib/index.json/x')).toBeUndefined();
    expect(await read.blob('flatcontainer/contoso.lib')).toBeUndefined();
  });

  it('closes the file when the client leaves in the middle of a large download', async () => {
    const key = 'flatcontainer/contoso.big/1.0.0/contoso.big.1.0.0.nupkg';
    await store.put(key, patterned(4 * 1024 * 1024));
    const read = reader({ wholeReadBytes: 64 * 1024, chunkBytes: 16 * 1024 });
    const large = (await read.blob(key)) as LargeBlob;
    expect(descriptorsOf(join(root, key))).toHaveLength(1);

    const responseClosed = new Promise<void>((resolve) => {
      server = createServer((_req, res) => {
        res.setHeader('Content-Length', large.size);
        res.once('close', () => resolve());
        large.writeTo!(res, () => {});
      }).listen(0, '127.0.0.1');
    });
    await new Promise((resolve) => server!.once('listening', resolve));
    const req = httpRequest(`http://127.0.0.1:${(server!.address() as AddressInfo).port}/`, (res) => {
      res.once('data', () => req.destroy()); // one chunk, then gone
    });
    req.on('error', () => {});
    req.end();
    await responseClosed;
    expect(descriptorsOf(join(root, key))).toEqual([]);
  });

  it('cuts the connection rather than send a short body when the file shrinks under a download', async () => {
    const key = 'flatcontainer/contoso.big/1.0.0/contoso.big.1.0.0.nupkg';
    await store.put(key, patterned(2 * 1024 * 1024));
    const read = reader({ wholeReadBytes: 64 * 1024, chunkBytes: 16 * 1024 });
    const large = (await read.blob(key)) as LargeBlob;
    await truncate(join(root, key), 100_000); // in place: the open file shrinks too

    const errors: Error[] = [];
    server = createServer((_req, res) => {
      res.setHeader('Content-Length', large.size);
      large.writeTo!(res, (error) => errors.push(error));
    }).listen(0, '127.0.0.1');
    await new Promise((resolve) => server!.once('listening', resolve));
    const outcome = await new Promise<string>((resolve) => {
      const req = httpRequest(`http://127.0.0.1:${(server!.address() as AddressInfo).port}/`, (res) => {
        let received = 0;
        res.on('data', (chunk: Buffer) => (received += chunk.length));
        res.on('end', () => resolve(`complete after ${received} bytes`));
        res.on('aborted', () => resolve('cut'));
        res.on('error', () => resolve('cut'));
      });
      req.on('error', () => resolve('cut'));
      req.end();
    });
    expect(outcome).toBe('cut');
    expect(errors.map((e) => (e as Error & { code?: string }).code)).toEqual(['short_file']);
    expect(descriptorsOf(join(root, key))).toEqual([]);
  });

  it('refuses a key the store would refuse before touching the filesystem', async () => {
    const read = reader();
    await expect(read.document('../outside.json')).rejects.toMatchObject({ code: 'invalid_blob_key' });
    await expect(read.blob('flatcontainer//x.nupkg')).rejects.toMatchObject({ code: 'invalid_blob_key' });
  });
});

describe('read API over local files', () => {
  const db = createDb({ url: 'postgres://nucat:nucat@127.0.0.1:1/none', poolSize: 1 });
  afterAll(async () => {
    await db.destroy();
  });

  async function start(localFiles: Partial<LocalBlobReaderOptions> = {}): Promise<string> {
    const app = createReadApp({
      db,
      store,
      localFiles: { root, settleMs: 0, ...localFiles },
      feedId: 1,
      urls: createFeedUrls('http://127.0.0.1:5000/v3/'),
      publishUrl: 'http://127.0.0.1:5001',
      log: pino({ level: 'silent' }),
    });
    server = createServer(app.callback()).listen(0, '127.0.0.1');
    await new Promise((resolve) => server!.once('listening', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}/v3`;
  }

  it('serves the new document and ETag on the first request after the projection replaces the file', async () => {
    const key = 'flatcontainer/contoso.lib/index.json';
    await store.put(key, json({ versions: ['1.0.0'] }));
    const base = await start();
    const first = await fetch(`${base}/flatcontainer/contoso.lib/index.json`);
    const etag = first.headers.get('etag')!;
    expect(await first.json()).toEqual({ versions: ['1.0.0'] });
    expect(await (await fetch(`${base}/flatcontainer/contoso.lib/index.json`)).json()).toEqual({ versions: ['1.0.0'] });
    expect((await fetch(`${base}/flatcontainer/contoso.lib/index.json`, { headers: { 'If-None-Match': etag } })).status).toBe(304);

    await store.put(key, json({ versions: ['2.0.0'] }));
    const revalidated = await fetch(`${base}/flatcontainer/contoso.lib/index.json`, { headers: { 'If-None-Match': etag } });
    expect(revalidated.status).toBe(200);
    expect(revalidated.headers.get('etag')).not.toBe(etag);
    expect(await revalidated.json()).toEqual({ versions: ['2.0.0'] });
  });

  it('answers from memory exactly as from disk: gzip or decoded hives, HEAD, 304 and the nupkg etag', async () => {
    const hiveKey = 'registration5-gz-semver2/contoso.lib/index.json';
    const nupkgKey = 'flatcontainer/contoso.lib/1.0.0/contoso.lib.1.0.0.nupkg';
    const document = JSON.stringify({ count: 1, items: [] });
    await store.put(hiveKey, gzipSync(document));
    await store.put(nupkgKey, Buffer.alloc(2048, 0x65));
    const base = await start();
    const hive = `${base}/registration5-gz-semver2/contoso.lib/index.json`;
    const nupkg = `${base}/flatcontainer/contoso.lib/1.0.0/contoso.lib.1.0.0.nupkg`;

    for (let round = 0; round < 2; round += 1) {
      // Round 0 reads the files; round 1 is served from memory.
      const gzip = await get(hive, { 'Accept-Encoding': 'gzip' });
      expect(gzip.headers['content-encoding']).toBe('gzip');
      expect(gzip.headers.vary).toMatch(/Accept-Encoding/i);
      expect(gunzipSync(gzip.body).toString()).toBe(document);
      const identity = await get(hive, { 'Accept-Encoding': 'identity' });
      expect(identity.headers['content-encoding']).toBeUndefined();
      expect(identity.body.toString()).toBe(document);
      expect(identity.headers.etag).not.toBe(gzip.headers.etag);
      expect((await get(hive, { 'Accept-Encoding': 'gzip', 'If-None-Match': gzip.headers.etag! })).status).toBe(304);

      const bytes = await get(nupkg, {});
      expect(bytes.status).toBe(200);
      expect(bytes.body.equals(Buffer.alloc(2048, 0x65))).toBe(true);
      expect(bytes.headers.etag).toBe(`"${(await store.stat(nupkgKey))!.etag}"`);
      expect(bytes.headers['cache-control']).toMatch(/immutable/);
      const head = await get(nupkg, {}, 'HEAD');
      expect(head.status).toBe(200);
      expect(head.headers['content-length']).toBe('2048');
      expect(head.body.length).toBe(0);
      expect((await get(nupkg, { 'If-None-Match': bytes.headers.etag! })).status).toBe(304);
    }
  });

  it('sends a large nupkg byte for byte in chunks, answers HEAD with its length and 304 to its ETag', async () => {
    const key = 'flatcontainer/contoso.big/1.0.0/contoso.big.1.0.0.nupkg';
    const bytes = patterned(1_000_003);
    await store.put(key, bytes);
    const base = await start({ wholeReadBytes: 64 * 1024, chunkBytes: 16 * 1024 });
    const url = `${base}/flatcontainer/contoso.big/1.0.0/contoso.big.1.0.0.nupkg`;

    const replies = await Promise.all([get(url, {}), get(url, {}), get(url, {})]);
    for (const reply of replies) {
      expect(reply.status).toBe(200);
      expect(reply.headers['content-length']).toBe(String(bytes.length));
      expect(reply.headers['content-type']).toBe('application/octet-stream');
      expect(reply.headers.etag).toBe(`"${(await store.stat(key))!.etag}"`);
      expect(reply.body.equals(bytes)).toBe(true);
    }
    const head = await get(url, {}, 'HEAD');
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe(String(bytes.length));
    expect(head.body.length).toBe(0);
    expect((await get(url, { 'If-None-Match': replies[0]!.headers.etag! })).status).toBe(304);
    expect(descriptorsOf(join(root, key))).toEqual([]);
  });

  it('answers 404 on the first request after the file is deleted', async () => {
    const key = 'registration5-semver1/contoso.lib/index.json';
    await store.put(key, json({ count: 1 }));
    const base = await start();
    expect((await fetch(`${base}/registration5-semver1/contoso.lib/index.json`)).status).toBe(200);
    await store.delete(key);
    const gone = await fetch(`${base}/registration5-semver1/contoso.lib/index.json`);
    expect(gone.status).toBe(404);
    expect(await gone.json()).toEqual({ error: { code: 'not_found', message: 'Not found.' } });
  });
});
