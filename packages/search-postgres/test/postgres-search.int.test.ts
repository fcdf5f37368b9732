import { PostgresQueryCompiler, sql, type CompiledQuery, type Kysely } from 'kysely';
import type { Database } from '@nucat/db';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createDb, migrateToLatest, type Db } from '@nucat/db';
import { parseSearchQuery, type SearchDocument, type SearchQuery, type SearchVariant } from '@nucat/search';
import { runSearchBackendContract, SEARCH_CONTRACT_FEED_IDS } from '@nucat/search/contract';
import { createTestDatabase, type TestDatabase } from '@nucat/testing';
import { createPostgresSearchBackend, SearchUnavailableError } from '../src/index.js';

runSearchBackendContract('postgres', async () => {
  const database = await createTestDatabase();
  const db = createDb({ url: database.url, poolSize: 4 });
  await migrateToLatest(db);
  // search_documents.feed_id references feeds: the suite's second feed must exist.
  await sql`INSERT INTO feeds (id, name) SELECT f, 'contract-' || f FROM unnest(${[...SEARCH_CONTRACT_FEED_IDS]}::int[]) AS f
            ON CONFLICT DO NOTHING`.execute(db);
  return {
    backend: createPostgresSearchBackend({ db }),
    async cleanup() {
      await db.destroy();
      await database.drop();
    },
  };
});

const FEED = 1;
const VARIANT: SearchVariant = 'semver2-stable';

function doc(id: string, overrides: Partial<SearchDocument> = {}): SearchDocument {
  const lowerId = id.toLowerCase();
  return {
    lowerId,
    variant: VARIANT,
    id,
    version: '1.0.0',
    versions: [{ version: '1.0.0', lowerVersion: '1.0.0' }],
    title: '',
    description: `The ${id} package.`,
    summary: '',
    tags: [],
    authors: ['Contoso'],
    iconUrl: '',
    licenseUrl: '',
    projectUrl: '',
    packageTypes: ['Dependency'],
    lastCommitTimestamp: '2025-03-01T10:00:00.000Z',
    owners: [],
    ...overrides,
  };
}

function query(q: string, extra: Partial<SearchQuery> = {}): SearchQuery {
  return { query: parseSearchQuery(q), variant: VARIANT, skip: 0, take: 20, ...extra };
}

