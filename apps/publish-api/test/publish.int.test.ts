/**
 * The PackagePublish resource over real HTTP, against a real PostgreSQL database and a temporary
 * filesystem blob store: push, duplicates, authorisation, size limits, invalid uploads, unlist and
 * relist, and a database that is down.
 * Protocol: nuget-protocol.md §4 and §12; hostile inputs: reliability.md §2 (1, 13, 16, 17, 20, 22, 23, 38);
 * the other upload cases are in hostile-uploads.int.test.ts.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { Agent, createServer, request as httpRequest, type ClientRequest, type IncomingHttpHeaders, type IncomingMessage, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey, revokeApiKey, type ApiKeyScope } from '@nucat/auth';
import { findFeedId } from '@nucat/catalog';
import { createDb, migrateToLatest, type Db } from '@nucat/db';
import { createFilesystemBlobStore, type BlobStore } from '@nucat/storage';
import { buildNupkg, createTestDatabase, REFUSING_PORT, waitFor, type TestDatabase } from '@nucat/testing';
import { createPublishApp, PayloadTooLargeError, receiveUpload } from '../src/index.js';

const MAX_PACKAGE_BYTES = 64 * 1024;
const log = pino({ level: 'silent' });

// ---------------------------------------------------------------------------------------------
// HTTP helpers: node:http, so the test controls framing (Content-Length or chunked) and headers.

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

interface ErrorReply {
  error: { code: string; message: string; details?: Record<string, unknown> };
}

function readReply(res: IncomingMessage): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (chunk: Buffer) => chunks.push(chunk));
    res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    res.on('error', reject);
  });
}

function json<T = ErrorReply>(reply: Reply): T {
  return JSON.parse(reply.body.toString('utf8')) as T;
}

/**
 * Sends one request. A Buffer body goes with Content-Length; an array of chunks goes with
 * `Transfer-Encoding: chunked` (no Content-Length), written one chunk per event-loop turn.
 */
function send(
  base: string,
  method: string,
  path: string,
  options: { headers?: Record<string, string>; body?: Buffer | Buffer[] } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers = { ...options.headers };
    if (Buffer.isBuffer(options.body)) headers['Content-Length'] = String(options.body.length);
    const req = httpRequest(`${base}${path}`, { method, headers }, (res) => readReply(res).then(resolve, reject));
    req.on('error', reject);
    const body = options.body;
    if (body === undefined) return void req.end();
    if (Buffer.isBuffer(body)) return void req.end(body);
    void (async () => {
      for (const chunk of body) {
        req.write(chunk);
        await new Promise((r) => setImmediate(r));
      }
      req.end();
    })();
  });
}

const BOUNDARY = 'nucat-7f3a9c';

interface Part {
  name: string;
  filename?: string;
  contentType?: string;
  body: Buffer | string;
}

