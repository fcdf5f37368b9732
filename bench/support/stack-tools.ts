/**
 * Benchmark helpers around the end-to-end stack (test/support/stack.ts): seeding a corpus and
 * waiting until it is projected, running an extra read-api pinned to a core, reading cursors.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort } from '@nucat/testing';
import { APPS_ROOT, REPO_ROOT, startStack, type Stack, type StartStackOptions } from '../../test/support/stack.js';
import type { Feed } from '../../test/support/feed.js';
import { pushCorpus, type Corpus, type PushReport } from './corpus.js';
import { int, seconds } from './report.js';
import { summarize } from '../stats.js';

/** The projections restore needs (what the read benchmarks wait for). */
export const RESTORE_PROJECTIONS = ['flatcontainer', 'registration'] as const;

/**
 * Starts a stack whose worker runs only `projections` (default: the restore projections, so search
 * indexing does not compete with the measurement).
 */
export function startBenchStack(options: { projections?: readonly string[]; env?: Record<string, string> } & StartStackOptions = {}): Promise<Stack> {
  const projections = options.projections ?? RESTORE_PROJECTIONS;
  return startStack({ ...options, env: { NUCAT_WORKER_PROJECTIONS: projections.join(','), ...options.env } });
}

/** The feed a push needs. */
export function feedOf(stack: Stack): Feed {
  return { serviceIndexUrl: stack.serviceIndexUrl, publishUrl: stack.publishUrl, apiKey: stack.apiKey };
}

/** `{publicUrl}/v3/cursors.json` as epoch milliseconds by projection. */
export async function readCursors(stack: Pick<Stack, 'publicUrl'>): Promise<Record<string, number>> {
  const response = await fetch(`${stack.publicUrl}/v3/cursors.json`);
  const body = (await response.json()) as Record<string, string>;
  return Object.fromEntries(Object.entries(body).map(([k, v]) => [k, Date.parse(v)]));
}

/**
 * Waits until every one of `projections` has projected `commitTimestamp`, printing the lag now and
 * then on stderr. Throws after `timeoutMs` with the stack's logs.
 */
