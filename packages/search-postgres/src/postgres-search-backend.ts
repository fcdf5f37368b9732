import { sql, type Kysely, type RawBuilder, type Transaction } from 'kysely';
import type { Database } from '@nucat/db';
import type {
  DownloadTotals,
  SearchBackend,
  SearchDocument,
  SearchHit,
  SearchQuery,
  SearchResult,
  SearchVariant,
} from '@nucat/search';
import { assertDocumentsOf, sortedOwners } from '@nucat/search';
import { SearchUnavailableError } from './errors.js';
import {
  asciiLower,
  escapeLike,
  fieldVectorText,
  idLexemes,
  queryWords,
  searchVectorText,
  termsQueryText,
  type TextField,
} from './lexemes.js';

/** Options of {@link createPostgresSearchBackend}. */
export interface PostgresSearchBackendOptions {
  /** The database (migrated to latest). The backend never closes it: its owner does. */
  db: Kysely<Database>;
  /** Statement timeout of each search and autocomplete query, in milliseconds. @defaultValue 5000 */
  statementTimeoutMs?: number;
}

/** Namespace (first key) of the advisory locks that serialise `replacePackage` per id. */
const REPLACE_LOCK_NAMESPACE = 0x5ea4c4;
/** Ids per `setDownloads` statement. */
const DOWNLOADS_CHUNK = 1000;
/** SQLSTATE of a statement cancelled by `statement_timeout` (or by a cancel request). */
const QUERY_CANCELED = '57014';

const TEXT_FIELDS: readonly TextField[] = ['title', 'tags', 'description', 'authors', 'summary'];

/** A fragment of a WHERE clause or of the ranking expression. */
type Fragment = RawBuilder<unknown>;

interface Ranking {
  /** Terms whose match on the id decides the rank tier, joined by a space. */
  whole: string;
  /** Those terms. */
  terms: readonly string[];
}

/**
 * The rows one search or autocomplete asks for: a feed's variant, narrowed by `filters`, ranked by
 * `tier` (when the query has terms to rank by) and then by downloads and lower id.
 */
interface Selection {
  feedId: number;
  variant: SearchVariant;
  /** The package type condition, if any. */
  packageType: Fragment[];
  /** Conditions of the query text (terms, fields, autocomplete prefix). */
  filters: Fragment[];
  /** The rank tier of a row (higher first); undefined when every match ranks alike. */
  tier: Fragment | undefined;
}

/** A page of hits and the number of all matches. */
interface Page<Row> {
  totalHits: number;
  rows: Row[];
}

/** A row of {@link selectMatches}: the count, and a hit of the page unless the page is empty. */
interface CountedRow {
  total_hits: string;
  page_lower_id: string | null;
}

interface HitRow {
  document: unknown;
  total_downloads: string;
  downloads: Record<string, number> | null;
  owners: string[] | null;
}

interface IdRow {
  id: string;
}

/**
 * A {@link SearchBackend} over PostgreSQL full-text search and pg_trgm, in the `search_documents`
 * table of `@nucat/db`.
 *
 * - Each document is stored whole (jsonb) with a weighted tsvector (id tokens A, title/tags B,
 *   description/authors/summary C), a field-tagged tsvector for `title:`-style queries, its
 *   lower-cased package types and lower-case versions, and its download counts.
 * - Words are matched as prefixes; all free terms must match. Ranking: exact id, then id prefix,
 *   then every term in the id's tokens, then every term in id/title/tags, then anything else; within
 *   a tier by total downloads, then by lower-case id (byte order).
 * - A page is found from narrow columns (lower id, tier, downloads) and only its rows' documents
 *   are read; the total is an exact count of the same conditions, never of the jsonb. See
 *   {@link findPage}.
 * - Every search runs in its own read-only REPEATABLE READ transaction (page and count see one
 *   snapshot) with `statement_timeout` set locally; a timeout throws {@link SearchUnavailableError}
 *   (`unavailable`, 503).
 * - `flush()` does nothing (writes are visible when they resolve); `close()` does nothing (the
 *   database belongs to the caller).
 *
 * @example
 * const backend = createPostgresSearchBackend({ db });
 * await backend.replacePackage(1, 'contoso.widgets', documents);
 * const { totalHits, hits } = await backend.search(1, { query: parseSearchQuery('widgets'), variant: 'semver2-stable', skip: 0, take: 20 });
 */