/** A multipart/form-data body; the Content-Type quotes the boundary, as the official client does. */
function multipart(parts: Part[]): { body: Buffer; contentType: string } {
  const chunks: Buffer[] = [];
  for (const part of parts) {
    const disposition = `form-data; name="${part.name}"${part.filename ? `; filename="${part.filename}"` : ''}`;
    const head = [`--${BOUNDARY}`, `Content-Disposition: ${disposition}`];
    if (part.contentType) head.push(`Content-Type: ${part.contentType}`);
    chunks.push(Buffer.from(`${head.join('\r\n')}\r\n\r\n`), Buffer.from(part.body), Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${BOUNDARY}--\r\n`));
  return { body: Buffer.concat(chunks), contentType: `multipart/form-data; boundary="${BOUNDARY}"` };
}

function packagePart(bytes: Buffer): Part {
  return { name: 'package', filename: 'package.nupkg', contentType: 'application/octet-stream', body: bytes };
}

function splitIntoChunks(bytes: Buffer, size: number): Buffer[] {
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
  return chunks;
}

// ---------------------------------------------------------------------------------------------
// A minimal zip writer (stored entries), for archives buildNupkg cannot make: no nuspec, a DOCTYPE.

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes: Buffer): number {
  let crc = 0xffffffff;
  for (const byte of bytes) crc = CRC_TABLE[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function storedZip(entries: Record<string, string | Buffer>): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const [name, content] of Object.entries(entries)) {
    const data = Buffer.from(content);
    const fileName = Buffer.from(name, 'utf8');
    const crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4); // version needed
    local.writeUInt16LE(0x0800, 6); // UTF-8 names
    local.writeUInt16LE(0, 8); // stored
    local.writeUInt16LE(0, 10); // time
    local.writeUInt16LE(0x21, 12); // date 1980-01-01
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(fileName.length, 26);
    local.writeUInt16LE(0, 28);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0x0800, 8);
    central.writeUInt16LE(0, 10);
    central.writeUInt16LE(0, 12);
    central.writeUInt16LE(0x21, 14);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(data.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(fileName.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, fileName, data);
    centrals.push(central, fileName);
    offset += local.length + fileName.length + data.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(centrals.length / 2, 8);
  end.writeUInt16LE(centrals.length / 2, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}

function nuspecXml(id: string, version: string, prolog = ''): string {
  return [
    '<?xml version="1.0" encoding="utf-8"?>',
    prolog,
    '<package xmlns="http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd">',
    `  <metadata><id>${id}</id><version>${version}</version><authors>a</authors><description>d</description></metadata>`,
    '</package>',
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------

let database: TestDatabase;
let db: Db;
let store: BlobStore;
let feedId: number;
let workDir: string;
let tempDir: string;
let server: Server;
let base: string;
/** A key with every scope on every id. */
let adminKey: string;

async function key(options: { scopes?: ApiKeyScope[]; idGlobs?: string[]; expiresAt?: Date; name?: string } = {}): Promise<string> {
  const created = await createApiKey(db, { feedId, name: options.name ?? `key-${Math.random()}`, ...options });
  return created.key;
}

function listen(app: { listen(port: number, host: string): Server }): Promise<{ server: Server; base: string }> {
  const s = app.listen(0, '127.0.0.1');
  return new Promise((resolve, reject) => {
    s.once('listening', () => resolve({ server: s, base: `http://127.0.0.1:${(s.address() as AddressInfo).port}` }));
    s.once('error', reject);
  });
}

function close(s: Server | undefined): Promise<void> {
  if (!s) return Promise.resolve();
  s.closeAllConnections();
  return new Promise((resolve) => s.close(() => resolve()));
}

/** Pushes a package as the official client does (multipart, first part) with Content-Length. */
function push(bytes: Buffer, apiKey: string | null = adminKey, target = base): Promise<Reply> {
  const { body, contentType } = multipart([packagePart(bytes)]);
  const headers: Record<string, string> = { 'Content-Type': contentType };
  if (apiKey !== null) headers['X-NuGet-ApiKey'] = apiKey;
  return send(target, 'PUT', '/v3/package/', { headers, body });
}

async function catalogRows(lowerId: string, lowerVersion?: string) {
  let query = db
    .selectFrom('catalog_items')
    .select(['commit_id', 'commit_timestamp', 'type', 'lower_id', 'lower_version', 'data'])
    .where('feed_id', '=', feedId)
    .where('lower_id', '=', lowerId);
  if (lowerVersion !== undefined) query = query.where('lower_version', '=', lowerVersion);
  return query.orderBy('seq').execute();
}

async function tempFiles(): Promise<string[]> {
  return readdir(tempDir).catch(() => []);
}

/**
 * The upload folder is empty, or becomes so within a few seconds: a refused upload's temp file is
 * removed as the request ends, which on a busy machine can be a moment after the reply was read.
 */
async function expectNoTempFiles(): Promise<void> {
  await waitFor(async () => (await tempFiles()).length === 0, { what: 'the upload folder to be empty', timeoutMs: 5_000, intervalMs: 20 }).catch(() => undefined);
  expect(await tempFiles()).toEqual([]);
}

beforeAll(async () => {
  database = await createTestDatabase();
  db = createDb({ url: database.url, poolSize: 20 });
  await migrateToLatest(db);
  feedId = (await findFeedId(db, 'main'))!;
  workDir = await mkdtemp(join(tmpdir(), 'nucat-publish-int-'));
  tempDir = join(workDir, 'uploads');
  store = createFilesystemBlobStore({ root: join(workDir, 'blobs') });
  ({ server, base } = await listen(createPublishApp({ db, store, feedId, log, maxPackageBytes: MAX_PACKAGE_BYTES, tempDir })));
  adminKey = await key({ name: 'admin' });
});

