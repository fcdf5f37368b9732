/**
 * Orphaned content blobs (reliability.md §2 #32): {@link ingestPackage} writes a package's content blobs
 * before the transaction that claims the id+version, so a push that dies or fails in between leaves
 * blobs no `packages` row references. {@link collectOrphanBlobs} deletes them.
 *
 * The race it must not lose: content keys are derived from the package hash, so a later push of the
 * same bytes (a client retrying after the crash, say) finds the blobs there, skips writing them, and
 * commits a row that references them. Deleting them between that skipped write and that commit would
 * leave a committed package without its bytes. Two rules prevent it:
 *
 * 1. Age: only blobs whose newest file is older than a minimum age (default 1 h) are candidates, so a
 *    push that has just written its blobs is never touched.
 * 2. Leases: a push whose content already exists takes a lease on the hash ({@link leaseExistingContent})
 *    *before* it writes (or skips writing) its blobs, and drops it once it has committed. The lease is
 *    inserted, and the collector checks for leases, references and ages and deletes, under one advisory
 *    lock per hash. So either the lease exists when the collector looks (the blobs stay), or the collector
 *    has deleted them before the push looks (the push writes them afresh). A lease left by a crash expires.
 *
 * A push none of whose content files existed needs no lease: whatever it writes is new, so rule 1
 * covers it (the age of a hash is the age of its newest file).
 *
 * Ingest paths that do not take leases (the mirror) are covered by rule 1 only: their race needs an
 * orphan of exactly their bytes older than the minimum age, and a collection in the milliseconds between
 * their skipped write and their commit.
 */
import { sql } from 'kysely';
import { packageContentKeys } from '@nucat/catalog';
import type { Db } from '@nucat/db';
import type { BlobStore } from '@nucat/storage';

/** How long a lease protects a hash when its push never drops it (it crashed). */
export const CONTENT_LEASE_MS = 60 * 60 * 1000;

/** Default minimum age of a collected blob. */
export const DEFAULT_ORPHAN_MIN_AGE_MS = 60 * 60 * 1000;

/**
 * The smallest minimum age {@link collectOrphanBlobs} accepts: a push writes its blobs and commits
 * within seconds, so a blob this old without a reference (and without a lease) is not a push in flight.
 */
export const MIN_ORPHAN_MIN_AGE_MS = 60 * 1000;

/** Raised for options {@link collectOrphanBlobs} refuses (code `invalid_request`). */
export class InvalidCollectOptionsError extends Error {
  readonly code = 'invalid_request' as const;
  constructor(message: string) {
    super(message);
    this.name = 'InvalidCollectOptionsError';
  }
}

/** A lease on a package hash's content; {@link ContentLease.release} it once the push is over. */
export interface ContentLease {
  /** Whether a lease row was taken (the content existed); false means there was nothing to protect. */
  readonly held: boolean;
  /** Drops the lease. Never throws: a lease that cannot be dropped expires on its own. */
  release(): Promise<void>;
}

/** Serialises lease-taking and collection of one hash (namespace + hash of the hex digest). */
function lockHash(hex: string) {
  return sql`SELECT pg_advisory_xact_lock(hashtext('nucat-content'), hashtext(${hex}))`;
}

function hexOf(packageHashBase64: string): string {
  return Buffer.from(packageHashBase64, 'base64').toString('hex');
}

/**
 * Protects the content of a package hash from {@link collectOrphanBlobs} for the duration of a push,
 * when it already exists (see the module comment). Call it before writing the blobs; release after the
 * commit (or the failure).
 */
