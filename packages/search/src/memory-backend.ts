import { assertDocumentsOf, sortedOwners } from './check-documents.js';
import type {
  DownloadTotals,
  PackageOwners,
  ParsedQuery,
  SearchBackend,
  SearchDocument,
  SearchHit,
  SearchQuery,
  SearchResult,
  SearchVariant,
} from './types.js';
import { tokenizeId } from './tokenize.js';

/**
 * How well a document matches, best first: the id equals the term, the id starts with it, a token
 * or a word of the id starts with it (or the term's words are a run of them), or some other field
 * matches.
 */
const Tier = { ExactId: 0, IdPrefix: 1, IdToken: 2, OtherField: 3 } as const;
type Tier = (typeof Tier)[keyof typeof Tier];

/** One indexed document with the words the matcher needs, computed once at write time. */
interface Entry {
  document: SearchDocument;
  /** The id split on `.`, `-`, `_` and camelCase (`microsoft`, `asp`, `net`, `core`, `mvc`). */
  idTokens: string[];
  /** The id split on `.`, `-`, `_` only (`microsoft`, `aspnetcore`, `mvc`). */
  idWords: string[];
  title: string[];
  description: string[];
  summary: string[];
  tags: string[][];
  authors: string[][];
  packageTypes: string[];
}

interface Feed {
  /** Documents by lowerId, then by variant. */
  documents: Map<string, Map<SearchVariant, Entry>>;
  /** Downloads by lowerId, then by lowerVersion. */
  downloads: Map<string, Record<string, number>>;
}

/**
 * An in-memory {@link SearchBackend} for tests and single-process development. It is the
 * reference implementation of the contract's query semantics and passes
 * `runSearchBackendContract` like the real backends. Nothing survives `close()`.
 *
 * Matching: ids are tokenized on `.`, `-`, `_` and camelCase; other fields on anything that is
 * not a letter or digit. A free term matches the id (exactly, as a prefix, or as a prefix of a
 * token or of a whole word between separators: `aspnet` and `core` both match
 * `Microsoft.AspNetCore.Mvc`) or appears as whole words, adjacent and in order, in the id tokens,
 * the id's words, title, tags, description, authors or summary.
 */
export function createMemorySearchBackend(): SearchBackend {
  const feeds = new Map<number, Feed>();
  let closed = false;

  const feedOf = (feedId: number): Feed => {
    if (closed) throw new Error('The in-memory search backend is closed.');
    let feed = feeds.get(feedId);
    if (feed === undefined) {
      feed = { documents: new Map(), downloads: new Map() };
      feeds.set(feedId, feed);
    }
    return feed;
  };

  const hitOf = (feed: Feed, entry: Entry): SearchHit => {
    const downloads = { ...(feed.downloads.get(entry.document.lowerId) ?? {}) };
    const totalDownloads = Object.values(downloads).reduce((sum, n) => sum + n, 0);
    return { document: structuredClone(entry.document), totalDownloads, downloads };
  };

  const rank = <T extends { tier: Tier; entry: Entry }>(feed: Feed, matches: T[]): T[] => {
    const total = (entry: Entry): number =>
      Object.values(feed.downloads.get(entry.document.lowerId) ?? {}).reduce((sum, n) => sum + n, 0);
    return matches.sort(
      (a, b) =>
        a.tier - b.tier ||
        total(b.entry) - total(a.entry) ||
        compareOrdinal(a.entry.document.lowerId, b.entry.document.lowerId),
    );
  };

  const inVariant = (feed: Feed, variant: SearchVariant, packageType: string | undefined): Entry[] => {
    const wanted = packageType?.toLowerCase();
    const entries: Entry[] = [];
    for (const byVariant of feed.documents.values()) {
      const entry = byVariant.get(variant);
      if (entry === undefined) continue;
      if (wanted !== undefined && !entry.packageTypes.includes(wanted)) continue;
      entries.push(entry);
    }
    return entries;
  };

  return {
    async replacePackage(feedId: number, lowerId: string, documents: SearchDocument[]): Promise<void> {
      assertDocumentsOf(lowerId, documents);
      const feed = feedOf(feedId);
      if (documents.length === 0) {
        feed.documents.delete(lowerId);
        feed.downloads.delete(lowerId);
        return;
      }
      const byVariant = new Map<SearchVariant, Entry>();
      for (const document of documents) {
        if (document.lowerId !== lowerId) {
          throw new Error(`A document of "${document.lowerId}" was given to replace "${lowerId}".`);
        }
        byVariant.set(document.variant, toEntry({ ...structuredClone(document), owners: sortedOwners(document.owners) }));
      }
      feed.documents.set(lowerId, byVariant);
    },

    async setDownloads(feedId: number, totals: DownloadTotals[]): Promise<void> {
      const feed = feedOf(feedId);
      for (const total of totals) {
        if (feed.documents.has(total.lowerId)) feed.downloads.set(total.lowerId, { ...total.versions });
      }
    },

    async setOwners(feedId: number, owners: PackageOwners[]): Promise<void> {
      const feed = feedOf(feedId);
      for (const entry of owners) {
        for (const stored of feed.documents.get(entry.lowerId)?.values() ?? []) stored.document.owners = sortedOwners(entry.owners);
      }
    },

    async search(feedId: number, query: SearchQuery): Promise<SearchResult> {
      const feed = feedOf(feedId);
      const matches: { tier: Tier; entry: Entry }[] = [];
      for (const entry of inVariant(feed, query.variant, query.packageType)) {
        const tier = matchQuery(entry, query.query);
        if (tier !== undefined) matches.push({ tier, entry });
      }
      const ranked = rank(feed, matches);
      return {
        totalHits: ranked.length,
        hits: ranked.slice(query.skip, query.skip + query.take).map((m) => hitOf(feed, m.entry)),
      };
    },

    async autocompleteIds(feedId, options): Promise<{ totalHits: number; ids: string[] }> {
      const feed = feedOf(feedId);
      const prefix = options.prefix.toLowerCase();
      const matches: { tier: Tier; entry: Entry }[] = [];
      for (const entry of inVariant(feed, options.variant, options.packageType)) {
        const tier = prefix === '' ? Tier.IdPrefix : matchIdPrefix(entry, prefix);
        if (tier !== undefined) matches.push({ tier, entry });
      }
      const ranked = rank(feed, matches);
      return {
        totalHits: ranked.length,
        ids: ranked.slice(options.skip, options.skip + options.take).map((m) => m.entry.document.id),
      };
    },

    async autocompleteVersions(feedId, options): Promise<string[] | undefined> {
      const entry = feedOf(feedId).documents.get(options.lowerId)?.get(options.variant);
      return entry?.document.versions.map((v) => v.version);
    },

    async flush(): Promise<void> {},

    async close(): Promise<void> {
      closed = true;
      feeds.clear();
    },
  };
}

