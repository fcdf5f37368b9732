import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import type { Logger } from '@nucat/config';
import type { Db } from '@nucat/db';
import type { ProjectionName } from '@nucat/queue';
import {
  ReadinessError,
  assertLagWithin,
  createLimitedServer,
  createReadinessProbe,
  type ReadinessCheck,
  type ReadinessProbe,
  type ServerLimits,
} from '@nucat/http';
import { createWorkerMetrics, type WorkerMetrics } from './metrics.js';

/** Options of {@link createWorkerReadiness}. */
export interface WorkerReadinessOptions {
  db: Db;
  /** A Redis connection on the worker's Redis (`REDIS_URL`), used for `PING`. */
  redis: Redis;
  /** Reads the lag of the projections this worker runs. */
  metrics: Pick<WorkerMetrics, 'readLag'>;
  /** Most seconds a projection may lag while `/ready` answers 200. @defaultValue 300 */
  maxLagSeconds?: number;
  /** Aborted when the worker shuts down: `/health` and `/ready` answer 503 from then on. */
  shutdownSignal?: AbortSignal;
  /** Longest each check may take. @defaultValue 2000 */
  timeoutMs?: number;
}

/**
 * The worker's `/ready`: `database` (`SELECT 1`), `redis` (`PING` on `REDIS_URL`, where the queues
 * live) and `projections` (for each projection this worker runs, how long the oldest commit it has
 * not projected has waited must be within `maxLagSeconds`).
 */
export function createWorkerReadiness(options: WorkerReadinessOptions): ReadinessProbe {
  const timeoutMs = options.timeoutMs ?? 2000;
  const maxLagSeconds = options.maxLagSeconds ?? 300;
  const checks: ReadinessCheck[] = [
    {
      name: 'database',
      run: async () => {
        await options.db.selectNoFrom((eb) => eb.lit(1).as('one')).execute();
      },
    },
    {
      name: 'redis',
      run: async () => {
        // A command sent while disconnected waits in ioredis' offline queue: answer before the
        // overall timeout, saying what the connection is doing.
        const answer = await Promise.race([
          options.redis.ping().catch(() => undefined),
          new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), Math.max(1, timeoutMs - 250)).unref()),
        ]);
        if (answer !== 'PONG') throw new ReadinessError(`Redis did not answer PING (connection ${options.redis.status})`);
      },
    },
    {
      name: 'projections',
      run: async () => {
        const lag = await options.metrics.readLag();
        return assertLagWithin(Object.fromEntries(lag.projections.map((p) => [p.projection, p.pendingSeconds])), maxLagSeconds);
      },
    },
  ];
  return createReadinessProbe({ checks, timeoutMs, ...(options.shutdownSignal ? { shutdownSignal: options.shutdownSignal } : {}) });
}

/** Options of {@link createOpsServer}. */
export interface OpsServerOptions {
  /** Served at `/metrics`. */
  registry: Registry;
  /** Evaluated at `/ready`. */
  readiness: ReadinessProbe;
  /** Aborted when the worker shuts down: `/health` answers 503 from then on. */
  shutdownSignal?: AbortSignal;
  log: Logger;
  /** Limits on its clients. @defaultValue {@link OPS_SERVER_LIMITS} */
  limits?: Partial<ServerLimits>;
}

/**
 * What a scraper or a probe needs, and no more (reliability.md §2 #2, #29): headers within 10 s, a
 * request within 30 s, idle keep-alive 5 s, any body at ≥ 1 KB/s over 5 s, at most 256 connections.
 */
export const OPS_SERVER_LIMITS: Readonly<ServerLimits> = Object.freeze({
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  bodyMinBytesPerSecond: 1024,
  bodyRateWindowMs: 5_000,
  maxConnections: 256,
});

/**
 * The worker's operations server (the worker has no other HTTP server): plain `node:http`, three
 * read-only resources, `GET` and `HEAD` only.
 *
 * - `/metrics`: Prometheus text format.
 * - `/health`: 200 `{"status":"ok"}` while the process runs; 503 `{"status":"shutting_down"}` once
 *   shutdown began. Touches nothing outside the process.
 * - `/ready`: 200 with the readiness report when every check passes, 503 with it (naming the failing
 *   checks in `failing`) otherwise.
 *
 * Returned unstarted; see {@link listenOpsServer}.
 */
