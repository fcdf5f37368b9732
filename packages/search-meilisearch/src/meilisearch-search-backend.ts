import {
  Meilisearch,
  MeilisearchApiError,
  MeilisearchRequestError,
  MeilisearchRequestTimeOutError,
  MeilisearchTaskTimeOutError,
  type EnqueuedTask,
  type MultiSearchQuery,
  type RecordAny,
  type Task,
} from 'meilisearch';
import {
  SEARCH_VARIANTS,
  type AutocompleteIdsOptions,
  type DownloadTotals,
  type PackageOwners,
  type SearchBackend,
  type SearchDocument,
  type SearchHit,
  type SearchResult,
  type SearchVariant,
} from '@nucat/search';
import {
  DISPLAYED_ATTRIBUTES,
  readDownloadFields,
  toDownloadFields,
  toMeiliDocumentBody,
  toSearchHit,
  type DownloadFields,
  type MeiliDocument,
} from './documents.js';
import { assertDocumentsOf, sortedOwners } from '@nucat/search';
import { MeilisearchBackendError, MeilisearchUnavailableError } from './errors.js';
import { and, equals, isIn, not } from './filter.js';
import { assertValidIndexPrefix, encodeDocumentKey, feedIndexUid } from './keys.js';
import { buildAutocompletePlan, buildSearchPlan, pageTiers, type SearchPlan, type TierRequest } from './search-plan.js';
import { buildIndexSettings } from './settings.js';

/** Options of {@link createMeilisearchSearchBackend}. */
export interface MeilisearchSearchBackendOptions {
  /** Base URL of the Meilisearch server, e.g. `http://127.0.0.1:7700`. */
  url: string;
  /** API key (master key or a key allowed to manage indexes, documents, settings, tasks and search). Never logged. */
  apiKey?: string;
  /**
   * Prefix of index uids: feed `n` lives in `${indexPrefix}-feed-${n}`. Letters, digits, `_` and `-`.
   * @defaultValue 'nucat'
   */
  indexPrefix?: string;
  /**
   * Timeout of each HTTP request to Meilisearch, in milliseconds (searches included).
   * @defaultValue 5000
   */
  requestTimeoutMs?: number;
  /**
   * How long a write waits for its Meilisearch task to be processed, in milliseconds.
   * @defaultValue 60000
   */
  taskTimeoutMs?: number;
}

/** Ids per `setDownloads` / `setOwners` request. */
const UPDATE_CHUNK = 500;
/** Meilisearch's `skipCreation` document option appeared in this version. */
const SKIP_CREATION_SINCE = { major: 1, minor: 31 };

interface ServerFeatures {
  /** Document updates can skip ids that are not in the index (`skipCreation`). */
  skipCreation: boolean;
}

/**
 * A {@link SearchBackend} on Meilisearch, through the official `meilisearch` client.
 *
 * - One index per feed (`${indexPrefix}-feed-${feedId}`), primary key `key` =
 *   `${variant}__${escaped lowerId}` (see `keys.ts`). The first write to an index in a process
 *   creates it if needed and applies the settings of `settings.ts`, and waits for both.
 * - Matching and ranking follow the contract exactly with equality filters on lists stored with each
 *   document, one sorted request per rank tier (see `search-plan.ts`); `totalHits` is exhaustive.
 * - Writes wait for their Meilisearch tasks, so a write is visible to searches when it resolves;
 *   writes to one index are serialised within the process.
 * - `replacePackage` upserts the new documents (with the owners they carry, keeping stored download
 *   counts), then deletes the id's other variants: each (id, variant) is always either the old or
 *   the new document.
 * - `setDownloads` and `setOwners` update those fields of existing documents only, in every
 *   variant (`skipCreation` on Meilisearch ≥ 1.31; on older servers the existing keys are looked
 *   up first, and a document removed in between leaves a partial document that no search returns
 *   and the id's next replace removes).
 * - Reads of a feed that has no index yet return nothing. Timeouts and connection failures throw
 *   {@link MeilisearchUnavailableError} (`unavailable`); error responses and failed tasks throw
 *   {@link MeilisearchBackendError} (`search_backend_error`).
 *
 * Requires Meilisearch 1.12 or later.
 *
 * @example
 * const backend = createMeilisearchSearchBackend({ url: 'http://127.0.0.1:7700', apiKey: key });
 * await backend.replacePackage(1, 'contoso.widgets', documents);
 * const { totalHits, hits } = await backend.search(1, { query: parseSearchQuery('widgets'), variant: 'semver2-stable', skip: 0, take: 20 });
 */
