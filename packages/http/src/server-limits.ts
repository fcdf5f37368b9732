import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { Gauge } from 'prom-client';
import type { Logger } from '@nucat/config';
import type { HttpMetrics } from './metrics.js';

/**
 * How long and how many: the limits a nucat HTTP server puts on its clients (reliability.md §2 #2
 * slowloris, #29 connection flood). In the apps they come from `config.http` (@nucat/config).
 */
export interface ServerLimits {
  /**
   * Most ms to receive a request's header section, counted from its first byte (or from the
   * opening of a connection that sends nothing). Past it: 408 and the connection closed (Node.js's
   * `headersTimeout`).
   */
  headersTimeoutMs: number;
  /** Most ms for a whole request, body included (Node.js's `requestTimeout`): 408, closed. 0 = no bound. */
  requestTimeoutMs: number;
  /** How long an idle keep-alive connection stays open, in ms. */
  keepAliveTimeoutMs: number;
  /**
   * Least average rate, in bytes/s, at which a body the server is reading must arrive, judged over
   * each window of {@link ServerLimits.bodyRateWindowMs}. 0: at least one byte per window.
   */
  bodyMinBytesPerSecond: number;
  /** Window of the body rate check, in ms; 0 turns the check off. */
  bodyRateWindowMs: number;
  /**
   * Most open connections. At the limit a new connection closes the longest-idle one; when none is
   * idle, the new one is answered 503 (`Retry-After: 1`) and closed. Lowered to fit the process's
   * open-files limit (see {@link effectiveMaxConnections}).
   */
  maxConnections: number;
}

/** Options of {@link createLimitedServer}. */
export interface LimitedServerOptions {
  /** Told when `maxConnections` is lowered to fit the open-files limit. */
  log?: Logger;
  /**
   * Registers `nucat_http_open_connections` and `nucat_http_connections_closed_total{reason}`
   * (`idle_shed`, `refused`, `body_too_slow`) in these metrics.
   */
  metrics?: HttpMetrics;
}

/** What a limited server has done so far (see {@link serverLimitStats}). */
export interface ServerLimitStats {
  /** Connections open now. */
  open: number;
  /** Open connections with no request in progress (idle keep-alive, or still sending headers). */
  idle: number;
  /** The connection limit in force (after the open-files cap). */
  maxConnections: number;
  /** Idle connections closed to make room for a new one. */
  shed: number;
  /** New connections answered 503 because every open one was busy. */
  refused: number;
  /** Requests answered 408 because their body arrived too slowly. */
  bodyTimeouts: number;
}

/** Connections an app keeps for itself besides its clients': database pool, blob files, logs. */
const RESERVED_FILE_DESCRIPTORS = 256;
/** How long a connection closed by the server keeps draining input before it is destroyed. */
const CLOSE_LINGER_MS = 1_000;

const statsOf = new WeakMap<Server, () => ServerLimitStats>();
const timedOut = new WeakSet<IncomingMessage>();

/**
 * The soft open-files limit of this process (`ulimit -n`), read from `/proc/self/limits`; undefined
 * where that cannot be read (not Linux) or the limit is unlimited.
 */