export async function leaseExistingContent(deps: { db: Db; store: BlobStore }, packageHash: string): Promise<ContentLease> {
  const keys = Object.values(packageContentKeys(packageHash));
  const existing = await Promise.all(keys.map((key) => deps.store.stat(key)));
  if (existing.every((info) => info === undefined)) return { held: false, release: async () => {} };
  const id = await deps.db.transaction().execute(async (trx) => {
    await lockHash(hexOf(packageHash)).execute(trx);
    const row = await trx
      .insertInto('content_leases')
      .values({ package_hash: packageHash, expires_at: new Date(Date.now() + CONTENT_LEASE_MS) })
      .returning('id')
      .executeTakeFirstOrThrow();
    return row.id;
  });
  return {
    held: true,
    release: async () => {
      await deps.db
        .deleteFrom('content_leases')
        .where('id', '=', id)
        .execute()
        .catch(() => undefined);
    },
  };
}

/** Options of {@link collectOrphanBlobs}. */
export interface CollectOrphansOptions {
  /** Only blobs whose newest file is at least this old are collected. @defaultValue {@link DEFAULT_ORPHAN_MIN_AGE_MS} */
  minAgeMs?: number;
  /** Report what would be deleted, delete nothing. @defaultValue false */
  dryRun?: boolean;
  /** Hashes looked up in the database per query. @defaultValue 500 */
  batchSize?: number;
}

/** One package hash whose content blobs were (or, in a dry run, would be) deleted. */
export interface CollectedContent {
  /** Base64 SHA-512, as `packages.package_hash` holds it. */
  packageHash: string;
  keys: string[];
  bytes: number;
  /** Modification time of its newest file. */
  lastModified: Date;
}

/** What {@link collectOrphanBlobs} found. */
export interface CollectOrphansReport {
  /** Package hashes with content in the store. */
  scanned: number;
  /** Referenced by a `packages` row (any feed, deleted versions included): kept. */
  referenced: number;
  /** Unreferenced but younger than the minimum age: kept. */
  tooYoung: number;
  /** Unreferenced but leased by a push in progress: kept. */
  leased: number;
  /** Deleted, or to be deleted in a dry run. */
  collected: CollectedContent[];
  /** Keys under the content prefix that are not package content (left alone). */
  unknownKeys: number;
  dryRun: boolean;
}

/**
 * Deletes content blobs no `packages` row references (in any feed: content is shared), whose newest file
 * is older than `minAgeMs` and whose hash no push has leased. Each hash is re-checked and deleted under
 * its advisory lock; its nupkg goes last. Expired leases are dropped. Safe to run while pushes go on and
 * next to another collector.
 * @throws InvalidCollectOptionsError when `minAgeMs` is below {@link MIN_ORPHAN_MIN_AGE_MS}.
 */
export async function collectOrphanBlobs(deps: { db: Db; store: BlobStore }, options: CollectOrphansOptions = {}): Promise<CollectOrphansReport> {
  const minAgeMs = options.minAgeMs ?? DEFAULT_ORPHAN_MIN_AGE_MS;
  if (!(minAgeMs >= MIN_ORPHAN_MIN_AGE_MS)) {
    throw new InvalidCollectOptionsError(`the minimum age must be at least ${MIN_ORPHAN_MIN_AGE_MS / 1000} s, so a push in flight is never collected`);
  }
  const dryRun = options.dryRun ?? false;
  const batchSize = options.batchSize ?? 500;
  const report: CollectOrphansReport = { scanned: 0, referenced: 0, tooYoung: 0, leased: 0, collected: [], unknownKeys: 0, dryRun };

  if (!dryRun) await deps.db.deleteFrom('content_leases').where('expires_at', '<', new Date()).execute();

  const groups = await listContent(deps.store, report);
  report.scanned = groups.size;
  const hashes = [...groups.keys()];
  for (let i = 0; i < hashes.length; i += batchSize) {
    const batch = hashes.slice(i, i + batchSize);
    const referenced = await referencedHashes(deps.db, batch);
    for (const packageHash of batch) {
      if (referenced.has(packageHash)) {
        report.referenced++;
        continue;
      }
      const outcome = await collectOne(deps, packageHash, { minAgeMs, dryRun });
      if (outcome === 'gone') continue;
      if (outcome === 'referenced') report.referenced++;
      else if (outcome === 'too-young') report.tooYoung++;
      else if (outcome === 'leased') report.leased++;
      else report.collected.push(outcome);
    }
  }
  return report;
}

