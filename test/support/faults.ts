/**
 * Fault-injection helpers for the end-to-end fault tests (reliability.md §2 #32–#38): private PostgreSQL and
 * Redis instances a test may crash without touching the shared ones, a fault rig wiring them to a stack, a
 * watcher that catches a projection cursor moving back, an HTTP catalog follower (nuget-protocol.md §8
 * cursor rule), and blob-tree snapshots for byte-for-byte comparisons.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chown, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { freePort, waitFor } from '@nucat/testing';
import { startStack, type Stack, type StartStackOptions } from './stack.js';

/** The HTTP catalog follower lives with the other catalog readers; re-exported for the fault tests. */
export { CatalogFollower } from './feed.js';

const run = promisify(execFile);

// ---------------------------------------------------------------------------------------------------------------
// Private PostgreSQL
// ---------------------------------------------------------------------------------------------------------------

/** Folder of the PostgreSQL server binaries (initdb, pg_ctl); `NUCAT_TEST_PG_BIN` overrides. */
export const PG_BIN = process.env['NUCAT_TEST_PG_BIN'] || '/usr/lib/postgresql/15/bin';

/** A PostgreSQL cluster of its own, on a free loopback port, that a test may crash and restart. */
export interface PrivatePostgres {
  /** URL of the (empty) `nucat` database; role `nucat` is a superuser, trust authentication. */
  readonly url: string;
  /** The loopback port it listens on (the same after a restart). */
  readonly port: number;
  /** The cluster's data folder (also its Unix socket folder and `server.log`). */
  readonly dataDir: string;
  /** `pg_ctl restart -m immediate`: every backend dies at once, crash recovery on start. */
  restart(): Promise<void>;
  /** `pg_ctl stop -m immediate` (a crash); {@link PrivatePostgres.start} brings it back. */
  kill(): Promise<void>;
  /** Starts the cluster again after {@link PrivatePostgres.kill}. */
  start(): Promise<void>;
  /** Stops the cluster (immediate) and deletes its folder. Safe to call twice. */
  stop(): Promise<void>;
  /** The end of the server log, for failure messages. */
  log(): Promise<string>;
}