export function createPostgresSearchBackend(options: PostgresSearchBackendOptions): SearchBackend {
  const { db } = options;
  const timeoutMs = options.statementTimeoutMs ?? 5_000;

  /** Runs read queries in one snapshot, in a transaction whose statement_timeout ends with it. */
  async function withTimeout<T>(fn: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
    try {
      return await db.transaction().setIsolationLevel('repeatable read').setAccessMode('read only').execute(async (trx) => {
        // JIT compiling the larger scans costs tens of milliseconds and buys nothing for these expressions.
        await sql`SELECT set_config('statement_timeout', ${String(timeoutMs)}, true), set_config('jit', 'off', true)`.execute(trx);
        return fn(trx);
      });
    } catch (error) {
      if ((error as { code?: unknown } | null)?.code === QUERY_CANCELED) {
        throw new SearchUnavailableError(`The search query took longer than ${timeoutMs} ms.`, { reason: 'statement_timeout' }, { cause: error });
      }
      throw error;
    }
  }

  return {
    async replacePackage(feedId, lowerId, documents) {
      assertDocumentsOf(lowerId, documents);
      await db.transaction().execute(async (trx) => {
        // Two workers replacing the same id at once must not interleave their delete and insert.
        await sql`SELECT pg_advisory_xact_lock(${REPLACE_LOCK_NAMESPACE}, hashtext(${`${feedId}:${lowerId}`}))`.execute(trx);
        const removed = await trx
          .deleteFrom('search_documents')
          .where('feed_id', '=', feedId)
          .where('lower_id', '=', lowerId)
          .returning(['downloads'])
          .execute();
        if (documents.length === 0) return;
        // Download counts belong to the id, not to a document version: keep them across a replace.
        // An id new to the index starts from the counters' table (setDownloads ignored it until now).
        let downloads: Record<string, number> = {};
        if (removed.length > 0) {
          for (const row of removed) downloads = { ...downloads, ...(row.downloads ?? {}) };
        } else {
          const counted = await trx
            .selectFrom('package_downloads')
            .select(['lower_version', 'downloads'])
            .where('feed_id', '=', feedId)
            .where('lower_id', '=', lowerId)
            .execute();
          for (const row of counted) downloads[row.lower_version] = Number(row.downloads);
        }
        const total = sumDownloads(downloads);
        await trx
          .insertInto('search_documents')
          .values(
            documents.map((document) => ({
              feed_id: feedId,
              variant: document.variant,
              lower_id: lowerId,
              // Owners live in their own column only: the owner sync changes them without the document.
              document: JSON.stringify({ ...document, owners: undefined }),
              search_vector: searchVectorText(document),
              field_vector: fieldVectorText(document),
              id_tokens: idLexemes(document.id).join(' '),
              total_downloads: total,
              downloads: JSON.stringify(downloads),
              package_types: [...new Set(document.packageTypes.map((name) => name.toLowerCase()))],
              versions: document.versions.map((v) => v.lowerVersion.toLowerCase()),
              owners: sortedOwners(document.owners),
            })),
          )
          .execute();
      });
    },

    async setDownloads(feedId, totals) {
      // Last entry wins when an id repeats (UPDATE … FROM with two matches would pick either).
      const byId = new Map<string, Record<string, number>>();
      for (const entry of totals) byId.set(asciiLower(entry.lowerId), cleanDownloads(entry.versions));
      const rows = [...byId].map(([lower_id, downloads]) => ({ lower_id, downloads, total: sumDownloads(downloads) }));
      for (let i = 0; i < rows.length; i += DOWNLOADS_CHUNK) {
        const chunk = JSON.stringify(rows.slice(i, i + DOWNLOADS_CHUNK));
        await sql`
          UPDATE search_documents AS s
             SET downloads = t.downloads, total_downloads = t.total, updated_at = now()
            FROM jsonb_to_recordset(${chunk}::jsonb) AS t(lower_id text, downloads jsonb, total bigint)
           WHERE s.feed_id = ${feedId} AND s.lower_id = t.lower_id
             -- The sync sends an id again for a while after it changed: rewriting a wide row (and its
             -- index entries) with the same counts would only bloat the table.
             AND (s.total_downloads IS DISTINCT FROM t.total OR s.downloads IS DISTINCT FROM t.downloads)`.execute(db);
      }
    },

    async setOwners(feedId, owners) {
      // Last entry wins when an id repeats.
      const byId = new Map<string, string[]>();
      for (const entry of owners) byId.set(asciiLower(entry.lowerId), sortedOwners(entry.owners));
      const rows = [...byId].map(([lower_id, names]) => ({ lower_id, owners: names }));
      for (let i = 0; i < rows.length; i += DOWNLOADS_CHUNK) {
        const chunk = JSON.stringify(rows.slice(i, i + DOWNLOADS_CHUNK));
        await sql`
          UPDATE search_documents AS s
             SET owners = t.owners, updated_at = now()
            FROM jsonb_to_recordset(${chunk}::jsonb) AS t(lower_id text, owners text[])
           WHERE s.feed_id = ${feedId} AND s.lower_id = t.lower_id AND s.owners IS DISTINCT FROM t.owners`.execute(db);
      }
    },

    async search(feedId, query) {
      const selection: Selection = {
        feedId,
        variant: query.variant,
        packageType: packageTypeFilter(query.packageType),
        filters: queryFilters(query),
        tier: rankTier(rankingTerms(query)),
      };
      return withTimeout(async (trx) => {
        const page = await findPage<HitRow>(trx, selection, query.skip, query.take, sql`d.document, d.total_downloads, d.downloads, d.owners`);
        return { totalHits: page.totalHits, hits: page.rows.map(toHit) } satisfies SearchResult;
      });
    },

    async autocompleteIds(feedId, options) {
      const prefix = asciiLower(options.prefix).trim();
      const selection: Selection = {
        feedId,
        variant: options.variant,
        packageType: packageTypeFilter(options.packageType),
        filters: [],
        tier: undefined,
      };
      if (prefix !== '') {
        const words = queryWords(prefix);
        // A token can start with the prefix only when the prefix is a single word (`json`, not `json.n`).
        const single = words.length === 1 && words[0] === prefix;
        const tokenQuery = single ? termsQueryText([prefix], { weights: 'A' }) : undefined;
        const idPrefix = prefix.includes('\0') ? sql`false` : sql`lower_id LIKE ${`${escapeLike(prefix)}%`} ESCAPE '!'`;
        selection.filters.push(tokenQuery === undefined ? idPrefix : sql`(${idPrefix} OR search_vector @@ ${tokenQuery}::tsquery)`);
        selection.tier = rankTier({ whole: prefix, terms: single ? [prefix] : [] });
      }
      return withTimeout(async (trx) => {
        const page = await findPage<IdRow>(trx, selection, options.skip, options.take, sql`d.document->>'id' AS id`);
        return { totalHits: page.totalHits, ids: page.rows.map((row) => row.id) };
      });
    },

    async autocompleteVersions(feedId, options) {
      const lowerId = asciiLower(options.lowerId);
      if (lowerId.includes('\0')) return undefined;
      const row = await withTimeout((trx) =>
        trx
          .selectFrom('search_documents')
          .select('document')
          .where('feed_id', '=', feedId)
          .where('variant', '=', options.variant)
          .where('lower_id', '=', lowerId)
          .executeTakeFirst(),
      );
      return row === undefined ? undefined : toDocument(row.document, []).versions.map((v) => v.version);
    },

    async flush() {},

    async close() {},
  };
}