function toEntry(document: SearchDocument): Entry {
  return {
    document,
    idTokens: tokenizeId(document.id),
    idWords: words(document.id),
    title: words(document.title),
    description: words(document.description),
    summary: words(document.summary),
    tags: document.tags.map(words),
    authors: document.authors.map(words),
    packageTypes: document.packageTypes.map((t) => t.toLowerCase()),
  };
}

/** Lowercase words of free text: runs of letters and digits. */
function words(text: string): string[] {
  return text
    .toLowerCase()
    .split(/[^\p{L}\p{N}]+/u)
    .filter((word) => word !== '');
}

/** True when `needle` (non-empty) appears in `haystack` as adjacent items, in order. */
function containsRun(haystack: readonly string[], needle: readonly string[]): boolean {
  if (needle.length === 0) return false;
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

function matchIdPrefix(entry: Entry, prefix: string): Tier | undefined {
  const lowerId = entry.document.lowerId;
  if (lowerId === prefix) return Tier.ExactId;
  if (lowerId.startsWith(prefix)) return Tier.IdPrefix;
  if (entry.idTokens.some((token) => token.startsWith(prefix))) return Tier.IdToken;
  if (entry.idWords.some((word) => word.startsWith(prefix))) return Tier.IdToken;
  return undefined;
}

/** The best tier at which every term of the query matches; undefined when one does not. */
function matchQuery(entry: Entry, query: ParsedQuery): Tier | undefined {
  let best: Tier = Tier.OtherField;
  for (const term of query.terms) {
    const tier = matchTerm(entry, term);
    if (tier === undefined) return undefined;
    if (tier < best) best = tier;
  }
  for (const [field, values] of Object.entries(query.fields)) {
    for (const value of values ?? []) {
      if (!matchField(entry, field as keyof ParsedQuery['fields'], value)) return undefined;
    }
  }
  return best;
}

function matchTerm(entry: Entry, term: string): Tier | undefined {
  const idTier = matchIdPrefix(entry, term);
  if (idTier !== undefined) return idTier;
  const termWords = words(term);
  // A run of id words (`aspnetcore.mvc`, `"asp net core"`) ranks with the id tokens.
  if (containsRun(entry.idTokens, termWords) || containsRun(entry.idWords, termWords)) return Tier.IdToken;
  const fields = [entry.title, entry.description, entry.summary, ...entry.tags, ...entry.authors];
  return fields.some((field) => containsRun(field, termWords)) ? Tier.OtherField : undefined;
}

function matchField(entry: Entry, field: keyof ParsedQuery['fields'], value: string): boolean {
  const valueWords = words(value);
  switch (field) {
    case 'id':
      return entry.document.lowerId.includes(value);
    case 'packageid':
      return entry.document.lowerId === value;
    case 'version':
      return entry.document.versions.some((v) => v.lowerVersion === value);
    case 'title':
      return containsRun(entry.title, valueWords);
    case 'description':
      return containsRun(entry.description, valueWords);
    case 'summary':
      return containsRun(entry.summary, valueWords);
    case 'tags':
      return entry.tags.some((tag) => containsRun(tag, valueWords));
    case 'authors':
      return entry.authors.some((author) => containsRun(author, valueWords));
    case 'owners':
      return entry.document.owners.includes(value.toLowerCase());
  }
}

function compareOrdinal(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