afterAll(async () => {
  await close(server);
  await db?.destroy();
  await store?.close();
  await database?.drop();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

describe('push', () => {
  it('#20 accepts a multipart upload, using the first part whatever its name, and ignoring a second part', async () => {
    const bytes = buildNupkg({ id: 'Contoso.Multipart', version: '1.0.0' });
    const other = buildNupkg({ id: 'Contoso.SecondPart', version: '9.0.0' });
    const { body, contentType } = multipart([
      { name: 'whatever', filename: 'odd-name.bin', contentType: 'application/octet-stream', body: bytes },
      { name: 'package', filename: 'package.nupkg', contentType: 'application/octet-stream', body: other },
    ]);

    const reply = await send(base, 'PUT', '/v3/package/', { headers: { 'Content-Type': contentType, 'X-NuGet-ApiKey': adminKey }, body });

    expect(reply.status, reply.body.toString()).toBe(201);
    expect(reply.headers['x-nucat-commit-id']).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(reply.headers['x-nucat-commit-timestamp']).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{7}Z$/);
    const [item] = await catalogRows('contoso.multipart', '1.0.0');
    expect(item?.commit_id).toBe(reply.headers['x-nucat-commit-id']);
    expect(item?.commit_timestamp.toISOString().slice(0, 23)).toBe(String(reply.headers['x-nucat-commit-timestamp']).slice(0, 23));
    expect(await catalogRows('contoso.secondpart')).toEqual([]);
    await expectNoTempFiles();
  });

  it('#20 accepts a raw application/octet-stream body', async () => {
    const bytes = buildNupkg({ id: 'Contoso.Raw', version: '1.0.0' });

    const reply = await send(base, 'PUT', '/v3/package', {
      headers: { 'Content-Type': 'application/octet-stream', 'X-NuGet-ApiKey': adminKey },
      body: bytes,
    });

    expect(reply.status, reply.body.toString()).toBe(201);
    expect(reply.headers['x-nucat-commit-id']).toBeDefined();
    const [row] = await db.selectFrom('packages').selectAll().where('lower_id', '=', 'contoso.raw').execute();
    expect(row?.package_hash).toBe(createHash('sha512').update(bytes).digest('base64'));
    expect(Number(row?.package_size)).toBe(bytes.length);
  });

  it('accepts a chunked multipart upload without Content-Length, streamed in pieces', async () => {
    const bytes = buildNupkg({ id: 'Contoso.Chunked', version: '1.0.0', files: { 'lib/net8.0/big.bin': Buffer.alloc(20_000, 7) } });
    const { body, contentType } = multipart([packagePart(bytes)]);

    const reply = await send(base, 'PUT', '/v3/package/', {
      headers: { 'Content-Type': contentType, 'X-NuGet-ApiKey': adminKey },
      body: splitIntoChunks(body, 777),
    });

    expect(reply.status, reply.body.toString()).toBe(201);
    expect(reply.headers['x-nucat-commit-timestamp']).toBeDefined();
    const [row] = await db.selectFrom('packages').select('package_hash').where('lower_id', '=', 'contoso.chunked').execute();
    expect(row?.package_hash).toBe(createHash('sha512').update(bytes).digest('base64'));
  });
});

describe('duplicates', () => {
  it('#16 answers 409 to the same id+version however it is spelled, and keeps one catalog item', async () => {
    const original = buildNupkg({ id: 'Contoso.Dup', version: '1.0.0' });
    expect((await push(original)).status).toBe(201);
    const [before] = await db.selectFrom('packages').select('package_hash').where('lower_id', '=', 'contoso.dup').execute();

    for (const [id, version] of [
      ['Contoso.Dup', '1.0.0'],
      ['CONTOSO.dup', '1.0.0'],
      ['Contoso.Dup', '1.0'],
      ['Contoso.Dup', '1.0.0.0'],
      ['Contoso.Dup', '1.0.0+meta'],
    ] as const) {
      const reply = await push(buildNupkg({ id, version, description: `a different package body for ${id} ${version}` }));
      expect(reply.status, `${id} ${version}: ${reply.body.toString()}`).toBe(409);
      expect(json(reply).error.code).toBe('package_conflict');
      expect(reply.headers['x-nucat-commit-id']).toBeUndefined();
    }
    expect((await push(original)).status).toBe(409);

    expect(await catalogRows('contoso.dup')).toHaveLength(1);
    const [after] = await db.selectFrom('packages').select('package_hash').where('lower_id', '=', 'contoso.dup').execute();
    expect(after?.package_hash).toBe(before?.package_hash);
  });

  it('#17 gives exactly one 201 and 49 × 409 for 50 concurrent identical pushes, and one catalog item', async () => {
    const bytes = buildNupkg({ id: 'Contoso.Race', version: '3.1.4' });

    const replies = await Promise.all(Array.from({ length: 50 }, () => push(bytes)));

    const statuses = replies.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    expect(statuses.filter((s) => s === 409)).toHaveLength(49);
    expect(await catalogRows('contoso.race', '3.1.4')).toHaveLength(1);
    await expectNoTempFiles();
  });
});

describe('authentication and authorisation', () => {
  const pkg = () => buildNupkg({ id: 'Contoso.Auth', version: `1.0.${Math.floor(Math.random() * 1e6)}` });

  it('answers 401 with a Basic challenge when no X-NuGet-ApiKey is sent', async () => {
    const reply = await push(pkg(), null);

    expect(reply.status).toBe(401);
    expect(reply.headers['www-authenticate']).toMatch(/^Basic realm="[^"]*"$/);
    expect(json(reply).error.code).toBe('unauthorized');
  });

  it('answers 401 for unlist and relist without a key', async () => {
    for (const method of ['DELETE', 'POST']) {
      const reply = await send(base, method, '/v3/package/Contoso.Auth/1.0.0');
      expect(reply.status, method).toBe(401);
      expect(reply.headers['www-authenticate']).toMatch(/^Basic /);
    }
  });

  it('answers 403 with one message for a wrong, unknown, malformed, revoked or expired key', async () => {
    const valid = await key({ name: 'to-tamper' });
    const wrongSecret = valid.slice(0, -4) + (valid.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    const unknown = `nucat_0123456789abcdef_${'x'.repeat(43)}`;
    const revoked = await key({ name: 'to-revoke' });
    expect(await revokeApiKey(db, feedId, 'to-revoke')).toBe(1);
    const expired = await key({ name: 'expired', expiresAt: new Date(Date.now() - 60_000) });

    const messages = new Set<string>();
    for (const [why, presented] of [
      ['wrong secret', wrongSecret],
      ['unknown key', unknown],
      ['malformed', 'not-a-key'],
      ['revoked', revoked],
      ['expired', expired],
    ] as const) {
      const reply = await push(pkg(), presented);
      expect(reply.status, why).toBe(403);
      expect(json(reply).error.code, why).toBe('forbidden');
      expect(reply.headers['www-authenticate'], why).toBeUndefined();
      messages.add(json(reply).error.message);
    }
    expect(messages.size).toBe(1);
  });

  it('refuses ids outside a key’s glob: Contoso.* may not push ContosoEvil or Other.Pkg', async () => {
    const scoped = await key({ idGlobs: ['Contoso.*'] });

    expect((await push(buildNupkg({ id: 'ContosoEvil', version: '1.0.0' }), scoped)).status).toBe(403);
    expect((await push(buildNupkg({ id: 'Other.Pkg', version: '1.0.0' }), scoped)).status).toBe(403);
    expect((await push(buildNupkg({ id: 'contoso.GlobOk', version: '1.0.0' }), scoped)).status).toBe(201);
    expect(await catalogRows('contosoevil')).toEqual([]);
    expect(await catalogRows('other.pkg')).toEqual([]);
  });

  it('lets a push-version key add a version of an existing id but not create an id', async () => {
    const versionsOnly = await key({ scopes: ['push-version'] });
    expect((await push(buildNupkg({ id: 'Contoso.Existing', version: '1.0.0' }))).status).toBe(201);

    const newId = await push(buildNupkg({ id: 'Contoso.BrandNew', version: '1.0.0' }), versionsOnly);
    expect(newId.status).toBe(403);
    expect(json(newId).error.message).toMatch(/new package id/);

    expect((await push(buildNupkg({ id: 'Contoso.Existing', version: '1.1.0' }), versionsOnly)).status).toBe(201);
  });

  it('refuses a push with an unlist-only key', async () => {
    const unlistOnly = await key({ scopes: ['unlist'] });

    expect((await push(buildNupkg({ id: 'Contoso.UnlistOnly', version: '1.0.0' }), unlistOnly)).status).toBe(403);
    expect((await push(buildNupkg({ id: 'Contoso.Existing', version: '1.2.0' }), unlistOnly)).status).toBe(403);
  });

  it('refuses unlist with a push-only key', async () => {
    const pushOnly = await key({ scopes: ['push'] });
    expect((await push(buildNupkg({ id: 'Contoso.PushOnly', version: '1.0.0' }), pushOnly)).status).toBe(201);

    const reply = await send(base, 'DELETE', '/v3/package/Contoso.PushOnly/1.0.0', { headers: { 'X-NuGet-ApiKey': pushOnly } });
    expect(reply.status).toBe(403);
  });
});

describe('size limit', () => {
  interface Upload {
    reply: Reply;
    /** Body bytes written before the response arrived. */
    sent: number;
    /** Milliseconds from the response until the connection was closed (Infinity: still open after 5 s). */
    closedAfter: Promise<number>;
  }

  /**
   * PUTs an upload of unbounded size on a fresh connection: `body` 'none' sends the headers only;
   * 'stream' writes chunks (after `prefix`) until the response arrives, then stops writing without
   * ending the request, as a client that gave up would. `connection` 'keep-alive' is what NuGet sends.
   */
  function upload(
    headers: Record<string, string>,
    options: { body: 'none' | 'stream'; prefix?: string; connection: 'keep-alive' | 'close' },
  ): Promise<Upload> {
    return new Promise((resolve, reject) => {
      const agent = options.connection === 'keep-alive' ? new Agent({ keepAlive: true }) : false;
      const req = httpRequest(`${base}/v3/package/`, { method: 'PUT', headers, agent });
      let answeredAt: number | undefined;
      let sent = 0;
      const closedAfter = new Promise<number>((resolveClosed) => {
        req.once('socket', (socket) =>
          socket.once('close', () => {
            if (agent) agent.destroy();
            resolveClosed(Date.now() - (answeredAt ?? Date.now()));
          }),
        );
        setTimeout(() => {
          req.destroy();
          resolveClosed(Infinity);
        }, 5_000).unref();
      });
      req.on('error', (err) => {
        if (answeredAt === undefined) reject(err);
      });
      req.setTimeout(10_000, () => reject(new Error('no response within 10 s')));
      req.on('response', (res) => {
        answeredAt = Date.now();
        readReply(res).then((reply) => resolve({ reply, sent, closedAfter }), reject);
      });
      if (options.body === 'none') return void req.flushHeaders();
      if (options.prefix) req.write(options.prefix);
      const chunk = Buffer.alloc(16 * 1024, 0x61);
      void (async () => {
        // A server that read everything would take all 64 MiB.
        while (answeredAt === undefined && sent < 64 * 1024 * 1024 && !req.destroyed) {
          if (!req.write(chunk)) await drainedOrClosed(req);
          sent += chunk.length;
          await new Promise((r) => setImmediate(r));
        }
      })();
    });
  }

  function drainedOrClosed(req: ClientRequest): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        req.off('drain', done).off('close', done);
        resolve();
      };
      req.on('drain', done).on('close', done);
    });
  }

  const connections = ['keep-alive', 'close'] as const;

  it.each(connections)(
    '#1 answers 413 from the headers when Content-Length is over the limit, before the body is sent, then closes (Connection: %s)',
    async (connection) => {
      const { reply, closedAfter } = await upload(
        { 'Content-Type': 'application/octet-stream', 'Content-Length': String(50 * 1024 * 1024), 'X-NuGet-ApiKey': adminKey },
        { body: 'none', connection },
      );

      expect(reply.status).toBe(413);
      expect(reply.headers.connection).toBe('close');
      expect(json(reply).error.code).toBe('payload_too_large');
      expect(json(reply).error.message).toContain(String(MAX_PACKAGE_BYTES));
      expect(await closedAfter).toBeLessThan(1_000);
      await expectNoTempFiles();
    },
  );

  const multipartPrefix = `--${BOUNDARY}\r\nContent-Disposition: form-data; name="package"; filename="p.nupkg"\r\n\r\n`;
  it.each([
    ['a raw body', 'keep-alive', 'application/octet-stream', undefined],
    ['a raw body', 'close', 'application/octet-stream', undefined],
    ['a multipart body', 'keep-alive', `multipart/form-data; boundary=${BOUNDARY}`, multipartPrefix],
    ['a multipart body', 'close', `multipart/form-data; boundary=${BOUNDARY}`, multipartPrefix],
  ] as const)(
    '#1 answers 413 when %s sent chunked grows past the limit, then closes the connection (Connection: %s)',
    async (_what, connection, contentType, prefix) => {
      const { reply, sent, closedAfter } = await upload(
        { 'Content-Type': contentType, 'X-NuGet-ApiKey': adminKey },
        prefix === undefined ? { body: 'stream', connection } : { body: 'stream', prefix, connection },
      );

      expect(reply.status, reply.body.toString()).toBe(413);
      expect(json(reply).error.code).toBe('payload_too_large');
      expect(sent).toBeLessThan(16 * 1024 * 1024);
      expect(await closedAfter).toBeLessThan(1_000);
      await expectNoTempFiles();
    },
  );

  it('#1 answers 413 to a client that ignores the answer and keeps sending, and cuts it off within seconds', async () => {
    const { port } = new URL(base);
    const socket = connect({ host: '127.0.0.1', port: Number(port), allowHalfOpen: true });
    socket.on('error', () => {}); // the reset at the end is expected
    const received: Buffer[] = [];
    socket.on('data', (d: Buffer) => received.push(d));
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    await new Promise<void>((r) => socket.once('connect', () => r()));
    socket.write(
      `PUT /v3/package/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\n` +
        `X-NuGet-ApiKey: ${adminKey}\r\nTransfer-Encoding: chunked\r\n\r\n`,
    );
    const chunk = Buffer.concat([Buffer.from('4000\r\n'), Buffer.alloc(0x4000, 0x62), Buffer.from('\r\n')]);
    let stop = false;
    void closed.then(() => (stop = true));
    const started = Date.now();
    while (!stop && Date.now() - started < 15_000) {
      if (!socket.write(chunk)) await new Promise((r) => setTimeout(r, 1));
      else await new Promise((r) => setImmediate(r));
    }
    await closed;

    // The server lingers about 2 s; Node.js alone would keep reading until its keep-alive timeout (6 s).
    expect(Date.now() - started).toBeLessThan(4_500);
    expect(Buffer.concat(received).toString('latin1')).toMatch(/^HTTP\/1\.1 413 /);
    await expectNoTempFiles();
  });
});