/** Counts must be whole, non-negative numbers; anything else counts as 0. */
function cleanDownloads(versions: DownloadTotals['versions']): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [version, count] of Object.entries(versions)) {
    out[version.toLowerCase()] = Number.isFinite(count) && count > 0 ? Math.floor(count) : 0;
  }
  return out;
}

function sumDownloads(downloads: Record<string, number>): number {
  let total = 0;
  for (const count of Object.values(downloads)) total += count;
  return total;
}

/** `packageType` filter: a case-insensitive name; empty or absent means any type. */
function packageTypeFilter(packageType: string | undefined): Fragment[] {
  if (packageType === undefined || packageType.trim() === '') return [];
  const name = packageType.trim().toLowerCase();
  return [name.includes('\0') ? sql`false` : sql`${name} = ANY(package_types)`];
}

/**
 * The WHERE conditions of a parsed query. User text only ever reaches PostgreSQL as a bound
 * parameter: tsquery text built from letter/digit words (see lexemes.ts), LIKE patterns with
 * escaped wildcards, or plain values compared with `=`. Text that cannot be stored (NUL) cannot
 * match anything either, so it becomes `false`.
 */
function queryFilters(search: SearchQuery): Fragment[] {
  const { terms, fields } = search.query;
  const where: Fragment[] = [];
  // Every term must match: its words (`"fast json"`, `newtonsoft.json`) as a phrase, or the whole
  // term as the start of the id. The phrase alone finds ids typed in full (lexemes.ts lines the
  // words up); the id prefix makes sure, whatever the tokenizer does, that an id is found by its
  // own text, as `packageid:` and autocomplete find it. A term without words is ignored.
  for (const term of terms) {
    const phrase = termsQueryText([term]);
    if (phrase === undefined) continue;
    const lower = asciiLower(term).trim();
    where.push(
      lower.includes('\0') || /\s/.test(lower)
        ? sql`search_vector @@ ${phrase}::tsquery`
        : sql`(search_vector @@ ${phrase}::tsquery OR lower_id LIKE ${`${escapeLike(lower)}%`} ESCAPE '!')`,
    );
  }

  for (const value of fields.id ?? []) {
    // `id:x` matches ids with x as a token prefix or a substring. Every id token is a substring of
    // the lowercased id, so "contains" covers both (and the trigram index serves it).
    const lower = asciiLower(value);
    where.push(lower.includes('\0') ? sql`false` : sql`lower_id LIKE ${`%${escapeLike(lower)}%`} ESCAPE '!'`);
  }
  for (const value of fields.packageid ?? []) {
    const lower = asciiLower(value).trim();
    where.push(lower.includes('\0') ? sql`false` : sql`lower_id = ${lower}`);
  }
  for (const value of fields.version ?? []) {
    const lower = value.toLowerCase().trim();
    where.push(lower.includes('\0') ? sql`false` : sql`${lower} = ANY(versions)`);
  }
  for (const value of fields.owners ?? []) {
    // Owner names are stored lowercase; the array operator compares whole names, so `%` and `_` are literal.
    const lower = asciiLower(value).trim();
    where.push(lower.includes('\0') ? sql`false` : sql`owners @> ARRAY[${lower}]::text[]`);
  }
  for (const field of TEXT_FIELDS) {
    for (const value of fields[field] ?? []) {
      const text = termsQueryText([value], { prefix: `${field}:` });
      // A value without any word (`title:&&`) has nothing to match and is ignored, like such a free term.
      if (text !== undefined) where.push(sql`field_vector @@ ${text}::tsquery`);
    }
  }
  return where;
}

