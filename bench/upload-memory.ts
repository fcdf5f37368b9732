/**
 * Memory per upload (reliability.md P9): pushes 1 MB, 50 MB and 200 MB packages to the built
 * publish-api, run as a child process, and reports the child's peak RSS (VmHWM) for each. The
 * publish-api is restarted for every size, so each peak belongs to one size. Each package is a
 * valid nupkg with one large STORED random entry, written to a temp file and streamed to the
 * server from it (the benchmark never holds a package in memory).
 *
 *   npm run build && npx tsx bench/upload-memory.ts [--sizes 1,50,200] [--child-node-options=--max-semi-space-size=1]
 *
 * Baseline: VmHWM after startup and one small warm-up push (when the kernel allows, the peak is
 * then reset through /proc/<pid>/clear_refs, so the baseline is the resident size at that moment).
 * Peak: VmHWM after the push answered 201. Delta: peak − baseline.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdtemp, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { crc32 } from 'node:zlib';
import { buildNupkg, createTestDatabase, freePort, waitFor } from '@nucat/testing';
import { REPO_ROOT } from '../test/support/stack.js';
import { recordFigures } from './support/results.js';

const { values } = parseArgs({
  options: { sizes: { type: 'string', default: '1,50,200' }, 'child-node-options': { type: 'string', default: '' } },
});
const sizesMb = values.sizes.split(',').map(Number);
const MB = 1000 * 1000;

const PUBLISH_MAIN = join(REPO_ROOT, 'apps/publish-api/dist/main.js');
const CLI_MAIN = join(REPO_ROOT, 'apps/cli/dist/main.js');
for (const main of [PUBLISH_MAIN, CLI_MAIN]) {
  if (!existsSync(main)) throw new Error(`${main} is missing: run \`npm run build\` first.`);
}

/**
 * Writes a valid nupkg of about `payloadBytes` + 1 KB: a stored nuspec, then one stored entry of
 * random bytes written 1 MiB at a time; the entry's CRC is patched into its local header at the end.
 */
async function writeLargeNupkg(file: string, id: string, version: string, payloadBytes: number): Promise<void> {
  const handle = await open(file, 'w');
  try {
    const nuspec = Buffer.from(
      `<?xml version="1.0" encoding="utf-8"?><package xmlns="http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd">` +
        `<metadata><id>${id}</id><version>${version}</version><authors>bench</authors><description>Upload memory probe.</description></metadata></package>`,
    );
    const entries: { name: Buffer; crc: number; size: number; offset: number }[] = [];
    let position = 0;
    const localHeader = (name: Buffer, crc: number, size: number) => {
      const header = Buffer.alloc(30);
      header.writeUInt32LE(0x04034b50, 0);
      header.writeUInt16LE(20, 4);
      header.writeUInt16LE(0x0800, 6);
      header.writeUInt16LE(0x21, 12);
      header.writeUInt32LE(crc, 14);
      header.writeUInt32LE(size, 18);
      header.writeUInt32LE(size, 22);
      header.writeUInt16LE(name.length, 26);
      return Buffer.concat([header, name]);
    };
    const append = async (bytes: Buffer) => {
      await handle.write(bytes, 0, bytes.length, position);
      position += bytes.length;
    };

    const nuspecName = Buffer.from(`${id}.nuspec`);
    entries.push({ name: nuspecName, crc: crc32(nuspec), size: nuspec.length, offset: position });
    await append(localHeader(nuspecName, crc32(nuspec), nuspec.length));
    await append(nuspec);

    const payloadName = Buffer.from('content/payload.bin');
    const payloadOffset = position;
    await append(localHeader(payloadName, 0, payloadBytes));
    const chunk = Buffer.alloc(1024 * 1024);
    let crc = 0;
    for (let left = payloadBytes; left > 0; left -= chunk.length) {
      const piece = chunk.subarray(0, Math.min(chunk.length, left));
      randomFillSync(piece);
      crc = crc32(piece, crc);
      await append(piece);
    }
    const crcField = Buffer.alloc(4);
    crcField.writeUInt32LE(crc, 0);
    await handle.write(crcField, 0, 4, payloadOffset + 14);
    entries.push({ name: payloadName, crc, size: payloadBytes, offset: payloadOffset });

    const directoryOffset = position;
    for (const e of entries) {
      const central = Buffer.alloc(46);
      central.writeUInt32LE(0x02014b50, 0);
      central.writeUInt16LE(20, 4);
      central.writeUInt16LE(20, 6);
      central.writeUInt16LE(0x0800, 8);
      central.writeUInt16LE(0x21, 14);
      central.writeUInt32LE(e.crc, 16);
      central.writeUInt32LE(e.size, 20);
      central.writeUInt32LE(e.size, 24);
      central.writeUInt16LE(e.name.length, 28);
      central.writeUInt32LE(e.offset, 42);
      await append(Buffer.concat([central, e.name]));
    }
    const end = Buffer.alloc(22);
    end.writeUInt32LE(0x06054b50, 0);
    end.writeUInt16LE(entries.length, 8);
    end.writeUInt16LE(entries.length, 10);
    end.writeUInt32LE(position - directoryOffset, 12);
    end.writeUInt32LE(directoryOffset, 16);
    await append(end);
  } finally {
    await handle.close();
  }
}

