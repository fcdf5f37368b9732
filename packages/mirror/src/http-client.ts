import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { Agent, fetch as undiciFetch } from 'undici';
import { createAddressGuard, createGuardedLookup, type LookupFn } from './address-guard.js';
import { BlockedAddressError, MirrorSourceError } from './errors.js';

/** The `fetch` the mirror uses (its guarded one unless a test or an app passes another). */
export type FetchFn = typeof globalThis.fetch;

/** Options of {@link createHttpClient}. */
export interface HttpClientOptions {
  /**
   * @defaultValue undici's `fetch` over an agent that connects only to addresses its guarded lookup
   * let through (see `createGuardedLookup`): what was checked is what is connected to.
   */
  fetch?: FetchFn;
  /** Attempts per request for network errors, 5xx and 429. @defaultValue 3 */
  attempts?: number;
  /** Time limit of a JSON request. @defaultValue 60000 */
  jsonTimeoutMs?: number;
  /** Time limit of a download. @defaultValue 600000 */
  downloadTimeoutMs?: number;
  /** Delay before the first retry, doubled each time. @defaultValue 250 */
  retryDelayMs?: number;
  /**
   * Allow requests to hosts that are, or resolve to, link-local or cloud metadata addresses
   * (169.254.0.0/16, fe80::/10…; see `isBlockedAddress`). Every request and every redirect is
   * checked. @defaultValue false
   */
  allowLinkLocal?: boolean;
  /** How host names are resolved for that check. @defaultValue `dns.promises.lookup` */
  lookup?: LookupFn;
}

/** Redirects followed per request (each one checked like the first URL). */
const MAX_REDIRECTS = 5;

/** The outcome of {@link HttpClient.download}. */
export interface Download {
  size: number;
  /** Standard base64 SHA-512 of the bytes. */
  sha512: string;
  /** The response's `Content-Type`; undefined when it had none. */
  contentType?: string;
  /** The first bytes of the body (up to 16), to tell a zip from a web page. */
  leading: Buffer;
}

/** An HTTP client for a source feed: JSON documents and package downloads, with retries. */
export interface HttpClient {
  /** GETs and parses a JSON document. @throws MirrorSourceError on a non-200 answer or invalid JSON. */
  getJson(url: string): Promise<unknown>;
  /** GETs JSON; undefined on 404. */
  findJson(url: string): Promise<unknown>;
  /**
   * Streams `url` into `file` while hashing it (SHA-512). With `maxBytes`, gives up as soon as more
   * arrive. The file is removed when the download fails.
   */
  download(url: string, file: string, options?: { maxBytes?: number }): Promise<Download>;
  /** Streams `url` through SHA-512 without keeping it; undefined on 404. */
  hash(url: string): Promise<Download | undefined>;
}

/** An error worth another attempt (network failure, 5xx, 429). */
class RetryableError extends Error {}

/** Bytes beyond the expected size: never retried. */
class TooLargeError extends MirrorSourceError {}

/**
 * A `fetch` whose connections resolve host names through the address guard's lookup, at the moment
 * they connect: a name that resolved to an allowed address for the check and to a metadata address a
 * moment later (DNS rebinding) fails to connect with BlockedAddressError. Its keep-alive sockets do not
 * hold the process open.
 */
function guardedFetch(options: Pick<HttpClientOptions, 'allowLinkLocal' | 'lookup'>): FetchFn {
  const dispatcher = new Agent({
    connect: {
      lookup: createGuardedLookup(options),
    },
  });
  return ((input: string | URL, init?: RequestInit) => undiciFetch(input, { ...(init as object), dispatcher })) as unknown as FetchFn;
}

/** The BlockedAddressError a failed fetch carries as its cause (or its cause's cause), if any. */
function blockedCause(error: unknown): BlockedAddressError | undefined {
  for (let e = error, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    if (e instanceof BlockedAddressError) return e;
  }
  return undefined;
}