/** The terms whose match on the id ranks a hit: the free terms, else the `id:` values. */
function rankingTerms(search: SearchQuery): Ranking | undefined {
  const { terms, fields } = search.query;
  const source = terms.length > 0 ? terms : (fields.id ?? []);
  if (source.length === 0) return undefined;
  return { whole: asciiLower(source.join(' ')).trim(), terms: source };
}

/**
 * The rank tier of a row: 4 exact id, 3 id starts with the query, 2 every term matches the id's
 * tokens, 1 every term matches in the id, title or tags, 0 otherwise (description, authors, summary).
 */
function rankTier(ranking: Ranking | undefined): Fragment | undefined {
  if (ranking === undefined) return undefined;
  const cases: Fragment[] = [];
  if (ranking.whole !== '' && !ranking.whole.includes('\0')) {
    cases.push(sql`WHEN lower_id = ${ranking.whole} THEN 4`);
    cases.push(sql`WHEN lower_id LIKE ${`${escapeLike(ranking.whole)}%`} ESCAPE '!' THEN 3`);
  }
  const inId = termsQueryText(ranking.terms, { weights: 'A' });
  const inIdOrTitle = termsQueryText(ranking.terms, { weights: 'AB' });
  if (inId !== undefined) cases.push(sql`WHEN search_vector @@ ${inId}::tsquery THEN 2`);
  if (inIdOrTitle !== undefined) cases.push(sql`WHEN search_vector @@ ${inIdOrTitle}::tsquery THEN 1`);
  if (cases.length === 0) return undefined;
  return sql`CASE ${sql.join(cases, sql` `)} ELSE 0 END`;
}

/**
 * One page of matches, best first, and the number of all matches; `columns` are read (from `d`,
 * the page's rows) for the page only.
 *
 * Pages are found from narrow columns (`lower_id`, `total_downloads`, the tier) and only the rows
 * of the page are joined back by primary key for their documents, so sorting thousands of matches
 * never carries (or spills) jsonb. How the page and the count are found depends on the query:
 *
 * - Nothing but the variant and maybe a package type (the "Browse" tab): `count(*)` of the variant
 *   (an index-only scan: the primary key, or the browse index, which includes `package_types`), then
 *   the page from the browse index `(feed_id, variant, total_downloads DESC, lower_id)`, which stops
 *   after the page.
 * - Text terms or fields: the matches are found once, through the GIN/trigram/btree indexes of their
 *   conditions, into a materialised set of narrow rows that gives both the count and the page (a
 *   top-N sort). Counting needs every match anyway, and the set is a barrier the planner cannot
 *   see through: it never walks the browse index testing each row, which is what a selective
 *   field query (`tags:redis`) ordered by downloads tempted it into.
 */