/** Streams `file` as the official client does (multipart, one part), never reading it whole. */
async function pushFile(publishUrl: string, apiKey: string, file: string): Promise<{ status: number; body: string }> {
  const boundary = 'upload-memory-bench';
  const head = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="package"; filename="package.nupkg"\r\nContent-Type: application/octet-stream\r\n\r\n`);
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const { size } = await stat(file);
  return new Promise((resolve, reject) => {
    const req = request(
      `${publishUrl}/v3/package/`,
      {
        method: 'PUT',
        headers: {
          'Content-Type': `multipart/form-data; boundary=${boundary}`,
          'Content-Length': String(head.length + size + tail.length),
          'X-NuGet-ApiKey': apiKey,
        },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.write(head);
    const stream = createReadStream(file, { highWaterMark: 256 * 1024 });
    stream.on('error', reject);
    stream.on('end', () => req.end(tail));
    stream.pipe(req, { end: false });
  });
}

/** VmHWM (peak) and VmRSS (current) of a process, in bytes. */
async function memoryOf(pid: number): Promise<{ hwm: number; rss: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]) * 1024;
  return { hwm: kb('VmHWM'), rss: kb('VmRSS') };
}

/** Resets VmHWM to the current RSS (Linux ≥ 4.0); false when the kernel refuses. */
async function resetPeak(pid: number): Promise<boolean> {
  try {
    await writeFile(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

function run(main: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [main, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

async function startPublishApi(env: NodeJS.ProcessEnv, publishUrl: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [PUBLISH_MAIN], { env, stdio: ['ignore', 'ignore', 'inherit'] });
  await waitFor(
    async () => {
      if (child.exitCode !== null) throw new Error(`publish-api exited with ${child.exitCode}`);
      const response = await fetch(`${publishUrl}/health`).catch(() => undefined);
      return response?.status === 200;
    },
    { what: 'publish-api to answer /health', timeoutMs: 30_000, intervalMs: 100 },
  );
  return child;
}

async function stopPublishApi(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

const database = await createTestDatabase();
const workDir = await mkdtemp(join(tmpdir(), 'nucat-upload-memory-'));
const rows: { size: string; file: number; baseline: number; peak: number; pushMs: number; peakReset: boolean }[] = [];
try {
  const port = await freePort();
  const publishUrl = `http://127.0.0.1:${port}`;
  const env: NodeJS.ProcessEnv = {
    PATH: process.env['PATH'],
    DATABASE_URL: database.url,
    NUCAT_DATA_DIR: join(workDir, 'data'),
    NUCAT_PUBLISH_PORT: String(port),
    NUCAT_PUBLISH_URL: publishUrl,
    NUCAT_HOST: '127.0.0.1',
    NUCAT_LOG_LEVEL: 'warn',
    ...(values['child-node-options'] ? { NODE_OPTIONS: values['child-node-options'] } : {}),
  };
  const migrate = await run(CLI_MAIN, ['migrate'], env);
  if (migrate.code !== 0) throw new Error(`nucat migrate failed: ${migrate.stderr}`);
  const keys = await run(CLI_MAIN, ['keys', 'create', '--name', 'bench'], env);
  const apiKey = keys.stdout.trim().split('\n').at(-1)?.trim();
  if (keys.code !== 0 || !apiKey) throw new Error(`nucat keys create failed: ${keys.stderr}`);

  for (const [i, sizeMb] of sizesMb.entries()) {
    const file = join(workDir, `payload-${sizeMb}mb.nupkg`);
    await writeLargeNupkg(file, 'Bench.UploadMemory', `${sizeMb}.0.${i}`, sizeMb * MB);
    const warmup = join(workDir, 'warmup.nupkg');
    await writeFile(warmup, buildNupkg({ id: 'Bench.Warmup', version: `1.0.${i}` }));

    const child = await startPublishApi(env, publishUrl);
    try {
      const warm = await pushFile(publishUrl, apiKey, warmup);
      if (warm.status !== 201) throw new Error(`warm-up push answered ${warm.status}: ${warm.body}`);
      const peakReset = await resetPeak(child.pid!);
      const before = await memoryOf(child.pid!);
      const t0 = performance.now();
      const pushed = await pushFile(publishUrl, apiKey, file);
      const pushMs = performance.now() - t0;
      if (pushed.status !== 201) throw new Error(`push of ${sizeMb} MB answered ${pushed.status}: ${pushed.body}`);
      const after = await memoryOf(child.pid!);
      rows.push({ size: `${sizeMb} MB`, file: (await stat(file)).size, baseline: before.hwm, peak: after.hwm, pushMs, peakReset });
    } finally {
      await stopPublishApi(child);
      await rm(file, { force: true });
    }
  }
} finally {
  await database.drop();
  await rm(workDir, { recursive: true, force: true });
}

const mib = (bytes: number) => `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
const options = values['child-node-options'] ? `, NODE_OPTIONS=${values['child-node-options']}` : '';
console.log(`publish-api peak RSS per upload (node ${process.version}${options}, restarted per size; VmHWM from /proc/<pid>/status)`);
console.log('| package | file bytes | baseline RSS | peak RSS | delta | push time |');
console.log('|---|---:|---:|---:|---:|---:|');
for (const r of rows) {
  console.log(`| ${r.size} | ${r.file} | ${mib(r.baseline)} | ${mib(r.peak)} | ${mib(r.peak - r.baseline)} | ${(r.pushMs / 1000).toFixed(2)} s |`);
}
if (rows.some((r) => !r.peakReset)) console.log('(VmHWM could not be reset after the warm-up push; the baseline is the peak since startup.)');
const smallest = rows[0];
recordFigures(
  rows.slice(smallest && rows.length > 1 ? 1 : 0).map((r) => ({
    bench: 'upload-memory',
    figure: `publish-api peak RSS pushing a ${r.size} package`,
    value: r.peak / 1048576,
    unit: 'MiB',
    ...(smallest && r !== smallest
      ? { reference: smallest.peak / 1048576, referenceName: `${smallest.size} push`, target: 'bounded: ≤ 1.5× the small push', met: r.peak <= 1.5 * smallest.peak }
      : {}),
  })),
);