describe('receiveUpload', () => {
  it('#1 leaves no temp file behind when uploads are refused before their file is even open', async () => {
    // The first chunk is over the limit, so the refusal races the opening of the temp file (on the
    // libuv threadpool): the file must not appear after its removal. Hundreds at once make that race likely.
    const refuseOne = async () => {
      const req = Object.assign(new PassThrough(), { headers: { 'content-type': 'application/octet-stream' } });
      const received = receiveUpload(req, { maxBytes: 1024, tempDir });
      req.end(Buffer.alloc(16 * 1024, 1));
      await expect(received).rejects.toBeInstanceOf(PayloadTooLargeError);
    };
    for (let round = 0; round < 10; round++) await Promise.all(Array.from({ length: 200 }, refuseOne));
    expect(await tempFiles()).toEqual([]);
  });

  it('#1 does not destroy the request when a raw body is over the limit, so the 413 can still be sent', async () => {
    const outcome: { error?: unknown; requestAborted?: boolean } = {};
    const plain = createServer((req, res) => {
      receiveUpload(req, { maxBytes: 1024, tempDir }).then(
        () => res.end('accepted'),
        (error: unknown) => {
          outcome.error = error;
          outcome.requestAborted = req.readableAborted; // destroyed before its end
          res.statusCode = 413;
          res.end('too large');
        },
      );
    });
    const { base: plainBase } = await listen({ listen: (port, host) => plain.listen(port, host) });
    try {
      const reply = await send(plainBase, 'PUT', '/', {
        headers: { 'Content-Type': 'application/octet-stream' },
        body: splitIntoChunks(Buffer.alloc(256 * 1024, 1), 16 * 1024),
      });

      expect(outcome.error).toBeInstanceOf(PayloadTooLargeError);
      expect(outcome.requestAborted).toBe(false);
      expect(reply.status).toBe(413);
      await expectNoTempFiles();
    } finally {
      await close(plain);
    }
  });
});