/** Creates an {@link HttpClient}. */
export function createHttpClient(options: HttpClientOptions = {}): HttpClient {
  const fetchFn = options.fetch ?? guardedFetch(options);
  const attempts = options.attempts ?? 3;
  const jsonTimeoutMs = options.jsonTimeoutMs ?? 60_000;
  const downloadTimeoutMs = options.downloadTimeoutMs ?? 600_000;
  const retryDelayMs = options.retryDelayMs ?? 250;
  const guard = createAddressGuard(options);

  async function withRetries<T>(url: string, run: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await run();
      } catch (error) {
        if (!(error instanceof RetryableError) || attempt >= attempts) {
          if (error instanceof RetryableError) throw new MirrorSourceError(`${url}: ${error.message} (after ${attempt} attempts)`, { url });
          throw error;
        }
        await sleep(retryDelayMs * 2 ** (attempt - 1));
      }
    }
  }

  /** Fetches `url`, following redirects itself so that every hop passes the address guard. */
  async function fetchChecked(url: string, timeoutMs: number): Promise<Response> {
    let current = url;
    for (let hop = 0; ; hop++) {
      await guard(current);
      let response: Response;
      try {
        response = await fetchFn(current, { signal: AbortSignal.timeout(timeoutMs), headers: { Accept: 'application/json, */*' }, redirect: 'manual' });
      } catch (error) {
        const blocked = blockedCause(error);
        if (blocked) throw blocked;
        throw new RetryableError(error instanceof Error ? `${error.name}: ${error.message}` : String(error));
      }
      if (![301, 302, 303, 307, 308].includes(response.status)) return response;
      await response.body?.cancel().catch(() => {});
      const location = response.headers.get('location');
      const next = location ? URL.parse(location, current) : null;
      if (!next || (next.protocol !== 'http:' && next.protocol !== 'https:')) {
        throw new MirrorSourceError(`GET ${current} answered ${response.status} without a usable http(s) Location`, { url: current, status: response.status });
      }
      if (hop >= MAX_REDIRECTS) throw new MirrorSourceError(`GET ${url}: more than ${MAX_REDIRECTS} redirects`, { url });
      current = next.href;
    }
  }

  async function get(url: string, timeoutMs: number, allowNotFound: boolean): Promise<Response | undefined> {
    const response = await fetchChecked(url, timeoutMs);
    if (response.status === 200) return response;
    await response.body?.cancel().catch(() => {});
    if (response.status === 404 && allowNotFound) return undefined;
    if (response.status >= 500 || response.status === 429) throw new RetryableError(`HTTP ${response.status}`);
    throw new MirrorSourceError(`GET ${url} answered ${response.status}`, { url, status: response.status });
  }

  async function json(url: string, allowNotFound: boolean): Promise<unknown> {
    return withRetries(url, async () => {
      const response = await get(url, jsonTimeoutMs, allowNotFound);
      if (!response) return undefined;
      let text: string;
      try {
        text = await response.text();
      } catch (error) {
        throw new RetryableError(`reading the body failed: ${String(error)}`);
      }
      try {
        return JSON.parse(text) as unknown;
      } catch {
        throw new MirrorSourceError(`GET ${url} did not answer JSON: ${text.slice(0, 200)}`, { url });
      }
    });
  }

  async function stream(url: string, sink: (body: Readable, meter: Transform) => Promise<void>, maxBytes: number | undefined, allowNotFound: boolean): Promise<Download | undefined> {
    return withRetries(url, async () => {
      const response = await get(url, downloadTimeoutMs, allowNotFound);
      if (!response) return undefined;
      if (!response.body) throw new RetryableError('empty body');
      const hash = createHash('sha512');
      let size = 0;
      let leading = Buffer.alloc(0);
      const meter = new Transform({
        transform(chunk: Buffer, _encoding, done) {
          if (leading.length < 16) leading = Buffer.concat([leading, chunk.subarray(0, 16 - leading.length)]);
          size += chunk.length;
          if (maxBytes !== undefined && size > maxBytes) {
            return done(new TooLargeError(`GET ${url} sent more than the ${maxBytes} bytes its catalog leaf announces`, { url, maxBytes }));
          }
          hash.update(chunk);
          done(null, chunk);
        },
      });
      try {
        await sink(Readable.fromWeb(response.body as WebReadableStream<Uint8Array>), meter);
      } catch (error) {
        if (error instanceof MirrorSourceError) throw error;
        throw new RetryableError(`download failed: ${error instanceof Error ? error.message : String(error)}`);
      }
      const contentType = response.headers.get('content-type') ?? undefined;
      return { size, sha512: hash.digest('base64'), leading, ...(contentType !== undefined ? { contentType } : {}) };
    });
  }

  return {
    getJson: (url) => json(url, false),
    findJson: (url) => json(url, true),
    async download(url, file, downloadOptions = {}) {
      try {
        const result = await stream(url, (body, meter) => pipeline(body, meter, createWriteStream(file)), downloadOptions.maxBytes, false);
        return result!;
      } catch (error) {
        await rm(file, { force: true });
        throw error;
      }
    },
    hash: (url) =>
      stream(
        url,
        // The meter hashes; the bytes are dropped.
        (body, meter) => pipeline(body, meter, new Writable({ write: (_chunk, _encoding, done) => done() })),
        undefined,
        true,
      ),
  };
}
