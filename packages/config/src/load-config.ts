import { ConfigError, type ConfigProblem } from './config-error.js';

/** Projections a worker can run. */
export type WorkerProjection = 'flatcontainer' | 'registration' | 'search';

/** pino log levels, plus `silent`. */
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/** HTTP listener settings of both APIs and of the worker's operations server. */
export interface HttpConfig {
  host: string;
  readPort: number;
  publishPort: number;
  /**
   * Port of the worker's operations server (`/metrics`, `/health`, `/ready`); 0 runs the worker
   * without one (several workers on one host, each given its own port or none).
   */
  workerPort: number;
  /**
   * Most ms a client may take to send a request's header section (counted from the request's first
   * byte, or from the connection's opening); past it the server answers 408 and closes the
   * connection. Slowloris defence for trickled headers.
   */
  headersTimeoutMs: number;
  /**
   * Most ms for a whole request, body included; past it: 408 and the connection closed. An outer
   * bound only (a 250 MB push on a slow link must fit): slow bodies are cut by the minimum rate
   * ({@link HttpConfig.bodyMinBytesPerSecond}). 0 = no total bound.
   */
  requestTimeoutMs: number;
  /** How long an idle keep-alive connection stays open, in ms (longer than a load balancer's idle timeout). */
  keepAliveTimeoutMs: number;
  /**
   * Least average rate, in bytes/s, at which a client must send a request body the server is
   * waiting for, judged over each {@link HttpConfig.bodyRateWindowMs}; a slower body gets 408 and
   * the connection closed. 0: the body must only not stall for a whole window.
   */
  bodyMinBytesPerSecond: number;
  /** Window of the body rate check, in ms (also the longest a body may stall). */
  bodyRateWindowMs: number;
  /**
   * Most connections a server keeps open. At the limit, a new connection closes the longest-idle one
   * (no request in progress); when every connection is busy, the new one gets 503 and is closed.
   * Also lowered to what the process's open-files limit allows.
   */
  maxConnections: number;
}

/**
 * Rate limit of failed API key checks, per client address (see `createAuthFailureLimiter` in
 * @nucat/http).
 */
export interface AuthFailuresConfig {
  /** Failed key checks from one address that block it; 0 turns the limit off. */
  maxFailures: number;
  /** Window in which those failures count, and how long the block lasts, in ms. */
  windowMs: number;
}

/** What `createDb()` receives. `url` may hold a password: never log it. */
export interface DatabaseConfig {
  url: string;
  poolSize: number;
}

/** What Redis/BullMQ clients receive. `url` may hold a password: never log it. */
export interface RedisConfig {
  url: string;
  prefix: string;
}

/** A source feed the worker follows continuously (replication); `source` undefined = none. */
export interface MirrorConfig {
  source?: string;
  idGlobs: string[];
  intervalMs: number;
  /**
   * Whether the mirror may fetch from hosts that resolve to link-local addresses (169.254.0.0/16,
   * fe80::/10) or known cloud metadata addresses. Off by default (reliability.md #44).
   */
  allowLinkLocal: boolean;
}

/** Search backend; the app switches on `kind`. */
export type SearchConfig = { kind: 'postgres' } | { kind: 'meilisearch'; url: string; apiKey?: string; indexPrefix: string };

/** Read-side behaviour. */
export interface ReadConfig {
  /** How often counted downloads are written to the database, in ms. */
  downloadFlushMs: number;
  /**
   * Most bytes of small flat container and registration documents a read node keeps in memory
   * (validated against the file on every request, so never stale); 0 turns the cache off.
   */
  cacheBytes: number;
}

/** Blob storage backend; the app switches on `kind`. */
export type StorageConfig = { kind: 'fs'; root: string };

/** Push limits and where uploads are staged. */
export interface PublishConfig {
  maxPackageBytes: number;
  tempDir: string;
  /**
   * Longest wait, in ms, of a push, unlist or relist for a lock (the catalog head held by another
   * write); past it the request answers 503 with Retry-After instead of hanging (reliability.md #41).
   */
  lockTimeoutMs: number;
}

