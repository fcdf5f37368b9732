/**
 * A loopback HTTP proxy in front of a feed, for the mirror fault tests (reliability.md #42, #44): it forwards
 * GETs to the feed and rewrites the feed's own base URL in JSON answers to its own, so a client that starts at
 * the proxy's service index stays on the proxy. A test can slow answers down or replace them (an HTML page, other
 * bytes) for chosen paths.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** What the proxy answers instead of the feed. */
export interface ProxyAnswer {
  status: number;
  contentType: string;
  body: Buffer | string;
}

/** A running proxy. */
export interface SourceProxy {
  /** `http://127.0.0.1:<port>`, no trailing slash. */
  readonly url: string;
  /** `{url}/v3/index.json`. */
  readonly serviceIndexUrl: string;
  /** Paths asked for so far (path and query). */
  readonly requests: string[];
  /** Answers `path` (exact, e.g. `/v3/flatcontainer/a/1.0.0/a.1.0.0.nupkg`) with `answer` instead of the feed's; undefined restores. */
  replace(path: string, answer: ProxyAnswer | undefined): void;
  /** Delays every answer whose path matches `pattern` by `ms` (0 or undefined: no delay). */
  delay(pattern: RegExp | undefined, ms?: number): void;
  close(): Promise<void>;
}

/**
 * Starts a proxy in front of `targetUrl` (the feed's base URL, the one its documents use, no trailing slash).
 * Only GET and HEAD are forwarded; request bodies are not.
 */
export async function startSourceProxy(targetUrl: string): Promise<SourceProxy> {
  const target = targetUrl.replace(/\/+$/, '');
  const replacements = new Map<string, ProxyAnswer>();
  const requests: string[] = [];
  let slow: { pattern: RegExp; ms: number } | undefined;
  let self = '';

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = req.url ?? '/';
    requests.push(path);
    if (slow && slow.pattern.test(path)) await sleep(slow.ms);
    const replaced = replacements.get(path.split('?')[0]!);
    if (replaced) {
      const body = Buffer.from(replaced.body);
      res.writeHead(replaced.status, { 'Content-Type': replaced.contentType, 'Content-Length': body.length }).end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    // No Accept-Encoding: the answer comes back plain, so its URLs can be rewritten.
    const upstream = await fetch(`${target}${path}`, { method: req.method === 'HEAD' ? 'HEAD' : 'GET', headers: { Accept: req.headers.accept ?? '*/*' }, redirect: 'manual' });
    const contentType = upstream.headers.get('content-type') ?? 'application/octet-stream';
    let body = Buffer.from(await upstream.arrayBuffer());
    if (/json/i.test(contentType)) body = Buffer.from(body.toString('utf8').split(target).join(self));
    const headers: Record<string, string | number> = { 'Content-Type': contentType, 'Content-Length': body.length };
    const location = upstream.headers.get('location');
    if (location) headers['Location'] = location.split(target).join(self);
    res.writeHead(upstream.status, headers).end(req.method === 'HEAD' ? undefined : body);
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(502, { 'Content-Type': 'text/plain' });
      res.end(`proxy error: ${String(error)}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  self = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: self,
    serviceIndexUrl: `${self}/v3/index.json`,
    requests,
    replace(path, answer) {
      if (answer) replacements.set(path, answer);
      else replacements.delete(path);
    },
    delay(pattern, ms = 0) {
      slow = pattern && ms > 0 ? { pattern, ms } : undefined;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
