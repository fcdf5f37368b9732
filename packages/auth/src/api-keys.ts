import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { Database } from '@nucat/db';
import { DEFAULT_OWNER, parseOwnerName } from './owner-names.js';

/**
 * What a key may do.
 * - `push`: push new package ids and new versions of ids it may touch;
 * - `push-version`: push new versions of ids that already exist, never a new id;
 * - `unlist`: unlist and relist;
 * - `read`: read a private feed (a read-only token for restores and CI). Every other scope reads too.
 */
export const API_KEY_SCOPES = ['push', 'push-version', 'unlist', 'read'] as const;
export type ApiKeyScope = (typeof API_KEY_SCOPES)[number];

/**
 * Scopes that may read a private feed: all of them. Id globs do not narrow reads — a key scoped to
 * `Contoso.*` reads the whole feed; globs only limit what it may change.
 */
export const READ_SCOPES: readonly ApiKeyScope[] = API_KEY_SCOPES;

/** A verified key, as the APIs see it. */
export interface ApiKeyGrant {
  keyId: string;
  name: string;
  feedId: number;
  scopes: readonly ApiKeyScope[];
  idGlobs: readonly string[];
  /**
   * The account the key acts for: ids it may push and unlist are the ids this owner owns (or new ids
   * it claims), whatever the key's scopes and globs allow. See `ownership.ts`.
   */
  owner: string;
  /** When the key stops working; absent when it never expires. */
  expiresAt?: Date;
}

/** Raised by {@link createApiKey} for an unknown scope, a bad id pattern or date (code `invalid_request`). */
export class InvalidApiKeyOptionsError extends Error {
  readonly code = 'invalid_request' as const;
  constructor(message: string) {
    super(message);
    this.name = 'InvalidApiKeyOptionsError';
  }
}

/** Raised when a key is missing (401) or not valid for the request (403). */
export class AuthError extends Error {
  constructor(
    readonly code: 'unauthorized' | 'forbidden',
    message: string,
  ) {
    super(message);
    this.name = 'AuthError';
  }
}

const KEY_PREFIX = 'nucat';
const KEY_SHAPE = /^nucat_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

function hashSecret(secret: string): Buffer {
  // Keys carry 256 random bits, so a fast hash is enough: there is nothing to brute-force.
  return createHash('sha256').update(secret, 'utf8').digest();
}

/** Options of {@link createApiKey}. */
export interface CreateApiKeyOptions {
  feedId: number;
  name: string;
  /** @defaultValue all scopes */
  scopes?: readonly ApiKeyScope[];
  /** Id patterns with `*` wildcards, compared case-insensitively. @defaultValue ['*'] */
  idGlobs?: readonly string[];
  expiresAt?: Date;
  /** The account the key acts for (ASCII-lowercased). @defaultValue {@link DEFAULT_OWNER} */
  owner?: string;
}

/**
 * Creates a key and returns its plain text — the only time it exists outside the caller's
 * hands. Only a hash of the secret part is stored.
 */