/** Which projections a worker process runs, and how. */
export interface WorkerConfig {
  projections: WorkerProjection[];
  concurrency: number;
  batchSize: number;
  pollIntervalMs: number;
  /**
   * Seconds a registration page document stays after the index stops linking it, for readers (and
   * client HTTP caches) that still hold the older index.
   */
  pageGraceSeconds: number;
}

/** What `/ready` requires of a node. */
export interface ReadyConfig {
  /**
   * Most seconds the projections a node serves (read-api) or runs (worker) may lag behind the
   * catalog while the node still answers `/ready` with 200.
   */
  maxLagSeconds: number;
}

/** The feed this deployment serves. */
export interface FeedConfig {
  name: string;
}

/** Who may read the feed. */
export interface AccessConfig {
  /**
   * When true, every read path except `/health` and `/ready` answers 401 with a Basic challenge unless the request
   * presents an API key (any scope, `read` included) as the Basic password or in `X-NuGet-ApiKey`.
   */
  private: boolean;
}

/** The whole configuration of a nucat app, as returned (deep-frozen) by {@link loadConfig}. */
export interface Config {
  /** Base URL of the read API, without trailing slash. */
  publicUrl: string;
  /** Base URL of the publish API, without trailing slash. */
  publishUrl: string;
  http: HttpConfig;
  database: DatabaseConfig;
  redis: RedisConfig;
  storage: StorageConfig;
  search: SearchConfig;
  read: ReadConfig;
  publish: PublishConfig;
  worker: WorkerConfig;
  feed: FeedConfig;
  access: AccessConfig;
  authFailures: AuthFailuresConfig;
  ready: ReadyConfig;
  mirror: MirrorConfig;
  logLevel: LogLevel;
}

const WORKER_PROJECTIONS: readonly WorkerProjection[] = ['flatcontainer', 'registration', 'search'];
const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
/** Longest millisecond value Node timers accept. */
const MAX_TIMER_MS = 2_147_483_647;