export function createOpsServer(options: OpsServerOptions): Server {
  const { log } = options;
  // A slow or idle scraper must not hold sockets for long (OPS_SERVER_LIMITS): 408 and closed.
  const server = createLimitedServer(
    (req, res) => {
      handle(req, res).catch((err) => {
        log.error({ err }, 'ops request failed');
        if (!res.headersSent) send(res, req, 500, 'application/json; charset=utf-8', JSON.stringify({ error: { code: 'internal', message: 'internal error' } }));
        else res.destroy();
      });
    },
    { ...OPS_SERVER_LIMITS, ...options.limits },
    { log },
  );

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    const known = path === '/metrics' || path === '/health' || path === '/ready';
    if (!known) return sendJson(res, req, 404, { error: { code: 'not_found', message: 'not found' } });
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return sendJson(res, req, 405, { error: { code: 'method_not_allowed', message: 'only GET and HEAD' } });
    }
    if (path === '/health') {
      const down = options.shutdownSignal?.aborted === true;
      return sendJson(res, req, down ? 503 : 200, { status: down ? 'shutting_down' : 'ok' });
    }
    if (path === '/ready') {
      const report = await options.readiness.evaluate();
      return sendJson(res, req, report.status === 'ready' ? 200 : 503, report);
    }
    const text = await options.registry.metrics();
    send(res, req, 200, options.registry.contentType, text);
  }
  return server;
}

/**
 * Starts `server` on `host:port` (port 0: any free port).
 * @returns the address it listens on.
 * @throws the listen error (`EADDRINUSE`…).
 */
export function listenOpsServer(server: Server, port: number, host: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve(server.address() as AddressInfo);
    });
  });
}

function sendJson(res: ServerResponse, req: IncomingMessage, status: number, body: unknown): void {
  send(res, req, status, 'application/json; charset=utf-8', JSON.stringify(body));
}

function send(res: ServerResponse, req: IncomingMessage, status: number, contentType: string, body: string): void {
  const bytes = Buffer.from(body, 'utf8');
  res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': bytes.length, 'Cache-Control': 'no-store' });
  res.end(req.method === 'HEAD' ? undefined : bytes);
}

/** Options of {@link startWorkerOps}. */
export interface WorkerOpsOptions {
  db: Db;
  feedId: number;
  projections: readonly ProjectionName[];
  redisUrl: string;
  redisPrefix: string;
  /** Listen address; port 0 runs no server (the metrics still count). */
  host: string;
  port: number;
  maxLagSeconds: number;
  shutdownSignal: AbortSignal;
  log: Logger;
}

/** The worker's running operations parts, from {@link startWorkerOps}. */
export interface WorkerOps {
  readonly metrics: WorkerMetrics;
  /** Where the server listens; undefined when it does not (port 0, or the port was taken). */
  readonly address: AddressInfo | undefined;
  close(): Promise<void>;
}

/**
 * Starts the worker's metrics and its operations server on `host:port`, with its own Redis
 * connection (for `PING` and queue counts). A port that is taken (another worker on the same host)
 * is logged as an error and the worker runs on without the server: projecting matters more than
 * being observed. Give each worker on a host its own `NUCAT_WORKER_PORT`, or 0 for none.
 */
export async function startWorkerOps(options: WorkerOpsOptions): Promise<WorkerOps> {
  const { log } = options;
  const redis = new Redis(options.redisUrl, { maxRetriesPerRequest: 1, connectionName: 'nucat-worker-ops' });
  redis.on('error', (err) => log.debug({ err: err.message }, 'ops redis error'));
  const metrics = createWorkerMetrics({
    db: options.db,
    feedId: options.feedId,
    projections: options.projections,
    redis,
    redisPrefix: options.redisPrefix,
    log,
  });
  let server: Server | undefined;
  let address: AddressInfo | undefined;
  if (options.port !== 0) {
    const readiness = createWorkerReadiness({
      db: options.db,
      redis,
      metrics,
      maxLagSeconds: options.maxLagSeconds,
      shutdownSignal: options.shutdownSignal,
    });
    server = createOpsServer({ registry: metrics.registry, readiness, shutdownSignal: options.shutdownSignal, log });
    try {
      address = await listenOpsServer(server, options.port, options.host);
      log.info({ port: address.port }, 'ops server listening');
    } catch (err) {
      log.error({ err: err instanceof Error ? err.message : err, port: options.port }, 'ops server not started: no /metrics, /health or /ready on this worker');
      server = undefined;
    }
  }
  return {
    metrics,
    address,
    async close() {
      if (server) {
        const closing = new Promise<void>((resolve) => server!.close(() => resolve()));
        server.closeAllConnections();
        await closing;
      }
      await metrics.close();
      redis.disconnect();
    },
  };
}