export async function waitForProjections(
  stack: Stack,
  commitTimestamp: string,
  projections: readonly string[] = RESTORE_PROJECTIONS,
  timeoutMs = 600_000,
): Promise<number> {
  const target = Date.parse(commitTimestamp);
  const started = performance.now();
  let lastReport = started;
  for (;;) {
    const cursors = await readCursors(stack);
    if (projections.every((p) => (cursors[p] ?? 0) >= target)) return (performance.now() - started) / 1000;
    const now = performance.now();
    if (now - started > timeoutMs) {
      throw new Error(`projections ${projections.join(', ')} did not reach ${commitTimestamp} in ${timeoutMs} ms: ${JSON.stringify(cursors)}\n${stack.logs()}`);
    }
    if (now - lastReport > 10_000) {
      lastReport = now;
      const behind = projections
        .map((p) => `${p} ${(cursors[p] ?? 0) <= 0 ? 'not started' : `${((target - cursors[p]!) / 1000).toFixed(1)} s of commits behind`}`)
        .join(', ');
      console.error(`  … waiting for projections: ${behind}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** What {@link seedCorpus} measured. */
export interface SeedReport extends PushReport {
  /** Seconds from the last 201 (or from the worker's restart) until the projections had everything. */
  drainSeconds: number;
}

/**
 * Pushes `corpus` through the publish API (`concurrency` clients) and waits until `projections`
 * have it all. Prints one summary line.
 */
export async function seedCorpus(
  stack: Stack,
  corpus: Corpus,
  options: { concurrency?: number; projections?: readonly string[]; quiet?: boolean; pauseWorker?: boolean; publishers?: number } = {},
): Promise<SeedReport> {
  const concurrency = options.concurrency ?? 16;
  const publishers = options.publishers ?? 1;
  if (!options.quiet) {
    console.error(`  seeding: ${corpus.describe()}${options.pauseWorker ? ' (worker stopped while pushing)' : ''}${publishers > 1 ? `, ${publishers} publish-api processes` : ''}`);
  }
  // With the worker stopped, pushes get both cores and the projections catch up in a few big batches.
  if (options.pauseWorker) await stack.kill('worker', 'SIGTERM');
  // One publish-api process serialises catalog appends behind its own event loop; more processes push faster.
  const extra = await Promise.all(Array.from({ length: publishers - 1 }, () => startApp(stack, 'publish-api')));
  let reported = 0;
  let pushed: PushReport;
  try {
    pushed = await pushCorpus(feedOf(stack), corpus, {
      concurrency,
      publishUrls: [stack.publishUrl, ...extra.map((p) => p.url)],
      onProgress: (done, total) => {
        if (!options.quiet && done - reported >= total / 5 && done < total) {
          reported = done;
          console.error(`  … ${done}/${total} pushed`);
        }
      },
    });
  } finally {
    await Promise.all(extra.map((p) => p.stop()));
  }
  if (options.pauseWorker) await stack.restart('worker');
  const drainSeconds = await waitForProjections(stack, pushed.lastCommitTimestamp, options.projections);
  if (!options.quiet) {
    const s = summarize(pushed.latencies);
    console.error(
      `  seeded ${int(pushed.pushes)} packages (${(pushed.bytes / 1048576).toFixed(1)} MiB) in ${seconds(pushed.seconds)} ` +
        `(${int(pushed.pushes / pushed.seconds)} pushes/s, ${concurrency} clients${publishers > 1 ? ` over ${publishers} publish-api processes` : ''}, push p50 ${s.p50.toFixed(0)} ms p99 ${s.p99.toFixed(0)} ms); ` +
        `projected ${seconds(drainSeconds)} after ${options.pauseWorker ? 'the worker restarted' : 'the last 201'}`,
    );
  }
  return { ...pushed, drainSeconds };
}

/** CPU time (user + system, all threads) of a process, in seconds; undefined when it is gone. */
export function cpuSeconds(pid: number): number | undefined {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // USER_HZ is 100 on Linux
  } catch {
    return undefined;
  }
}

/** A process the benchmark started itself. */
export interface OwnProcess {
  readonly pid: number;
  /** SIGTERM, then SIGKILL after 5 s; resolves when it has exited. */
  stop(): Promise<void>;
  /** Resolves when it exits (code or signal). */
  readonly exited: Promise<string>;
}

/** Wraps `command` in `taskset -c <cpu>` when a core is given. */
export function pinned(cpu: number | undefined, command: string, args: readonly string[]): [string, string[]] {
  return cpu === undefined ? [command, [...args]] : ['taskset', ['-c', String(cpu), command, ...args]];
}

/** Spawns a child and tracks its exit. stdout and stderr go to `logFile` (or are dropped). */
export function spawnOwn(command: string, args: readonly string[], options: { env?: Record<string, string>; cwd?: string; logFile?: string } = {}): OwnProcess {
  const fd = options.logFile ? openSync(options.logFile, 'a') : undefined;
  const child: ChildProcess = spawn(command, args, {
    cwd: options.cwd ?? REPO_ROOT,
    env: options.env ?? (process.env as Record<string, string>),
    stdio: ['ignore', fd ?? 'ignore', fd ?? 'ignore'],
  });
  if (fd !== undefined) closeSync(fd);
  const exited = new Promise<string>((resolve) => {
    child.once('exit', (code, signal) => resolve(signal ?? `exit ${code}`));
    child.once('error', (error) => resolve(`spawn error: ${error.message}`));
  });
  if (child.pid === undefined) throw new Error(`could not start ${command}`);
  const pid = child.pid;
  return {
    pid,
    exited,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Whether this machine has at least two cores and `taskset` (so server and load can be kept apart). */
export async function canPin(): Promise<boolean> {
  const os = await import('node:os');
  if (os.availableParallelism() < 2) return false;
  return new Promise((resolve) => {
    const probe = spawn('taskset', ['-c', '0', 'true'], { stdio: 'ignore' });
    probe.once('error', () => resolve(false));
    probe.once('exit', (code) => resolve(code === 0));
  });
}

/** An app of the stack that the benchmarks start copies of. */
export type BenchApp = 'read-api' | 'publish-api' | 'worker';

/**
 * Starts one more copy of `app` over the stack's database, Redis prefix and blobs (an API on its own
 * port), optionally pinned to `cpu` and with extra node flags (`--cpu-prof`…). Its output goes to
 * `logFile`. Resolves when it is ready: `/health` answers 200 for an API, the worker has logged
 * "worker started" (which needs a `logFile`).
 */
export async function startApp(
  stack: Stack,
  app: BenchApp,
  options: {
    cpu?: number;
    nodeFlags?: readonly string[];
    logFile?: string;
    env?: Record<string, string>;
    args?: readonly string[];
    /** A read-api copy advertises itself (NUCAT_PUBLIC_URL) in its service index instead of the stack's read-api. */
    ownPublicUrl?: boolean;
  } = {},
): Promise<OwnProcess & { url: string }> {
  const port = await freePort();
  const portVariable = app === 'read-api' ? 'NUCAT_READ_PORT' : 'NUCAT_PUBLISH_PORT';
  const env = {
    ...(process.env as Record<string, string>),
    PGAPPNAME: `nucat-${app}`,
    ...stack.env,
    ...(app === 'worker' ? {} : { [portVariable]: String(port) }),
    ...(options.ownPublicUrl ? { NUCAT_PUBLIC_URL: `http://127.0.0.1:${port}` } : {}),
    ...options.env,
  };
  const main = join(APPS_ROOT, app, 'dist', 'main.js');
  const [command, args] = pinned(options.cpu, process.execPath, [...(options.nodeFlags ?? []), main, ...(options.args ?? [])]);
  const child = spawnOwn(command, args, { env, ...(options.logFile ? { logFile: options.logFile } : {}) });
  const url = app === 'worker' ? '' : `http://127.0.0.1:${port}`;
  let exited: string | undefined;
  void child.exited.then((how) => (exited = how));
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (exited) throw new Error(`the extra ${app} exited (${exited}) before it was ready${options.logFile ? `; see ${options.logFile}` : ''}`);
    if (app === 'worker') {
      if (!options.logFile) break;
      const log = await readFile(options.logFile, 'utf8').catch(() => '');
      if (log.includes('"msg":"worker started"')) break;
    } else {
      const response = await fetch(`${url}/health`).catch(() => undefined);
      await response?.arrayBuffer();
      if (response?.status === 200) break;
    }
    if (Date.now() > deadline) {
      await child.stop();
      throw new Error(`the extra ${app} was not ready in 30 s`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { ...child, url };
}