/**
 * Reads the configuration from environment variables. Called once, in each app's `main.ts`; tests pass
 * a literal object. Every variable is checked, every problem is collected, and one {@link ConfigError}
 * lists them all. A variable that is unset, empty or only spaces takes its default. Values are trimmed.
 *
 * | variable | default | rule |
 * | --- | --- | --- |
 * | `NUCAT_PUBLIC_URL` | `http://127.0.0.1:5000` | absolute http(s) URL, no query, fragment or user info; trailing `/` removed |
 * | `NUCAT_PUBLISH_URL` | `http://127.0.0.1:5001` | same |
 * | `NUCAT_HOST` | `127.0.0.1` | host name or IP address to listen on |
 * | `NUCAT_READ_PORT` / `NUCAT_PUBLISH_PORT` | `5000` / `5001` | integer 1–65535 |
 * | `NUCAT_WORKER_PORT` | `5002` | integer 0–65535: the worker's `/metrics`, `/health`, `/ready`; 0 = none |
 * | `NUCAT_HEADERS_TIMEOUT_MS` | `20000` | integer ≥ 1, at most `NUCAT_REQUEST_TIMEOUT_MS` (unless that is 0) |
 * | `NUCAT_REQUEST_TIMEOUT_MS` | `3600000` (1 h) | integer ≥ 0: whole-request bound; 0 = none |
 * | `NUCAT_KEEP_ALIVE_TIMEOUT_MS` | `65000` | integer ≥ 1 |
 * | `NUCAT_BODY_MIN_BYTES_PER_SECOND` | `1024` | integer ≥ 0: slowest accepted request body |
 * | `NUCAT_BODY_RATE_WINDOW_MS` | `30000` | integer ≥ 10: window of that check; 0 turns it off |
 * | `NUCAT_MAX_CONNECTIONS` | `10000` | integer 1–1000000: open connections per server |
 * | `NUCAT_AUTH_MAX_FAILURES` | `20` | integer ≥ 0: failed key checks per client address per window before 429; 0 = no limit |
 * | `NUCAT_AUTH_FAILURE_WINDOW_MS` | `60000` | integer ≥ 1000: that window, and the block's length |
 * | `DATABASE_URL` | `postgres://nucat:nucat@127.0.0.1:5432/nucat` | `postgres://` or `postgresql://` URL (secret) |
 * | `NUCAT_DB_POOL` | `10` | integer 1–1000 |
 * | `REDIS_URL` | `redis://127.0.0.1:6379` | `redis://` or `rediss://` URL (secret) |
 * | `NUCAT_REDIS_PREFIX` | `nucat` | 1–64 of `[A-Za-z0-9_.:-]` |
 * | `NUCAT_STORAGE` | `fs` | `fs` |
 * | `NUCAT_DATA_DIR` | `./.data` | path; blobs in `<dir>/blobs`, uploads in `<dir>/tmp` |
 * | `NUCAT_SEARCH` | `postgres` | `postgres` or `meilisearch` |
 * | `NUCAT_MEILI_URL` | — | required with `meilisearch`; http(s) URL |
 * | `NUCAT_MEILI_API_KEY` | — | optional (secret) |
 * | `NUCAT_MEILI_INDEX_PREFIX` | `nucat` | 1–32 of `[A-Za-z0-9_-]` |
 * | `NUCAT_DOWNLOAD_FLUSH_MS` | `5000` | integer ≥ 100 |
 * | `NUCAT_READ_CACHE_BYTES` | `67108864` (64 MiB) | integer ≥ 0: in-memory cache of small documents on a read node; 0 = off |
 * | `NUCAT_MAX_PACKAGE_BYTES` | `262144000` (250 MiB) | integer ≥ 1 |
 * | `NUCAT_PUBLISH_LOCK_TIMEOUT_MS` | `10000` | integer ≥ 1: longest lock wait of a write before it answers 503 |
 * | `NUCAT_WORKER_PROJECTIONS` | `flatcontainer,registration,search` | comma list of those names |
 * | `NUCAT_WORKER_CONCURRENCY` | `4` | integer 1–1000 |
 * | `NUCAT_WORKER_BATCH` | `500` | integer 1–100000 |
 * | `NUCAT_WORKER_POLL_MS` | `2000` | integer ≥ 1 |
 * | `NUCAT_WORKER_PAGE_GRACE_SECONDS` | `3600` | integer 0–31536000: how long a registration page stays after the index stops linking it |
 * | `NUCAT_MIRROR_SOURCE` | — | a service index URL the worker mirrors continuously |
 * | `NUCAT_MIRROR_IDS` | — | comma list of id globs to mirror (default: all) |
 * | `NUCAT_MIRROR_INTERVAL_MS` | `2000` | integer ≥ 100 |
 * | `NUCAT_MIRROR_ALLOW_LINK_LOCAL` | `false` | `true`/`false`: let the mirror fetch from link-local / cloud metadata addresses |
 * | `NUCAT_FEED` | `main` | 1–64 of `[A-Za-z0-9._-]`, starting with a letter or digit |
 * | `NUCAT_READY_MAX_LAG_SECONDS` | `300` | integer ≥ 1: projection lag past which `/ready` answers 503 |
 * | `NUCAT_PRIVATE` | `false` | `true`/`false` (also `1`/`0`, `yes`/`no`, any case): reads need an API key |
 * | `NUCAT_LOG_LEVEL` | `info` | fatal, error, warn, info, debug, trace or silent (any case) |
 *
 * Values of secret variables never appear in error messages.
 *
 * @returns a deep-frozen {@link Config}.
 * @throws ConfigError (`code` `'invalid_config'`) listing every invalid variable.
 * @example const config = loadConfig(process.env);
 */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const read = new EnvReader(env);

  const publicUrl = read.httpUrl('NUCAT_PUBLIC_URL', 'http://127.0.0.1:5000');
  const publishUrl = read.httpUrl('NUCAT_PUBLISH_URL', 'http://127.0.0.1:5001');

  const headersTimeoutMs = read.integer('NUCAT_HEADERS_TIMEOUT_MS', 20_000, 1, MAX_TIMER_MS);
  const requestTimeoutMs = read.integer('NUCAT_REQUEST_TIMEOUT_MS', 3_600_000, 0, MAX_TIMER_MS);
  if (requestTimeoutMs > 0 && headersTimeoutMs > requestTimeoutMs) {
    read.problem(
      'NUCAT_HEADERS_TIMEOUT_MS',
      `must not exceed NUCAT_REQUEST_TIMEOUT_MS (${requestTimeoutMs}); got ${headersTimeoutMs}`,
    );
  }
  const http: HttpConfig = {
    host: read.text('NUCAT_HOST', '127.0.0.1', /^[A-Za-z0-9._:%[\]-]{1,253}$/, 'a host name or IP address'),
    readPort: read.integer('NUCAT_READ_PORT', 5000, 1, 65_535),
    publishPort: read.integer('NUCAT_PUBLISH_PORT', 5001, 1, 65_535),
    workerPort: read.integer('NUCAT_WORKER_PORT', 5002, 0, 65_535),
    headersTimeoutMs,
    requestTimeoutMs,
    keepAliveTimeoutMs: read.integer('NUCAT_KEEP_ALIVE_TIMEOUT_MS', 65_000, 1, MAX_TIMER_MS),
    bodyMinBytesPerSecond: read.integer('NUCAT_BODY_MIN_BYTES_PER_SECOND', 1024, 0, Number.MAX_SAFE_INTEGER),
    bodyRateWindowMs: read.integer('NUCAT_BODY_RATE_WINDOW_MS', 30_000, 0, MAX_TIMER_MS),
    maxConnections: read.integer('NUCAT_MAX_CONNECTIONS', 10_000, 1, 1_000_000),
  };
  if (http.bodyRateWindowMs > 0 && http.bodyRateWindowMs < 10) {
    read.problem('NUCAT_BODY_RATE_WINDOW_MS', `must be 0 (off) or at least 10; got ${http.bodyRateWindowMs}`);
  }

  const database: DatabaseConfig = {
    url: read.secretUrl('DATABASE_URL', 'postgres://nucat:nucat@127.0.0.1:5432/nucat', ['postgres:', 'postgresql:']),
    poolSize: read.integer('NUCAT_DB_POOL', 10, 1, 1000),
  };

  const redis: RedisConfig = {
    url: read.secretUrl('REDIS_URL', 'redis://127.0.0.1:6379', ['redis:', 'rediss:']),
    prefix: read.text('NUCAT_REDIS_PREFIX', 'nucat', /^[A-Za-z0-9_.:-]{1,64}$/, '1 to 64 of A-Z a-z 0-9 _ . : -'),
  };

  const storageKind = read.oneOf('NUCAT_STORAGE', 'fs', ['fs'] as const);
  const dataDir = read.path('NUCAT_DATA_DIR', './.data');
  const storage: StorageConfig = { kind: storageKind, root: `${dataDir}/blobs` };

  const searchKind = read.oneOf('NUCAT_SEARCH', 'postgres', ['postgres', 'meilisearch'] as const);
  let search: SearchConfig = { kind: 'postgres' };
  if (searchKind === 'meilisearch') {
    const url = env['NUCAT_MEILI_URL']?.trim();
    if (!url) read.problem('NUCAT_MEILI_URL', 'is required when NUCAT_SEARCH=meilisearch');
    const apiKey = env['NUCAT_MEILI_API_KEY']?.trim();
    search = {
      kind: 'meilisearch',
      url: url ? read.httpUrl('NUCAT_MEILI_URL', url) : '',
      ...(apiKey ? { apiKey } : {}),
      indexPrefix: read.text('NUCAT_MEILI_INDEX_PREFIX', 'nucat', /^[A-Za-z0-9_-]{1,32}$/, '1 to 32 of A-Z a-z 0-9 _ -'),
    };
  }
  const readSettings: ReadConfig = {
    downloadFlushMs: read.integer('NUCAT_DOWNLOAD_FLUSH_MS', 5000, 100, MAX_TIMER_MS),
    cacheBytes: read.integer('NUCAT_READ_CACHE_BYTES', 67_108_864, 0, Number.MAX_SAFE_INTEGER),
  };

  const publish: PublishConfig = {
    maxPackageBytes: read.integer('NUCAT_MAX_PACKAGE_BYTES', 262_144_000, 1, Number.MAX_SAFE_INTEGER),
    tempDir: `${dataDir}/tmp`,
    lockTimeoutMs: read.integer('NUCAT_PUBLISH_LOCK_TIMEOUT_MS', 10_000, 1, MAX_TIMER_MS),
  };

  const worker: WorkerConfig = {
    projections: read.list('NUCAT_WORKER_PROJECTIONS', WORKER_PROJECTIONS, WORKER_PROJECTIONS),
    concurrency: read.integer('NUCAT_WORKER_CONCURRENCY', 4, 1, 1000),
    batchSize: read.integer('NUCAT_WORKER_BATCH', 500, 1, 100_000),
    pollIntervalMs: read.integer('NUCAT_WORKER_POLL_MS', 2000, 1, MAX_TIMER_MS),
    pageGraceSeconds: read.integer('NUCAT_WORKER_PAGE_GRACE_SECONDS', 3600, 0, 31_536_000),
  };

  const feed: FeedConfig = {
    name: read.text(
      'NUCAT_FEED',
      'main',
      /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/,
      '1 to 64 of A-Z a-z 0-9 . _ -, starting with a letter or digit',
    ),
  };

  const access: AccessConfig = { private: read.boolean('NUCAT_PRIVATE', false) };
  const authFailures: AuthFailuresConfig = {
    maxFailures: read.integer('NUCAT_AUTH_MAX_FAILURES', 20, 0, 1_000_000),
    windowMs: read.integer('NUCAT_AUTH_FAILURE_WINDOW_MS', 60_000, 1000, MAX_TIMER_MS),
  };

  const ready: ReadyConfig = { maxLagSeconds: read.integer('NUCAT_READY_MAX_LAG_SECONDS', 300, 1, 31_536_000) };
  const mirrorSource = env['NUCAT_MIRROR_SOURCE']?.trim();
  const mirrorIds = env['NUCAT_MIRROR_IDS']?.trim();
  const mirror: MirrorConfig = {
    ...(mirrorSource ? { source: read.httpUrl('NUCAT_MIRROR_SOURCE', mirrorSource) } : {}),
    idGlobs: mirrorIds ? mirrorIds.split(',').map((g) => g.trim()).filter((g) => g.length > 0) : [],
    intervalMs: read.integer('NUCAT_MIRROR_INTERVAL_MS', 2000, 100, MAX_TIMER_MS),
    allowLinkLocal: read.boolean('NUCAT_MIRROR_ALLOW_LINK_LOCAL', false),
  };
  for (const glob of mirror.idGlobs) {
    if (!/^[A-Za-z0-9_.*-]{1,100}$/.test(glob)) read.problem('NUCAT_MIRROR_IDS', `invalid id pattern "${glob}"`);
  }

  const logLevel = read.oneOf('NUCAT_LOG_LEVEL', 'info', LOG_LEVELS, { ignoreCase: true });

  if (read.problems.length > 0) throw new ConfigError(read.problems);
  return deepFreeze({ publicUrl, publishUrl, http, database, redis, storage, search, read: readSettings, publish, worker, feed, access, authFailures, ready, logLevel, mirror });
}

