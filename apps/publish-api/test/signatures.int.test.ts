/**
 * Package signatures over real HTTP (reliability.md §2 #19). nucat does not verify signatures: a package
 * with a root `.signature.p7s` is stored and recorded as signed-unverified (`packages.signature`, the push
 * reply's `signature` field, `nucat info`), and the signature file is never read, so no signature — garbage,
 * 50 MB, or a genuine one over altered content — can crash or slow the parser.
 *
 * The genuine signature is made with `openssl` (a self-signed code-signing certificate) and
 * `dotnet nuget sign`, and its tampering is confirmed with `dotnet nuget verify`.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { crc32 } from 'node:zlib';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '@nucat/auth';
import { findFeedId, packageContentKeys } from '@nucat/catalog';
import { createDb, migrateToLatest, type Db } from '@nucat/db';
import { createFilesystemBlobStore, type BlobStore } from '@nucat/storage';
import { buildNupkg, createTestDatabase, nuspecXml, writeZip, type TestDatabase } from '@nucat/testing';
import { createPublishApp } from '../src/index.js';

const run = promisify(execFile);
const MAX_PACKAGE_BYTES = 64 * 1024 * 1024;

let database: TestDatabase;
let db: Db;
let store: BlobStore;
let feedId: number;
let workDir: string;
let server: Server;
let base: string;
let apiKey: string;

interface PushReply {
  status: number;
  body: { id?: string; version?: string; signature?: string; error?: { code: string; message: string } };
}

async function push(bytes: Buffer): Promise<PushReply> {
  const response = await fetch(`${base}/v3/package/`, {
    method: 'PUT',
    headers: { 'X-NuGet-ApiKey': apiKey, 'Content-Type': 'application/octet-stream' },
    body: bytes,
  });
  return { status: response.status, body: (await response.json()) as PushReply['body'] };
}

async function signatureOf(lowerId: string): Promise<string | null | undefined> {
  const row = await db.selectFrom('packages').select('signature').where('feed_id', '=', feedId).where('lower_id', '=', lowerId).executeTakeFirst();
  return row?.signature;
}

async function storedNupkg(bytes: Buffer): Promise<Buffer | undefined> {
  return store.read(packageContentKeys(createHash('sha512').update(bytes).digest('base64')).nupkg);
}

/** A package whose entries are stored (not deflated), so one can be altered in place after signing. */
function storedPackage(id: string, extra: { name: string; data: Buffer | string }[] = []): Buffer {
  return writeZip({
    entries: [
      { name: `${id}.nuspec`, data: nuspecXml({ id, version: '1.0.0' }), method: 'stored' },
      { name: 'lib/netstandard2.0/readme.txt', data: 'signed content, do not alter', method: 'stored' },
      ...extra.map((e) => ({ ...e, method: 'stored' as const })),
    ],
  });
}

/**
 * Replaces the bytes of a stored entry with as many other bytes and fixes its CRC in both headers: a
 * well-formed archive whose content is no longer what was signed.
 */
function alterStoredEntry(zip: Buffer, name: string, replacement: Buffer): Buffer {
  const copy = Buffer.from(zip);
  const raw = Buffer.from(name, 'utf8');
  for (let at = copy.length - 46; at >= 0; at--) {
    if (copy.readUInt32LE(at) !== 0x02014b50 || copy.readUInt16LE(at + 28) !== raw.length) continue;
    if (!copy.subarray(at + 46, at + 46 + raw.length).equals(raw)) continue;
    expect(copy.readUInt16LE(at + 10), 'entry is stored').toBe(0);
    expect(copy.readUInt32LE(at + 24), 'same length').toBe(replacement.length);
    const local = copy.readUInt32LE(at + 42);
    const dataAt = local + 30 + copy.readUInt16LE(local + 26) + copy.readUInt16LE(local + 28);
    replacement.copy(copy, dataAt);
    const crc = crc32(replacement);
    copy.writeUInt32LE(crc, at + 16);
    copy.writeUInt32LE(crc, local + 14);
    return copy;
  }
  throw new Error(`no entry ${name}`);
}

const DOTNET_ENV = { ...process.env, DOTNET_CLI_TELEMETRY_OPTOUT: '1', DOTNET_NOLOGO: '1', DOTNET_SKIP_FIRST_TIME_EXPERIENCE: '1' };

/** Signs a package with a fresh self-signed code-signing certificate (`dotnet nuget sign`, no timestamp). */
async function signWithDotnet(nupkg: Buffer, dir: string): Promise<Buffer> {
  const key = join(dir, 'key.pem');
  const cert = join(dir, 'cert.pem');
  const pfx = join(dir, 'cert.pfx');
  await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '30', '-subj', '/CN=nucat test signer', '-addext', 'extendedKeyUsage=codeSigning']);
  await run('openssl', ['pkcs12', '-export', '-inkey', key, '-in', cert, '-out', pfx, '-passout', 'pass:nucat']);
  const unsigned = join(dir, 'package.nupkg');
  await writeFile(unsigned, nupkg);
  await run('dotnet', ['nuget', 'sign', unsigned, '--certificate-path', pfx, '--certificate-password', 'nucat', '--overwrite'], { env: DOTNET_ENV, cwd: dir });
  return readFile(unsigned);
}

