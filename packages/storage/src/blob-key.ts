import { InvalidBlobKeyError } from './errors.js';

/** Longest accepted key, in characters. */
export const MAX_BLOB_KEY_LENGTH = 1024;

/** Longest accepted segment, in characters: the usual filesystem limit on one file name. */
export const MAX_BLOB_KEY_SEGMENT_LENGTH = 255;

/**
 * First segment reserved for the filesystem store's temporary files. Reserved for every store so that
 * all implementations accept exactly the same keys.
 */
export const RESERVED_BLOB_KEY_SEGMENT = '.tmp';

const SEGMENT = /^[A-Za-z0-9._+-]+$/;
const PREFIX_CHARS = /^[A-Za-z0-9._+\-/]*$/;

/**
 * Checks a blob key before any path or object name is built from it.
 *
 * A key is one or more segments of `[A-Za-z0-9._+-]+` joined by `/`: no leading or trailing `/`, no
 * empty, `.` or `..` segment, at most {@link MAX_BLOB_KEY_LENGTH} characters in all and
 * {@link MAX_BLOB_KEY_SEGMENT_LENGTH} per segment, and not under the
 * reserved `.tmp/` folder. Keys are case-sensitive.
 *
 * @throws InvalidBlobKeyError naming the rule the key breaks.
 * @example assertValidBlobKey('flatcontainer/contoso.widgets/1.0.0/contoso.widgets.1.0.0.nupkg');
 */
export function assertValidBlobKey(key: string): void {
  if (typeof key !== 'string' || key.length === 0) throw new InvalidBlobKeyError(String(key), 'key is empty');
  if (key.length > MAX_BLOB_KEY_LENGTH) {
    throw new InvalidBlobKeyError(key, `key is longer than ${MAX_BLOB_KEY_LENGTH} characters`);
  }
  const segments = key.split('/');
  for (const segment of segments) checkSegment(key, segment);
  if (segments[0] === RESERVED_BLOB_KEY_SEGMENT) {
    throw new InvalidBlobKeyError(key, `the "${RESERVED_BLOB_KEY_SEGMENT}/" folder is reserved`);
  }
}

/**
 * Checks a `list()` prefix and splits it into the folder to walk and the text every key must start with.
 * A prefix is any start of a valid key: `""`, `"a/"`, `"a/b"` (matches `a/b/c` and `a/bc`).
 *
 * @returns `directory`: the whole segments before the last `/` ("" for the root).
 * @throws InvalidBlobKeyError when no valid key can start with `prefix`.
 */
export function splitBlobKeyPrefix(prefix: string): { directory: string } {
  if (typeof prefix !== 'string') throw new InvalidBlobKeyError(String(prefix), 'prefix is not a string');
  if (prefix.length > MAX_BLOB_KEY_LENGTH) {
    throw new InvalidBlobKeyError(prefix, `prefix is longer than ${MAX_BLOB_KEY_LENGTH} characters`);
  }
  if (!PREFIX_CHARS.test(prefix)) {
    throw new InvalidBlobKeyError(prefix, 'prefix has characters outside [A-Za-z0-9._+-/]');
  }
  const slash = prefix.lastIndexOf('/');
  if (slash < 0) return { directory: '' };
  const directory = prefix.slice(0, slash);
  const segments = directory.split('/');
  for (const segment of segments) checkSegment(prefix, segment);
  if (segments[0] === RESERVED_BLOB_KEY_SEGMENT) {
    throw new InvalidBlobKeyError(prefix, `the "${RESERVED_BLOB_KEY_SEGMENT}/" folder is reserved`);
  }
  return { directory };
}

/** Non-throwing form of {@link assertValidBlobKey}, for filtering names found on disk. */
export function isValidBlobKey(key: string): boolean {
  try {
    assertValidBlobKey(key);
    return true;
  } catch {
    return false;
  }
}

function checkSegment(key: string, segment: string): void {
  if (segment.length === 0) {
    throw new InvalidBlobKeyError(key, 'key has an empty segment (leading, trailing or doubled "/")');
  }
  if (segment === '.' || segment === '..') throw new InvalidBlobKeyError(key, `key has a "${segment}" segment`);
  if (!SEGMENT.test(segment)) {
    throw new InvalidBlobKeyError(key, 'key has characters outside [A-Za-z0-9._+-] in a segment');
  }
  if (segment.length > MAX_BLOB_KEY_SEGMENT_LENGTH) {
    throw new InvalidBlobKeyError(key, `key has a segment longer than ${MAX_BLOB_KEY_SEGMENT_LENGTH} characters`);
  }
}