/** Reads variables; on a bad value it records a problem and returns the default so checking goes on. */
class EnvReader {
  readonly problems: ConfigProblem[] = [];
  readonly #env: Record<string, string | undefined>;

  constructor(env: Record<string, string | undefined>) {
    this.#env = env ?? {};
  }

  problem(variable: string, message: string): void {
    this.problems.push({ variable, message });
  }

  /** @returns the trimmed value, or undefined when unset or blank. */
  raw(name: string): string | undefined {
    const value = this.#env[name];
    if (typeof value !== 'string') return undefined;
    const trimmed = value.trim();
    return trimmed === '' ? undefined : trimmed;
  }

  integer(name: string, fallback: number, min: number, max: number): number {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    const parsed = /^\d+$/.test(value) ? Number(value) : Number.NaN;
    if (!Number.isSafeInteger(parsed) || parsed < min || parsed > max) {
      const range = max === Number.MAX_SAFE_INTEGER || max === MAX_TIMER_MS ? `≥ ${min}` : `from ${min} to ${max}`;
      this.problem(name, `must be a whole number ${range}; got ${shown(value)}`);
      return fallback;
    }
    return parsed;
  }

  boolean(name: string, fallback: boolean): boolean {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    const lower = value.toLowerCase();
    if (lower === 'true' || lower === '1' || lower === 'yes') return true;
    if (lower === 'false' || lower === '0' || lower === 'no') return false;
    this.problem(name, `must be true or false; got ${shown(value)}`);
    return fallback;
  }

