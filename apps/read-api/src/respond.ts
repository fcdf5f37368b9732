import { createGunzip } from 'node:zlib';
import type Koa from 'koa';
import { ifNoneMatchMatches } from '@nucat/http';
import type { BlobDocument, LargeBlob } from './local-blobs.js';

/** How a stored document is answered. */
export interface DocumentResponse {
  /** The `Content-Type` value. */
  contentType: string;
  /** The `Cache-Control` value. */
  cacheControl: string;
  /**
   * The stored bytes are gzip (a gz registration hive): sent as `Content-Encoding: gzip` when the client
   * accepts gzip, decompressed on the way out otherwise, with `Vary: Accept-Encoding`. The gzip
   * representation's tag ends in `-gzip` (one strong tag per encoding, RFC 9110 §8.8.3).
   * @defaultValue false
   */
  storedGzip?: boolean;
  /**
   * Which validator is the entity tag: `content` (SHA-1 of the bytes, as `sendBytes` of `@nucat/http`)
   * or `file` (the store's `BlobInfo.etag`, as `sendStream`: `.nupkg` files).
   * @defaultValue 'content'
   */
  tag?: 'content' | 'file';
}

/** Same suffix as `@nucat/http`'s `sendBytes`. */
const GZIP_TAG_SUFFIX = '-gzip';

/**
 * Whether the client accepts gzip, by its `Accept-Encoding` header. The answer depends on the header
 * alone, and clients send few distinct values, so the negotiation runs once per value (up to 256 kept).
 */
const gzipByAcceptEncoding = new Map<string | undefined, boolean>();

function acceptsGzip(ctx: Koa.Context): boolean {
  const header = ctx.req.headers['accept-encoding'];
  let accepted = gzipByAcceptEncoding.get(header);
  if (accepted === undefined) {
    accepted = ctx.acceptsEncodings('gzip', 'identity') === 'gzip';
    if (gzipByAcceptEncoding.size < 256) gzipByAcceptEncoding.set(header, accepted);
  }
  return accepted;
}

function isConditionalMethod(ctx: Koa.Context): boolean {
  return ctx.method === 'GET' || ctx.method === 'HEAD';
}

function notModified(ctx: Koa.Context, tag: string): boolean {
  const header = ctx.req.headers['if-none-match'];
  return header !== undefined && isConditionalMethod(ctx) && ifNoneMatchMatches(header, tag);
}

/**
 * Answers with a document read whole: the same headers, entity tags, 304 and HEAD rules as
 * `sendBytes` (or `sendStream` for `tag: 'file'`) of `@nucat/http`, without hashing the bytes again
 * (the document keeps its tag) or negotiating the same `Accept-Encoding` value twice.
 */
export function sendDocument(ctx: Koa.Context, doc: BlobDocument, response: DocumentResponse): void {
  const storedGzip = response.storedGzip === true;
  const gzip = storedGzip && acceptsGzip(ctx);
  const baseTag = response.tag === 'file' && doc.fileTag !== undefined ? doc.fileTag : doc.contentTag;
  const tag = gzip ? `${baseTag}${GZIP_TAG_SUFFIX}` : baseTag;

  ctx.set('Cache-Control', response.cacheControl);
  ctx.set('ETag', `"${tag}"`);
  if (storedGzip) ctx.vary('Accept-Encoding');
  if (notModified(ctx, tag)) {
    ctx.status = 304;
    return;
  }
  ctx.set('Content-Type', response.contentType);
  if (gzip) ctx.set('Content-Encoding', 'gzip');
  const sendsStoredBytes = gzip === storedGzip;
  if (ctx.method === 'HEAD') {
    ctx.status = 200;
    // The length of a body decompressed on the way out is unknown without doing the work.
    if (sendsStoredBytes) ctx.length = doc.bytes.length;
    return;
  }
  if (sendsStoredBytes) {
    ctx.body = doc.bytes;
    return;
  }
  // Decompress in a stream, so a large body does not block the event loop.
  const gunzip = createGunzip();
  gunzip.end(doc.bytes);
  ctx.body = gunzip;
}

/**
 * Sends a large blob (a `.nupkg`): `Content-Length` from its size, its file tag as ETag, 304 on a
 * matching `If-None-Match`; for 304 and HEAD the file is released unread. Never compressed. A local
 * file is written to the socket by {@link LargeBlob.writeTo} (Koa does not touch that response
 * further); other blobs are streamed as Koa's body.
 */
export function sendLargeBlob(ctx: Koa.Context, blob: LargeBlob, response: { contentType: string; cacheControl: string }): void {
  const tag = blob.fileTag;
  ctx.set('Cache-Control', response.cacheControl);
  ctx.set('ETag', `"${tag}"`);
  if (notModified(ctx, tag)) {
    blob.discard();
    ctx.status = 304;
    return;
  }
  ctx.set('Content-Type', response.contentType);
  if (ctx.method === 'HEAD') {
    blob.discard();
    ctx.status = 200;
    ctx.length = blob.size;
    return;
  }
  if (blob.writeTo === undefined) {
    ctx.body = blob.stream();
    ctx.length = blob.size;
    return;
  }
  ctx.status = 200;
  ctx.length = blob.size;
  ctx.respond = false;
  blob.writeTo(ctx.res, (error) => ctx.app.emit('error', error, ctx));
}
