import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '@nucat/testing';
import { createDb, migrateToLatest, type Db } from '../src/index.js';
import * as search from '../src/migrations/2026_11_21_1700_search.js';

describe('migration 2026_11_21_1700_search', () => {
  let database: TestDatabase;
  let db: Db;

  beforeAll(async () => {
    database = await createTestDatabase();
    db = createDb({ url: database.url, poolSize: 2 });
  });
  afterAll(async () => {
    await db?.destroy();
    await database?.drop();
  });

  async function tables(): Promise<string[]> {
    const { rows } = await sql<{ table_name: string }>`
      SELECT table_name FROM information_schema.tables
       WHERE table_schema = 'public' AND table_name IN ('search_documents', 'package_downloads')
       ORDER BY table_name`.execute(db);
    return rows.map((r) => r.table_name);
  }

  it('applies on a fresh database as the non-superuser owner, with pg_trgm', async () => {
    expect(await migrateToLatest(db)).toContain('2026_11_21_1700_search');
    expect(await tables()).toEqual(['package_downloads', 'search_documents']);
    const { rows } = await sql<{ extname: string }>`SELECT extname FROM pg_extension WHERE extname = 'pg_trgm'`.execute(db);
    expect(rows).toHaveLength(1);
    expect(await migrateToLatest(db)).toEqual([]);
  });

  it('gives package_downloads its defaults and an (feed_id, updated_at) index', async () => {
    await db.insertInto('package_downloads').values({ feed_id: 1, lower_id: 'contoso.widgets', lower_version: '1.0.0' }).execute();
    const row = await db.selectFrom('package_downloads').selectAll().executeTakeFirstOrThrow();
    expect(row.downloads).toBe('0');
    expect(row.updated_at).toBeInstanceOf(Date);
    const { rows } = await sql<{ indexdef: string }>`
      SELECT indexdef FROM pg_indexes WHERE indexname = 'package_downloads_updated'`.execute(db);
    expect(rows[0]?.indexdef).toContain('(feed_id, updated_at)');
  });

  it('goes down and up again', async () => {
    await search.down(db);
    expect(await tables()).toEqual([]);
    await search.up(db);
    expect(await tables()).toEqual(['package_downloads', 'search_documents']);
  });
});