  text(name: string, fallback: string, pattern: RegExp, rule: string): string {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    if (!pattern.test(value)) {
      this.problem(name, `must be ${rule}; got ${shown(value)}`);
      return fallback;
    }
    return value;
  }

  oneOf<T extends string>(name: string, fallback: T, allowed: readonly T[], options: { ignoreCase?: boolean } = {}): T {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    const candidate = options.ignoreCase === true ? value.toLowerCase() : value;
    const match = allowed.find((a) => a === candidate);
    if (match === undefined) {
      this.problem(name, `must be one of ${allowed.join(', ')}; got ${shown(value)}`);
      return fallback;
    }
    return match;
  }

  list<T extends string>(name: string, fallback: readonly T[], allowed: readonly T[]): T[] {
    const value = this.raw(name);
    if (value === undefined) return [...fallback];
    const names = value
      .split(',')
      .map((part) => part.trim())
      .filter((part) => part !== '');
    const unknown = names.filter((n) => !allowed.includes(n as T));
    if (unknown.length > 0) {
      this.problem(name, `unknown name${unknown.length === 1 ? '' : 's'} ${unknown.map(shown).join(', ')}; allowed: ${allowed.join(', ')}`);
      return [...fallback];
    }
    if (names.length === 0) {
      this.problem(name, `must list at least one of ${allowed.join(', ')}`);
      return [...fallback];
    }
    return [...new Set(names as T[])];
  }

