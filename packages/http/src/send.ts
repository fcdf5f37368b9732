import { createHash } from 'node:crypto';
import { Readable, Stream } from 'node:stream';
import { createGunzip, createGzip } from 'node:zlib';
import type { Context } from 'koa';
import { ifNoneMatchMatches, opaqueTagOf } from './conditional.js';

/** Bodies larger than this are gzipped on the fly by {@link sendJson} when the client accepts gzip. */
export const GZIP_MIN_BYTES = 1024;

const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';
/** Suffix that gives the gzip representation its own strong tag (RFC 9110 §8.8.3: one per encoding). */
const GZIP_TAG_SUFFIX = '-gzip';

/** Options of {@link sendJson}. */
export interface SendJsonOptions {
  /** The `Cache-Control` value, e.g. `'public, max-age=60'` or `'no-cache'`. */
  cacheControl: string;
}

/** Options of {@link sendBytes}. */
export interface SendBytesOptions {
  /** The `Content-Type` value. */
  contentType: string;
  /** The `Cache-Control` value. */
  cacheControl: string;
  /**
   * The bytes are gzip-compressed (a stored gz registration hive). They are sent as
   * `Content-Encoding: gzip` when the client accepts gzip, and decompressed otherwise.
   * @defaultValue false
   */
  storedGzip?: boolean;
  /**
   * The entity tag, quotes optional (e.g. a `BlobInfo.etag`).
   * @defaultValue the SHA-1 of `bytes`, base64url
   */
  etag?: string;
}

/** Options of {@link sendStream}. */
export interface SendStreamOptions {
  /** The `Content-Type` value. */
  contentType: string;
  /** The `Cache-Control` value. */
  cacheControl: string;
}

/** The blob to stream: its info and its content, as returned by `BlobStore.openRead`. */
export interface OpenedBody {
  info: { size: number; etag: string };
  stream: NodeJS.ReadableStream;
}

/**
 * Answers with `body` as JSON (`application/json; charset=utf-8`) and a strong ETag (SHA-1 of the bytes,
 * base64url, quoted). A matching `If-None-Match` gets 304; HEAD gets the headers only. Bodies over
 * {@link GZIP_MIN_BYTES} are gzipped when the client accepts gzip (then the tag ends in `-gzip`, and there
 * is no `Content-Length`).
 *
 * @throws TypeError when `body` does not serialise to JSON (e.g. `undefined`).
 */
export function sendJson(ctx: Context, body: unknown, options: SendJsonOptions): void {
  const json = JSON.stringify(body);
  if (json === undefined) throw new TypeError('sendJson: the body does not serialise to JSON');
  const bytes = Buffer.from(json, 'utf8');
  sendBuffer(ctx, bytes, {
    contentType: JSON_CONTENT_TYPE,
    cacheControl: options.cacheControl,
    etag: hashTag(bytes),
    stored: 'identity',
    negotiate: bytes.length > GZIP_MIN_BYTES,
  });
}

/**
 * Answers with `bytes` (already in memory), with the same ETag, 304 and HEAD rules as {@link sendJson}.
 * With `storedGzip` the bytes are gzip data: sent as is with `Content-Encoding: gzip` when the client
 * accepts gzip, else decompressed on the way out; `Vary: Accept-Encoding` is set. Without it the bytes are
 * sent unchanged.
 */
export function sendBytes(ctx: Context, bytes: Buffer, options: SendBytesOptions): void {
  const storedGzip = options.storedGzip === true;
  sendBuffer(ctx, bytes, {
    contentType: options.contentType,
    cacheControl: options.cacheControl,
    etag: options.etag === undefined ? hashTag(bytes) : opaqueTagOf(options.etag),
    stored: storedGzip ? 'gzip' : 'identity',
    negotiate: storedGzip,
  });
}

/**
 * Streams a large blob (a `.nupkg`) without buffering it: `Content-Length` from `info.size`, ETag from
 * `info.etag`, 304 on a matching `If-None-Match`. For 304 and HEAD the stream is destroyed unread, so
 * its file is closed. Never compressed (NuGet packages are zip files already).
 */
export function sendStream(ctx: Context, opened: OpenedBody, options: SendStreamOptions): void {
  const tag = opaqueTagOf(opened.info.etag);
  ctx.set('Cache-Control', options.cacheControl);
  ctx.set('ETag', `"${tag}"`);
  if (isConditionalMethod(ctx) && ifNoneMatchMatches(ctx.get('If-None-Match'), tag)) {
    destroy(opened.stream);
    ctx.status = 304;
    return;
  }
  ctx.set('Content-Type', options.contentType);
  if (ctx.method === 'HEAD') {
    destroy(opened.stream);
    ctx.status = 200;
    ctx.length = opened.info.size;
    return;
  }
  ctx.body = toNodeStream(opened.stream);
  ctx.length = opened.info.size;
}

interface BufferResponse {
  contentType: string;
  cacheControl: string;
  /** Opaque tag of the bytes as given. */
  etag: string;
  /** How `bytes` are encoded. */
  stored: 'identity' | 'gzip';
  /** Whether the encoding is chosen per request (and so `Vary: Accept-Encoding` applies). */
  negotiate: boolean;
}

function sendBuffer(ctx: Context, bytes: Buffer, response: BufferResponse): void {
  const gzip = response.negotiate ? acceptsGzip(ctx) : response.stored === 'gzip';
  const tag = gzip ? `${response.etag}${GZIP_TAG_SUFFIX}` : response.etag;

  ctx.set('Cache-Control', response.cacheControl);
  ctx.set('ETag', `"${tag}"`);
  if (response.negotiate) ctx.vary('Accept-Encoding');
  if (isConditionalMethod(ctx) && ifNoneMatchMatches(ctx.get('If-None-Match'), tag)) {
    ctx.status = 304;
    return;
  }

  ctx.set('Content-Type', response.contentType);
  if (gzip) ctx.set('Content-Encoding', 'gzip');
  const sendsStoredBytes = (gzip ? 'gzip' : 'identity') === response.stored;
  if (ctx.method === 'HEAD') {
    ctx.status = 200;
    // The length of a body transformed on the way out is unknown without doing the work.
    if (sendsStoredBytes) ctx.length = bytes.length;
    return;
  }
  if (sendsStoredBytes) {
    ctx.body = bytes;
    return;
  }
  // Transform in a stream, so large bodies do not block the event loop.
  const transform = gzip ? createGzip() : createGunzip();
  transform.end(bytes);
  ctx.body = transform;
}

function acceptsGzip(ctx: Context): boolean {
  return ctx.acceptsEncodings('gzip', 'identity') === 'gzip';
}

function isConditionalMethod(ctx: Context): boolean {
  return ctx.method === 'GET' || ctx.method === 'HEAD';
}

function hashTag(bytes: Buffer): string {
  return createHash('sha1').update(bytes).digest('base64url');
}

function toNodeStream(stream: NodeJS.ReadableStream): Stream {
  return stream instanceof Stream ? stream : new Readable().wrap(stream);
}

function destroy(stream: NodeJS.ReadableStream): void {
  const destroyable = stream as NodeJS.ReadableStream & { destroy?: () => void };
  if (typeof destroyable.destroy === 'function') destroyable.destroy();
  else stream.resume();
}