/** The content keys in the store, by package hash (base64). Keys that are not package content are counted, not returned. */
async function listContent(store: BlobStore, report: CollectOrphansReport): Promise<Map<string, string[]>> {
  // The layout comes from @nucat/catalog: the prefix shared by a hash's keys, and the hex digest in them.
  const probe = packageContentKeys(Buffer.alloc(64).toString('base64')).nupkg;
  const rootPrefix = `${probe.split('/')[0]}/`;
  const groups = new Map<string, string[]>();
  for await (const key of store.list(rootPrefix)) {
    const packageHash = packageHashOfKey(key);
    if (packageHash === undefined) {
      report.unknownKeys++;
      continue;
    }
    const keys = groups.get(packageHash);
    if (keys) keys.push(key);
    else groups.set(packageHash, [key]);
  }
  return groups;
}

/** The package hash whose content `key` is, or undefined when it is no package's content key. */
function packageHashOfKey(key: string): string | undefined {
  const hex = /(?:^|\/)([0-9a-f]{128})(?:\/|$)/.exec(key)?.[1];
  if (hex === undefined) return undefined;
  const packageHash = Buffer.from(hex, 'hex').toString('base64');
  return Object.values(packageContentKeys(packageHash)).includes(key) ? packageHash : undefined;
}

async function referencedHashes(db: Db, hashes: string[]): Promise<Set<string>> {
  if (hashes.length === 0) return new Set();
  const rows = await db.selectFrom('packages').select('package_hash').distinct().where('package_hash', 'in', hashes).execute();
  return new Set(rows.map((r) => r.package_hash));
}

/** `gone`: deleted meanwhile (another collector). */
type Outcome = 'referenced' | 'too-young' | 'leased' | 'gone' | CollectedContent;

/** Re-checks one unreferenced hash under its lock, and deletes its blobs when it still qualifies. */
async function collectOne(
  deps: { db: Db; store: BlobStore },
  packageHash: string,
  options: { minAgeMs: number; dryRun: boolean },
): Promise<Outcome> {
  return deps.db.transaction().execute(async (trx): Promise<Outcome> => {
    await lockHash(hexOf(packageHash)).execute(trx);
    const reference = await trx.selectFrom('packages').select('package_hash').where('package_hash', '=', packageHash).limit(1).executeTakeFirst();
    if (reference) return 'referenced';
    const lease = await trx
      .selectFrom('content_leases')
      .select('id')
      .where('package_hash', '=', packageHash)
      .where('expires_at', '>', sql<Date>`now()`)
      .limit(1)
      .executeTakeFirst();
    if (lease) return 'leased';

    // Under the lock, so nothing of this hash is written that a push then relies on; stat what is there now.
    const keys = Object.values(packageContentKeys(packageHash));
    const present: { key: string; size: number; lastModified: Date }[] = [];
    for (const key of keys) {
      const info = await deps.store.stat(key);
      if (info) present.push({ key, size: info.size, lastModified: info.lastModified });
    }
    if (present.length === 0) return 'gone';
    const newest = new Date(Math.max(...present.map((p) => p.lastModified.getTime())));
    if (Date.now() - newest.getTime() < options.minAgeMs) return 'too-young';

    const collected: CollectedContent = {
      packageHash,
      keys: present.map((p) => p.key),
      bytes: present.reduce((sum, p) => sum + p.size, 0),
      lastModified: newest,
    };
    if (options.dryRun) return collected;
    // The nupkg last, so an interrupted collection leaves what it can collect again, never a package half gone first.
    const nupkg = packageContentKeys(packageHash).nupkg;
    for (const key of collected.keys.filter((k) => k !== nupkg)) await deps.store.delete(key);
    if (collected.keys.includes(nupkg)) await deps.store.delete(nupkg);
    return collected;
  });
}
