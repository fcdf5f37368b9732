import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import busboy from 'busboy';

/** The upload exceeded the configured size limit (413). */
export class PayloadTooLargeError extends Error {
  readonly code = 'payload_too_large';
  constructor(limit: number) {
    super(`The package is larger than this feed's limit of ${limit} bytes.`);
    this.name = 'PayloadTooLargeError';
  }
}

/** The request body is not a package upload (400). */
export class InvalidRequestError extends Error {
  readonly code = 'invalid_request';
  constructor(message: string) {
    super(message);
    this.name = 'InvalidRequestError';
  }
}

/** An upload saved to a temporary file, with its SHA-512 computed on the way. */
export interface ReceivedUpload {
  file: string;
  size: number;
  /** Standard base64 SHA-512 of the bytes (the catalog's packageHash). */
  sha512: string;
  remove(): Promise<void>;
}

/** Counts and hashes bytes on their way to disk, failing past the limit. */
function meter(limit: number, hash: ReturnType<typeof createHash>, counter: { size: number }) {
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      counter.size += chunk.length;
      if (counter.size > limit) return done(new PayloadTooLargeError(limit));
      hash.update(chunk);
      done(null, chunk);
    },
  });
}

/**
 * Streams a push body to a temp file under a size limit, never buffering it in memory.
 * Accepts `multipart/form-data` (the first file part is the package; part names and file names
 * are ignored, as the protocol says) or a raw body (`application/octet-stream`).
 * https://learn.microsoft.com/nuget/api/package-publish-resource#push-a-package
 */
export async function receiveUpload(
  req: Readable & { headers: Record<string, string | string[] | undefined> },
  options: { maxBytes: number; tempDir: string },
): Promise<ReceivedUpload> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  // The official client streams chunked; when a length is declared, refuse before reading.
  if (Number.isFinite(declared) && declared > options.maxBytes + 64 * 1024) throw new PayloadTooLargeError(options.maxBytes);
  await mkdir(options.tempDir, { recursive: true });
  const file = join(options.tempDir, `upload-${randomUUID()}.nupkg`);
  // A write stream that fails or is destroyed early may still be opening (creating) the file: removing
  // the file before the stream has closed can leave it behind, created a moment after its removal.
  let stream: WriteStream | undefined;
  const openFile = () => (stream = createWriteStream(file));
  const remove = async () => {
    if (stream) await closed(stream);
    await rm(file, { force: true });
  };
  const hash = createHash('sha512');
  const counter = { size: 0 };
  const contentType = String(req.headers['content-type'] ?? '');
  try {
    if (/^multipart\/form-data/i.test(contentType)) {
      await receiveFirstPart(req, contentType, openFile, options.maxBytes, hash, counter);
    } else if (contentType === '' || /^application\/(octet-stream|zip)/i.test(contentType)) {
      await receiveRawBody(req, openFile, options.maxBytes, hash, counter);
    } else {
      throw new InvalidRequestError(`Unsupported Content-Type '${contentType.slice(0, 100)}': send multipart/form-data or application/octet-stream.`);
    }
    if (counter.size === 0) throw new InvalidRequestError('The request contains no package.');
    return { file, size: counter.size, sha512: hash.digest('base64'), remove };
  } catch (err) {
    await remove();
    throw err;
  }
}

/** Resolves once `stream` has closed, destroying it first if it is still open. */
function closed(stream: WriteStream): Promise<void> {
  if (stream.closed) return Promise.resolve();
  return new Promise((resolve) => {
    stream.once('close', () => resolve());
    stream.destroy();
  });
}

/**
 * Streams a raw body to a new file. The request is piped rather than handed to `pipeline()`, which would
 * destroy it on failure, and with it the socket: the client would see a reset instead of the 413.
 * On failure the request is drained instead, as for multipart, until the response closes the connection.
 */
async function receiveRawBody(
  req: Readable,
  openFile: () => WriteStream,
  maxBytes: number,
  hash: ReturnType<typeof createHash>,
  counter: { size: number },
): Promise<void> {
  const metered = meter(maxBytes, hash, counter);
  req.on('error', (err) => metered.destroy(err)); // client gone: fail the write below
  req.pipe(metered);
  try {
    await pipeline(metered, openFile());
  } catch (err) {
    req.unpipe(metered);
    req.resume();
    throw err;
  }
}

function receiveFirstPart(
  req: Readable & { headers: Record<string, string | string[] | undefined> },
  contentType: string,
  openFile: () => WriteStream,
  maxBytes: number,
  hash: ReturnType<typeof createHash>,
  counter: { size: number },
): Promise<void> {
  return new Promise((resolve, reject) => {
    let bb: busboy.Busboy;
    try {
      bb = busboy({ headers: { ...req.headers, 'content-type': contentType }, limits: { files: 1, fields: 16, parts: 32, fieldSize: 64 * 1024 } });
    } catch (err) {
      reject(new InvalidRequestError(`Malformed multipart request: ${(err as Error).message}`));
      return;
    }
    let written: Promise<void> | undefined;
    let settled = false;
    const fail = (err: unknown) => {
      if (settled) return;
      settled = true;
      req.unpipe(bb);
      req.resume();
      reject(err);
    };
    bb.on('file', (_name, stream) => {
      if (written) {
        stream.resume(); // only the first part is the package
        return;
      }
      written = pipeline(stream, meter(maxBytes, hash, counter), openFile());
      written.catch(fail);
    });
    bb.on('error', (err) => fail(err instanceof PayloadTooLargeError ? err : new InvalidRequestError(`Malformed multipart request: ${(err as Error).message}`)));
    bb.on('close', () => {
      if (!written) return fail(new InvalidRequestError('The multipart request has no file part.'));
      written.then(() => {
        if (!settled) {
          settled = true;
          resolve();
        }
      }, fail);
    });
    req.on('error', fail);
    req.pipe(bb);
  });
}