describe('invalid uploads', () => {
  const cases: [string, () => Buffer, RegExp][] = [
    ['not a zip', () => Buffer.from('this is plain text, not a zip archive at all'), /zip/i],
    ['a zip without a nuspec', () => storedZip({ 'lib/net8.0/a.dll': 'x', 'readme.txt': 'hello' }), /nuspec/i],
    [
      'a nuspec with a DOCTYPE',
      () =>
        storedZip({
          'Contoso.Dtd.nuspec': nuspecXml('Contoso.Dtd', '1.0.0', '<!DOCTYPE package [<!ENTITY x SYSTEM "file:///etc/passwd">]>'),
        }),
      /DOCTYPE/,
    ],
    ['an invalid id', () => buildNupkg({ id: '-Contoso', version: '1.0.0' }), /id/i],
    ['an invalid version', () => buildNupkg({ id: 'Contoso.BadVersion', version: '1.0.0-' }), /version/i],
    [
      'a symbols package',
      () =>
        buildNupkg({
          id: 'Contoso.Symbols',
          version: '1.0.0',
          nuspecExtra: '<packageTypes><packageType name="SymbolsPackage" /></packageTypes>',
        }),
      /symbol/i,
    ],
  ];

  it.each(cases)('answers 400 to %s, saying what is wrong', async (_what, make, mentions) => {
    const reply = await push(make());

    expect(reply.status, reply.body.toString()).toBe(400);
    expect(json(reply).error.code).toBe('invalid_package');
    expect(json(reply).error.message).toMatch(mentions);
    await expectNoTempFiles();
  });

  it('leaves no catalog item for refused packages', async () => {
    for (const lowerId of ['contoso.dtd', 'contoso.badversion', 'contoso.symbols']) expect(await catalogRows(lowerId)).toEqual([]);
  });

  it('#20 answers 400 to an empty body', async () => {
    for (const contentType of ['application/octet-stream', '']) {
      const headers: Record<string, string> = { 'X-NuGet-ApiKey': adminKey };
      if (contentType) headers['Content-Type'] = contentType;
      const reply = await send(base, 'PUT', '/v3/package/', { headers, body: Buffer.alloc(0) });
      expect(reply.status, contentType).toBe(400);
      expect(json(reply).error.message).toMatch(/no package/i);
    }
  });

  it('#20 answers 400 to Content-Type text/plain', async () => {
    const reply = await send(base, 'PUT', '/v3/package/', {
      headers: { 'Content-Type': 'text/plain', 'X-NuGet-ApiKey': adminKey },
      body: buildNupkg({ id: 'Contoso.TextPlain', version: '1.0.0' }),
    });

    expect(reply.status).toBe(400);
    expect(json(reply).error.message).toMatch(/Content-Type/);
    expect(await catalogRows('contoso.textplain')).toEqual([]);
  });

  it('#20 answers 400 to a multipart body with no file part', async () => {
    const onlyField = multipart([{ name: 'comment', body: 'no package here' }]);
    const noParts = { body: Buffer.from(`--${BOUNDARY}--\r\n`), contentType: `multipart/form-data; boundary=${BOUNDARY}` };

    for (const { body, contentType } of [onlyField, noParts]) {
      const reply = await send(base, 'PUT', '/v3/package/', { headers: { 'Content-Type': contentType, 'X-NuGet-ApiKey': adminKey }, body });
      expect(reply.status, body.toString()).toBe(400);
      expect(json(reply).error.code).toBe('invalid_request');
    }
  });

  it('#20 answers 400 to multipart without a boundary', async () => {
    const reply = await send(base, 'PUT', '/v3/package/', {
      headers: { 'Content-Type': 'multipart/form-data', 'X-NuGet-ApiKey': adminKey },
      body: buildNupkg({ id: 'Contoso.NoBoundary', version: '1.0.0' }),
    });

    expect(reply.status).toBe(400);
    expect(json(reply).error.message).toMatch(/multipart/i);
  });
});

