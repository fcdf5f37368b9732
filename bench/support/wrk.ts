/**
 * HTTP load with wrk (installed from the Debian package when absent): keep-alive connections, one
 * load thread pinned to its own core, a Lua script rotating through a list of paths, results as JSON
 * from the script's `done` hook (latency percentiles in microseconds, exact from wrk's histogram).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureCommand } from './nginx.js';
import { cpuSeconds, pinned } from './stack-tools.js';

/** What one wrk run measured. */
export interface LoadResult {
  requests: number;
  seconds: number;
  requestsPerSecond: number;
  /** Response bytes per second (headers included). */
  bytesPerSecond: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Socket errors, timeouts and non-2xx/3xx answers. */
  errors: number;
  /** CPU used by the server process during the run, in cores (1.0 = one core busy all the time). */
  serverCores?: number;
}

/** Options of {@link runWrk}. */
export interface WrkOptions {
  /** `http://127.0.0.1:port` */
  baseUrl: string;
  /** Request paths, requested in turn. */
  paths: readonly string[];
  connections: number;
  seconds: number;
  /** Pin wrk to this core. */
  cpu?: number;
  /** Extra request headers. */
  headers?: Record<string, string>;
  /** A pid whose CPU time is measured over the run (the server). */
  serverPid?: number;
}

const SCRIPT = `
local paths = {}
for line in io.lines(os.getenv("BENCH_PATHS")) do paths[#paths + 1] = line end
local headers = {}
for k, v in string.gmatch(os.getenv("BENCH_HEADERS") or "", "([^\\n:]+): ([^\\n]*)") do headers[k] = v end
local i = 0
request = function()
  i = i + 1
  if i > #paths then i = 1 end
  return wrk.format("GET", paths[i], headers)
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('BENCH_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,"errors":%d,"p50":%d,"p90":%d,"p99":%d,"max":%d}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
`;

/** Runs wrk once and parses its result. */
export async function runWrk(options: WrkOptions): Promise<LoadResult> {
  const binary = ensureCommand('wrk', ['wrk']);
  const dir = await mkdtemp(join(tmpdir(), 'nucat-bench-wrk-'));
  try {
    await writeFile(join(dir, 'script.lua'), SCRIPT);
    await writeFile(join(dir, 'paths.txt'), `${options.paths.join('\n')}\n`);
    const [command, args] = pinned(options.cpu, binary, [
      '-t1',
      `-c${options.connections}`,
      `-d${Math.max(1, Math.round(options.seconds))}s`, // wrk takes whole seconds
      '--timeout',
      '10s',
      '-s',
      join(dir, 'script.lua'),
      options.baseUrl,
    ]);
    const cpuBefore = options.serverPid ? cpuSeconds(options.serverPid) : undefined;
    const started = performance.now();
    const output = await new Promise<string>((resolve, reject) => {
      const child = spawn(command, args, {
        env: {
          ...process.env,
          BENCH_PATHS: join(dir, 'paths.txt'),
          BENCH_HEADERS: Object.entries(options.headers ?? {})
            .map(([k, v]) => `${k}: ${v}`)
            .join('\n'),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
      child.once('error', reject);
      child.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`wrk exited with ${code}:\n${out}`))));
    });
    const elapsed = (performance.now() - started) / 1000;
    const cpuAfter = options.serverPid ? cpuSeconds(options.serverPid) : undefined;
    const line = output.split('\n').find((l) => l.startsWith('BENCH_RESULT '));
    if (!line) throw new Error(`wrk printed no result:\n${output}`);
    const r = JSON.parse(line.slice('BENCH_RESULT '.length)) as { requests: number; duration_us: number; bytes: number; errors: number; p50: number; p90: number; p99: number; max: number };
    const seconds = r.duration_us / 1e6;
    return {
      requests: r.requests,
      seconds,
      requestsPerSecond: r.requests / seconds,
      bytesPerSecond: r.bytes / seconds,
      p50Ms: r.p50 / 1000,
      p90Ms: r.p90 / 1000,
      p99Ms: r.p99 / 1000,
      maxMs: r.max / 1000,
      errors: r.errors,
      ...(cpuBefore !== undefined && cpuAfter !== undefined ? { serverCores: (cpuAfter - cpuBefore) / elapsed } : {}),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
