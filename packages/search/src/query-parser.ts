import { lowerNormalizedVersion, tryParseVersion } from '@nucat/nuget';
import type { ParsedQuery, SearchField } from './types.js';
import { cleanQueryText, MAX_QUERY_LENGTH, truncate } from './text.js';

/** Most terms (free and field terms together) kept from one query; the rest are dropped. */
export const MAX_QUERY_TERMS = 32;
/** Longest single term kept, in UTF-16 code units. */
export const MAX_TERM_LENGTH = 256;

/** Field names (lowercase) of the query syntax and the canonical field each one means. */
const FIELD_ALIASES: Readonly<Record<string, SearchField>> = {
  id: 'id',
  packageid: 'packageid',
  version: 'version',
  title: 'title',
  description: 'description',
  tag: 'tags',
  tags: 'tags',
  author: 'authors',
  authors: 'authors',
  summary: 'summary',
  owner: 'owners',
  owners: 'owners',
};

const FIELD_NAME = /^[A-Za-z]+$/;
/** A free term must hold a letter or a digit: the rest (`&`, `:*`, `(`) is punctuation no index keeps. */
const MEANINGFUL = /[\p{L}\p{N}]/u;

/** One whitespace-separated token: an optional field name and its (possibly quoted) text. */
interface Token {
  field?: string;
  text: string;
}

/**
 * Parses a search `q` with the nuget.org query syntax.
 *
 * - Terms are separated by whitespace; `"quoted phrases"` stay one term (a missing closing quote
 *   ends the phrase at the end of the text).
 * - `field:value` and `field:"a phrase"` set a field term. Field names are case-insensitive:
 *   `id`, `packageid`, `version`, `title`, `description`, `tag`/`tags`, `author`/`authors`,
 *   `summary`, `owner`/`owners`. A token with an unknown field name is dropped entirely
 *   (`invalid:jquery ui` means `ui`); an empty value (`id:`) is dropped too.
 * - Every term is lowercased. `version:` values that parse as versions become lowercase
 *   normalized versions (`version:1.0` means `1.0.0`).
 * - Free terms without any letter or digit (`&`, `|`, `:*`, `(`) are dropped; everything else is
 *   kept as literal text for the backend (which must treat it as such). Repeated terms collapse.
 * - Caps: control characters count as spaces; `q` is cut to {@link MAX_QUERY_LENGTH} characters
 *   before parsing; each term to {@link MAX_TERM_LENGTH}; at most {@link MAX_QUERY_TERMS} terms in all.
 *
 * @see https://learn.microsoft.com/en-us/nuget/consume-packages/finding-and-choosing-packages#search-syntax
 * @returns `{ terms: [], fields: {} }` for an empty or missing query (which matches everything).
 * @example parseSearchQuery('Json id:newtonsoft tags:"fast json"')
 *   // { terms: ['json'], fields: { id: ['newtonsoft'], tags: ['fast json'] } }
 */
export function parseSearchQuery(q: string | undefined): ParsedQuery {
  const parsed: ParsedQuery = { terms: [], fields: {} };
  let count = 0;
  for (const token of tokenize(cleanQueryText(q))) {
    if (count >= MAX_QUERY_TERMS) break;
    let text = truncate(token.text.toLowerCase().trim().replace(/\s+/g, ' '), MAX_TERM_LENGTH);
    if (text === '') continue;
    let list: string[];
    if (token.field === undefined) {
      if (!MEANINGFUL.test(text)) continue;
      list = parsed.terms;
    } else {
      const field = FIELD_ALIASES[token.field.toLowerCase()];
      if (field === undefined) continue;
      if (field === 'version') {
        const version = tryParseVersion(text);
        if (version !== undefined) text = lowerNormalizedVersion(version);
      }
      list = parsed.fields[field] ??= [];
    }
    if (list.includes(text)) continue;
    list.push(text);
    count++;
  }
  return parsed;
}

/**
 * Splits query text into tokens. A quote toggles phrase mode (the quote itself is dropped); a
 * colon before any quote, after a run of letters, ends a field name.
 */
function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let current: Token | undefined;
  let quoted = false;
  let sawQuote = false;
  const finish = (): void => {
    if (current !== undefined) tokens.push(current);
    current = undefined;
    sawQuote = false;
  };
  for (const char of text) {
    if (!quoted && /\s/u.test(char)) {
      finish();
      continue;
    }
    current ??= { text: '' };
    if (char === '"') {
      quoted = !quoted;
      sawQuote = true;
      continue;
    }
    if (char === ':' && !quoted && !sawQuote && current.field === undefined && FIELD_NAME.test(current.text)) {
      current.field = current.text;
      current.text = '';
      continue;
    }
    current.text += char;
  }
  finish();
  return tokens;
}