  path(name: string, fallback: string): string {
    const value = this.raw(name) ?? fallback;
    if (value.includes('\0')) {
      this.problem(name, 'must be a path without NUL characters');
      return fallback;
    }
    // Drop trailing slashes so that derived paths read `<dir>/blobs` (and "/" gives "/blobs").
    return value.replace(/\/+$/, '');
  }

  /** An absolute http(s) base URL; the value may be shown in messages. */
  httpUrl(name: string, fallback: string): string {
    const value = this.raw(name) ?? fallback;
    const url = URL.canParse(value) ? new URL(value) : undefined;
    if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
      // A malformed URL may still carry user info: show it only when it cannot.
      const got = value.includes('@') ? '(value not shown: it may contain a password)' : `got ${shown(value)}`;
      this.problem(name, `must be an absolute http:// or https:// URL; ${got}`);
      return fallback;
    }
    if (url.username !== '' || url.password !== '') {
      this.problem(name, 'must not contain a user name or password');
      return fallback;
    }
    if (url.search !== '' || url.hash !== '' || value.includes('?') || value.includes('#')) {
      this.problem(name, `must not have a query or fragment; got ${shown(value)}`);
      return fallback;
    }
    return url.href.replace(/\/+$/, '');
  }

  /** A connection URL that may hold a password: its value never appears in a message. */
  secretUrl(name: string, fallback: string, protocols: readonly string[]): string {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    const url = URL.canParse(value) ? new URL(value) : undefined;
    if (url === undefined || !protocols.includes(url.protocol)) {
      const schemes = protocols.map((p) => `${p}//`).join(' or ');
      this.problem(name, `must be a ${schemes} URL (value not shown: it may contain a password)`);
      return fallback;
    }
    return value;
  }
}

/** Quotes a non-secret value for a message, cut to a readable length. */
function shown(value: string): string {
  return JSON.stringify(value.length > 100 ? `${value.slice(0, 100)}…` : value);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}