export function createMeilisearchSearchBackend(options: MeilisearchSearchBackendOptions): SearchBackend {
  const indexPrefix = options.indexPrefix ?? 'nucat';
  assertValidIndexPrefix(indexPrefix);
  const requestTimeoutMs = positive(options.requestTimeoutMs, 5_000, 'requestTimeoutMs');
  const taskTimeoutMs = positive(options.taskTimeoutMs, 60_000, 'taskTimeoutMs');

  let client: Meilisearch;
  try {
    client = new Meilisearch({
      host: options.url,
      ...(options.apiKey !== undefined ? { apiKey: options.apiKey } : {}),
      timeout: requestTimeoutMs,
      defaultWaitOptions: { timeout: taskTimeoutMs, interval: 25 },
    });
  } catch (error) {
    throw new MeilisearchBackendError('The Meilisearch URL is not valid.', { option: 'url' }, { cause: error });
  }

  /** Index uid → settled once the index exists with our settings (dropped on failure, so the next write retries). */
  const readyIndexes = new Map<string, Promise<void>>();
  /** Index uid → tail of the chain of writes to it. */
  const writeChains = new Map<string, Promise<unknown>>();
  let features: Promise<ServerFeatures> | undefined;
  let closed = false;

  const uidOf = (feedId: number): string => feedIndexUid(indexPrefix, feedId);

  function assertOpen(): void {
    if (closed) throw new MeilisearchBackendError('The Meilisearch search backend is closed.', { reason: 'closed' });
  }

  /** Runs `write` after every earlier write to the same index (Meilisearch applies tasks in order, but read-modify-write steps need this). */
  function serialize<T>(uid: string, write: () => Promise<T>): Promise<T> {
    const previous = writeChains.get(uid) ?? Promise.resolve();
    const result = previous.then(write, write);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    writeChains.set(uid, tail);
    void tail.then(() => {
      if (writeChains.get(uid) === tail) writeChains.delete(uid);
    });
    return result;
  }

  function ensureIndex(uid: string): Promise<void> {
    let ready = readyIndexes.get(uid);
    if (ready === undefined) {
      ready = (async () => {
        const created = await client.createIndex(uid, { primaryKey: 'key' }).waitTask();
        if (created.status !== 'succeeded' && created.error?.code !== 'index_already_exists') {
          throw taskFailure(created, 'createIndex');
        }
        checkTask(await client.index(uid).updateSettings(buildIndexSettings()).waitTask(), 'updateSettings');
      })();
      readyIndexes.set(uid, ready);
      ready.catch(() => readyIndexes.delete(uid));
    }
    return ready;
  }

  function serverFeatures(): Promise<ServerFeatures> {
    features ??= client.getVersion().then(
      (version) => ({ skipCreation: versionAtLeast(version.pkgVersion, SKIP_CREATION_SINCE) }),
      () => {
        // A key without the `version` action, or a passing failure: use what every supported
        // server has this time, and ask again next time.
        features = undefined;
        return { skipCreation: false };
      },
    );
    return features;
  }

  async function waitAll(enqueued: readonly EnqueuedTask[], operation: string): Promise<void> {
    for (const task of enqueued) checkTask(await client.tasks.waitForTask(task), operation);
  }

  /**
   * Writes `fields` of each id into every variant document of that id that exists (a partial
   * update by primary key; nothing else of the document changes), serialised with the index's
   * other writes, and waits for the tasks. Ids not in the index get no document: Meilisearch
   * ≥ 1.31 skips them (`skipCreation`); on older servers the existing keys are looked up first.
   */
  function updateExisting<F extends object>(uid: string, operation: string, byId: ReadonlyMap<string, F>): Promise<void> {
    return serialize(uid, () =>
      guard(operation, async () => {
        await ensureIndex(uid);
        const { skipCreation } = await serverFeatures();
        const index = client.index<MeiliDocument>(uid);
        const ids = [...byId.keys()];
        const enqueued: EnqueuedTask[] = [];
        for (let i = 0; i < ids.length; i += UPDATE_CHUNK) {
          const chunk = ids.slice(i, i + UPDATE_CHUNK);
          let updates: (Pick<MeiliDocument, 'key' | 'lowerId'> & F)[];
          if (skipCreation) {
            updates = chunk.flatMap((lowerId) =>
              SEARCH_VARIANTS.map((variant) => ({ key: encodeDocumentKey(variant, lowerId), lowerId, ...byId.get(lowerId)! })),
            );
          } else {
            const filter = isIn('lowerId', chunk);
            if (filter === false) continue;
            const found = await index.getDocuments({ filter, fields: ['key', 'lowerId'], limit: chunk.length * (SEARCH_VARIANTS.length + 1) });
            updates = found.results.flatMap((d) => {
              const fields = byId.get(d.lowerId);
              return fields === undefined ? [] : [{ key: d.key, lowerId: d.lowerId, ...fields }];
            });
          }
          if (updates.length > 0) {
            enqueued.push(await index.updateDocuments(updates, { primaryKey: 'key', ...(skipCreation ? { skipCreation: true } : {}) }));
          }
        }
        await waitAll(enqueued, operation);
      }),
    );
  }

  /** Runs the tier requests of a plan and cuts the requested page across tiers. */
  async function runPlan(uid: string, plan: SearchPlan): Promise<{ totalHits: number; hits: RecordAny[] }> {
    if (plan.tiers.length === 0) return { totalHits: 0, hits: [] };
    const count = (tier: TierRequest): MultiSearchQuery => ({
      indexUid: uid,
      filter: tier.filter,
      page: 1,
      hitsPerPage: 0,
      attributesToRetrieve: ['key'],
    });
    const fetch = (tier: TierRequest, offset: number, limit: number): MultiSearchQuery => ({
      indexUid: uid,
      filter: tier.filter,
      sort: tier.sort,
      offset,
      limit,
      attributesToRetrieve: [...DISPLAYED_ATTRIBUTES],
    });
    if (plan.tiers.length === 1) {
      // One tier (no ranking text): count and page in one round trip.
      const tier = plan.tiers[0]!;
      const queries = [count(tier), ...(plan.take > 0 ? [fetch(tier, plan.skip, plan.take)] : [])];
      const { results } = await client.multiSearch({ queries });
      return { totalHits: results[0]?.totalHits ?? 0, hits: results[1]?.hits ?? [] };
    }
    const counted = await client.multiSearch({ queries: plan.tiers.map(count) });
    const counts = counted.results.map((result) => result.totalHits ?? 0);
    const totalHits = counts.reduce((sum, n) => sum + n, 0);
    const windows = pageTiers(counts, plan.skip, plan.take);
    if (windows.length === 0) return { totalHits, hits: [] };
    const fetched = await client.multiSearch({ queries: windows.map((w) => fetch(plan.tiers[w.tier]!, w.offset, w.limit)) });
    return { totalHits, hits: fetched.results.flatMap((result) => result.hits) };
  }

  return {
    async replacePackage(feedId, lowerId, documents) {
      assertOpen();
      assertDocumentsOf(lowerId, documents);
      const uid = uidOf(feedId);
      await serialize(uid, () =>
        guard('replacePackage', async () => {
          await ensureIndex(uid);
          const index = client.index<MeiliDocument>(uid);
          const ofId = equals('lowerId', lowerId);
          const existing =
            ofId === false
              ? []
              : (await index.getDocuments({ filter: ofId, fields: ['key', 'totalDownloads', 'downloadCounts'], limit: 100 })).results;
          // Download counts belong to the id: a variant new to the index starts from its siblings' counts.
          const sibling = existing.find((d) => Array.isArray(d.downloadCounts));
          const counts: DownloadFields = sibling === undefined ? toDownloadFields({}) : readDownloadFields(sibling);
          const existingKeys = new Set(existing.map((d) => d.key));
          const bodies = documents.map(toMeiliDocumentBody);
          const enqueued: EnqueuedTask[] = [];
          if (bodies.length > 0) {
            // A partial update keeps the stored counts of documents that exist (even if set meanwhile).
            const payload = bodies.map((body) => (existingKeys.has(body.key) ? body : { ...body, ...counts }));
            enqueued.push(await index.updateDocuments(payload, { primaryKey: 'key' }));
          }
          const newKeys = new Set(bodies.map((b) => b.key));
          if (ofId !== false && existing.some((d) => !newKeys.has(d.key))) {
            // Deleted after the upsert is enqueued: a reader never finds the id missing from a variant it keeps.
            const filter = documents.length === 0 ? ofId : and(ofId, not(isIn('variant', documents.map((d) => d.variant))));
            if (typeof filter === 'string') enqueued.push(await index.deleteDocuments({ filter }));
          }
          await waitAll(enqueued, 'replacePackage');
        }),
      );
    },

    async setDownloads(feedId, totals) {
      assertOpen();
      if (totals.length === 0) return;
      // Last entry wins when an id repeats.
      const byId = new Map<string, DownloadFields>();
      for (const entry of totals) byId.set(entry.lowerId, toDownloadFields(entry.versions));
      await updateExisting(uidOf(feedId), 'setDownloads', byId);
    },

    async setOwners(feedId, owners: PackageOwners[]) {
      assertOpen();
      if (owners.length === 0) return;
      // Last entry wins when an id repeats.
      const byId = new Map<string, Pick<MeiliDocument, 'owners'>>();
      for (const entry of owners) byId.set(entry.lowerId, { owners: sortedOwners(entry.owners) });
      await updateExisting(uidOf(feedId), 'setOwners', byId);
    },

    async search(feedId, query) {
      assertOpen();
      const uid = uidOf(feedId);
      const { totalHits, hits } = await guard('search', () => runPlan(uid, buildSearchPlan(query)), emptyPage);
      return { totalHits, hits: hits.map(toSearchHit).filter((hit): hit is SearchHit => hit !== undefined) } satisfies SearchResult;
    },

    async autocompleteIds(feedId, options: AutocompleteIdsOptions) {
      assertOpen();
      const uid = uidOf(feedId);
      const { totalHits, hits } = await guard('autocompleteIds', () => runPlan(uid, buildAutocompletePlan(options)), emptyPage);
      return { totalHits, ids: hits.flatMap((hit) => (typeof hit.id === 'string' ? [hit.id] : [])) };
    },

    async autocompleteVersions(feedId, options: { lowerId: string; variant: SearchVariant }) {
      assertOpen();
      const index = client.index<MeiliDocument>(uidOf(feedId));
      const key = encodeDocumentKey(options.variant, options.lowerId);
      const stored = await guard<Partial<MeiliDocument> | undefined>(
        'autocompleteVersions',
        () => index.getDocument<Partial<MeiliDocument>>(key, { fields: ['variant', 'id', 'versions'] }),
        () => undefined,
        ['document_not_found', 'index_not_found'],
      );
      // A partial document (see setDownloads) has no versions: the id is not in this variant.
      if (stored === undefined || stored.variant !== options.variant || typeof stored.id !== 'string' || !Array.isArray(stored.versions)) {
        return undefined;
      }
      return stored.versions.map((v) => v.version);
    },

    async flush() {
      assertOpen();
      await Promise.all(writeChains.values());
      const uids = [...readyIndexes.keys()];
      if (uids.length === 0) return;
      await guard('flush', async () => {
        // Also wait for tasks other processes enqueued on our indexes before now.
        const pending = await client.tasks.getTasks({ indexUids: uids, statuses: ['enqueued', 'processing'], limit: 1000 });
        for (const task of pending.results) await client.tasks.waitForTask(task.uid);
      });
    },

    async close() {
      if (closed) return;
      closed = true;
      await Promise.all(writeChains.values());
    },
  };
}

