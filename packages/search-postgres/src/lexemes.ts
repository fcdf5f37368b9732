/**
 * Tokenizing and tsvector/tsquery text for the PostgreSQL search backend. Pure.
 *
 * PostgreSQL's own text search parser is not used: it reads `Newtonsoft.Json` as one "host" token
 * and `foo-bar` as a hyphenated word, and its query syntax (`& | ! :* ( ) <->`) must never see user
 * text. Instead the backend splits text itself into words of letters, marks and digits, and writes
 * tsvector and tsquery *literals* whose lexemes hold nothing but those characters (plus the whole
 * id's `.`, `-`, `_` and a field prefix's `:`), each quoted. PostgreSQL's tsvector and tsquery input
 * functions take such lexemes verbatim (no parser, no dictionary).
 *
 * Positions are real word positions, so that a term of several words (`"fast json"`,
 * `newtonsoft.json`) can be matched as a phrase: its words adjacent and in order. Consecutive
 * pieces of text (fields, tags, authors) are separated by an unused position so that no phrase
 * spans two of them.
 *
 * A piece of text with camelCase words is written twice, as two runs of positions separated by an
 * unused one: first its whole words (`microsoft aspnetcore mvc`), then the same words with each
 * camelCase word replaced by its parts (`microsoft asp net core mvc`). A query word is one position
 * whatever it matches, so every phrase a query can ask for lines up in one of the runs: the whole
 * words as typed in an id (`Microsoft.AspNetCore.Mvc`, `aspnetcore.mvc`, lowercased or not) in the
 * first, the parts (`"json helpers"`, `asp.net.core`) in the second. A single run giving a
 * camelCase word one position per part and its whole at the first of them cannot serve both:
 * `microsoft.aspnetcore.mvc` would need `mvc` right after `aspnetcore`, three positions away.
 */
import type { SearchDocument } from '@nucat/search';

/** Longest lexeme kept, in code points; longer words are cut (well under PostgreSQL's 2 KB lexeme limit). */
export const MAX_LEXEME_LENGTH = 128;
/** Longest piece of document text indexed, in UTF-16 code units (keeps a tsvector far below its 1 MB limit). */
export const MAX_INDEXED_TEXT_LENGTH = 20_000;
/** Most words one tsquery holds; further words are dropped (fewer words match a superset). */
export const MAX_QUERY_WORDS = 64;
/** PostgreSQL keeps at most 256 positions per lexeme and none above 16383. */
const MAX_POSITIONS_PER_LEXEME = 250;
const MAX_POSITION = 16_383;

const WORD = /[\p{L}\p{M}\p{N}]+/gu;
/** Boundaries inside a word: `newtonSoft`, `Log4Net` (lower or digit → upper), `XMLParser` (upper → upper + lower). */
const CAMEL_BOUNDARY = /(?<=[\p{Ll}\p{N}])(?=\p{Lu})|(?<=\p{Lu})(?=\p{Lu}\p{Ll})/u;

/** The text fields of a document, as named by the query syntax. */
export type TextField = 'title' | 'tags' | 'description' | 'authors' | 'summary';
/** tsvector weights in use: A id, B title/tags, C description/authors/summary. */
export type Weight = 'A' | 'B' | 'C';

/** Lowercases the ASCII letters only, as package ids are compared (never locale-dependent). */
export function asciiLower(text: string): string {
  return text.replace(/[A-Z]+/g, (s) => s.toLowerCase());
}

function cut(lexeme: string): string {
  if (lexeme.length <= MAX_LEXEME_LENGTH) return lexeme;
  return Array.from(lexeme).slice(0, MAX_LEXEME_LENGTH).join('');
}

/** One word of document text and, for a camelCase word, its parts (`JsonHelpers` → `json`, `helpers`). */
interface Word {
  whole: string;
  parts: string[];
}

function words(text: string): Word[] {
  return (text.slice(0, MAX_INDEXED_TEXT_LENGTH).normalize('NFKC').match(WORD) ?? []).map((word) => {
    const parts = word.split(CAMEL_BOUNDARY);
    return { whole: cut(word.toLowerCase()), parts: parts.length > 1 ? parts.map((p) => cut(p.toLowerCase())) : [] };
  });
}

/**
 * The lexemes of a piece of document text: every word (run of letters, marks and digits), lowercased,
 * plus the parts of camelCase words (`JsonSerializer` → `jsonserializer`, `json`, `serializer`).
 * Separators such as `.`, `-`, `_` and spaces split words.
 */
export function textLexemes(text: string): string[] {
  return [...new Set(words(text).flatMap((w) => [w.whole, ...w.parts]))];
}

/**
 * The lexemes of a package id: the whole lowercased id first, then its tokens split on `.`, `-`,
 * `_` and camelCase boundaries (`Newtonsoft.Json` → `newtonsoft.json`, `newtonsoft`, `json`).
 */
export function idLexemes(id: string): string[] {
  return [...new Set([cut(asciiLower(id)), ...textLexemes(id)])];
}

