/**
 * Words and filter values precomputed at indexing time. Meilisearch prefix-matches only the last
 * word of a query, never matches substrings and cannot tell which field matched, so every way the
 * contract lets a document match (a prefix of the id or of an id token, a substring of the id, a
 * run of adjacent words of one field) is stored as a list of exact values, and a query becomes
 * equality filters on those lists. Pure.
 */

/**
 * Longest run of adjacent words stored per field (see {@link wordRuns}). A query term of more
 * words matches when each of its runs of this length is present, which holds for adjacent words
 * and, rarely, for words that are not all adjacent.
 */
export const MAX_RUN_WORDS = 3;

/** Lowercases the ASCII letters only, as package ids are compared (never locale-dependent). */
export function asciiLower(text: string): string {
  return text.replace(/[A-Z]+/g, (s) => s.toLowerCase());
}

/**
 * The words of free text, lowercased, in order: runs of letters and digits (anything else
 * separates words). The same split is used for documents and query terms.
 *
 * @example textWords('A fast JSON (de)serializer') // ['a', 'fast', 'json', 'de', 'serializer']
 */
export function textWords(text: string): string[] {
  return text
    .toLowerCase()
    .split(/[^\p{L}\p{N}]+/u)
    .filter((word) => word !== '');
}

/** Every non-empty prefix of `word` (whole code points), shortest first, the word itself last. */
export function prefixesOf(word: string): string[] {
  const prefixes: string[] = [];
  let prefix = '';
  for (const char of word) {
    prefix += char;
    prefixes.push(prefix);
  }
  return prefixes;
}

/** Every prefix of every word, each once. */
export function prefixesOfAll(words: Iterable<string>): string[] {
  const out = new Set<string>();
  for (const word of words) for (const prefix of prefixesOf(word)) out.add(prefix);
  return [...out];
}

/** Every non-empty substring of `text` (whole code points), each once. A 100-character id has at most 5,050. */
export function substringsOf(text: string): string[] {
  const chars = Array.from(text);
  const values = new Set<string>();
  for (let start = 0; start < chars.length; start++) {
    let value = '';
    for (let end = start; end < chars.length; end++) {
      value += chars[end];
      values.add(value);
    }
  }
  return [...values];
}

/**
 * Every run of 1 to {@link MAX_RUN_WORDS} adjacent words, joined by a space, each once.
 *
 * @example wordRuns(['make', 'json', 'fast']) // ['make', 'make json', 'make json fast', 'json', 'json fast', 'fast']
 */
export function wordRuns(words: readonly string[]): string[] {
  const runs = new Set<string>();
  for (let start = 0; start < words.length; start++) {
    for (let length = 1; length <= MAX_RUN_WORDS && start + length <= words.length; length++) {
      runs.add(words.slice(start, start + length).join(' '));
    }
  }
  return [...runs];
}

/**
 * The stored runs a query's words need: the words themselves when there are at most
 * {@link MAX_RUN_WORDS}, else each window of that many adjacent words. Empty for no words.
 *
 * @example queryRuns(['a', 'b', 'c', 'd']) // ['a b c', 'b c d']
 */
export function queryRuns(words: readonly string[]): string[] {
  if (words.length <= MAX_RUN_WORDS) return words.length === 0 ? [] : [words.join(' ')];
  const runs = new Set<string>();
  for (let start = 0; start + MAX_RUN_WORDS <= words.length; start++) runs.add(words.slice(start, start + MAX_RUN_WORDS).join(' '));
  return [...runs];
}
