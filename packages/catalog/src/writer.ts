import { randomUUID } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { Database } from '@nucat/db';
import type { PackageDeleteData, PackageDetailsData } from './documents/index.js';
import { formatCatalogTimestamp } from './documents/index.js';

/** Catalog pages hold at most this many items; a commit is never split across pages. */
export const MAX_CATALOG_PAGE_ITEMS = 550;

/** The PostgreSQL channel notified (on commit) after every catalog append; payload = feed id. */
export const CATALOG_NOTIFY_CHANNEL = 'nucat_catalog';

/**
 * A change to the item's `packages` row, made by the append itself (same statement, under the catalog
 * lock). Its `last_commit_timestamp` always becomes the commit time.
 */
export interface PackageRowChange {
  /** Also set `created` to the commit time (a new version). */
  created?: boolean;
  listed?: boolean;
  deleted?: boolean;
}

/**
 * One item of a commit; its data is built once the commit's id and timestamp are known.
 *
 * `build` may use `commitId` freely; it may use `commitTimestamp` only as whole string values written by
 * {@link formatCatalogTimestamp} or `Date.prototype.toISOString` (the database fills those in, see
 * {@link prepareCatalogCommit}); it must otherwise return the same data on every call.
 */
export type PendingCatalogItem = (
  | { type: 'PackageDetails'; lowerId: string; lowerVersion: string; build(commit: CommitStamp): PackageDetailsData }
  | { type: 'PackageDelete'; lowerId: string; lowerVersion: string; build(commit: CommitStamp): PackageDeleteData }
) & {
  /** Applied to the `packages` row of `lowerId`/`lowerVersion` (when there is one). @defaultValue no change */
  package?: PackageRowChange;
};

/** The identity of a catalog commit. */
export interface CommitStamp {
  commitId: string;
  /** Whole milliseconds; strictly greater than every earlier commit of the feed. */
  commitTimestamp: Date;
}

/** Where the commit timestamp goes in an item's data, and in which form. */
interface TimestampSlot {
  path: string[];
  format: 'catalog' | 'iso';
}

/** An item as the database function takes it. */
interface ItemTemplate {
  type: PendingCatalogItem['type'];
  lowerId: string;
  lowerVersion: string;
  data: unknown;
  stamps: TimestampSlot[];
  package?: PackageRowChange;
}

/**
 * A commit ready to append: its id, and its items with the places of the (not yet known) commit
 * timestamp marked. Made by {@link prepareCatalogCommit}; append it once.
 */
export interface PreparedCatalogCommit {
  readonly commitId: string;
  /** @internal */
  readonly items: readonly ItemTemplate[];
}

/** The catalog item's `build` used the commit timestamp in a way the database cannot fill in. */
export class UnsupportedCatalogItemError extends Error {
  readonly code = 'unsupported_catalog_item';
  constructor(message: string) {
    super(message);
    this.name = 'UnsupportedCatalogItemError';
  }
}

// Two unrelated instants: every value that differs between the two builds must be one of them, formatted.
const PROBES = [new Date(Date.UTC(2001, 1, 3, 4, 5, 6, 7)), new Date(Date.UTC(2012, 10, 21, 22, 23, 24, 258))] as const;
const PROBE_TEXT = {
  catalog: PROBES.map(formatCatalogTimestamp),
  iso: PROBES.map((d) => d.toISOString()),
} as const;

/**
 * Prepares a commit for {@link appendCatalogCommit} or {@link claimAndAppendCommits}, outside any lock:
 * assigns the commit id and builds each item's data. The commit timestamp is taken later, by the
 * database under the catalog lock, so each item is built twice with two different probe timestamps and
 * the values that differ are the places the database writes the real timestamp into.
 *
 * @throws Error when `items` is empty; UnsupportedCatalogItemError (code `unsupported_catalog_item`) when a
 *   `build` uses the timestamp other than as a whole {@link formatCatalogTimestamp} / ISO string value.
 */