describe('unlist and relist', () => {
  const auth = () => ({ headers: { 'X-NuGet-ApiKey': adminKey } });

  it('unlists with a non-normalized, mixed-case id and version, once; relists; answers 404 for unknown ones', async () => {
    expect((await push(buildNupkg({ id: 'Contoso.Lib', version: '1.0.0' }))).status).toBe(201);

    const unlist = await send(base, 'DELETE', '/v3/package/Contoso.Lib/1.0', auth());
    expect(unlist.status, unlist.body.toString()).toBe(204);
    expect(unlist.body.length).toBe(0);
    let items = await catalogRows('contoso.lib', '1.0.0');
    expect(items).toHaveLength(2);
    const unlisted = items[1]!.data as { listed: boolean; published: string; id: string; version: string };
    expect(unlisted.listed).toBe(false);
    expect(unlisted.published).toMatch(/^1900-01-01T00:00:00/);
    expect(unlisted.id).toBe('Contoso.Lib');
    expect(unlist.headers['x-nucat-commit-id']).toBe(items[1]!.commit_id);

    const again = await send(base, 'DELETE', '/v3/package/CONTOSO.LIB/1.0.0.0', auth());
    expect(again.status).toBe(204);
    expect(await catalogRows('contoso.lib', '1.0.0')).toHaveLength(2);

    const relist = await send(base, 'POST', '/v3/package/contoso.lib/1.0.0', auth());
    expect(relist.status).toBe(200);
    items = await catalogRows('contoso.lib', '1.0.0');
    expect(items).toHaveLength(3);
    const relisted = items[2]!.data as { listed: boolean; published: string };
    expect(relisted.listed).toBe(true);
    expect(relisted.published).not.toMatch(/^1900/);

    const relistAgain = await send(base, 'POST', '/v3/package/Contoso.Lib/1.0', auth());
    expect(relistAgain.status).toBe(200);
    expect(await catalogRows('contoso.lib', '1.0.0')).toHaveLength(3);
    const [row] = await db.selectFrom('packages').select('listed').where('lower_id', '=', 'contoso.lib').execute();
    expect(row?.listed).toBe(true);
  });

  it.each([
    ['an unknown id', '/v3/package/Contoso.Nope/1.0.0'],
    ['an unknown version', '/v3/package/Contoso.Lib/9.9.9'],
    ['an invalid version', '/v3/package/Contoso.Lib/not-a-version'],
    ['an invalid id', '/v3/package/..%2F..%2Fetc/1.0.0'],
  ])('answers 404 to unlist or relist of %s', async (_what, path) => {
    for (const method of ['DELETE', 'POST']) {
      const reply = await send(base, method, path, auth());
      expect(reply.status, `${method} ${path}: ${reply.body.toString()}`).toBe(404);
      expect(json(reply).error.code).toBe('not_found');
    }
  });
});

