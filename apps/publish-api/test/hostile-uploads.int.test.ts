/**
 * Hostile uploads over real HTTP, against a real PostgreSQL database and a temporary filesystem
 * blob store: every upload case of reliability.md §2 (#3–#21; #1, #17 and #20's basics are in
 * publish.int.test.ts, #2 belongs to the server timeouts, #14–#15 to key scopes). Each test is
 * named after its case. A refused upload must answer 400 (never 5xx), leave no catalog item, no
 * package row and no temp file.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { constants, deflateRawSync, gunzipSync } from 'node:zlib';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '@nucat/auth';
import { createFeedUrls, findFeedId, packageContentKeys, readLatestItems } from '@nucat/catalog';
import { createDb, migrateToLatest, type Db } from '@nucat/db';
import { compareVersions, fullVersion, lowerNormalizedVersion, parseVersion } from '@nucat/nuget';
import { createFlatContainerProjector, createRegistrationProjector } from '@nucat/projections';
import { createFilesystemBlobStore, type BlobStore } from '@nucat/storage';
import { buildNupkg, createTestDatabase, type TestDatabase } from '@nucat/testing';
import { createPublishApp } from '../src/index.js';
import { nuspecXml, PNG, writeZip, type ZipEntrySpec } from '@nucat/testing';

const MiB = 1024 * 1024;
/** Room for the 50 MB signature of #19. */
const MAX_PACKAGE_BYTES = 64 * MiB;
const log = pino({ level: 'silent' });

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

interface ErrorBody {
  error: { code: string; message: string; details?: Record<string, unknown> };
}

let database: TestDatabase;
let db: Db;
let store: BlobStore;
let feedId: number;
let workDir: string;
let tempDir: string;
let server: Server;
let base: string;
let apiKey: string;

function send(headers: Record<string, string>, body: Buffer): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      `${base}/v3/package/`,
      { method: 'PUT', headers: { 'X-NuGet-ApiKey': apiKey, 'Content-Length': String(body.length), ...headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const BOUNDARY = 'hostile-5d2e';

interface Part {
  name: string;
  filename?: string;
  body: Buffer | string;
}

function multipartBody(parts: Part[]): Buffer {
  const chunks: Buffer[] = [];
  for (const part of parts) {
    const disposition = `form-data; name="${part.name}"${part.filename ? `; filename="${part.filename}"` : ''}`;
    // A part with a file name or an application/octet-stream type is a file part; others are fields.
    const type = part.filename ? 'Content-Type: application/octet-stream\r\n' : '';
    chunks.push(Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: ${disposition}\r\n${type}\r\n`));
    chunks.push(Buffer.from(part.body), Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${BOUNDARY}--\r\n`));
  return Buffer.concat(chunks);
}

/** Pushes as the official client does: multipart, one file part. */
function push(bytes: Buffer): Promise<Reply> {
  return send({ 'Content-Type': `multipart/form-data; boundary=${BOUNDARY}` }, multipartBody([{ name: 'package', filename: 'package.nupkg', body: bytes }]));
}

function errorOf(reply: Reply): ErrorBody['error'] {
  return (JSON.parse(reply.body.toString('utf8')) as ErrorBody).error;
}

async function catalogCount(lowerId?: string): Promise<number> {
  let query = db.selectFrom('catalog_items').select((eb) => eb.fn.countAll<string>().as('n')).where('feed_id', '=', feedId);
  if (lowerId !== undefined) query = query.where('lower_id', '=', lowerId);
  return Number((await query.executeTakeFirstOrThrow()).n);
}

async function tempFiles(): Promise<string[]> {
  return readdir(tempDir).catch(() => []);
}

/** Pushes `bytes` and expects a clean refusal: 400 invalid_package, nothing stored, no temp file. */
async function expectRefused(bytes: Buffer, message: RegExp): Promise<ErrorBody['error']> {
  const before = await catalogCount();
  const reply = await push(bytes);
  expect(reply.status, reply.body.toString().slice(0, 500)).toBe(400);
  const error = errorOf(reply);
  expect(error.code).toBe('invalid_package');
  expect(error.message).toMatch(message);
  expect(await catalogCount()).toBe(before);
  expect(await tempFiles()).toEqual([]);
  return error;
}

async function expectCreated(bytes: Buffer): Promise<Reply> {
  const reply = await push(bytes);
  expect(reply.status, reply.body.toString().slice(0, 500)).toBe(201);
  expect(await tempFiles()).toEqual([]);
  return reply;
}

/** A package written byte by byte; `metadata` goes into the nuspec's <metadata>. */
function hostilePackage(extra: ZipEntrySpec[] = [], options: { id?: string; version?: string; metadata?: string } = {}): Buffer {
  const id = options.id ?? 'Contoso.Hostile';
  return writeZip({
    entries: [{ name: `${id}.nuspec`, data: nuspecXml({ ...options, id }) }, { name: 'lib/net8.0/Contoso.Hostile.dll', data: 'MZ fake' }, ...extra],
  });
}

function sha512(bytes: Buffer): string {
  return createHash('sha512').update(bytes).digest('base64');
}

beforeAll(async () => {
  database = await createTestDatabase();
  db = createDb({ url: database.url, poolSize: 20 });
  await migrateToLatest(db);
  feedId = (await findFeedId(db, 'main'))!;
  workDir = await mkdtemp(join(tmpdir(), 'nucat-hostile-int-'));
  tempDir = join(workDir, 'uploads');
  store = createFilesystemBlobStore({ root: join(workDir, 'blobs') });
  const app = createPublishApp({ db, store, feedId, log, maxPackageBytes: MAX_PACKAGE_BYTES, tempDir });
  server = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve, reject) => server.once('listening', resolve).once('error', reject));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  apiKey = (await createApiKey(db, { feedId, name: 'hostile' })).key;
});