/** Runs a PostgreSQL binary as the `postgres` OS user when we are root (the server refuses to run as root). */
async function pgCommand(binary: string, args: readonly string[]): Promise<{ stdout: string; stderr: string }> {
  const path = join(PG_BIN, binary);
  const asRoot = process.getuid?.() === 0;
  const [command, commandArgs] = asRoot ? ['runuser', ['-u', 'postgres', '--', path, ...args]] : [path, [...args]];
  try {
    return await run(command, commandArgs, { timeout: 60_000 });
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${binary} ${args.join(' ')} failed: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`, { cause: error });
  }
}

/**
 * `initdb`s a throwaway cluster into a temp folder (owned by the `postgres` OS user when run as root), starts it
 * on a free 127.0.0.1 port with its socket in that folder, and creates the `nucat` database.
 */
export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const dataDir = await mkdtemp(join(tmpdir(), 'nucat-fault-pg-'));
  if (process.getuid?.() === 0) {
    const { stdout } = await run('id', ['-u', 'postgres']);
    const { stdout: gid } = await run('id', ['-g', 'postgres']);
    await chown(dataDir, Number(stdout.trim()), Number(gid.trim()));
  }
  const port = await freePort();
  const logFile = join(dataDir, 'server.log');
  const serverOptions = `-p ${port} -k ${dataDir} -c listen_addresses=127.0.0.1`;
  const pgCtl = (...args: string[]) => pgCommand('pg_ctl', ['-D', dataDir, ...args]);
  const start = async () => {
    await pgCtl('-l', logFile, '-o', serverOptions, '-w', '-t', '60', 'start');
  };
  let stopped = false;
  const instance: PrivatePostgres = {
    url: `postgres://nucat@127.0.0.1:${port}/nucat`,
    port,
    dataDir,
    async restart() {
      await pgCtl('-l', logFile, '-o', serverOptions, '-m', 'immediate', '-w', '-t', '60', 'restart');
    },
    async kill() {
      await pgCtl('-m', 'immediate', '-w', 'stop');
    },
    start,
    async stop() {
      if (stopped) return;
      stopped = true;
      if (existsSync(join(dataDir, 'postmaster.pid'))) await pgCtl('-m', 'immediate', '-w', 'stop').catch(() => {});
      await rm(dataDir, { recursive: true, force: true });
    },
    async log() {
      const text = await readFile(logFile, 'utf8').catch(() => '(no server log)');
      return text.split('\n').slice(-60).join('\n');
    },
  };
  try {
    await pgCommand('initdb', ['-D', dataDir, '-A', 'trust', '-U', 'nucat', '-E', 'UTF8', '--locale=C', '--no-sync']);
    await start();
    const admin = new pg.Client({ connectionString: `postgres://nucat@127.0.0.1:${port}/postgres` });
    await admin.connect();
    try {
      await admin.query('CREATE DATABASE nucat');
    } finally {
      await admin.end();
    }
    return instance;
  } catch (error) {
    await instance.stop().catch(() => {});
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Private Redis
// ---------------------------------------------------------------------------------------------------------------

/** A redis-server of its own (no persistence) that a test may stop, start empty and flush. */
export interface PrivateRedis {
  /** `redis://127.0.0.1:<port>`. */
  readonly url: string;
  /** The loopback port it listens on (the same after {@link PrivateRedis.start}). */
  readonly port: number;
  /** Kills the server (SIGKILL); everything in it is lost. */
  stop(): Promise<void>;
  /** Starts it again on the same port, empty; resolves once it answers PING. */
  start(): Promise<void>;
  /** `FLUSHALL`. */
  flushAll(): Promise<void>;
  /** Stops it for good. Safe to call twice. */
  close(): Promise<void>;
}

/** Starts `redis-server --port <free> --save '' --appendonly no` on 127.0.0.1 as a child process. */
export async function startPrivateRedis(): Promise<PrivateRedis> {
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let output = '';
  let closed = false;

  const start = async () => {
    if (closed) throw new Error('the private Redis is closed');
    const server = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    server.stdout!.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4000)));
    server.stderr!.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4000)));
    child = server;
    exited = new Promise((resolve) => {
      server.once('exit', () => resolve());
      server.once('error', () => resolve());
    });
    await waitFor(
      async () => {
        if (server.exitCode !== null) throw new Error(`redis-server exited: ${output}`);
        return (await withRedis(url, (r) => r.ping())) === 'PONG';
      },
      { what: `redis-server on port ${port} to answer PING`, timeoutMs: 20_000, intervalMs: 50 },
    );
  };
  const stop = async () => {
    const server = child;
    if (!server || server.exitCode !== null || server.signalCode !== null) return;
    server.kill('SIGKILL');
    await exited;
  };
  await start();
  return {
    url,
    port,
    stop,
    start,
    async flushAll() {
      await withRedis(url, (r) => r.flushall());
    },
    async close() {
      closed = true;
      await stop();
    },
  };
}

