import { describe, expect, it } from 'vitest';
import { SEARCH_VARIANTS } from '@nucat/search';
import { MeilisearchBackendError } from './errors.js';
import { assertValidIndexPrefix, decodeDocumentKey, encodeDocumentKey, feedIndexUid, MAX_DOCUMENT_KEY_BYTES } from './keys.js';

const MEILI_ID = /^[A-Za-z0-9_-]+$/;

const IDS = [
  'newtonsoft.json',
  'acme.http-client_utils',
  'a',
  '_',
  '__',
  'x_5f',
  'x_2e',
  'con',
  '1.2.3',
  'a'.repeat(100),
  'a.'.repeat(49) + 'a',
  'jsоn', // Cyrillic о: a legacy id mirrored from elsewhere
  'ünïcödé.日本語',
  '🎉',
];

describe('encodeDocumentKey', () => {
  it('writes the variant, two underscores and the escaped lower id', () => {
    expect(encodeDocumentKey('semver2-stable', 'newtonsoft.json')).toBe('semver2-stable__newtonsoft_2Ejson');
    expect(encodeDocumentKey('semver1-prerelease', 'acme.http-client_utils')).toBe('semver1-prerelease__acme_2Ehttp-client_5Futils');
  });

  it("uses only Meilisearch's id characters and stays within its length limit", () => {
    for (const variant of SEARCH_VARIANTS) {
      for (const lowerId of [...IDS, 'x'.repeat(10_000), '日'.repeat(100), "'\"\\ %*"]) {
        const key = encodeDocumentKey(variant, lowerId);
        expect(key, lowerId).toMatch(MEILI_ID);
        expect(Buffer.byteLength(key), lowerId).toBeLessThanOrEqual(MAX_DOCUMENT_KEY_BYTES);
      }
    }
  });

  it('gives different ids different keys, and the same id the same key', () => {
    const keys = new Set<string>();
    for (const variant of SEARCH_VARIANTS) for (const lowerId of IDS) keys.add(encodeDocumentKey(variant, lowerId));
    expect(keys.size).toBe(SEARCH_VARIANTS.length * IDS.length);
    expect(encodeDocumentKey('semver1-stable', 'x_2e')).not.toBe(encodeDocumentKey('semver1-stable', 'x.'));
    expect(encodeDocumentKey('semver1-stable', 'a.b')).toBe(encodeDocumentKey('semver1-stable', 'a.b'));
  });

  it('falls back to a hash for an id too long to escape, which no escaped id can look like', () => {
    const key = encodeDocumentKey('semver1-stable', '日'.repeat(100));
    expect(key).toMatch(/^semver1-stable__-[0-9a-f]{64}$/);
    expect(encodeDocumentKey('semver1-stable', '日'.repeat(50))).not.toMatch(/__-/);
  });
});

describe('decodeDocumentKey', () => {
  it('round-trips every escaped key', () => {
    for (const variant of SEARCH_VARIANTS) {
      for (const lowerId of IDS) {
        expect(decodeDocumentKey(encodeDocumentKey(variant, lowerId)), lowerId).toEqual({ variant, lowerId });
      }
    }
  });

  it('returns undefined for hashed keys and for keys it did not write', () => {
    expect(decodeDocumentKey(encodeDocumentKey('semver1-stable', 'x'.repeat(1000)))).toBeUndefined();
    for (const key of ['', 'semver1-stable', 'semver1-stable__', 'semver3-stable__a', 'semver1-stable__A', 'semver1-stable__a_2', 'semver1-stable__a_2e', 'semver1-stable___61', 'semver1-stable__a_FF']) {
      expect(decodeDocumentKey(key), key).toBeUndefined();
    }
  });
});

describe('feedIndexUid', () => {
  it('names the index of a feed after the prefix', () => {
    expect(feedIndexUid('nucat', 1)).toBe('nucat-feed-1');
    expect(feedIndexUid('nucat-test-0f3c', 0)).toBe('nucat-test-0f3c-feed-0');
  });

  it('refuses feed ids that are not non-negative integers', () => {
    for (const feedId of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 60]) {
      expect(() => feedIndexUid('nucat', feedId), String(feedId)).toThrow(MeilisearchBackendError);
    }
  });
});

describe('assertValidIndexPrefix', () => {
  it("accepts Meilisearch's index uid characters", () => {
    expect(() => assertValidIndexPrefix('nucat')).not.toThrow();
    expect(() => assertValidIndexPrefix('Nucat_test-1')).not.toThrow();
  });

  it('refuses empty, too long or other characters, naming the option', () => {
    for (const prefix of ['', 'a b', 'a.b', 'a/b', 'é', 'x'.repeat(361)]) {
      expect(() => assertValidIndexPrefix(prefix), prefix).toThrow(/index prefix/);
    }
    try {
      assertValidIndexPrefix('a b');
    } catch (error) {
      expect(error).toBeInstanceOf(MeilisearchBackendError);
      expect((error as MeilisearchBackendError).code).toBe('search_backend_error');
      expect((error as MeilisearchBackendError).details).toEqual({ option: 'indexPrefix' });
    }
  });
});