describe('when the database is down', () => {
  let downServer: Server | undefined;
  let downBase: string;
  let downDb: Db;

  beforeAll(async () => {
    downDb = createDb({ url: `postgres://nucat:nucat@127.0.0.1:${REFUSING_PORT}/x` });
    const app = createPublishApp({ db: downDb, store, feedId, log, maxPackageBytes: MAX_PACKAGE_BYTES, tempDir });
    ({ server: downServer, base: downBase } = await listen(app));
  });
  afterAll(async () => {
    await close(downServer);
    await downDb?.destroy();
  });

  it('answers 503 with Retry-After, never 500, to push, unlist and relist', async () => {
    const wellFormedKey = `nucat_0123456789abcdef_${'x'.repeat(43)}`;
    const replies = [
      await push(buildNupkg({ id: 'Contoso.Down', version: '1.0.0' }), wellFormedKey, downBase),
      await push(buildNupkg({ id: 'Contoso.Down', version: '1.0.0' }), adminKey, downBase),
      await send(downBase, 'DELETE', '/v3/package/Contoso.Down/1.0.0', { headers: { 'X-NuGet-ApiKey': adminKey } }),
      await send(downBase, 'POST', '/v3/package/Contoso.Down/1.0.0', { headers: { 'X-NuGet-ApiKey': adminKey } }),
    ];

    for (const reply of replies) {
      expect(reply.status, reply.body.toString()).toBe(503);
      expect(Number(reply.headers['retry-after'])).toBeGreaterThan(0);
      expect(json(reply).error.code).toBe('unavailable');
      expect(reply.body.toString()).not.toContain('ECONNREFUSED');
    }
    await expectNoTempFiles();
  });
});