/** Same rules as the PostgreSQL backend: every document belongs to `lowerId`, one per variant. */
function emptyPage(): { totalHits: number; hits: RecordAny[] } {
  return { totalHits: 0, hits: [] };
}

/**
 * Runs a Meilisearch call and turns its failures into our errors. When Meilisearch answers with
 * one of `missingCodes` (by default `index_not_found`: a feed nothing was written to), `missing()`
 * gives the result instead.
 */
async function guard<T>(
  operation: string,
  call: () => Promise<T>,
  missing?: () => T,
  missingCodes: readonly string[] = ['index_not_found'],
): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof MeilisearchApiError && missing !== undefined && missingCodes.includes(error.cause?.code ?? '')) {
      return missing();
    }
    throw translateError(error, operation);
  }
}

/** Our error for a client error (ours pass through unchanged). */
export function translateError(error: unknown, operation: string): unknown {
  // The client wraps its own request timeout in a MeilisearchRequestError.
  if (error instanceof MeilisearchRequestTimeOutError || (error instanceof MeilisearchRequestError && error.cause instanceof MeilisearchRequestTimeOutError)) {
    return new MeilisearchUnavailableError(`Meilisearch did not answer ${operation} in time.`, { operation, reason: 'request_timeout' }, { cause: error });
  }
  if (error instanceof MeilisearchTaskTimeOutError) {
    return new MeilisearchUnavailableError(`Meilisearch did not process the ${operation} task in time.`, { operation, reason: 'task_timeout', taskUid: error.cause.taskUid }, { cause: error });
  }
  if (error instanceof MeilisearchRequestError) {
    return new MeilisearchUnavailableError(`Meilisearch could not be reached for ${operation}.`, { operation, reason: 'request_failed' }, { cause: error });
  }
  if (error instanceof MeilisearchApiError) {
    return new MeilisearchBackendError(
      `Meilisearch refused ${operation}: ${error.message}`,
      { operation, status: error.response.status, ...(error.cause?.code !== undefined ? { meiliCode: error.cause.code } : {}) },
      { cause: error },
    );
  }
  return error;
}

function checkTask(task: Task, operation: string): void {
  if (task.status !== 'succeeded') throw taskFailure(task, operation);
}

function taskFailure(task: Task, operation: string): MeilisearchBackendError {
  return new MeilisearchBackendError(
    `Meilisearch task ${task.uid} (${task.type}) of ${operation} ended ${task.status}${task.error ? `: ${task.error.message}` : ''}.`,
    { operation, taskUid: task.uid, type: task.type, status: task.status, ...(task.error ? { meiliCode: task.error.code } : {}) },
  );
}

/**
 * True when a Meilisearch version string (`1.31.0`, `1.31.0-rc.1`) is at least `minimum`.
 * Unparseable versions count as old.
 */
export function versionAtLeast(version: string, minimum: { major: number; minor: number }): boolean {
  const match = /^v?(\d+)\.(\d+)/.exec(version.trim());
  if (match === null) return false;
  const major = Number(match[1]);
  const minor = Number(match[2]);
  return major > minimum.major || (major === minimum.major && minor >= minimum.minor);
}

function positive(value: number | undefined, fallback: number, option: string): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value <= 0) {
    throw new MeilisearchBackendError(`The option ${option} must be a positive number of milliseconds, got ${String(value)}.`, { option });
  }
  return value;
}