export function prepareCatalogCommit(items: readonly PendingCatalogItem[]): PreparedCatalogCommit {
  if (items.length === 0) throw new Error('a catalog commit needs at least one item');
  const commitId = randomUUID();
  return {
    commitId,
    items: items.map((item) => {
      const first = toJsonValue(item.build({ commitId, commitTimestamp: PROBES[0] }));
      const second = toJsonValue(item.build({ commitId, commitTimestamp: PROBES[1] }));
      const stamps: TimestampSlot[] = [];
      findTimestampSlots(first, second, [], stamps, `${item.lowerId} ${item.lowerVersion}`);
      const template: ItemTemplate = { type: item.type, lowerId: item.lowerId, lowerVersion: item.lowerVersion, data: first, stamps };
      if (item.package !== undefined) template.package = item.package;
      return template;
    }),
  };
}

/**
 * Appends one commit to a feed's catalog, in one statement (the database function
 * `nucat_append_catalog_commit`, migration 2150), inside the caller's transaction — or as its own
 * transaction when `db` is not one.
 *
 * Ordering invariant (architecture.md): the feed's `catalog_heads` row is locked FOR UPDATE and
 * held until the transaction commits, so appends are serialised and commit order equals timestamp
 * order. The timestamp is `max(now, last + 1 ms)` in whole milliseconds, taken from the database
 * clock once the lock is granted, so cursor consumers (which compare timestamps) can never see a later
 * commit before an earlier one, and JavaScript `Date`s keep a strict order. A `NOTIFY` is queued;
 * PostgreSQL delivers it only when the transaction commits. Each item's `package` change is applied to
 * its `packages` row in the same statement.
 *
 * Keep the lock short: do validation and blob writes before calling this, and commit right after.
 *
 * @param items the items, or a commit made earlier by {@link prepareCatalogCommit}.
 */
export async function appendCatalogCommit(
  db: Kysely<Database>,
  feedId: number,
  items: readonly PendingCatalogItem[] | PreparedCatalogCommit,
): Promise<CommitStamp> {
  const prepared = 'commitId' in items ? items : prepareCatalogCommit(items);
  const result = await sql<{ ts: Date }>`
    SELECT nucat_append_catalog_commit(${feedId}::integer, ${prepared.commitId}::uuid,
                                       ${JSON.stringify(prepared.items)}::jsonb, ${MAX_CATALOG_PAGE_ITEMS}::integer) AS ts`.execute(db);
  const ts = result.rows[0]?.ts;
  if (!(ts instanceof Date)) throw new Error(`feed ${feedId}: the catalog append returned no timestamp`);
  return { commitId: prepared.commitId, commitTimestamp: ts };
}

/** A new id+version to claim in `packages`: the row's values (its timestamps are the commit time). */
export interface PackageClaim {
  lowerId: string;
  lowerVersion: string;
  /** Id with the casing of the nuspec. */
  id: string;
  /** Full version. */
  version: string;
  normalizedVersion: string;
  listed: boolean;
  semver2: boolean;
  /** Standard base64 SHA-512 of the `.nupkg`. */
  packageHash: string;
  packageSize: number;
}

/** One new version for {@link claimAndAppendCommits}: the claim and the commit to append when it succeeds. */
export interface ClaimRequest {
  claim: PackageClaim;
  commit: PreparedCatalogCommit;
}

/**
 * Claims new id+versions and appends one catalog commit per successful claim, in one statement (the
 * database function `nucat_ingest_packages`, migration 2150) inside the caller's transaction: several
 * concurrent pushes share one transaction and one WAL flush (group commit).
 *
 * The claim is the `packages` primary key (`INSERT … ON CONFLICT DO NOTHING`), so an id+version that
 * exists or existed (deleted rows stay) is not claimed and gets no commit, and of two requests for one
 * id+version only the first is claimed. All claims are made before the catalog head is locked. The
 * commits are appended in the order given, with strictly increasing timestamps; each new row's
 * `created` and `last_commit_timestamp` are its commit time.
 *
 * @param options.lockTimeoutMs when given, the transaction's `lock_timeout` in whole ms (0: no limit),
 *   set by the same statement before any lock is taken: a lock not granted in time fails the statement
 *   with PostgreSQL's 55P03 `lock_not_available`.
 * @returns per request, its commit, or undefined when its id+version was already claimed.
 * @throws RangeError when `lockTimeoutMs` is not a whole number ≥ 0.
 */