export async function createApiKey(db: Kysely<Database>, options: CreateApiKeyOptions): Promise<{ id: string; key: string }> {
  const scopes = [...new Set(options.scopes ?? API_KEY_SCOPES)];
  if (scopes.length === 0) throw new InvalidApiKeyOptionsError(`a key needs at least one scope; known: ${API_KEY_SCOPES.join(', ')}`);
  for (const s of scopes) {
    if (!API_KEY_SCOPES.includes(s)) throw new InvalidApiKeyOptionsError(`unknown scope '${s}'; known: ${API_KEY_SCOPES.join(', ')}`);
  }
  const idGlobs = options.idGlobs ?? ['*'];
  for (const g of idGlobs) if (!/^[A-Za-z0-9_.*-]{1,100}$/.test(g)) throw new InvalidApiKeyOptionsError(`invalid id pattern '${g}'`);
  if (options.expiresAt !== undefined && Number.isNaN(options.expiresAt.getTime())) {
    throw new InvalidApiKeyOptionsError('expiresAt is not a valid date');
  }
  const owner = options.owner === undefined ? DEFAULT_OWNER : parseOwnerName(options.owner);
  if (owner === undefined) throw new InvalidApiKeyOptionsError(`invalid owner name '${options.owner}' (letters, digits, '.', '_', '-'; at most 64)`);
  const lookup = randomBytes(8).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  const row = await db
    .insertInto('api_keys')
    .values({
      feed_id: options.feedId,
      name: options.name,
      lookup,
      secret_hash: hashSecret(secret),
      scopes,
      id_globs: [...idGlobs],
      expires_at: options.expiresAt ?? null,
      revoked_at: null,
      owner,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return { id: row.id, key: `${KEY_PREFIX}_${lookup}_${secret}` };
}

const DUMMY_HASH = hashSecret('not-a-key');

/**
 * Verifies a presented key. Throws AuthError: `unauthorized` when none was presented,
 * `forbidden` when it is unknown, wrong, expired or revoked — one message for all of these, and
 * the same work (a hash and a constant-time comparison) whether or not the key exists.
 */
export async function verifyApiKey(db: Kysely<Database>, feedId: number, presented: string | undefined): Promise<ApiKeyGrant> {
  if (!presented) throw new AuthError('unauthorized', 'An API key is required: pass it with -k (X-NuGet-ApiKey) or as the password of the source credentials (HTTP Basic).');
  const invalid = new AuthError('forbidden', INVALID_API_KEY_MESSAGE);
  const match = KEY_SHAPE.exec(presented.trim());
  const row = match
    ? await db
        .selectFrom('api_keys')
        .selectAll()
        // Expiry is judged by the database clock, like every other time in the feed: a node whose
        // clock is wrong neither accepts an expired key nor refuses a valid one (reliability.md #40).
        .select(sql<boolean>`expires_at IS NOT NULL AND expires_at <= now()`.as('expired'))
        .where('lookup', '=', match[1]!)
        .where('feed_id', '=', feedId)
        .executeTakeFirst()
    : undefined;
  const actual = hashSecret(match?.[2] ?? presented);
  const expected = row?.secret_hash ?? DUMMY_HASH;
  const equal = expected.length === actual.length && timingSafeEqual(expected, actual);
  if (!row || !equal) throw invalid;
  if (row.revoked_at || row.expired) throw invalid;
  return {
    keyId: row.id,
    name: row.name,
    feedId: row.feed_id,
    scopes: row.scopes as ApiKeyScope[],
    idGlobs: row.id_globs,
    owner: row.owner,
    ...(row.expires_at ? { expiresAt: row.expires_at } : {}),
  };
}

/** The message of every refused key, whatever was wrong with it (unknown, wrong, expired, revoked). */
export const INVALID_API_KEY_MESSAGE = 'The API key is invalid, expired or revoked.';

/** ASCII-only lowercasing, as NuGet compares ids (never locale- or Unicode-aware). */
function asciiLower(text: string): string {
  return text.replace(/[A-Z]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 32));
}

/** Whether an id matches one of the key's patterns (`*` = any run of characters, ASCII case-insensitive). */
export function idMatchesGlobs(packageId: string, globs: readonly string[]): boolean {
  const id = asciiLower(packageId);
  return globs.some((glob) => {
    const pattern = asciiLower(glob)
      .split('*')
      .map((part) => part.replace(/[.+?^${}()|[\]\\-]/g, '\\$&'))
      .join('.*');
    return new RegExp(`^${pattern}$`).test(id);
  });
}

/** Throws AuthError('forbidden') unless the grant covers `action` on `packageId`. */
export function authorize(grant: ApiKeyGrant, action: 'push-new-id' | 'push-version' | 'unlist', packageId: string): void {
  if (!idMatchesGlobs(packageId, grant.idGlobs)) {
    throw new AuthError('forbidden', `This API key may not act on '${packageId}' (allowed: ${grant.idGlobs.join(', ')}).`);
  }
  const ok =
    action === 'push-new-id'
      ? grant.scopes.includes('push')
      : action === 'push-version'
        ? grant.scopes.includes('push') || grant.scopes.includes('push-version')
        : grant.scopes.includes('unlist');
  if (!ok) {
    const what = action === 'push-new-id' ? 'push a new package id' : action === 'push-version' ? 'push packages' : 'unlist or relist';
    throw new AuthError('forbidden', `This API key may not ${what} (scopes: ${grant.scopes.join(', ')}).`);
  }
}

/**
 * Throws AuthError('forbidden') unless the grant may read the feed (any of {@link READ_SCOPES}).
 * Reads are feed-wide: id globs are not consulted.
 */
export function authorizeRead(grant: ApiKeyGrant): void {
  if (!grant.scopes.some((s) => READ_SCOPES.includes(s))) {
    throw new AuthError('forbidden', `This API key may not read this feed (scopes: ${grant.scopes.join(', ') || 'none'}).`);
  }
}

/** Lists a feed's keys (never their secrets). */
export async function listApiKeys(db: Kysely<Database>, feedId: number) {
  return db
    .selectFrom('api_keys')
    .select(['id', 'name', 'owner', 'lookup', 'scopes', 'id_globs', 'created_at', 'expires_at', 'revoked_at'])
    .where('feed_id', '=', feedId)
    .orderBy('created_at')
    .execute();
}

/** Revokes a key by id or by name; returns how many keys were revoked. */
export async function revokeApiKey(db: Kysely<Database>, feedId: number, idOrName: string): Promise<number> {
  const isUuid = /^[0-9a-f-]{36}$/i.test(idOrName);
  const result = await db
    .updateTable('api_keys')
    .set({ revoked_at: sql`now()` })
    .where('feed_id', '=', feedId)
    .where(isUuid ? 'id' : 'name', '=', idOrName)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}
