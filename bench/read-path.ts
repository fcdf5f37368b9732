/**
 * Restore read path: nucat's read-api against nginx serving the very same projected files (the
 * stack's blob folder) under the same URL paths, on the same machine, in the same run.
 *
 * For each request kind — flat container index.json, registration index (gz hive), a registration
 * page of a 1,000-version id, small .nupkg, large (4 MiB) .nupkg — and 16, 64 and 256 keep-alive
 * connections, wrk (one thread) measures req/s and p50/p99 against each server in turn. With two
 * or more cores, the server (nucat's read-api process, or nginx's single process) is pinned to core
 * 0 and wrk to core 1. Every request sends `Accept-Encoding: gzip, deflate` as NuGet does.
 *
 *   npx tsx bench/read-path.ts [--quick] [--seconds 5] [--connections 16,64,256] [--profile] [--syscalls]
 *
 * --profile runs the read-api under `node --cpu-prof` and prints where its time went; --syscalls then
 * counts each server's system calls per request with strace (2 s per kind at 16 connections).
 */
import { request } from 'node:http';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createCorpus, standardCorpus, type CorpusId } from './support/corpus.js';
import { printProfile, profilesIn, summarizeProfiles } from './support/cpu-profile.js';
import { startNginx } from './support/nginx.js';
import { heading, int, machineLine, ms, ratio, table } from './support/report.js';
import { canPin, seedCorpus, startApp, startBenchStack } from './support/stack-tools.js';
import { haveStrace, syscallsPerUnit } from './support/strace.js';
import { recordFigures, type BenchFigure } from './support/results.js';
import { runWrk, type LoadResult } from './support/wrk.js';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    seconds: { type: 'string' },
    connections: { type: 'string', default: '16,64,256' },
    profile: { type: 'boolean', default: false },
    syscalls: { type: 'boolean', default: false },
    seed: { type: 'string', default: '42' },
  },
});
const quick = values.quick;
const cellSeconds = Number(values.seconds ?? (quick ? 1 : 5));
const connectionCounts = values.connections.split(',').map(Number);
const HEADERS = { 'Accept-Encoding': 'gzip, deflate' };

/** A kind of request and the paths it rotates through. */
interface Kind {
  name: string;
  paths: string[];
  /** Report MB/s too. */
  bytes?: boolean;
}

const lower = (version: string) => version.toLowerCase();
const nupkgPath = (id: CorpusId, version: string) =>
  `/v3/flatcontainer/${id.lowerId}/${lower(version)}/${id.lowerId}.${lower(version)}.nupkg`;