afterAll(async () => {
  if (server) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  await db?.destroy();
  await store?.close();
  await database?.drop();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

describe('upload: zip structure', () => {
  it('#3 zip bomb: answers 400 to a nuspec that declares 1 MiB and inflates to 100 MiB', async () => {
    const bomb = writeZip({ entries: [{ name: 'Contoso.Hostile.nuspec', data: Buffer.alloc(100 * MiB), declaredSize: MiB }] });
    expect(bomb.length).toBeLessThan(MiB);
    await expectRefused(bomb, /does not inflate to its declared size of 1048576 bytes/);
  });

  it('#3 zip bomb: answers 400 to a 10 MB upload whose icon inflates to 10 GiB', async () => {
    // Deflate blocks of 1 MiB of zeros, ending byte-aligned, repeated 10,240 times, then a final empty block.
    const block = deflateRawSync(Buffer.alloc(MiB), { finishFlush: constants.Z_SYNC_FLUSH });
    const stream = Buffer.concat([...Array.from({ length: 10_240 }, () => block), Buffer.from([0x01, 0x00, 0x00, 0xff, 0xff])]);
    // Written as stored (so the writer does not deflate it again), then marked as deflated.
    const raw = hostilePackage([{ name: 'icon.png', data: stream, method: 'stored', declaredSize: 1000 }], { metadata: '<icon>icon.png</icon>' });
    const patched = markDeflated(raw, 'icon.png');
    expect(patched.length).toBeLessThan(12 * MiB);
    await expectRefused(patched, /entry 'icon\.png' does not inflate to its declared size of 1000 bytes/);
  });

  it('#3 zip bomb: answers 400 to entries whose declared sizes add up to more than 1 GiB', async () => {
    const many = Array.from({ length: 5 }, (_, i) => ({ name: `content/part${i}.bin`, data: 'x', method: 'stored' as const, declaredSize: 250 * MiB }));
    const zip = hostilePackage(many);
    // Declared sizes that disagree with stored data: refused either by the total or as corrupt, never read.
    await expectRefused(zip, /more than 1073741824 bytes uncompressed|corrupt/);
  });

  it('#4 lying sizes: answers 400 "corrupt" to a nuspec that inflates to more than it declares', async () => {
    const zip = writeZip({ entries: [{ name: 'Contoso.Hostile.nuspec', data: nuspecXml({ id: 'Contoso.Hostile' }), declaredSize: 40 }] });
    await expectRefused(zip, /corrupt: entry 'Contoso\.Hostile\.nuspec' does not inflate to its declared size of 40 bytes/);
  });

  it('#4 lying sizes: answers 400 "corrupt" to local and central headers that declare different sizes', async () => {
    await expectRefused(hostilePackage([{ name: 'lib/a.dll', data: 'x'.repeat(100), localSizes: { compressed: 5, size: 1 } }]), /corrupt: .*different sizes/);
  });

  it('#5 answers 400 to 65,534 entries', async () => {
    const files = Array.from({ length: 65_532 }, (_, i) => ({ name: `c/${i.toString(36)}`, method: 'stored' as const }));
    await expectRefused(hostilePackage(files), /65534 entries; the limit is 65533/);
  });

  it('#5 answers 400 to a zip64 end record that disagrees with the classic one', async () => {
    const entries: ZipEntrySpec[] = [{ name: 'Contoso.Hostile.nuspec', data: nuspecXml({ id: 'Contoso.Hostile' }) }];
    await expectRefused(writeZip({ entries, zip64: { count: 2 }, eocd: { count: 1 } }), /inconsistent: the end record counts 1 entries but the zip64 end record 2/);
    await expectRefused(writeZip({ entries, zip64: {}, eocd: { centralDirectoryOffset: 3 } }), /inconsistent/);
  });

  it('#5 answers 400 to a central-directory name that differs from the local header name', async () => {
    await expectRefused(hostilePackage([{ name: 'lib/safe.dll', localName: '../evil.dll', data: 'x' }]), /different name in its local header/);
  });

  it.each([
    [['Lib/a.dll', 'lib/a.dll']],
    [['./x.txt', 'x.txt']],
    [['a\\b.txt', 'a/b.txt']],
  ])('#6 answers 400 to the duplicate entries %j', async (names) => {
    await expectRefused(hostilePackage(names.map((name) => ({ name, data: name }))), /contains the same file twice/);
  });

  it.each([
    ['../../evil.dll', /leaves the package/],
    ['/etc/x', /absolute path/],
    ['C:\\x', /absolute path/],
    ['lib\\..\\..\\x', /leaves the package/],
    ['a\0b', /NUL/],
    ['%2e%2e/evil.dll', /leaves the package/],
  ])('#7 answers 400 to the entry name %j', async (name, message) => {
    await expectRefused(hostilePackage([{ name, data: 'x' }]), message);
  });

  it('#7 answers 400 to an entry name of more than 1,000 characters', async () => {
    await expectRefused(hostilePackage([{ name: `lib/${'a'.repeat(1000)}`, data: 'x' }]), /1004 characters/);
  });
});

describe('upload: the nuspec', () => {
  it('#9 answers 400 to no nuspec, two root nuspecs, a nuspec only in a subfolder, and a nuspec in the wrong encoding', async () => {
    const nuspec = nuspecXml({ id: 'Contoso.Hostile' });
    await expectRefused(writeZip({ entries: [{ name: 'lib/a.dll', data: 'x' }] }), /no \.nuspec file at its root; is this a NuGet package/);
    await expectRefused(
      writeZip({ entries: [{ name: 'a.nuspec', data: nuspec }, { name: 'b.nuspec', data: nuspec }] }),
      /2 \.nuspec files at its root/,
    );
    await expectRefused(writeZip({ entries: [{ name: 'sub/Contoso.Hostile.nuspec', data: nuspec }] }), /found 'sub\/Contoso\.Hostile\.nuspec' in a subfolder/);
    await expectRefused(
      writeZip({ entries: [{ name: 'Contoso.Hostile.nuspec', data: Buffer.from(nuspec.replace('utf-8', 'utf-16'), 'utf16le') }] }),
      /UTF-16 without a byte order mark/,
    );
    await expectRefused(
      writeZip({ entries: [{ name: 'Contoso.Hostile.nuspec', data: Buffer.from(nuspecXml({ id: 'Contoso.Hostile', metadata: '<title>Grüße</title>' }).replace(' encoding="utf-8"', ''), 'latin1') }] }),
      /not valid UTF-8/,
    );
  });

  it.each([
    ['an external entity (XXE)', '<!DOCTYPE package [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'],
    ['an external parameter entity to the metadata address', '<!DOCTYPE package [<!ENTITY % r SYSTEM "http://169.254.169.254/latest/meta-data/">%r;]>'],
    ['billion laughs', `<!DOCTYPE package [<!ENTITY a "aaaaaaaaaa">${Array.from({ length: 9 }, (_, i) => `<!ENTITY ${'b'.repeat(i + 1)} "${`&${i === 0 ? 'a' : 'b'.repeat(i)};`.repeat(10)}">`).join('')}]>`],
    ['an external DTD', '<!DOCTYPE package SYSTEM "http://169.254.169.254/nuspec.dtd">'],
  ])('#10 answers 400 to a nuspec with %s, without expanding or fetching anything', async (_what, prolog) => {
    await expectRefused(writeZip({ entries: [{ name: 'Contoso.Hostile.nuspec', data: nuspecXml({ id: 'Contoso.Hostile', prolog }) }] }), /DOCTYPE/);
  });

  it.each([
    ['a 50 MB description', `<summary>x</summary><description>${'d'.repeat(50 * 1000 * 1000)}</description>`, /the limit is 1048576 bytes/],
    ['100,000 nested elements', `${'<x>'.repeat(100_000)}${'</x>'.repeat(100_000)}`, /more than 32 levels deep/],
    ['10,000 dependency groups', `<dependencies>${'<group/>'.repeat(10_000)}</dependencies>`, /10000 dependency groups; the limit is 1000/],
    ['a 4,001-character copyright', `<copyright>${'c'.repeat(4001)}</copyright>`, /<copyright> is 4001 characters long; the limit is 4000/],
  ])('#11 answers 400 to a nuspec with %s', async (_what, metadata, message) => {
    await expectRefused(writeZip({ entries: [{ name: 'Contoso.Hostile.nuspec', data: nuspecXml({ id: 'Contoso.Hostile', metadata }) }] }), message);
  });

  it.each([
    ['a Cyrillic о', 'Newtonsoft.Js\u043En'],
    ['a zero-width joiner', 'Contoso\u200D.Lib'],
    ['a Turkish dotted İ', '\u0130pek'],
    ['a..b', 'a..b'],
    ['-a', '-a'],
    ['a%2fb', 'a%2fb'],
    ['con', 'con'],
    ['101 characters', 'a'.repeat(101)],
  ])('#12 answers 400 to the id with %s', async (_what, id) => {
    const error = await expectRefused(nuspecPackage(id, '1.0.0'), /package id/);
    expect(error.details).toMatchObject({ field: 'id' });
  });
});

/** A package whose nuspec carries `id` and `version` verbatim (XML-escaped), whatever they are. */
function nuspecPackage(id: string, version: string): Buffer {
  const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  return writeZip({ entries: [{ name: 'package.nuspec', data: nuspecXml({ id: escape(id), version: escape(version) }) }] });
}

describe('upload: versions and duplicates', () => {
  it('#13 answers 409 to 1.0.0 and 1.0.0.0 after 1.0, and to +meta2 after +meta1', async () => {
    await expectCreated(buildNupkg({ id: 'Contoso.Versions', version: '1.0' }));
    for (const version of ['1.0.0', '1.0.0.0', '01.0', '1.0+meta']) {
      const reply = await push(buildNupkg({ id: 'Contoso.Versions', version }));
      expect(reply.status, version).toBe(409);
      expect(errorOf(reply).code).toBe('package_conflict');
    }
    await expectCreated(buildNupkg({ id: 'Contoso.Meta', version: '1.0.0+meta1' }));
    expect((await push(buildNupkg({ id: 'Contoso.Meta', version: '1.0.0+meta2' }))).status).toBe(409);
    expect(await catalogCount('contoso.versions')).toBe(1);
    expect(await catalogCount('contoso.meta')).toBe(1);
    const [row] = await db.selectFrom('packages').select(['version', 'normalized_version']).where('lower_id', '=', 'contoso.meta').execute();
    expect(row).toEqual({ version: '1.0.0+meta1', normalized_version: '1.0.0' });
  });

  it('#13 normalizes 01.0.0 to 1.0.0', async () => {
    await expectCreated(buildNupkg({ id: 'Contoso.LeadingZero', version: '01.0.0' }));
    const [row] = await db.selectFrom('packages').select(['lower_version', 'normalized_version']).where('lower_id', '=', 'contoso.leadingzero').execute();
    expect(row).toEqual({ lower_version: '1.0.0', normalized_version: '1.0.0' });
  });

  it.each([
    ['1.0.0-', '1.0.0-', /<version> '1\.0\.0-'/],
    ['1.0.0-ÄÖ', '1.0.0-ÄÖ', /<version> '1\.0\.0-ÄÖ'/],
    ['1.0.0- with a 1,000-character label', `1.0.0-${'a'.repeat(1000)}`, /<version> is 1006 characters long; the limit is 64/],
    ['1.0.0-01', '1.0.0-01', /leading zero/],
  ])('#13 answers 400 to the version %s', async (_what, version, message) => {
    await expectRefused(buildNupkg({ id: 'Contoso.BadVersion', version }), message);
  });

  it('#16 answers 409 to a re-push of the same or different bytes: hash unchanged, no new catalog event, no blob written', async () => {
    const original = buildNupkg({ id: 'Contoso.Immutable', version: '1.0.0' });
    await expectCreated(original);
    const different = buildNupkg({ id: 'Contoso.Immutable', version: '1.0.0', description: 'Other bytes, same identity.' });
    const catalogBefore = await catalogCount();

    for (const bytes of [original, different, original]) {
      const reply = await push(bytes);
      expect(reply.status).toBe(409);
      expect(reply.headers['x-nucat-commit-id']).toBeUndefined();
    }

    expect(await catalogCount()).toBe(catalogBefore);
    const [row] = await db.selectFrom('packages').select('package_hash').where('lower_id', '=', 'contoso.immutable').execute();
    expect(row?.package_hash).toBe(sha512(original));
    expect((await store.read(packageContentKeys(sha512(original)).nupkg))?.equals(original)).toBe(true);
    expect(await store.stat(packageContentKeys(sha512(different)).nupkg)).toBeUndefined();
    expect(await tempFiles()).toEqual([]);
  });

  it('#18 accepts 100 concurrent pushes of different versions of one id; flat container and registration list all 100 in SemVer order', { timeout: 120_000 }, async () => {
    const versions = Array.from({ length: 100 }, (_, i) => (i % 4 === 0 ? `2.0.0-beta.${i}` : i % 4 === 1 ? `1.${i}.0` : i % 4 === 2 ? `1.0.${i}` : `10.0.0-rc${i}`));
    const replies = await Promise.all(versions.map((version) => push(buildNupkg({ id: 'Contoso.Many', version }))));
    expect(replies.map((r) => r.status)).toEqual(versions.map(() => 201));
    expect(await catalogCount('contoso.many')).toBe(100);

    // Project as the worker would, over the same database and store.
    const urls = createFeedUrls('http://feed.test/v3/');
    const loadLatestItems = (lowerId: string) => readLatestItems(db, feedId, lowerId);
    await createFlatContainerProjector({ store, loadLatestItems }).project('contoso.many');
    await createRegistrationProjector({ store, urls, loadLatestItems }).project('contoso.many');

    const sorted = versions.map(parseVersion).sort(compareVersions);
    const index = JSON.parse((await store.read('flatcontainer/contoso.many/index.json'))!.toString('utf8')) as { versions: string[] };
    expect(index.versions).toEqual(sorted.map(lowerNormalizedVersion));
    const registration = JSON.parse(gunzipSync((await store.read('registration5-gz-semver2/contoso.many/index.json'))!).toString('utf8')) as {
      count: number;
      items: { items: { catalogEntry: { version: string } }[] }[];
    };
    expect(registration.items.flatMap((page) => page.items.map((leaf) => leaf.catalogEntry.version))).toEqual(sorted.map(fullVersion));
  });
});

describe('upload: signatures, multipart, embedded files', () => {
  it('#19 accepts a garbage .signature.p7s (signed: unverified) without crashing', async () => {
    await expectCreated(hostilePackage([{ name: '.signature.p7s', data: randomBytes(2048) }], { id: 'Contoso.GarbageSig' }));
  });

  it('#19 accepts a 50 MB .signature.p7s without reading it', async () => {
    const zip = hostilePackage([{ name: '.signature.p7s', data: randomBytes(50 * 1000 * 1000), method: 'stored' }], { id: 'Contoso.HugeSig' });
    await expectCreated(zip);
  });

  const signed = '/opt/nuget/packages/newtonsoft.json/13.0.3/newtonsoft.json.13.0.3.nupkg';
  it.skipIf(!existsSync(signed))('#19 accepts a validly signed package with a modified entry (the signature is not verified)', async () => {
    const archive = readFileSync(signed);
    const name = Buffer.from('lib/net45/Newtonsoft.Json.dll');
    const local = findLocalHeader(archive, name);
    const dataStart = local + 30 + archive.readUInt16LE(local + 26) + archive.readUInt16LE(local + 28);
    archive.fill(0, dataStart + 100, dataStart + 200);
    await expectCreated(archive);
  });

  it('#20 uses the first file part: a field part and later file parts are ignored', async () => {
    const body = multipartBody([
      { name: 'comment', body: 'a field, not a file' },
      { name: 'package', filename: 'first.nupkg', body: buildNupkg({ id: 'Contoso.FirstPart', version: '1.0.0' }) },
      { name: 'package', filename: 'second.nupkg', body: buildNupkg({ id: 'Contoso.SecondPart', version: '1.0.0' }) },
      { name: 'package', filename: 'third.nupkg', body: 'not even a zip' },
    ]);
    const reply = await send({ 'Content-Type': `multipart/form-data; boundary=${BOUNDARY}` }, body);
    expect(reply.status, reply.body.toString()).toBe(201);
    expect(await catalogCount('contoso.firstpart')).toBe(1);
    expect(await catalogCount('contoso.secondpart')).toBe(0);
  });

  it('#20 answers 400 when the first file part is empty, even if a later one holds a package', async () => {
    const body = multipartBody([
      { name: 'package', filename: 'empty.nupkg', body: '' },
      { name: 'package', filename: 'real.nupkg', body: buildNupkg({ id: 'Contoso.LaterPart', version: '1.0.0' }) },
    ]);
    const reply = await send({ 'Content-Type': `multipart/form-data; boundary=${BOUNDARY}` }, body);
    expect(reply.status).toBe(400);
    expect(await catalogCount('contoso.laterpart')).toBe(0);
  });

  it.each([
    ['a missing boundary', { 'Content-Type': 'multipart/form-data' }, () => buildNupkg({ id: 'Contoso.NoBoundary', version: '1.0.0' }), /multipart/i],
    ['a wrong boundary', { 'Content-Type': 'multipart/form-data; boundary=not-the-one' }, () => multipartBody([{ name: 'p', filename: 'p.nupkg', body: 'x' }]), /multipart|no file part/i],
    ['Content-Type: text/plain', { 'Content-Type': 'text/plain' }, () => buildNupkg({ id: 'Contoso.Text', version: '1.0.0' }), /Content-Type/],
    ['an empty raw body', { 'Content-Type': 'application/octet-stream' }, () => Buffer.alloc(0), /no package/i],
    ['an empty multipart body', { 'Content-Type': `multipart/form-data; boundary=${BOUNDARY}` }, () => Buffer.alloc(0), /multipart|no file part/i],
  ])('#20 answers 400 to %s', async (_what, headers, body, message) => {
    const before = await catalogCount();
    const reply = await send(headers as Record<string, string>, body());
    expect(reply.status, reply.body.toString()).toBe(400);
    expect(errorOf(reply).message).toMatch(message);
    expect(await catalogCount()).toBe(before);
    expect(await tempFiles()).toEqual([]);
  });

  it('#20 accepts a raw application/octet-stream body', async () => {
    const reply = await send({ 'Content-Type': 'application/octet-stream' }, buildNupkg({ id: 'Contoso.RawBody', version: '1.0.0' }));
    expect(reply.status, reply.body.toString()).toBe(201);
  });

  it.each([
    ['the icon the nuspec names is missing', [], '<icon>images/icon.png</icon>', /does not contain it/],
    ['the icon differs in case', [{ name: 'images/Icon.png', data: PNG }], '<icon>images/icon.png</icon>', /differ in case/],
    ['the readme differs in case', [{ name: 'README.md', data: '# Hi' }], '<readme>readme.md</readme>', /differ in case/],
    ['the license file is missing', [], '<license type="file">LICENSE.txt</license>', /does not contain it/],
    ['the icon is 2 MB', [{ name: 'icon.png', data: Buffer.concat([PNG, randomBytes(2 * 1000 * 1000)]) }], '<icon>icon.png</icon>', /is \d+ bytes; the limit is 1048576 bytes/],
    ['the icon is an SVG', [{ name: 'icon.png', data: '<svg onload="alert(1)"/>' }], '<icon>icon.png</icon>', /not a PNG or JPEG/],
    ['the readme is binary', [{ name: 'README.md', data: randomBytes(1000) }], '<readme>README.md</readme>', /not UTF-8 text/],
    ['the license file is binary', [{ name: 'LICENSE.txt', data: Buffer.from([0x4d, 0x5a, 0, 0, 1, 2]) }], '<license type="file">LICENSE.txt</license>', /not UTF-8 text/],
  ] as const)('#21 answers 400 when %s', async (_what, files, metadata, message) => {
    await expectRefused(hostilePackage([...files], { id: 'Contoso.Embedded', metadata }), message);
  });

  it('#21 accepts a PNG icon, a Markdown readme and a text license file, and stores the icon and readme', async () => {
    const bytes = hostilePackage(
      [
        { name: 'images/icon.png', data: PNG },
        { name: 'docs/README.md', data: '# Embedded\n' },
        { name: 'LICENSE.txt', data: 'MIT License\n' },
      ],
      { id: 'Contoso.EmbeddedOk', metadata: '<icon>images/icon.png</icon><readme>docs/README.md</readme><license type="file">LICENSE.txt</license>' },
    );
    await expectCreated(bytes);
    const keys = packageContentKeys(sha512(bytes));
    expect((await store.read(keys.icon))?.equals(PNG)).toBe(true);
    expect((await store.read(keys.readme))?.toString()).toBe('# Embedded\n');
  });
});

/** Offset of the local header of the entry named `name` (found through its central record). */
function findLocalHeader(zip: Buffer, name: Buffer): number {
  for (let i = zip.length - 46; i >= 0; i--) {
    if (zip.readUInt32LE(i) === 0x02014b50 && zip.readUInt16LE(i + 28) === name.length && zip.subarray(i + 46, i + 46 + name.length).equals(name)) {
      return zip.readUInt32LE(i + 42);
    }
  }
  throw new Error(`no entry ${name.toString()}`);
}

/** Turns a stored entry into a "deflated" one in both headers, keeping its bytes: they are a raw deflate stream. */
function markDeflated(zip: Buffer, entryName: string): Buffer {
  const name = Buffer.from(entryName);
  const copy = Buffer.from(zip);
  for (let i = copy.length - 46; i >= 0; i--) {
    if (copy.readUInt32LE(i) === 0x02014b50 && copy.readUInt16LE(i + 28) === name.length && copy.subarray(i + 46, i + 46 + name.length).equals(name)) {
      copy.writeUInt16LE(8, i + 10);
      copy.writeUInt16LE(8, copy.readUInt32LE(i + 42) + 8);
      return copy;
    }
  }
  throw new Error(`no entry ${entryName}`);
}