/** `dotnet nuget verify --all`: its output (it fails for this self-signed certificate in any case). */
async function verifyWithDotnet(nupkg: Buffer, dir: string, name: string): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, nupkg);
  const result = await run('dotnet', ['nuget', 'verify', '--all', file], { env: DOTNET_ENV, cwd: dir }).catch(
    (error: { stdout?: string; stderr?: string }) => ({ stdout: error.stdout ?? '', stderr: error.stderr ?? '' }),
  );
  return `${result.stdout}\n${result.stderr}`;
}

beforeAll(async () => {
  database = await createTestDatabase();
  db = createDb({ url: database.url, poolSize: 10 });
  await migrateToLatest(db);
  feedId = (await findFeedId(db, 'main'))!;
  workDir = await mkdtemp(join(tmpdir(), 'nucat-signatures-int-'));
  store = createFilesystemBlobStore({ root: join(workDir, 'blobs') });
  const app = createPublishApp({ db, store, feedId, log: pino({ level: 'silent' }), maxPackageBytes: MAX_PACKAGE_BYTES, tempDir: join(workDir, 'uploads') });
  server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  apiKey = (await createApiKey(db, { feedId, name: 'signer' })).key;
});

afterAll(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
  await db?.destroy();
  await store?.close();
  await database?.drop();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

describe('#19 signature tampering', () => {
  it('#19 signature tampering: a garbage .signature.p7s → 201, recorded signed-unverified, bytes stored as pushed', async () => {
    const bytes = buildNupkg({ id: 'Nucat.Sig.Garbage', version: '1.0.0', files: { '.signature.p7s': Buffer.from('0\x82\xff\xffnot DER at all'.repeat(200), 'latin1') } });
    const reply = await push(bytes);
    expect(reply.status, JSON.stringify(reply.body)).toBe(201);
    expect(reply.body).toMatchObject({ id: 'Nucat.Sig.Garbage', version: '1.0.0', signature: 'unverified' });
    expect(await signatureOf('nucat.sig.garbage')).toBe('unverified');
    expect((await storedNupkg(bytes))?.equals(bytes)).toBe(true);
  });

  it('#19 signature tampering: a 50 MB .signature.p7s within the size limit → 201 unverified, never read', async () => {
    const p7s = Buffer.alloc(50 * 1000 * 1000);
    for (let i = 0; i < p7s.length; i += 4) p7s.writeUInt32LE((i * 2654435761) >>> 0, i); // incompressible enough, and cheap to make
    const bytes = storedPackage('Nucat.Sig.Huge', [{ name: '.signature.p7s', data: p7s }]);
    expect(bytes.length).toBeLessThan(MAX_PACKAGE_BYTES);
    const reply = await push(bytes);
    expect(reply.status, JSON.stringify(reply.body)).toBe(201);
    expect(reply.body.signature).toBe('unverified');
    expect(await signatureOf('nucat.sig.huge')).toBe('unverified');
    expect((await storedNupkg(bytes))?.length).toBe(bytes.length);
  });

  it('#19 signature tampering: a genuine signature over a package whose entry was altered afterwards → 201 unverified (nucat does not verify)', async () => {
    const dir = await mkdtemp(join(workDir, 'sign-'));
    const signed = await signWithDotnet(storedPackage('Nucat.Sig.Tampered'), dir);
    const tampered = alterStoredEntry(signed, 'lib/netstandard2.0/readme.txt', Buffer.from('SIGNED CONTENT, DO NOT ALTER'));
    expect(tampered.equals(signed)).toBe(false);
    // The fixture is what it claims: NuGet's own verifier finds the signed content changed (NU3008).
    expect(await verifyWithDotnet(tampered, dir, 'tampered.nupkg')).toContain('NU3008');
    expect(await verifyWithDotnet(signed, dir, 'signed.nupkg')).not.toContain('NU3008');

    const reply = await push(tampered);
    expect(reply.status, JSON.stringify(reply.body)).toBe(201);
    expect(reply.body.signature).toBe('unverified');
    expect(await signatureOf('nucat.sig.tampered')).toBe('unverified');
    expect((await storedNupkg(tampered))?.equals(tampered)).toBe(true);
  });

  it('#19 signature tampering: an unsigned package, or one with .signature.p7s below the root, is recorded unsigned', async () => {
    const plain = await push(buildNupkg({ id: 'Nucat.Sig.None', version: '1.0.0' }));
    expect(plain.status).toBe(201);
    expect(plain.body).not.toHaveProperty('signature');
    expect(await signatureOf('nucat.sig.none')).toBeNull();
    const nested = await push(buildNupkg({ id: 'Nucat.Sig.Nested', version: '1.0.0', files: { 'content/.signature.p7s': 'not the package signature' } }));
    expect(nested.status).toBe(201);
    expect(nested.body).not.toHaveProperty('signature');
    expect(await signatureOf('nucat.sig.nested')).toBeNull();
  });
});
