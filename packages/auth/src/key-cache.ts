import { createHash } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '@nucat/db';
import { verifyApiKey, type ApiKeyGrant } from './api-keys.js';

/** Options of {@link createCachedKeyVerifier}. */
export interface CachedKeyVerifierOptions {
  db: Kysely<Database>;
  feedId: number;
  /**
   * How long a verified key is trusted without asking the database again, in ms. This is also the
   * longest a revoked key keeps working on the read side.
   * @defaultValue 10000
   */
  ttlMs?: number;
  /** Most keys remembered; the least recently used one is dropped first. @defaultValue 1000 */
  maxEntries?: number;
  /** Clock, in epoch ms. @defaultValue Date.now */
  now?: () => number;
}

/** Verifies API keys, remembering the ones that verified for a short while. */
export interface CachedKeyVerifier {
  /**
   * The grant of a presented key, from memory when it verified less than `ttlMs` ago (and has not
   * expired since), else from {@link verifyApiKey} — which throws AuthError for a key that is
   * missing, unknown, wrong, expired or revoked. Failures are never remembered.
   * Concurrent calls for the same key share one database lookup.
   */
  verify(presented: string): Promise<ApiKeyGrant>;
  /** How many keys are remembered now (verified, or being verified). */
  readonly size: number;
  /** Forgets every key. */
  clear(): void;
}

interface Entry {
  /** Epoch ms after which the entry is not used. */
  until: number;
  grant: Promise<ApiKeyGrant>;
}

/**
 * A bounded, short-lived, in-memory cache in front of {@link verifyApiKey}, so a restore — hundreds
 * of requests carrying the same Basic credentials — costs one database lookup, not one per request.
 *
 * Entries are keyed by a SHA-256 of the whole presented key, so the plain key is not kept and a
 * wrong secret sharing a real key's lookup part never hits the cache. An entry lives `ttlMs`, or
 * until the key's own expiry when that comes first.
 */
export function createCachedKeyVerifier(options: CachedKeyVerifierOptions): CachedKeyVerifier {
  const { db, feedId } = options;
  const ttlMs = options.ttlMs ?? 10_000;
  const maxEntries = options.maxEntries ?? 1000;
  const now = options.now ?? Date.now;
  if (!(ttlMs >= 0) || !Number.isInteger(maxEntries) || maxEntries < 0) {
    throw new RangeError('ttlMs must be ≥ 0 and maxEntries a whole number ≥ 0');
  }
  // A Map iterates in insertion order: re-inserting on every hit keeps the least recently used first.
  const entries = new Map<string, Entry>();

  const remember = (id: string, entry: Entry): void => {
    entries.set(id, entry);
    while (entries.size > maxEntries) entries.delete(entries.keys().next().value!);
  };

  return {
    async verify(presented) {
      if (ttlMs === 0 || maxEntries === 0) return verifyApiKey(db, feedId, presented);
      const id = createHash('sha256').update(presented, 'utf8').digest('base64');
      const cached = entries.get(id);
      if (cached) {
        entries.delete(id);
        if (cached.until > now()) {
          entries.set(id, cached);
          return cached.grant;
        }
      }
      const entry: Entry = { until: now() + ttlMs, grant: verifyApiKey(db, feedId, presented) };
      remember(id, entry);
      try {
        const grant = await entry.grant;
        if (grant.expiresAt) entry.until = Math.min(entry.until, grant.expiresAt.getTime());
        return grant;
      } catch (error) {
        if (entries.get(id) === entry) entries.delete(id);
        throw error;
      }
    },
    get size() {
      return entries.size;
    },
    clear() {
      entries.clear();
    },
  };
}
