/**
 * The verified-key cache in front of a real PostgreSQL database: hits skip the database, a revoked
 * key works at most `ttlMs` longer, an expiring key stops at its expiry, failures are never kept,
 * and the cache stays within `maxEntries`. reliability.md §2 #23 ("works nowhere within N seconds").
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { KyselyPlugin } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb, migrateToLatest, type Db } from '@nucat/db';
import { createTestDatabase, type TestDatabase } from '@nucat/testing';
import { createApiKey, createCachedKeyVerifier, revokeApiKey } from '../src/index.js';

let database: TestDatabase;
let db: Db;
let feedId: number;
/** Statements run through {@link counted}. */
let statements = 0;
/** `db`, counting the statements it runs (a Kysely plugin sees every query). */
let counted: Db;

beforeAll(async () => {
  database = await createTestDatabase();
  db = createDb({ url: database.url, poolSize: 4 });
  await migrateToLatest(db);
  feedId = (await db.selectFrom('feeds').select('id').where('name', '=', 'main').executeTakeFirstOrThrow()).id;
  const counter: KyselyPlugin = {
    transformQuery(args) {
      statements += 1;
      return args.node;
    },
    async transformResult(args) {
      return args.result;
    },
  };
  counted = db.withPlugin(counter);
});

afterAll(async () => {
  await db?.destroy();
  await database?.drop();
});

let n = 0;
const newKey = async (options: { expiresAt?: Date } = {}) => {
  n += 1;
  return createApiKey(db, { feedId, name: `cache-${n}`, scopes: ['read'], ...options });
};
const refused = (promise: Promise<unknown>) => expect(promise).rejects.toMatchObject({ code: 'forbidden' });

describe('createCachedKeyVerifier', () => {
  it('asks the database once per key within the TTL, and once for concurrent first uses', async () => {
    const verifier = createCachedKeyVerifier({ db: counted, feedId, ttlMs: 60_000 });
    const { key } = await newKey();
    statements = 0;

    const grants = await Promise.all(Array.from({ length: 20 }, () => verifier.verify(key)));
    for (let i = 0; i < 20; i += 1) await verifier.verify(key);

    expect(statements).toBe(1);
    expect(new Set(grants.map((g) => g.keyId)).size).toBe(1);
  });

  it('#23: a revoked key keeps working only until the TTL runs out', async () => {
    const verifier = createCachedKeyVerifier({ db, feedId, ttlMs: 300 });
    const { key, id } = await newKey();
    await verifier.verify(key);

    await revokeApiKey(db, feedId, id);
    await expect(verifier.verify(key)).resolves.toMatchObject({ keyId: id });
    await sleep(350);
    await refused(verifier.verify(key));
  });

  it('stops accepting a key at its own expiry even when the TTL is longer', async () => {
    const verifier = createCachedKeyVerifier({ db, feedId, ttlMs: 60_000 });
    const expiresAt = new Date(Date.now() + 800);
    const { key } = await newKey({ expiresAt });
    await verifier.verify(key);
    await sleep(expiresAt.getTime() - Date.now() + 50);
    await refused(verifier.verify(key));
  });

  it('never remembers a failure: a wrong secret is checked every time, and does not poison the real key', async () => {
    const verifier = createCachedKeyVerifier({ db: counted, feedId, ttlMs: 60_000 });
    const { key } = await newKey();
    const wrong = `${key.slice(0, -1)}${key.endsWith('A') ? 'B' : 'A'}`;
    statements = 0;

    await refused(verifier.verify(wrong));
    await refused(verifier.verify(wrong));
    expect(statements).toBe(2);
    expect(verifier.size).toBe(0);
    await expect(verifier.verify(key)).resolves.toBeDefined();
    expect(verifier.size).toBe(1);
  });

  it('keeps at most maxEntries keys, dropping the least recently used', async () => {
    const verifier = createCachedKeyVerifier({ db, feedId, ttlMs: 60_000, maxEntries: 2 });
    const a = await newKey();
    const b = await newKey();
    const c = await newKey();
    await verifier.verify(a.key);
    await verifier.verify(b.key);
    await verifier.verify(a.key); // a is now the most recently used
    await verifier.verify(c.key); // drops b
    expect(verifier.size).toBe(2);

    for (const k of [a, b, c]) await revokeApiKey(db, feedId, k.id);
    await expect(verifier.verify(a.key)).resolves.toBeDefined();
    await expect(verifier.verify(c.key)).resolves.toBeDefined();
    await refused(verifier.verify(b.key));
  });

  it('does not cache at all with a TTL of 0', async () => {
    const verifier = createCachedKeyVerifier({ db, feedId, ttlMs: 0 });
    const { key, id } = await newKey();
    await verifier.verify(key);
    await revokeApiKey(db, feedId, id);
    await refused(verifier.verify(key));
    expect(verifier.size).toBe(0);
  });
});
