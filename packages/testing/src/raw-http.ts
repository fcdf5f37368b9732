import type { IncomingHttpHeaders } from 'node:http';
import { Agent, request } from 'node:http';
import { connect, type Socket } from 'node:net';

/** A TCP connection to a test server, with everything it received so far. */
export interface RawConnection {
  socket: Socket;
  /** The bytes received so far, as latin1 text (an HTTP head reads as written). */
  received(): string;
  /** Resolves when the connection is closed (by either side). */
  closed: Promise<void>;
}

/**
 * Opens a plain TCP connection to 127.0.0.1:`port` and records what it receives, for tests that write
 * HTTP by hand (slow clients, half-sent requests). Errors are swallowed: a reset is often the point.
 * The caller destroys the socket when done.
 */
export async function openRawConnection(port: number): Promise<RawConnection> {
  const socket = connect(port, '127.0.0.1');
  let data = '';
  socket.setEncoding('latin1');
  socket.on('data', (chunk: string) => (data += chunk));
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await new Promise((resolve) => socket.once('connect', resolve));
  return { socket, received: () => data, closed };
}

/** What {@link requestFrom} got back. */
export interface HttpReply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/**
 * One HTTP request on a connection of its own, sent from the local address `from` (any 127.0.0.x on
 * Linux), so tests can act as several clients. The connection is closed after the answer.
 */
export function requestFrom(
  from: string,
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: Buffer } = {},
): Promise<HttpReply> {
  const { body } = options;
  const agent = new Agent({ keepAlive: false });
  const headers = { ...options.headers, ...(body ? { 'Content-Length': String(body.length) } : {}) };
  return new Promise<HttpReply>((resolve, reject) => {
    const req = request(url, { method: options.method ?? 'GET', headers, localAddress: from, agent }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  }).finally(() => agent.destroy());
}