export function openFilesLimit(): number | undefined {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const soft = line?.slice('Max open files'.length).trim().split(/\s+/)[0];
    return soft !== undefined && /^\d+$/.test(soft) ? Number(soft) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * `configured`, lowered so that the connections fit the open-files limit: {@link RESERVED_FILE_DESCRIPTORS}
 * are kept for the process, and each connection may hold a second descriptor while its request runs
 * (the blob file it streams, the upload it stages), so at most half of the rest (but not below 16).
 * Past the limit `accept()` fails with EMFILE and the server stops taking connections, and the file
 * reads of requests already in progress fail too.
 */
export function effectiveMaxConnections(configured: number, fileLimit = openFilesLimit()): number {
  if (fileLimit === undefined) return configured;
  return Math.min(configured, Math.max(16, Math.floor((fileLimit - RESERVED_FILE_DESCRIPTORS) / 2)));
}

/**
 * An `http.Server` for `listener` (a Koa `app.callback()`, or a plain handler) with the nucat limits,
 * unstarted: call `listen()`.
 *
 * - **Trickled or missing headers** (slowloris): `headersTimeout`, checked every
 *   min(headersTimeout / 4, 1 s) — Node.js answers `408 Request Timeout` and closes the connection.
 * - **Slow bodies**: while the app reads a body and waits for bytes (the request is flowing with
 *   nothing buffered), the client must deliver `bodyMinBytesPerSecond × window` bytes per
 *   `bodyRateWindowMs` (at least one). A body that stalls or trickles gets `408` with a JSON error
 *   (`code: request_timeout`) and the connection is closed; the app sees the request aborted
 *   ({@link isTimedOutRequest} tells it why). A large upload on a slow but steady link is never cut by
 *   this: there is no short total bound, only `requestTimeout` as an outer one. Time the app spends
 *   before reading (checking the key) or while it applies backpressure does not count.
 * - **Idle keep-alive**: closed after `keepAliveTimeout`.
 * - **Connection flood**: at most `maxConnections` open; a new connection at the limit closes the
 *   connection idle the longest (idle keep-alive sockets are cheap for a client to reopen), else it
 *   gets `503` with `Retry-After: 1` and is closed. Memory and file descriptors stay bounded, and a
 *   flood of idle sockets cannot lock other clients out.
 *
 * @throws RangeError when a limit is negative or not a whole number.
 */
export function createLimitedServer(listener: RequestListener, limits: ServerLimits, options: LimitedServerOptions = {}): Server {
  const names = ['headersTimeoutMs', 'requestTimeoutMs', 'keepAliveTimeoutMs', 'bodyMinBytesPerSecond', 'bodyRateWindowMs', 'maxConnections'] as const;
  for (const name of names) {
    const value = limits[name];
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${name} must be a whole number ≥ 0, got ${value}`);
  }
  if (limits.maxConnections < 1) throw new RangeError('maxConnections must be at least 1');
  const maxConnections = effectiveMaxConnections(limits.maxConnections);
  if (maxConnections < limits.maxConnections) {
    options.log?.warn({ configured: limits.maxConnections, effective: maxConnections, openFilesLimit: openFilesLimit() }, 'maxConnections lowered to fit the open-files limit (ulimit -n)');
  }

  const server = createServer({
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    connectionsCheckingInterval: Math.max(10, Math.min(1000, Math.floor(limits.headersTimeoutMs / 4))),
  }, listener);

  // Insertion order is age: the first idle entry is the one idle the longest.
  const open = new Set<Socket>();
  const idle = new Set<Socket>();
  const inFlight = new WeakMap<Socket, number>();
  const counts = { shed: 0, refused: 0, bodyTimeouts: 0 };
  const closed = options.metrics?.counter({
    name: 'nucat_http_connections_closed_total',
    help: 'Connections the server closed to protect itself: idle_shed (idle, for a new connection at maxConnections), refused (503, every connection busy), body_too_slow (408).',
    labelNames: ['reason'] as const,
  });
  if (options.metrics) {
    new Gauge({
      name: 'nucat_http_open_connections',
      help: 'Connections open now.',
      registers: [options.metrics.registry],
      collect() {
        this.set(open.size);
      },
    });
  }

  // Admission runs before Node's own connection handling, so a refused socket never reaches the app.
  const [httpConnectionListener] = server.listeners('connection') as ((socket: Socket) => void)[];
  if (httpConnectionListener === undefined) throw new Error('node:http server without a connection listener');
  server.removeListener('connection', httpConnectionListener);
  server.on('connection', (socket: Socket) => {
    if (open.size >= maxConnections) {
      const oldest = idle.values().next().value;
      if (oldest === undefined) {
        counts.refused += 1;
        closed?.inc({ reason: 'refused' });
        socket.on('error', () => {});
        closeWith(socket, rawResponse(503, 'Service Unavailable', { code: 'unavailable', message: 'Too many connections; retry shortly.' }, { 'Retry-After': '1' }));
        return;
      }
      counts.shed += 1;
      closed?.inc({ reason: 'idle_shed' });
      forget(oldest);
      oldest.destroy();
    }
    open.add(socket);
    idle.add(socket);
    inFlight.set(socket, 0);
    socket.once('close', () => forget(socket));
    httpConnectionListener.call(server, socket);
  });

  function forget(socket: Socket): void {
    open.delete(socket);
    idle.delete(socket);
  }

  server.prependListener('request', (req: IncomingMessage, res: ServerResponse) => {
    const socket = req.socket;
    inFlight.set(socket, (inFlight.get(socket) ?? 0) + 1);
    idle.delete(socket);
    const stopWatching = limits.bodyRateWindowMs > 0 && hasBody(req) ? watchBodyRate(req, res, limits, () => {
      counts.bodyTimeouts += 1;
      closed?.inc({ reason: 'body_too_slow' });
    }) : undefined;
    res.once('close', () => {
      stopWatching?.();
      const left = (inFlight.get(socket) ?? 1) - 1;
      inFlight.set(socket, left);
      if (left === 0 && open.has(socket) && !socket.destroyed) idle.add(socket);
    });
  });

  statsOf.set(server, () => ({ open: open.size, idle: idle.size, maxConnections, ...counts }));
  return server;
}

/** What a server made by {@link createLimitedServer} has done so far; undefined for any other server. */
export function serverLimitStats(server: Server): ServerLimitStats | undefined {
  return statsOf.get(server)?.();
}

/**
 * True when the server answered this request 408 itself because its body arrived too slowly: the
 * app then sees the request aborted, and may log that as a client's fault rather than an error.
 */
export function isTimedOutRequest(req: IncomingMessage): boolean {
  return timedOut.has(req);
}

function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return (length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined;
}

/**
 * Samples the socket's byte count once per window. A window is judged only when the app was waiting
 * for the client at both its ends (the request flowing, nothing buffered): time spent before the app
 * reads, or under its backpressure, is the server's, not the client's.
 */
function watchBodyRate(req: IncomingMessage, res: ServerResponse, limits: ServerLimits, onTimeout: () => void): () => void {
  const socket = req.socket;
  const windowMs = limits.bodyRateWindowMs;
  const minBytes = Math.max(1, Math.ceil((limits.bodyMinBytesPerSecond * windowMs) / 1000));
  let lastBytes = socket.bytesRead;
  let waitingAtStart = false;
  const timer = setInterval(() => {
    if (req.complete || res.headersSent || socket.destroyed) return stop();
    const bytes = socket.bytesRead;
    const received = bytes - lastBytes;
    lastBytes = bytes;
    const waiting = req.readableFlowing === true && req.readableLength === 0;
    if (waitingAtStart && waiting && received < minBytes) {
      stop();
      timedOut.add(req);
      onTimeout();
      const rate = limits.bodyMinBytesPerSecond;
      const message =
        rate > 0
          ? `The request body arrived slower than ${rate} bytes/s over ${windowMs} ms; the connection is closed.`
          : `The request body stalled for ${windowMs} ms; the connection is closed.`;
      closeWith(socket, rawResponse(408, 'Request Timeout', { code: 'request_timeout', message }));
      return;
    }
    waitingAtStart = waiting;
  }, windowMs);
  timer.unref();
  function stop(): void {
    clearInterval(timer);
  }
  return stop;
}

function rawResponse(status: number, reason: string, error: { code: string; message: string }, headers: Record<string, string> = {}): string {
  const body = JSON.stringify({ error });
  const lines = [
    `HTTP/1.1 ${status} ${reason}`,
    'Connection: close',
    'Content-Type: application/json; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Cache-Control: no-store',
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
  ];
  return `${lines.join('\r\n')}\r\n\r\n${body}`;
}

/**
 * Sends `response`, ends the connection and discards input for a moment (so the client reads the
 * response rather than a reset), then destroys it.
 */
function closeWith(socket: Socket, response: string): void {
  if (socket.destroyed) return;
  socket.end(response);
  socket.resume();
  const timer = setTimeout(() => socket.destroy(), CLOSE_LINGER_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
}
