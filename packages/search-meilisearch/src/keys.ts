import { createHash } from 'node:crypto';
import { SEARCH_VARIANTS, type SearchVariant } from '@nucat/search';
import { MeilisearchBackendError } from './errors.js';

/** Longest document id Meilisearch accepts, in bytes. */
export const MAX_DOCUMENT_KEY_BYTES = 511;
/** Longest index uid Meilisearch accepts, in bytes. */
const MAX_INDEX_UID_BYTES = 400;
/** Meilisearch document ids and index uids may only use these characters. */
const MEILI_ID = /^[A-Za-z0-9_-]+$/;
/** Characters of a lower id kept as they are in a key; every other byte is written `_XX`. */
const KEPT = /[a-z0-9-]/;
/** Separates the variant from the encoded id; variants never contain `_`, so the first `__` is it. */
const SEPARATOR = '__';

/**
 * The Meilisearch document id (`key`) of one variant's document of one package id:
 * `${variant}__${encoded lowerId}`.
 *
 * Meilisearch ids allow only `[A-Za-z0-9_-]`, so the lower id is escaped: `a-z`, `0-9` and `-` are
 * kept, every other UTF-8 byte becomes `_` plus two upper-case hex digits (`.` → `_2E`, `_` → `_5F`).
 * The encoding is reversible ({@link decodeDocumentKey}). NuGet ids are ASCII and at most 100
 * characters, so keys stay far below the 511-byte limit; a longer legacy id (non-ASCII, mirrored
 * from elsewhere) falls back to `-` plus the SHA-256 of the id, which no escaped id can produce
 * because ids never start with `-`.
 *
 * @example encodeDocumentKey('semver2-stable', 'newtonsoft.json') // 'semver2-stable__newtonsoft_2Ejson'
 */
export function encodeDocumentKey(variant: SearchVariant, lowerId: string): string {
  let encoded = '';
  for (const char of lowerId) {
    if (KEPT.test(char)) {
      encoded += char;
      continue;
    }
    for (const byte of Buffer.from(char, 'utf8')) encoded += `_${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  let key = `${variant}${SEPARATOR}${encoded}`;
  if (Buffer.byteLength(key) > MAX_DOCUMENT_KEY_BYTES || encoded === '') {
    key = `${variant}${SEPARATOR}-${createHash('sha256').update(lowerId, 'utf8').digest('hex')}`;
  }
  return key;
}

/**
 * Reverses {@link encodeDocumentKey}.
 *
 * @returns undefined when `key` was not produced by {@link encodeDocumentKey}, or when it is a hashed
 *   key (whose id cannot be recovered).
 */
export function decodeDocumentKey(key: string): { variant: SearchVariant; lowerId: string } | undefined {
  const at = key.indexOf(SEPARATOR);
  if (at < 0) return undefined;
  const variant = SEARCH_VARIANTS.find((v) => v === key.slice(0, at));
  const encoded = key.slice(at + SEPARATOR.length);
  if (variant === undefined || encoded === '' || encoded.startsWith('-')) return undefined;
  const bytes: number[] = [];
  for (let i = 0; i < encoded.length; i++) {
    const char = encoded[i]!;
    if (char === '_') {
      const hex = encoded.slice(i + 1, i + 3);
      if (!/^[0-9A-F]{2}$/.test(hex)) return undefined;
      bytes.push(Number.parseInt(hex, 16));
      i += 2;
    } else if (KEPT.test(char)) {
      bytes.push(char.charCodeAt(0));
    } else {
      return undefined;
    }
  }
  const lowerId = Buffer.from(bytes).toString('utf8');
  // Reject non-canonical spellings (an escaped 'a', invalid UTF-8) so decoding is one-to-one.
  return encodeDocumentKey(variant, lowerId) === key ? { variant, lowerId } : undefined;
}

/**
 * Checks an index prefix: Meilisearch index uids may only use `[A-Za-z0-9_-]`.
 *
 * @throws MeilisearchBackendError (`search_backend_error`) when the prefix is empty, too long or
 *   uses another character.
 */
export function assertValidIndexPrefix(prefix: string): void {
  if (!MEILI_ID.test(prefix) || Buffer.byteLength(prefix) > MAX_INDEX_UID_BYTES - 40) {
    throw new MeilisearchBackendError(
      `The Meilisearch index prefix '${prefix.slice(0, 100)}' is not valid; use 1 to 360 characters from A-Z, a-z, 0-9, '_' and '-'.`,
      { option: 'indexPrefix' },
    );
  }
}

/**
 * The uid of a feed's index: `${indexPrefix}-feed-${feedId}`.
 *
 * @throws MeilisearchBackendError (`search_backend_error`) when `feedId` is not a non-negative safe integer.
 * @example feedIndexUid('nucat', 1) // 'nucat-feed-1'
 */
export function feedIndexUid(indexPrefix: string, feedId: number): string {
  if (!Number.isSafeInteger(feedId) || feedId < 0) {
    throw new MeilisearchBackendError(`The feed id must be a non-negative integer, got ${String(feedId)}.`, { feedId });
  }
  return `${indexPrefix}-feed-${feedId}`;
}