/**
 * The words of one query term, lowercased and in order (`"Fast JSON"` → `fast`, `json`;
 * `a&b:*` → `a`, `b`). Empty when the term holds no letter or digit.
 */
export function queryWords(term: string): string[] {
  return (term.normalize('NFKC').match(WORD) ?? []).map((word) => cut(word.toLowerCase()));
}

/** Quotes a lexeme for tsvector/tsquery input (`'` doubled, `\` escaped). */
export function quoteLexeme(lexeme: string): string {
  return `'${lexeme.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

/** Collects lexemes with positions and weights, then writes them as tsvector text. */
class VectorBuilder {
  readonly #positions = new Map<string, { position: number; weight?: Weight }[]>();
  #next = 1;

  /**
   * Adds the words of one piece of text at the next positions, then leaves a gap: the whole words,
   * and when some are camelCase, a gap and the words again with those split into their parts.
   */
  addText(text: string, options: { weight?: Weight; prefix?: string; first?: string } = {}): void {
    const prefix = options.prefix ?? '';
    const list = words(text);
    if (options.first !== undefined) this.#add(prefix + options.first, this.#next, options.weight);
    for (const word of list) this.#add(prefix + word.whole, this.#next++, options.weight);
    if (list.some((word) => word.parts.length > 0)) {
      this.#next += 1;
      for (const word of list) {
        for (const part of word.parts.length > 0 ? word.parts : [word.whole]) this.#add(prefix + part, this.#next++, options.weight);
      }
    }
    this.#next += 1;
  }

  #add(lexeme: string, position: number, weight: Weight | undefined): void {
    let list = this.#positions.get(lexeme);
    if (list === undefined) this.#positions.set(lexeme, (list = []));
    const entry = weight === undefined ? { position: Math.min(position, MAX_POSITION) } : { position: Math.min(position, MAX_POSITION), weight };
    if (list.some((e) => e.position === entry.position && e.weight === entry.weight)) return;
    // Past the cap, keep only the first position of a weight not seen yet (weights decide the rank).
    if (list.length >= MAX_POSITIONS_PER_LEXEME && list.some((e) => e.weight === weight)) return;
    list.push(entry);
  }

  toString(): string {
    return [...this.#positions]
      .map(([lexeme, list]) => `${quoteLexeme(lexeme)}:${list.map((e) => `${e.position}${e.weight ?? ''}`).join(',')}`)
      .join(' ');
  }
}

/**
 * The weighted search vector of a document as tsvector text: id words weight A (plus the whole
 * lowercased id), title and tags B, description, authors and summary C.
 */
export function searchVectorText(document: SearchDocument): string {
  const vector = new VectorBuilder();
  vector.addText(document.id, { weight: 'A', first: cut(asciiLower(document.lowerId)) });
  vector.addText(document.title, { weight: 'B' });
  for (const tag of document.tags) vector.addText(tag, { weight: 'B' });
  vector.addText(document.description, { weight: 'C' });
  for (const author of document.authors) vector.addText(author, { weight: 'C' });
  vector.addText(document.summary, { weight: 'C' });
  return vector.toString();
}

/** Field-tagged lexemes (`title:json`, `tags:json`, …) with positions as tsvector text, for field queries. */
export function fieldVectorText(document: SearchDocument): string {
  const vector = new VectorBuilder();
  const fields: [TextField, string[]][] = [
    ['title', [document.title]],
    ['tags', document.tags],
    ['description', [document.description]],
    ['authors', document.authors],
    ['summary', [document.summary]],
  ];
  for (const [field, texts] of fields) for (const text of texts) vector.addText(text, { prefix: `${field}:` });
  return vector.toString();
}

/**
 * tsquery text for terms that must all match (AND); the words of one term must match as a phrase
 * (adjacent, in order). Each word matches as a prefix, optionally only at the given weights, and
 * may carry a prefix (a field tag such as `title:`). Undefined when the terms hold no word.
 *
 * @example termsQueryText(['fast json', 'net']) // "('fast':* <-> 'json':*) & ('net':*)"
 */
export function termsQueryText(terms: readonly string[], options: { weights?: string; prefix?: string } = {}): string | undefined {
  const weights = options.weights ?? '';
  const prefix = options.prefix ?? '';
  let budget = MAX_QUERY_WORDS;
  const parts: string[] = [];
  for (const term of terms) {
    const list = queryWords(term).slice(0, budget);
    if (list.length === 0) continue;
    budget -= list.length;
    parts.push(`(${list.map((word) => `${quoteLexeme(prefix + word)}:*${weights}`).join(' <-> ')})`);
    if (budget === 0) break;
  }
  return parts.length === 0 ? undefined : parts.join(' & ');
}

/** Escapes `text` for a LIKE pattern whose escape character is `!`. */
export function escapeLike(text: string): string {
  return text.replace(/[!%_]/g, (c) => `!${c}`);
}
