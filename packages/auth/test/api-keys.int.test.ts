/**
 * API keys against a real PostgreSQL database: creation, verification, scopes (read included), id
 * globs, expiry and revocation. reliability.md §2 #22 and #23.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb, migrateToLatest, type Db } from '@nucat/db';
import { createTestDatabase, type TestDatabase } from '@nucat/testing';
import {
  API_KEY_SCOPES,
  AuthError,
  INVALID_API_KEY_MESSAGE,
  authorize,
  authorizeRead,
  createApiKey,
  idMatchesGlobs,
  listApiKeys,
  revokeApiKey,
  verifyApiKey,
  type ApiKeyGrant,
} from '../src/index.js';

let database: TestDatabase;
let db: Db;
let feedId: number;

beforeAll(async () => {
  database = await createTestDatabase();
  db = createDb({ url: database.url, poolSize: 4 });
  await migrateToLatest(db);
  feedId = (await db.selectFrom('feeds').select('id').where('name', '=', 'main').executeTakeFirstOrThrow()).id;
});

afterAll(async () => {
  await db?.destroy();
  await database?.drop();
});

async function refusal(presented: string | undefined): Promise<AuthError> {
  const error = await verifyApiKey(db, feedId, presented).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AuthError);
  return error as AuthError;
}

describe('createApiKey', () => {
  it('returns a nucat_<lookup>_<secret> key once and stores only a hash of the secret', async () => {
    const { id, key } = await createApiKey(db, { feedId, name: 'shape' });
    expect(key).toMatch(/^nucat_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    const row = await db.selectFrom('api_keys').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    expect(row.secret_hash.length).toBe(32);
    expect(JSON.stringify(row)).not.toContain(key.split('_')[2]);
  });

  it('gives every scope, read included, when none are named', async () => {
    const { key } = await createApiKey(db, { feedId, name: 'all' });
    expect((await verifyApiKey(db, feedId, key)).scopes).toEqual([...API_KEY_SCOPES]);
    expect(API_KEY_SCOPES).toContain('read');
  });

  it.each([
    ['an unknown scope', { scopes: ['write' as never] }, /unknown scope 'write'/],
    ['no scope at all', { scopes: [] }, /at least one scope/],
    ['an id pattern with a slash', { idGlobs: ['a/b'] }, /invalid id pattern/],
    ['an invalid date', { expiresAt: new Date('nope') }, /not a valid date/],
  ])('refuses %s', async (_why, options, message) => {
    await expect(createApiKey(db, { feedId, name: 'bad', ...options })).rejects.toMatchObject({ code: 'invalid_request', message: expect.stringMatching(message) });
  });
});

describe('verifyApiKey (#22)', () => {
  it('answers unauthorized when no key is presented', async () => {
    expect((await refusal(undefined)).code).toBe('unauthorized');
    expect((await refusal('')).code).toBe('unauthorized');
  });

  it('gives one answer for a wrong secret, an unknown lookup, a malformed key, an expired and a revoked key', async () => {
    const { key } = await createApiKey(db, { feedId, name: 'victim' });
    const expired = (await createApiKey(db, { feedId, name: 'old', expiresAt: new Date(Date.now() - 1000) })).key;
    const revoked = (await createApiKey(db, { feedId, name: 'gone' })).key;
    await revokeApiKey(db, feedId, 'gone');
    const wrongSecret = `${key.slice(0, -1)}${key.endsWith('A') ? 'B' : 'A'}`;
    const unknown = `nucat_ffffffffffffffff_${key.split('_')[2]}`;

    const answers = [];
    for (const presented of [wrongSecret, unknown, 'garbage', expired, revoked]) {
      const error = await refusal(presented);
      answers.push({ code: error.code, message: error.message });
    }
    expect(new Set(answers.map((a) => JSON.stringify(a)))).toEqual(new Set([JSON.stringify({ code: 'forbidden', message: INVALID_API_KEY_MESSAGE })]));
  });

  it('returns the grant with its expiry, and trims surrounding spaces', async () => {
    const expiresAt = new Date(Date.now() + 3_600_000);
    const { id, key } = await createApiKey(db, { feedId, name: 'ci-read', scopes: ['read'], expiresAt });
    const grant = await verifyApiKey(db, feedId, ` ${key} `);
    expect(grant).toEqual({ keyId: id, name: 'ci-read', feedId, scopes: ['read'], idGlobs: ['*'], owner: 'default', expiresAt });
  });

  it('does not accept a key of another feed', async () => {
    const other = await db.insertInto('feeds').values({ name: 'other' }).returning('id').executeTakeFirstOrThrow();
    const { key } = await createApiKey(db, { feedId: other.id, name: 'elsewhere' });
    expect((await refusal(key)).code).toBe('forbidden');
  });
});

describe('authorize and authorizeRead (#23)', () => {
  const grant = (scopes: ApiKeyGrant['scopes'], idGlobs: string[] = ['*']): ApiKeyGrant => ({ keyId: 'k', name: 'n', feedId: 1, scopes, idGlobs, owner: 'default' });
  const refuses = (fn: () => void) => expect(fn).toThrow(expect.objectContaining({ code: 'forbidden' }));

  it('lets a read-only key read but never push, push a version or unlist', () => {
    const read = grant(['read']);
    expect(() => authorizeRead(read)).not.toThrow();
    refuses(() => authorize(read, 'push-new-id', 'Contoso.Lib'));
    refuses(() => authorize(read, 'push-version', 'Contoso.Lib'));
    refuses(() => authorize(read, 'unlist', 'Contoso.Lib'));
  });

  it.each([['push'], ['push-version'], ['unlist']] as const)('lets a %s key read too', (scope) => {
    expect(() => authorizeRead(grant([scope]))).not.toThrow();
  });

  it('ignores id globs for reads: a Contoso.* key reads the whole feed', () => {
    expect(() => authorizeRead(grant(['read'], ['Contoso.*']))).not.toThrow();
  });

  it('refuses reading with a grant that has no scope', () => {
    refuses(() => authorizeRead(grant([])));
  });

  it('keeps each scope to its action', () => {
    refuses(() => authorize(grant(['push-version']), 'push-new-id', 'A'));
    expect(() => authorize(grant(['push-version']), 'push-version', 'A')).not.toThrow();
    refuses(() => authorize(grant(['unlist']), 'push-version', 'A'));
    refuses(() => authorize(grant(['push']), 'unlist', 'A'));
    expect(() => authorize(grant(['push']), 'push-new-id', 'A')).not.toThrow();
  });

  it('matches globs whole and ASCII-case-insensitively: Contoso.* covers contoso.lib, not ContosoEvil or Other.Pkg', () => {
    expect(idMatchesGlobs('contoso.lib', ['Contoso.*'])).toBe(true);
    expect(idMatchesGlobs('ContosoEvil', ['Contoso.*'])).toBe(false);
    expect(idMatchesGlobs('Other.Pkg', ['Contoso.*'])).toBe(false);
    expect(idMatchesGlobs('Other.Contoso.X', ['Contoso.*'])).toBe(false);
    expect(idMatchesGlobs('ContosoXLib', ['Contoso.Lib'])).toBe(false);
    expect(idMatchesGlobs('İd', ['id'])).toBe(false);
  });
});

describe('listApiKeys and revokeApiKey', () => {
  it('lists keys without secrets, and revokes by name or id, once', async () => {
    const a = await createApiKey(db, { feedId, name: 'list-a', scopes: ['read'] });
    const b = await createApiKey(db, { feedId, name: 'list-b', idGlobs: ['Contoso.*'] });

    const listed = await listApiKeys(db, feedId);
    const mine = listed.filter((k) => k.name.startsWith('list-'));
    expect(mine.map((k) => [k.name, k.scopes, k.id_globs, k.revoked_at])).toEqual([
      ['list-a', ['read'], ['*'], null],
      ['list-b', [...API_KEY_SCOPES], ['Contoso.*'], null],
    ]);
    expect(JSON.stringify(listed)).not.toContain(a.key.split('_')[2]);

    expect(await revokeApiKey(db, feedId, 'list-a')).toBe(1);
    expect(await revokeApiKey(db, feedId, 'list-a')).toBe(0);
    expect(await revokeApiKey(db, feedId, b.id)).toBe(1);
    expect((await refusal(a.key)).code).toBe('forbidden');
    expect((await refusal(b.key)).code).toBe('forbidden');
  });
});