async function withRedis<T>(url: string, fn: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 1_000 });
  redis.on('error', () => {
    // Surfaces through the awaited command.
  });
  try {
    await redis.connect();
    return await fn(redis);
  } finally {
    redis.disconnect();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The rig: a stack, optionally on a private PostgreSQL and/or Redis, plus a pool on its database
// ---------------------------------------------------------------------------------------------------------------

/** What a fault test file works with. */
export interface FaultRig {
  readonly stack: Stack;
  /** A pool on the stack's database (idle errors ignored, so it survives a PostgreSQL restart). */
  readonly db: pg.Pool;
  /** The feed's id (`main`). */
  readonly feedId: number;
  /** Present when the rig was asked for a private PostgreSQL (the stack's DATABASE_URL points at it). */
  readonly postgres?: PrivatePostgres;
  /** Present when the rig was asked for a private Redis (the stack's REDIS_URL points at it). */
  readonly redis?: PrivateRedis;
}

/** Options of {@link useFaultRig}. */
export interface FaultRigOptions {
  /** Run the stack on a private PostgreSQL cluster (one that may be crashed). */
  privatePostgres?: boolean;
  /** Run the stack on a private redis-server (one that may be stopped or flushed). */
  privateRedis?: boolean;
  /** Extra app environment (NUCAT_WORKER_BATCH…). */
  env?: Record<string, string>;
}

/**
 * Vitest wiring: in `beforeAll` starts the private instances asked for, then a stack on them; in `afterAll`
 * stops the stack first, then the private instances (which the stack's apps were using). When a test fails,
 * prints the apps' recent output (and the private PostgreSQL's log).
 */
export function useFaultRig(options: FaultRigOptions = {}): () => FaultRig {
  let rig: FaultRig | undefined;
  let postgres: PrivatePostgres | undefined;
  let redis: PrivateRedis | undefined;
  let stack: Stack | undefined;
  let db: pg.Pool | undefined;

  beforeAll(async () => {
    if (options.privatePostgres) postgres = await startPrivatePostgres();
    if (options.privateRedis) redis = await startPrivateRedis();
    const stackOptions: StartStackOptions = {
      env: {
        // Catch-up by timer matters to these tests (Redis or NOTIFY lost): poll faster than the default.
        NUCAT_WORKER_POLL_MS: '500',
        ...(postgres ? { DATABASE_URL: postgres.url } : {}),
        ...(redis ? { REDIS_URL: redis.url } : {}),
        ...options.env,
      },
    };
    stack = await startStack(stackOptions);
    db = new pg.Pool({ connectionString: stack.env['DATABASE_URL'], max: 4, connectionTimeoutMillis: 5_000 });
    db.on('error', () => {
      // An idle client lost in a PostgreSQL restart; the next query gets a fresh one.
    });
    const feed = await db.query<{ id: number }>(`SELECT id FROM feeds WHERE name = 'main'`);
    const feedId = feed.rows[0]?.id;
    if (feedId === undefined) throw new Error('feed "main" not found after `nucat migrate`');
    rig = { stack, db, feedId, ...(postgres ? { postgres } : {}), ...(redis ? { redis } : {}) };
  });

  afterAll(async () => {
    const errors: unknown[] = [];
    const attempt = async (fn: () => Promise<unknown> | undefined) => {
      try {
        await fn();
      } catch (error) {
        errors.push(error);
      }
    };
    await attempt(() => db?.end());
    await attempt(() => stack?.stop());
    await attempt(() => redis?.close());
    await attempt(() => postgres?.stop());
    if (errors.length > 0) throw new AggregateError(errors, 'fault rig cleanup failed');
  });

  beforeEach(({ onTestFailed }) => {
    onTestFailed(async () => {
      if (stack) console.error(`\n----- nucat stack output (most recent lines) -----\n${stack.logs()}\n`);
      if (postgres) console.error(`\n----- private PostgreSQL log -----\n${await postgres.log()}\n`);
    });
  });

  return () => {
    if (!rig) throw new Error('the fault rig is not running (see the beforeAll error above)');
    return rig;
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Database facts
// ---------------------------------------------------------------------------------------------------------------

/** Whether `packages` holds `lowerId`/`lowerVersion` in the feed. */
export async function packageRowExists(db: pg.Pool, feedId: number, lowerId: string, lowerVersion: string): Promise<boolean> {
  const result = await db.query(
    'SELECT 1 FROM packages WHERE feed_id = $1 AND lower_id = $2 AND lower_version = $3',
    [feedId, lowerId, lowerVersion],
  );
  return (result.rowCount ?? 0) > 0;
}

/** The catalog items of `lowerId`/`lowerVersion`, oldest first. */
export async function catalogItemsOf(
  db: pg.Pool,
  feedId: number,
  lowerId: string,
  lowerVersion: string,
): Promise<{ commitId: string; commitTimestamp: Date; type: string }[]> {
  const result = await db.query<{ commit_id: string; commit_timestamp: Date; type: string }>(
    `SELECT commit_id, commit_timestamp, type FROM catalog_items
      WHERE feed_id = $1 AND lower_id = $2 AND lower_version = $3 ORDER BY commit_timestamp`,
    [feedId, lowerId, lowerVersion],
  );
  return result.rows.map((r) => ({ commitId: r.commit_id, commitTimestamp: r.commit_timestamp, type: r.type }));
}

/** The newest commit timestamp of the feed's catalog (epoch when empty). */
export async function lastCommitTimestamp(db: pg.Pool, feedId: number): Promise<Date> {
  const result = await db.query<{ last: Date | null }>(
    'SELECT max(commit_timestamp) AS last FROM catalog_commits WHERE feed_id = $1',
    [feedId],
  );
  return result.rows[0]?.last ?? new Date(0);
}

/** Backends of one app (by the `nucat-<app>` application name the stack gives it), with what they wait on. */
export async function backendsOf(
  db: pg.Pool,
  app: string,
): Promise<{ pid: number; state: string | null; waitEventType: string | null; waitEvent: string | null; query: string }[]> {
  const result = await db.query<{ pid: number; state: string | null; wait_event_type: string | null; wait_event: string | null; query: string }>(
    `SELECT pid, state, wait_event_type, wait_event, query FROM pg_stat_activity
      WHERE datname = current_database() AND application_name = $1`,
    [`nucat-${app}`],
  );
  return result.rows.map((r) => ({ pid: r.pid, state: r.state, waitEventType: r.wait_event_type, waitEvent: r.wait_event, query: r.query }));
}

/** Lowercase hex SHA-512 of the bytes (the content blob folder name). */
export function sha512Hex(bytes: Buffer): string {
  return createHash('sha512').update(bytes).digest('hex');
}

/** Where the filesystem blob store keeps a package's content-addressed `.nupkg` (before any catalog commit). */
export function contentBlobPath(dataDir: string, nupkg: Buffer): string {
  const hex = sha512Hex(nupkg);
  return join(dataDir, 'blobs', 'content', hex.slice(0, 2), hex, 'package.nupkg');
}

// ---------------------------------------------------------------------------------------------------------------
// Cursor watcher
// ---------------------------------------------------------------------------------------------------------------

/** What a {@link CursorWatch} saw. */
export interface CursorWatchReport {
  /** Polls that answered. */
  samples: number;
  /** Every observed backwards move: "registration: 2026-…Z → 2026-…Z". */
  regressions: string[];
  /** The last value seen per projection. */
  last: Record<string, Date>;
}

/**
 * Polls `projection_cursors` every `intervalMs` on its own connection and records any cursor that moves back
 * (reliability.md #36: "the cursor never moves backwards"). Connection failures (a PostgreSQL restart) are
 * skipped, not reported.
 */
export class CursorWatch {
  private readonly last = new Map<string, number>();
  private readonly regressions: string[] = [];
  private samples = 0;
  private running = true;
  private readonly loop: Promise<void>;
  private readonly pool: pg.Pool;

  constructor(databaseUrl: string, feedId: number, intervalMs = 20) {
    this.pool = new pg.Pool({ connectionString: databaseUrl, max: 1, connectionTimeoutMillis: 2_000 });
    this.pool.on('error', () => {});
    this.loop = this.run(feedId, intervalMs);
  }

  /** The current cursors as the watcher last saw them (epoch ms). */
  current(projection: string): number | undefined {
    return this.last.get(projection);
  }

  private ended: Promise<void> | undefined;

  /** Stops polling (safe to call twice) and returns what was seen. */
  async stop(): Promise<CursorWatchReport> {
    this.running = false;
    this.ended ??= this.loop.then(() => this.pool.end());
    await this.ended;
    return {
      samples: this.samples,
      regressions: [...this.regressions],
      last: Object.fromEntries([...this.last].map(([k, v]) => [k, new Date(v)])),
    };
  }

  private async run(feedId: number, intervalMs: number): Promise<void> {
    while (this.running) {
      try {
        const result = await this.pool.query<{ projection: string; cursor: Date }>(
          'SELECT projection, cursor FROM projection_cursors WHERE feed_id = $1',
          [feedId],
        );
        this.samples++;
        for (const row of result.rows) {
          const now = row.cursor.getTime();
          const before = this.last.get(row.projection);
          if (before !== undefined && now < before) {
            this.regressions.push(`${row.projection}: ${new Date(before).toISOString()} → ${row.cursor.toISOString()}`);
          }
          this.last.set(row.projection, now);
        }
      } catch {
        // PostgreSQL restarting: try again next tick.
      }
      await sleep(intervalMs);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Blob trees
// ---------------------------------------------------------------------------------------------------------------

/** Every file under `root` (recursively), by path relative to `root` with `/` separators, with its bytes. */
export async function readTree(root: string): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  if (!existsSync(root)) return files;
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  for (const entry of entries) {
    if (!entry.isFile()) continue;
    const full = join(entry.parentPath, entry.name);
    files.set(relative(root, full).split('\\').join('/'), await readFile(full));
  }
  return files;
}

/** Differences between two trees from {@link readTree}: "missing in b: x", "only in b: y", "differs: z". */
export function diffTrees(a: Map<string, Buffer>, b: Map<string, Buffer>): string[] {
  const problems: string[] = [];
  for (const [path, bytes] of a) {
    const other = b.get(path);
    if (!other) problems.push(`missing in rebuild: ${path}`);
    else if (!other.equals(bytes)) problems.push(`differs: ${path}`);
  }
  for (const path of b.keys()) if (!a.has(path)) problems.push(`only in rebuild: ${path}`);
  return problems.sort();
}

// ---------------------------------------------------------------------------------------------------------------
// Small utilities
// ---------------------------------------------------------------------------------------------------------------

/** Runs `fn` over `items` with at most `limit` in flight; results in input order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!, i);
    }
  });
  await Promise.all(lanes);
  return results;
}

/** A seeded pseudo-random generator (mulberry32), so a failing fuzz run can be replayed with its seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