export async function claimAndAppendCommits(
  db: Kysely<Database>,
  feedId: number,
  requests: readonly ClaimRequest[],
  options: { lockTimeoutMs?: number | undefined } = {},
): Promise<(CommitStamp | undefined)[]> {
  const { lockTimeoutMs } = options;
  if (lockTimeoutMs !== undefined && (!Number.isSafeInteger(lockTimeoutMs) || lockTimeoutMs < 0 || lockTimeoutMs > 2 ** 31 - 1)) {
    throw new RangeError(`lockTimeoutMs must be a whole number ≥ 0, got ${lockTimeoutMs}`);
  }
  if (requests.length === 0) return [];
  const body = requests.map((r) => ({
    claim: r.claim,
    commitId: r.commit.commitId,
    items: r.commit.items.map((item) => ({ ...item, package: { ...item.package, created: true } })),
  }));
  const result = await sql<{ request_index: number; committed_at: Date | null }>`
    SELECT request_index, committed_at
    FROM nucat_ingest_packages(${feedId}::integer, ${JSON.stringify(body)}::jsonb, ${MAX_CATALOG_PAGE_ITEMS}::integer,
                               ${lockTimeoutMs ?? null}::integer)`.execute(db);
  const stamps: (CommitStamp | undefined)[] = requests.map(() => undefined);
  for (const row of result.rows) {
    if (row.committed_at) stamps[row.request_index] = { commitId: requests[row.request_index]!.commit.commitId, commitTimestamp: row.committed_at };
  }
  return stamps;
}

/** The value as JSON.stringify sees it: `toJSON` applied (Dates become ISO strings). */
function toJsonValue(value: unknown): unknown {
  if (value !== null && typeof value === 'object' && typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    return (value as { toJSON(): unknown }).toJSON();
  }
  return value;
}

/** Compares the two builds of one item, recording where they differ (the timestamp) in `slots`. */
function findTimestampSlots(a: unknown, b: unknown, path: string[], slots: TimestampSlot[], what: string): void {
  if (a === b) return;
  if (typeof a === 'string' && typeof b === 'string') {
    for (const format of ['catalog', 'iso'] as const) {
      if (a === PROBE_TEXT[format][0] && b === PROBE_TEXT[format][1]) {
        slots.push({ path, format });
        return;
      }
    }
  } else if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length === b.length) {
      for (let i = 0; i < a.length; i++) findTimestampSlots(toJsonValue(a[i]), toJsonValue(b[i]), [...path, String(i)], slots, what);
      return;
    }
  } else if (isObject(a) && isObject(b)) {
    const keys = jsonKeys(a);
    const otherKeys = jsonKeys(b);
    if (keys.length === otherKeys.length && keys.every((k, i) => k === otherKeys[i])) {
      for (const key of keys) findTimestampSlots(toJsonValue(a[key]), toJsonValue(b[key]), [...path, key], slots, what);
      return;
    }
  } else if (typeof a === 'number' && typeof b === 'number' && Number.isNaN(a) && Number.isNaN(b)) {
    return;
  }
  throw new UnsupportedCatalogItemError(
    `The catalog item ${what} depends on its commit at ${path.length === 0 ? 'its root' : path.join('.')} other than as a whole formatted timestamp.`,
  );
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** The keys JSON.stringify writes: own enumerable keys whose value is not undefined, a function or a symbol. */
function jsonKeys(value: Record<string, unknown>): string[] {
  return Object.keys(value).filter((k) => {
    const v = value[k];
    return v !== undefined && typeof v !== 'function' && typeof v !== 'symbol';
  });
}