async function findPage<Row>(trx: Transaction<Database>, selection: Selection, skip: number, take: number, columns: Fragment): Promise<Page<Row>> {
  const offset = clampSkip(skip);
  const limit = clampTake(take);
  if (selection.tier === undefined && selection.filters.length === 0) {
    const totalHits = await countMatches(trx, selection);
    if (limit === 0 || offset >= totalHits) return { totalHits, rows: [] };
    const result = await sql<Row>`
      SELECT ${columns}
        FROM (SELECT lower_id, total_downloads FROM search_documents WHERE ${matchConditions(selection)}
               ORDER BY total_downloads DESC, lower_id LIMIT ${limit} OFFSET ${offset}) AS page
        JOIN search_documents AS d ON d.feed_id = ${selection.feedId} AND d.variant = ${selection.variant} AND d.lower_id = page.lower_id
       ORDER BY page.total_downloads DESC, page.lower_id`.execute(trx);
    return { totalHits, rows: result.rows };
  }
  return selectMatches<Row>(trx, selection, offset, limit, columns);
}

/** The page and the count from one pass over the matches (see {@link findPage}). */
async function selectMatches<Row>(
  trx: Transaction<Database>,
  selection: Selection,
  offset: number,
  limit: number,
  columns: Fragment,
): Promise<Page<Row>> {
  const tier = selection.tier ?? sql`0`;
  const order = selection.tier === undefined ? sql`total_downloads DESC, lower_id` : sql`tier DESC, total_downloads DESC, lower_id`;
  // One row even for an empty page (skip past the end, take 0): the count comes with every row.
  const result = await sql<CountedRow & Row>`
    WITH matches AS MATERIALIZED (
           SELECT lower_id, total_downloads, ${tier} AS tier FROM search_documents WHERE ${matchConditions(selection)}),
         page AS (
           SELECT lower_id, total_downloads, tier FROM matches ORDER BY ${order} LIMIT ${limit} OFFSET ${offset})
    SELECT (SELECT count(*) FROM matches) AS total_hits, page.lower_id AS page_lower_id, ${columns}
      FROM (SELECT) AS one
      LEFT JOIN (page JOIN search_documents AS d
                   ON d.feed_id = ${selection.feedId} AND d.variant = ${selection.variant} AND d.lower_id = page.lower_id) ON true
     ORDER BY page.tier DESC, page.total_downloads DESC, page.lower_id`.execute(trx);
  const first = result.rows[0];
  return {
    totalHits: Number(first?.total_hits ?? 0),
    rows: result.rows.filter((row) => row.page_lower_id !== null),
  };
}

function matchConditions(selection: Selection): Fragment {
  const { feedId, variant, packageType, filters } = selection;
  return sql.join([sql`feed_id = ${feedId}`, sql`variant = ${variant}`, ...packageType, ...filters], sql` AND `);
}

/** Counts every match (used for the empty query only: an index-only count, see {@link findPage}). */
async function countMatches(trx: Transaction<Database>, selection: Selection): Promise<number> {
  const result = await sql<{ count: string }>`SELECT count(*) AS count FROM search_documents WHERE ${matchConditions(selection)}`.execute(trx);
  return Number(result.rows[0]?.count ?? 0);
}

function clampSkip(skip: number): number {
  return Number.isFinite(skip) && skip > 0 ? Math.floor(skip) : 0;
}

function clampTake(take: number): number {
  return Number.isFinite(take) && take > 0 ? Math.floor(take) : 0;
}

function toHit(row: HitRow): SearchHit {
  return { document: toDocument(row.document, row.owners ?? []), totalDownloads: Number(row.total_downloads), downloads: { ...(row.downloads ?? {}) } };
}

/** Rebuilds a document from its jsonb (which does not keep key order) in the interface's key order. */
function toDocument(raw: unknown, owners: string[]): SearchDocument {
  const d = raw as SearchDocument;
  return {
    lowerId: d.lowerId,
    variant: d.variant,
    id: d.id,
    version: d.version,
    versions: d.versions.map((v) => ({ version: v.version, lowerVersion: v.lowerVersion })),
    title: d.title,
    description: d.description,
    summary: d.summary,
    tags: d.tags,
    authors: d.authors,
    iconUrl: d.iconUrl,
    licenseUrl: d.licenseUrl,
    projectUrl: d.projectUrl,
    packageTypes: d.packageTypes,
    lastCommitTimestamp: d.lastCommitTimestamp,
    owners: [...owners],
  };
}