describe('postgres search backend (PostgreSQL specifics)', () => {
  let database: TestDatabase;
  let db: Db;

  beforeAll(async () => {
    database = await createTestDatabase();
    db = createDb({ url: database.url, poolSize: 4 });
    await migrateToLatest(db);
  });
  afterAll(async () => {
    await db?.destroy();
    await database?.drop();
  });
  beforeEach(async () => {
    await db.deleteFrom('search_documents').execute();
    await db.deleteFrom('package_downloads').execute();
  });

  it('creates pg_trgm as the non-superuser database owner', async () => {
    const { rows } = await sql<{ extname: string }>`SELECT extname FROM pg_extension WHERE extname = 'pg_trgm'`.execute(db);
    expect(rows).toEqual([{ extname: 'pg_trgm' }]);
    const role = await sql<{ rolsuper: boolean }>`SELECT rolsuper FROM pg_roles WHERE rolname = current_user`.execute(db);
    expect(role.rows[0]?.rolsuper).toBe(false);
  });

  it('has GIN indexes on both tsvectors for each variant and a trigram index on lower_id', async () => {
    const { rows } = await sql<{ indexname: string; indexdef: string }>`
      SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'search_documents' ORDER BY indexname`.execute(db);
    const gin = Object.fromEntries(rows.filter((r) => r.indexdef.includes('USING gin')).map((r) => [r.indexname, r.indexdef]));
    for (const variant of ['semver1-stable', 'semver1-prerelease', 'semver2-stable', 'semver2-prerelease']) {
      const suffix = variant.replace('-', '_');
      expect(gin[`search_documents_search_vector_${suffix}`]).toMatch(new RegExp(`\\(search_vector\\) WHERE \\(variant = '${variant}'::text\\)`));
      expect(gin[`search_documents_field_vector_${suffix}`]).toMatch(new RegExp(`\\(field_vector\\) WHERE \\(variant = '${variant}'::text\\)`));
    }
    expect(gin['search_documents_lower_id_trgm']).toContain('gin_trgm_ops');
    const browse = rows.find((r) => r.indexname === 'search_documents_browse')?.indexdef;
    expect(browse).toContain('(feed_id, variant, total_downloads DESC, lower_id) INCLUDE (package_types)');
  });

  describe('query plans over a larger index', () => {
    const ROWS = 10_000;
    beforeEach(async () => {
      // Every row tagged `common`, five `rare`; one in fifty a tool; documents of some size (as real
      // ones are, so that reading the table costs more than reading an index). Analysed and
      // vacuumed (statistics, visibility map) like a live index.
      await sql`
        INSERT INTO search_documents (feed_id, variant, lower_id, document, search_vector, field_vector, id_tokens, total_downloads, package_types, versions)
        SELECT 1, 'semver2-stable', 'contoso.p' || g, ${JSON.stringify(doc('Contoso.P', { description: 'x'.repeat(600) }))}::jsonb || jsonb_build_object('id', 'Contoso.P' || g, 'lowerId', 'contoso.p' || g), '''contoso'':1A',
               (CASE WHEN g % 2000 = 0 THEN '''tags:common'':1 ''tags:rare'':3' ELSE '''tags:common'':1' END)::tsvector, 'contoso',
               g, CASE WHEN g % 50 = 0 THEN '{dotnettool}'::text[] ELSE '{dependency}'::text[] END, '{1.0.0}'
          FROM generate_series(1, ${ROWS}) AS g`.execute(db);
      await sql`VACUUM ANALYZE search_documents`.execute(db);
    });

    /** The plans (EXPLAIN ANALYZE) of the statements one search runs, and its result. */
    async function plansOf(run: (backend: ReturnType<typeof createPostgresSearchBackend>) => Promise<unknown>): Promise<string[]> {
      const compiler = new PostgresQueryCompiler();
      const captured: CompiledQuery[] = [];
      const logged: Kysely<Database> = db.withPlugin({
        transformQuery: (args) => {
          captured.push(compiler.compileQuery(args.node, args.queryId));
          return args.node;
        },
        transformResult: async (args) => args.result,
      });
      await run(createPostgresSearchBackend({ db: logged }));
      const plans: string[] = [];
      for (const query of captured.filter((q) => q.sql.includes('search_documents'))) {
        const { rows } = await db.executeQuery<{ 'QUERY PLAN': string }>({ ...query, sql: `EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) ${query.sql}` });
        plans.push(rows.map((row) => row['QUERY PLAN']).join('\n'));
      }
      return plans;
    }

    it('browses from the browse index, stopping after the page, and counts from an index only', async () => {
      const plans = await plansOf(async (backend) => {
        const result = await backend.search(FEED, query('', { take: 20 }));
        expect(result.totalHits).toBe(ROWS);
        expect(result.hits[0]?.document.id).toBe(`Contoso.P${ROWS}`);
      });
      const joined = plans.join('\n');
      expect(joined).toMatch(/Index Only Scan using search_documents_\w+ on search_documents \(actual rows=10000 /);
      expect(joined).toMatch(/Index Only Scan using search_documents_browse on search_documents \(actual rows=20 /);
      expect(joined).not.toContain('Sort Method: external');
    });

    it('counts and pages the empty query with a package type from the browse index alone', async () => {
      const plans = await plansOf(async (backend) => {
        expect((await backend.search(FEED, query('', { packageType: 'DotnetTool' }))).totalHits).toBe(ROWS / 50);
      });
      for (const plan of plans) expect(plan).toMatch(/Index Only Scan using search_documents_browse/);
    });

    it("finds a selective field query through the variant's GIN index, not by walking the browse index", async () => {
      const plans = await plansOf(async (backend) => {
        const result = await backend.search(FEED, query('tags:rare'));
        expect(result.totalHits).toBe(ROWS / 2000);
      });
      expect(plans).toHaveLength(1);
      expect(plans[0]).toContain('Bitmap Index Scan on search_documents_field_vector_semver2_stable');
      expect(plans[0]).not.toContain('search_documents_browse');
    });
  });

  it('answers an id substring (LIKE) from the trigram index', async () => {
    // Enough rows, analysed, for the planner to prefer the index over a scan of the table.
    await createPostgresSearchBackend({ db }).replacePackage(FEED, 'newtonsoft.json', [doc('Newtonsoft.Json')]);
    await sql`
      INSERT INTO search_documents (feed_id, variant, lower_id, document, search_vector, field_vector, id_tokens, package_types, versions)
      SELECT 1, 'semver2-stable', 'contoso.' || md5(g::text), '{}', '', '', '', '{dependency}', '{1.0.0}'
        FROM generate_series(1, 5000) AS g`.execute(db);
    await sql`ANALYZE search_documents`.execute(db);
    const { rows } = await sql<{ 'QUERY PLAN': string }>`
      EXPLAIN SELECT lower_id FROM search_documents WHERE feed_id = 1 AND lower_id LIKE ${'%soft.js%'} ESCAPE '!'`.execute(db);
    expect(rows.map((r) => r['QUERY PLAN']).join('\n')).toContain('search_documents_lower_id_trgm');
  });

  it('does not leak the statement timeout to the connection after a search', async () => {
    const single = createDb({ url: database.url, poolSize: 1 });
    try {
      const backend = createPostgresSearchBackend({ db: single, statementTimeoutMs: 1234 });
      await backend.search(FEED, query('json'));
      await backend.autocompleteIds(FEED, { prefix: 'js', variant: VARIANT, skip: 0, take: 5 });
      const { rows } = await sql<{ statement_timeout: string }>`SHOW statement_timeout`.execute(single);
      expect(rows[0]?.statement_timeout).toBe('0');
    } finally {
      await single.destroy();
    }
  });

  it('fails a search that runs past its statement timeout with code unavailable', async () => {
    const backend = createPostgresSearchBackend({ db, statementTimeoutMs: 200 });
    // A lock held by another transaction makes the search wait; the wait counts toward the timeout.
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let locked!: () => void;
    const isLocked = new Promise<void>((resolve) => (locked = resolve));
    const holder = db.transaction().execute(async (trx) => {
      await sql`LOCK TABLE search_documents IN ACCESS EXCLUSIVE MODE`.execute(trx);
      locked();
      await released;
    });
    await isLocked;
    try {
      const error = await backend.search(FEED, query('json')).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SearchUnavailableError);
      expect(error).toMatchObject({ code: 'unavailable', details: { reason: 'statement_timeout' } });
    } finally {
      release();
      await holder;
    }
  });

  it('#30 search abuse: treats tsquery, LIKE and quoting syntax in a raw query as literal text', async () => {
    const backend = createPostgresSearchBackend({ db });
    await backend.replacePackage(FEED, 'a_b', [doc('A_B', { title: "it's 100% (fast)" })]);
    await backend.replacePackage(FEED, 'axb', [doc('AxB')]);
    const hostile: SearchQuery = {
      variant: VARIANT,
      skip: 0,
      take: 10,
      packageType: "x' OR 1=1 --\0",
      query: {
        terms: ["a & b | !c:* (d) 'e' \\ \0", 'x'.repeat(10_000)],
        fields: {
          id: ['%', '_', "'", '\0'],
          packageid: ["' OR ''='"],
          version: ['1.0.0\0'],
          title: ['&&', ':*'],
        },
      },
    };
    await expect(backend.search(FEED, hostile)).resolves.toEqual({ totalHits: 0, hits: [] });
    await expect(backend.search(FEED, { ...hostile, packageType: undefined, query: { terms: [], fields: { id: ['a_b'] } } })).resolves.toMatchObject({
      totalHits: 1,
      hits: [{ document: { id: 'A_B' } }],
    });
    await expect(backend.autocompleteIds(FEED, { prefix: "a_%'\0", variant: VARIANT, skip: 0, take: 5 })).resolves.toEqual({ totalHits: 0, ids: [] });
    await expect(backend.autocompleteIds(FEED, { prefix: 'a_', variant: VARIANT, skip: 0, take: 5 })).resolves.toEqual({ totalHits: 1, ids: ['A_B'] });
    await expect(backend.search(FEED, query("title:\"it's 100\""))).resolves.toMatchObject({ totalHits: 1 });
  });

  it('keeps download counts when an id is replaced', async () => {
    const backend = createPostgresSearchBackend({ db });
    await backend.replacePackage(FEED, 'contoso.widgets', [doc('Contoso.Widgets')]);
    await backend.setDownloads(FEED, [{ lowerId: 'contoso.widgets', versions: { '1.0.0': 40, '0.9.0': 2 } }]);
    await backend.replacePackage(FEED, 'contoso.widgets', [
      doc('Contoso.Widgets', { version: '2.0.0', versions: [{ version: '1.0.0', lowerVersion: '1.0.0' }, { version: '2.0.0', lowerVersion: '2.0.0' }] }),
    ]);
    const { hits } = await backend.search(FEED, query('widgets'));
    expect(hits.map((h) => [h.document.version, h.totalDownloads, h.downloads])).toEqual([['2.0.0', 42, { '1.0.0': 40, '0.9.0': 2 }]]);
  });

  it('writes no new row version when download counts or owners are set to what they already are', async () => {
    const backend = createPostgresSearchBackend({ db });
    await backend.replacePackage(FEED, 'contoso.widgets', [doc('Contoso.Widgets')]);
    await backend.setDownloads(FEED, [{ lowerId: 'contoso.widgets', versions: { '1.0.0': 40 } }]);
    await backend.setOwners(FEED, [{ lowerId: 'contoso.widgets', owners: ['contoso'] }]);
    const version = async () => (await sql<{ xmin: string }>`SELECT xmin::text AS xmin FROM search_documents WHERE lower_id = 'contoso.widgets'`.execute(db)).rows[0]?.xmin;
    const before = await version();
    await backend.setDownloads(FEED, [{ lowerId: 'contoso.widgets', versions: { '1.0.0': 40 } }]);
    await backend.setOwners(FEED, [{ lowerId: 'contoso.widgets', owners: ['contoso'] }]);
    expect(await version()).toBe(before);
    await backend.setDownloads(FEED, [{ lowerId: 'contoso.widgets', versions: { '1.0.0': 41 } }]);
    expect(await version()).not.toBe(before);
  });

  it('starts an id new to the index from the package_downloads counters', async () => {
    const backend = createPostgresSearchBackend({ db });
    await db
      .insertInto('package_downloads')
      .values([
        { feed_id: FEED, lower_id: 'contoso.widgets', lower_version: '1.0.0', downloads: 7 },
        { feed_id: FEED, lower_id: 'contoso.other', lower_version: '1.0.0', downloads: 1000 },
      ])
      .execute();
    await backend.replacePackage(FEED, 'contoso.widgets', [doc('Contoso.Widgets')]);
    const { hits } = await backend.search(FEED, query(''));
    expect(hits.map((h) => [h.document.id, h.totalDownloads, h.downloads])).toEqual([['Contoso.Widgets', 7, { '1.0.0': 7 }]]);
  });

  it('serialises concurrent replacements of one id', async () => {
    const backend = createPostgresSearchBackend({ db });
    const variants: SearchVariant[] = ['semver1-stable', 'semver1-prerelease', 'semver2-stable', 'semver2-prerelease'];
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        backend.replacePackage(
          FEED,
          'contoso.widgets',
          variants.slice(0, (i % 4) + 1).map((variant) => doc('Contoso.Widgets', { variant })),
        ),
      ),
    );
    const { rows } = await sql<{ count: string }>`SELECT count(*) AS count FROM search_documents`.execute(db);
    expect(Number(rows[0]?.count)).toBeGreaterThanOrEqual(1);
    expect(Number(rows[0]?.count)).toBeLessThanOrEqual(4);
  });

  it('ranks exact id, then id prefix, then id token, then title, then other fields', async () => {
    const backend = createPostgresSearchBackend({ db });
    const docs = [
      doc('Json'),
      doc('JsonFx'),
      doc('Newtonsoft.Json'),
      doc('Contoso.Titled', { title: 'Json helpers' }),
      doc('Contoso.Described', { description: 'Reads json.' }),
      doc('Contoso.Unrelated'),
    ];
    for (const d of docs) await backend.replacePackage(FEED, d.lowerId, [d]);
    // Downloads must not lift a hit over a better tier.
    await backend.setDownloads(FEED, [{ lowerId: 'contoso.described', versions: { '1.0.0': 1_000_000 } }]);
    const { totalHits, hits } = await backend.search(FEED, query('json'));
    expect(totalHits).toBe(5);
    expect(hits.map((h) => h.document.id)).toEqual(['Json', 'JsonFx', 'Newtonsoft.Json', 'Contoso.Titled', 'Contoso.Described']);
  });

  it('orders ties by downloads, then by lower-case id in byte order', async () => {
    const backend = createPostgresSearchBackend({ db });
    for (const id of ['b.lib', 'B-Lib', 'a.lib', 'A_lib']) await backend.replacePackage(FEED, id.toLowerCase(), [doc(id)]);
    await backend.setDownloads(FEED, [{ lowerId: 'a.lib', versions: { '1.0.0': 5 } }]);
    const { hits } = await backend.search(FEED, query(''));
    expect(hits.map((h) => h.document.lowerId)).toEqual(['a.lib', 'a_lib', 'b-lib', 'b.lib']);
  });

  it('counts every match even when skip goes past the end or take is 0', async () => {
    const backend = createPostgresSearchBackend({ db });
    for (const id of ['One', 'Two', 'Three']) await backend.replacePackage(FEED, id.toLowerCase(), [doc(id)]);
    await expect(backend.search(FEED, query('', { skip: 10 }))).resolves.toEqual({ totalHits: 3, hits: [] });
    await expect(backend.search(FEED, query('', { take: 0 }))).resolves.toEqual({ totalHits: 3, hits: [] });
    await expect(backend.autocompleteIds(FEED, { prefix: '', variant: VARIANT, skip: 5, take: 5 })).resolves.toEqual({ totalHits: 3, ids: [] });
  });
});
