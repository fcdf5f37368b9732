import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, type Config } from './index.js';

function problemsOf(env: Record<string, string | undefined>): { variable: string; message: string }[] {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return [...(error as ConfigError).problems];
  }
  throw new Error('expected loadConfig to throw');
}

describe('loadConfig', () => {
  it('applies every default to an empty environment', () => {
    const expected: Config = {
      publicUrl: 'http://127.0.0.1:5000',
      publishUrl: 'http://127.0.0.1:5001',
      http: {
        host: '127.0.0.1',
        readPort: 5000,
        publishPort: 5001,
        workerPort: 5002,
        headersTimeoutMs: 20_000,
        requestTimeoutMs: 3_600_000,
        keepAliveTimeoutMs: 65_000,
        bodyMinBytesPerSecond: 1024,
        bodyRateWindowMs: 30_000,
        maxConnections: 10_000,
      },
      database: { url: 'postgres://nucat:nucat@127.0.0.1:5432/nucat', poolSize: 10 },
      redis: { url: 'redis://127.0.0.1:6379', prefix: 'nucat' },
      storage: { kind: 'fs', root: './.data/blobs' },
      search: { kind: 'postgres' },
      read: { downloadFlushMs: 5000, cacheBytes: 67_108_864 },
      publish: { maxPackageBytes: 262_144_000, tempDir: './.data/tmp', lockTimeoutMs: 10_000 },
      worker: { projections: ['flatcontainer', 'registration', 'search'], concurrency: 4, batchSize: 500, pollIntervalMs: 2000, pageGraceSeconds: 3600 },
      feed: { name: 'main' },
      access: { private: false },
      authFailures: { maxFailures: 20, windowMs: 60_000 },
      ready: { maxLagSeconds: 300 },
      mirror: { idGlobs: [], intervalMs: 2000, allowLinkLocal: false },
      logLevel: 'info',
    };
    expect(loadConfig({})).toEqual(expected);
  });

  it('treats empty and blank values as unset', () => {
    expect(loadConfig({ NUCAT_READ_PORT: '', NUCAT_LOG_LEVEL: '   ' }).http.readPort).toBe(5000);
  });

  it('reads every variable', () => {
    const config = loadConfig({
      NUCAT_PUBLIC_URL: 'https://feed.example.test/nuget/',
      NUCAT_PUBLISH_URL: 'https://push.example.test',
      NUCAT_HOST: '0.0.0.0',
      NUCAT_READ_PORT: '8080',
      NUCAT_PUBLISH_PORT: ' 8081 ',
      NUCAT_WORKER_PORT: '8082',
      NUCAT_READY_MAX_LAG_SECONDS: '60',
      NUCAT_HEADERS_TIMEOUT_MS: '10000',
      NUCAT_REQUEST_TIMEOUT_MS: '20000',
      NUCAT_KEEP_ALIVE_TIMEOUT_MS: '7000',
      NUCAT_BODY_MIN_BYTES_PER_SECOND: '0',
      NUCAT_BODY_RATE_WINDOW_MS: '5000',
      NUCAT_MAX_CONNECTIONS: '2048',
      NUCAT_AUTH_MAX_FAILURES: '5',
      NUCAT_AUTH_FAILURE_WINDOW_MS: '30000',
      DATABASE_URL: 'postgresql://app:s3cret@db:5432/feed',
      NUCAT_DB_POOL: '25',
      REDIS_URL: 'rediss://:pw@cache:6380/2',
      NUCAT_REDIS_PREFIX: 'test-0b7c',
      NUCAT_STORAGE: 'fs',
      NUCAT_DATA_DIR: '/var/lib/nucat/',
      NUCAT_MAX_PACKAGE_BYTES: '1048576',
      NUCAT_PUBLISH_LOCK_TIMEOUT_MS: '2500',
      NUCAT_WORKER_PROJECTIONS: ' registration , flatcontainer,registration ',
      NUCAT_WORKER_CONCURRENCY: '8',
      NUCAT_WORKER_BATCH: '100',
      NUCAT_WORKER_POLL_MS: '250',
      NUCAT_WORKER_PAGE_GRACE_SECONDS: '0',
      NUCAT_FEED: 'internal',
      NUCAT_LOG_LEVEL: 'DEBUG',
      NUCAT_SEARCH: 'meilisearch',
      NUCAT_MEILI_URL: 'http://127.0.0.1:7700',
      NUCAT_MEILI_API_KEY: 'meili-secret',
      NUCAT_MEILI_INDEX_PREFIX: 'nc',
      NUCAT_DOWNLOAD_FLUSH_MS: '250',
      NUCAT_READ_CACHE_BYTES: '1048576',
      NUCAT_MIRROR_SOURCE: 'https://primary.example.test/v3/index.json',
      NUCAT_MIRROR_IDS: 'Contoso.*, Other',
      NUCAT_MIRROR_INTERVAL_MS: '500',
      NUCAT_MIRROR_ALLOW_LINK_LOCAL: 'yes',
      NUCAT_PRIVATE: 'true',
    });
    expect(config).toEqual({
      publicUrl: 'https://feed.example.test/nuget',
      publishUrl: 'https://push.example.test',
      http: {
        host: '0.0.0.0',
        readPort: 8080,
        publishPort: 8081,
        workerPort: 8082,
        headersTimeoutMs: 10_000,
        requestTimeoutMs: 20_000,
        keepAliveTimeoutMs: 7000,
        bodyMinBytesPerSecond: 0,
        bodyRateWindowMs: 5000,
        maxConnections: 2048,
      },
      database: { url: 'postgresql://app:s3cret@db:5432/feed', poolSize: 25 },
      redis: { url: 'rediss://:pw@cache:6380/2', prefix: 'test-0b7c' },
      storage: { kind: 'fs', root: '/var/lib/nucat/blobs' },
      search: { kind: 'meilisearch', url: 'http://127.0.0.1:7700', apiKey: 'meili-secret', indexPrefix: 'nc' },
      read: { downloadFlushMs: 250, cacheBytes: 1_048_576 },
      publish: { maxPackageBytes: 1_048_576, tempDir: '/var/lib/nucat/tmp', lockTimeoutMs: 2500 },
      worker: { projections: ['registration', 'flatcontainer'], concurrency: 8, batchSize: 100, pollIntervalMs: 250, pageGraceSeconds: 0 },
      feed: { name: 'internal' },
      access: { private: true },
      authFailures: { maxFailures: 5, windowMs: 30_000 },
      ready: { maxLagSeconds: 60 },
      mirror: { source: 'https://primary.example.test/v3/index.json', idGlobs: ['Contoso.*', 'Other'], intervalMs: 500, allowLinkLocal: true },
      logLevel: 'debug',
    });
  });

  it.each([
    ['true', true],
    ['TRUE', true],
    [' 1 ', true],
    ['yes', true],
    ['false', false],
    ['False', false],
    ['0', false],
    ['no', false],
    ['', false],
  ])('reads NUCAT_PRIVATE=%j as private: %s', (value, expected) => {
    expect(loadConfig({ NUCAT_PRIVATE: value }).access).toEqual({ private: expected });
  });

  it('reads NUCAT_WORKER_PORT=0 as a worker without an operations server', () => {
    expect(loadConfig({ NUCAT_WORKER_PORT: '0' }).http.workerPort).toBe(0);
  });

  it('returns a deep-frozen object', () => {
    const config = loadConfig({});
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.http)).toBe(true);
    expect(Object.isFrozen(config.worker.projections)).toBe(true);
    expect(() => {
      (config.http as { readPort: number }).readPort = 1;
    }).toThrow(TypeError);
    expect(() => (config.worker.projections as string[]).push('x')).toThrow(TypeError);
  });

  it('returns a new object on each call', () => {
    expect(loadConfig({})).not.toBe(loadConfig({}));
    expect(loadConfig({}).worker.projections).not.toBe(loadConfig({}).worker.projections);
  });

  describe('rejects', () => {
    it.each([
      ['NUCAT_PUBLIC_URL', 'ftp://host/feed', /http:\/\/ or https:\/\//],
      ['NUCAT_PUBLIC_URL', '127.0.0.1:5000', /absolute/],
      ['NUCAT_PUBLIC_URL', 'http://host/?q=1', /query or fragment/],
      ['NUCAT_PUBLIC_URL', 'http://host/#x', /query or fragment/],
      ['NUCAT_PUBLISH_URL', '/relative', /absolute/],
      ['NUCAT_HOST', 'my host', /host name or IP address/],
      ['NUCAT_READ_PORT', 'http', /whole number from 1 to 65535; got "http"/],
      ['NUCAT_READ_PORT', '0', /from 1 to 65535/],
      ['NUCAT_PUBLISH_PORT', '65536', /from 1 to 65535/],
      ['NUCAT_PUBLISH_PORT', '50.5', /whole number/],
      ['NUCAT_WORKER_PORT', '65536', /from 0 to 65535/],
      ['NUCAT_WORKER_PORT', '-1', /whole number/],
      ['NUCAT_READY_MAX_LAG_SECONDS', '0', /from 1 to 31536000/],
      ['NUCAT_READY_MAX_LAG_SECONDS', '5m', /whole number/],
      ['NUCAT_HEADERS_TIMEOUT_MS', '-1', /whole number/],
      ['NUCAT_REQUEST_TIMEOUT_MS', '1e6', /whole number/],
      ['NUCAT_KEEP_ALIVE_TIMEOUT_MS', '0', /≥ 1/],
      ['NUCAT_BODY_MIN_BYTES_PER_SECOND', '1k', /whole number/],
      ['NUCAT_BODY_RATE_WINDOW_MS', '5', /0 \(off\) or at least 10/],
      ['NUCAT_MAX_CONNECTIONS', '0', /from 1 to 1000000/],
      ['NUCAT_AUTH_MAX_FAILURES', '-3', /whole number/],
      ['NUCAT_AUTH_FAILURE_WINDOW_MS', '10', /≥ 1000/],
      ['DATABASE_URL', 'mysql://root@db/x', /postgres:\/\/ or postgresql:\/\//],
      ['NUCAT_DB_POOL', '0', /from 1 to 1000/],
      ['REDIS_URL', 'http://cache', /redis:\/\/ or rediss:\/\//],
      ['NUCAT_REDIS_PREFIX', 'has space', /1 to 64/],
      ['NUCAT_STORAGE', 's3', /one of fs; got "s3"/],
      ['NUCAT_DATA_DIR', 'bad\0dir', /NUL/],
      ['NUCAT_MAX_PACKAGE_BYTES', '250MB', /whole number/],
      ['NUCAT_PUBLISH_LOCK_TIMEOUT_MS', '0', /≥ 1/],
      ['NUCAT_MIRROR_ALLOW_LINK_LOCAL', 'maybe', /true or false/],
      ['NUCAT_WORKER_PROJECTIONS', 'flatcontainer,searchh', /unknown name "searchh"; allowed: flatcontainer, registration, search/],
      ['NUCAT_SEARCH', 'elastic', /one of postgres, meilisearch; got "elastic"/],
      ['NUCAT_DOWNLOAD_FLUSH_MS', '5', /≥ 100/],
      ['NUCAT_READ_CACHE_BYTES', '64MiB', /whole number ≥ 0/],
      ['NUCAT_MIRROR_SOURCE', 'ftp://x', /http/],
      ['NUCAT_MIRROR_IDS', 'a b', /invalid id pattern/],
      ['NUCAT_WORKER_PROJECTIONS', ' , ', /at least one/],
      ['NUCAT_WORKER_CONCURRENCY', '0', /from 1 to 1000/],
      ['NUCAT_WORKER_BATCH', 'many', /whole number/],
      ['NUCAT_WORKER_POLL_MS', '0', /≥ 1/],
      ['NUCAT_WORKER_PAGE_GRACE_SECONDS', '-5', /from 0 to 31536000/],
      ['NUCAT_FEED', '-main', /starting with a letter or digit/],
      ['NUCAT_LOG_LEVEL', 'verbose', /one of fatal, error, warn, info, debug, trace, silent/],
      ['NUCAT_PRIVATE', 'on', /must be true or false; got "on"/],
      ['NUCAT_PRIVATE', 'truee', /must be true or false/],
    ])('%s=%j', (variable, value, message) => {
      const problems = problemsOf({ [variable]: value });
      expect(problems).toEqual([{ variable, message: expect.stringMatching(message) }]);
    });

    it('a user name or password in a public URL, without echoing it', () => {
      const problems = problemsOf({ NUCAT_PUBLIC_URL: 'https://admin:hunter2@feed.test' });
      expect(problems).toEqual([{ variable: 'NUCAT_PUBLIC_URL', message: expect.stringMatching(/user name or password/) }]);
      expect(JSON.stringify(problems)).not.toContain('hunter2');
    });

    it('meilisearch search without NUCAT_MEILI_URL', () => {
      expect(() => loadConfig({ NUCAT_SEARCH: 'meilisearch' })).toThrow(/NUCAT_MEILI_URL/);
    });

    it('no total request bound (0) with any headers timeout', () => {
      expect(loadConfig({ NUCAT_HEADERS_TIMEOUT_MS: '5000', NUCAT_REQUEST_TIMEOUT_MS: '0' }).http).toMatchObject({ headersTimeoutMs: 5000, requestTimeoutMs: 0 });
    });

    it('a headers timeout longer than the request timeout', () => {
      expect(problemsOf({ NUCAT_HEADERS_TIMEOUT_MS: '5000', NUCAT_REQUEST_TIMEOUT_MS: '4000' })).toEqual([
        { variable: 'NUCAT_HEADERS_TIMEOUT_MS', message: expect.stringMatching(/must not exceed NUCAT_REQUEST_TIMEOUT_MS/) },
      ]);
    });
  });

  it('never shows secrets in errors', () => {
    const env = {
      DATABASE_URL: 'mysql://nucat:TopSecretPw@db/nucat',
      REDIS_URL: 'memcache://:RedisSecretPw@cache',
      NUCAT_PUBLIC_URL: 'notaurl://user:UrlSecretPw@x y',
    };
    let error: unknown;
    try {
      loadConfig(env);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const everything = `${String(error)} ${(error as Error).stack} ${JSON.stringify(error)}`;
    for (const secret of ['TopSecretPw', 'RedisSecretPw', 'UrlSecretPw']) expect(everything).not.toContain(secret);
  });

  it('reports all problems at once, each with its variable', () => {
    let error: unknown;
    try {
      loadConfig({
        NUCAT_READ_PORT: 'x',
        NUCAT_DB_POOL: '-3',
        NUCAT_WORKER_PROJECTIONS: 'nope',
        NUCAT_LOG_LEVEL: 'loud',
        NUCAT_STORAGE: 'tape',
      });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const configError = error as ConfigError;
    expect(configError.code).toBe('invalid_config');
    expect(configError.name).toBe('ConfigError');
    expect(configError.problems.map((p) => p.variable)).toEqual([
      'NUCAT_READ_PORT',
      'NUCAT_DB_POOL',
      'NUCAT_STORAGE',
      'NUCAT_WORKER_PROJECTIONS',
      'NUCAT_LOG_LEVEL',
    ]);
    expect(configError.details.problems).toBe(configError.problems);
    expect(configError.message).toMatch(/^invalid configuration \(5 problems\):\n {2}- NUCAT_READ_PORT: /);
    for (const variable of ['NUCAT_DB_POOL', 'NUCAT_WORKER_PROJECTIONS', 'NUCAT_LOG_LEVEL', 'NUCAT_STORAGE']) {
      expect(configError.message).toContain(`- ${variable}: `);
    }
  });
});