/** GETs `path` raw (no decompression): status, content-encoding and body bytes. */
function rawGet(baseUrl: string, path: string): Promise<{ status: number; encoding: string; type: string; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(`${baseUrl}${path}`, { headers: HEADERS }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          encoding: String(res.headers['content-encoding'] ?? ''),
          type: String(res.headers['content-type'] ?? '').split(';')[0]!,
          body: Buffer.concat(chunks),
        }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

console.log(`read path: ${await machineLine()}`);
const pin = await canPin();
const serverCpu = pin ? 0 : undefined;
const loadCpu = pin ? 1 : undefined;
console.log(`  ${pin ? 'server pinned to core 0, wrk to core 1' : 'fewer than 2 cores or no taskset: nothing pinned'}; ${cellSeconds} s per cell; wrk -t1; ${JSON.stringify(HEADERS)}`);
const corpus = createCorpus(standardCorpus(quick, Number(values.seed)));
const stack = await startBenchStack();
const profileDir = values.profile ? await mkdtemp(join(tmpdir(), 'nucat-bench-prof-')) : undefined;
const logDir = await mkdtemp(join(tmpdir(), 'nucat-bench-read-'));
const stops: (() => Promise<void>)[] = [];
try {
  heading('corpus');
  await seedCorpus(stack, corpus, { pauseWorker: true, publishers: 2 });
  const blobs = join(stack.dataDir, 'blobs');

  // The request kinds.
  const ordinary = corpus.ids.filter((i) => i.kind === 'ordinary');
  const huge = corpus.ids.find((i) => i.kind === 'huge')!;
  const large = corpus.ids.filter((i) => i.kind === 'large');
  const hugeIndex = (await (await fetch(`${stack.publicUrl}/v3/registration5-gz-semver2/${huge.lowerId}/index.json`)).json()) as {
    items: { '@id': string; items?: unknown[] }[];
  };
  const pagePaths = hugeIndex.items.map((page) => new URL(page['@id']).pathname);
  if (hugeIndex.items.some((page) => page.items !== undefined)) throw new Error(`${huge.id}: expected pages that are not inlined`);
  const smallNupkgs = ordinary.flatMap((id) => id.versions.slice(-2).map((v) => nupkgPath(id, v))).slice(0, 500);
  const kinds: Kind[] = [
    { name: 'flat index.json', paths: corpus.ids.map((i) => `/v3/flatcontainer/${i.lowerId}/index.json`) },
    { name: 'registration index (gz)', paths: corpus.ids.map((i) => `/v3/registration5-gz-semver2/${i.lowerId}/index.json`) },
    { name: `registration page (${huge.versions.length} versions)`, paths: pagePaths },
    { name: 'nupkg small', paths: smallNupkgs, bytes: true },
    { name: `nupkg ${(large[0]!.payloadBytes / 1048576).toFixed(0)} MiB`, paths: large.map((id) => nupkgPath(id, id.versions[0]!)), bytes: true },
  ];

  const nginx = await startNginx({ blobs, ...(serverCpu !== undefined ? { cpu: serverCpu } : {}) });
  stops.push(() => nginx.stop());
  const readApi = await startApp(stack, 'read-api', {
    ...(serverCpu !== undefined ? { cpu: serverCpu } : {}),
    logFile: join(logDir, 'read-api.log'),
    ...(profileDir ? { nodeFlags: ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] } : {}),
  });
  stops.push(() => readApi.stop());
  const servers = [
    { name: 'nginx', url: nginx.url, pid: nginx.pid },
    { name: 'nucat', url: readApi.url, pid: readApi.pid },
  ];

  heading('same bytes from both servers');
  for (const kind of kinds) {
    const sample = kind.paths.filter((_, i) => i % Math.max(1, Math.floor(kind.paths.length / 25)) === 0);
    let sizes = 0;
    for (const path of sample) {
      const [a, b] = [await rawGet(nginx.url, path), await rawGet(readApi.url, path)];
      if (a.status !== 200 || b.status !== 200 || a.encoding !== b.encoding || !a.body.equals(b.body) || a.type !== b.type) {
        throw new Error(`${path}: nginx ${a.status} ${a.type} ${a.encoding} ${a.body.length} B, nucat ${b.status} ${b.type} ${b.encoding} ${b.body.length} B`);
      }
      sizes += a.body.length;
    }
    console.log(`  ${kind.name.padEnd(32)} ${String(kind.paths.length).padStart(4)} paths, ${sample.length} compared: identical (avg ${int(sizes / sample.length)} B on the wire${sample[0] && (await rawGet(nginx.url, sample[0])).encoding ? ', gzip' : ''})`);
  }

  // Warm-up, not reported: the read-api's JIT on every kind; the page cache (nginx reads the same files).
  for (const kind of kinds) await runWrk({ baseUrl: readApi.url, paths: kind.paths, connections: 16, seconds: 1, headers: HEADERS, ...(loadCpu !== undefined ? { cpu: loadCpu } : {}) });
  await runWrk({ baseUrl: nginx.url, paths: kinds[0]!.paths, connections: 16, seconds: 1, headers: HEADERS, ...(loadCpu !== undefined ? { cpu: loadCpu } : {}) });

  heading(`req/s and latency, nucat read-api vs nginx (same files, same paths), ${cellSeconds} s per cell`);
  const rows: string[][] = [];
  const notes: string[] = [];
  const figures: BenchFigure[] = [];
  for (const kind of kinds) {
    for (const connections of connectionCounts) {
      const results: Record<string, LoadResult> = {};
      for (const server of servers) {
        results[server.name] = await runWrk({
          baseUrl: server.url,
          paths: kind.paths,
          connections,
          seconds: cellSeconds,
          headers: HEADERS,
          serverPid: server.pid,
          ...(loadCpu !== undefined ? { cpu: loadCpu } : {}),
        });
        if (results[server.name]!.errors > 0) notes.push(`${server.name} ${kind.name} c=${connections}: ${results[server.name]!.errors} errors`);
      }
      const n = results['nginx']!;
      const u = results['nucat']!;
      const mbs = (r: LoadResult) => (kind.bytes ? ` ${int(r.bytesPerSecond / 1048576)} MB/s` : '');
      const cpuPerRequest = (r: LoadResult) => ((r.serverCores ?? NaN) * 1e6) / r.requestsPerSecond;
      const reqTarget = kind.bytes ? 0.9 : 0.8;
      figures.push({
        bench: 'read-path',
        figure: `${kind.name} c=${connections} ${kind.bytes ? 'MB/s' : 'req/s'}`,
        value: kind.bytes ? u.bytesPerSecond / 1048576 : u.requestsPerSecond,
        unit: kind.bytes ? 'MB/s' : 'req/s',
        reference: kind.bytes ? n.bytesPerSecond / 1048576 : n.requestsPerSecond,
        referenceName: 'nginx',
        target: `≥ ${reqTarget}× nginx`,
        met: u.requestsPerSecond >= reqTarget * n.requestsPerSecond,
      });
      if (!kind.bytes) {
        figures.push({
          bench: 'read-path',
          figure: `${kind.name} c=${connections} p99`,
          value: u.p99Ms,
          unit: 'ms',
          reference: n.p99Ms,
          referenceName: 'nginx',
          target: '≤ 2× nginx',
          met: u.p99Ms <= 2 * n.p99Ms,
        });
      }
      rows.push([
        kind.name,
        String(connections),
        `${int(n.requestsPerSecond)}${mbs(n)}`,
        ms(n.p50Ms),
        ms(n.p99Ms),
        (n.serverCores ?? NaN).toFixed(2),
        int(cpuPerRequest(n)),
        `${int(u.requestsPerSecond)}${mbs(u)}`,
        ms(u.p50Ms),
        ms(u.p99Ms),
        (u.serverCores ?? NaN).toFixed(2),
        int(cpuPerRequest(u)),
        ratio(u.requestsPerSecond, n.requestsPerSecond),
        ratio(u.p99Ms, n.p99Ms),
        ratio(cpuPerRequest(u), cpuPerRequest(n)),
      ]);
    }
  }
  console.log(
    table(
      ['request', 'conns', 'nginx req/s', 'p50', 'p99', 'cpu', 'µs/req', 'nucat req/s', 'p50', 'p99', 'cpu', 'µs/req', 'req/s ×', 'p99 ×', 'µs/req ×'],
      rows,
    ),
  );
  console.log('  cpu = cores the server process used during the cell (1.00 = its whole pinned core); µs/req = server CPU time per request;');
  console.log('  × = nucat / nginx. When nginx\'s cpu is well under 1.00, wrk (one thread, one core) is the limit, not nginx:');
  console.log('  then req/s × flatters nucat and µs/req × is the fairer comparison.');
  for (const note of notes) console.log(`  ! ${note}`);
  recordFigures(figures);

  if (values.syscalls && haveStrace()) {
    heading('system calls per request (strace -f -c, 2 s per kind at 16 connections; strace slows both servers down)');
    const syscallRows: string[][] = [];
    for (const kind of kinds) {
      for (const server of servers) {
        const calls = await syscallsPerUnit(server.pid, async () => {
          const r = await runWrk({ baseUrl: server.url, paths: kind.paths, connections: 16, seconds: 2, headers: HEADERS, ...(loadCpu !== undefined ? { cpu: loadCpu } : {}) });
          return r.requests;
        });
        const total = calls.reduce((sum, c) => sum + c.perUnit, 0);
        syscallRows.push([kind.name, server.name, total.toFixed(1), calls.slice(0, 8).map((c) => `${c.name} ${c.perUnit.toFixed(2)}`).join(', ')]);
      }
    }
    console.log(table(['request', 'server', 'calls/req', 'by call'], syscallRows));
    console.log('  futex = hand-offs between the event loop and libuv\'s thread pool (every fs call of Node goes through it)');
  }
} finally {
  for (const stop of stops.reverse()) await stop().catch((error: unknown) => console.error(error));
  await stack.stop();
}
if (profileDir) {
  printProfile('read-api CPU profile (all cells, warm-up included)', await summarizeProfiles(await profilesIn(profileDir)));
  console.log(`  profile kept in ${profileDir}`);
}
const logBytes = (await stat(join(logDir, 'read-api.log')).catch(() => undefined))?.size ?? 0;
console.log(`  (the read-api wrote ${int(logBytes / 1048576)} MiB of request log at its default level, info)`);
if (profileDir) console.log(`  read-api request log kept in ${logDir}`);
else await rm(logDir, { recursive: true, force: true });
