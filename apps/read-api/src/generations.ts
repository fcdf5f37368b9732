import {
  GENERATIONS_POINTER_KEY,
  INITIAL_GENERATIONS,
  flatContainerPrefix,
  generationRoot,
  parseGenerationsPointer,
  type BlobGenerations,
} from '@nucat/catalog';
import type { BlobStore } from '@nucat/storage';

/** The key prefixes one request reads with: all of its keys come from the same generations. */
export interface ResolvedGenerations {
  readonly generations: BlobGenerations;
  /** Flat container folder, no trailing `/`: `flatcontainer` or `g2/flatcontainer`. */
  readonly flatContainer: string;
  /** Prefix of the registration hives: `""` or `g2/`. */
  readonly registrationRoot: string;
}

/** Options of {@link createGenerationResolver}. */
export interface GenerationResolverOptions {
  /** How long a read pointer is used before it is read again. @defaultValue 2000 */
  refreshMs?: number;
  /** After a missing blob, the pointer is read again if it is at least this old. @defaultValue 200 */
  missRefreshMs?: number;
  /** The clock, in milliseconds. @defaultValue performance.now */
  now?: () => number;
}

function resolve(generations: BlobGenerations): ResolvedGenerations {
  return {
    generations,
    flatContainer: flatContainerPrefix(generations.flatcontainer),
    registrationRoot: generationRoot(generations.registration),
  };
}

/**
 * Which generation of the flat container and of the registration hives a read node serves, from
 * the pointer document the workers write into the blob store on every switch (`generations.json`),
 * so no database is needed to resolve a key (a read node keeps serving while PostgreSQL is down).
 *
 * The pointer is cached for `refreshMs` and read again sooner after a miss (a blob not found may
 * mean the generation moved on and the old one is gone). No pointer means generation 0 (the
 * unprefixed layout) until one appears. Once a pointer was read, an absent, unreadable or failing
 * read keeps the last good value: a node never falls back to a generation it left.
 */
export function createGenerationResolver(store: BlobStore, options: GenerationResolverOptions = {}) {
  const refreshMs = options.refreshMs ?? 2_000;
  const missRefreshMs = options.missRefreshMs ?? 200;
  const now = options.now ?? (() => performance.now());
  let current = resolve(INITIAL_GENERATIONS);
  let seenPointer = false;
  let loadedAt = Number.NEGATIVE_INFINITY;
  let loading: Promise<ResolvedGenerations> | undefined;

  function load(): Promise<ResolvedGenerations> {
    loading ??= (async () => {
      try {
        const bytes = await store.read(GENERATIONS_POINTER_KEY);
        const read = bytes ? parseGenerationsPointer(bytes) : seenPointer ? undefined : INITIAL_GENERATIONS;
        if (bytes && read) seenPointer = true;
        if (read && (read.flatcontainer !== current.generations.flatcontainer || read.registration !== current.generations.registration)) {
          current = resolve(read);
        }
      } catch {
        // Keep serving the last known generations; the next refresh tries again.
      } finally {
        loadedAt = now();
        loading = undefined;
      }
      return current;
    })();
    return loading;
  }

  return {
    /** The generations to read a request's keys with (re-reading the pointer when it is due). */
    async current(): Promise<ResolvedGenerations> {
      if (now() - loadedAt >= refreshMs) return load();
      return current;
    },
    /**
     * After a blob was not found under `seen`: re-reads the pointer (at most every `missRefreshMs`)
     * and returns the newer generations when it moved, undefined when the miss stands.
     */
    async afterMiss(seen: ResolvedGenerations): Promise<ResolvedGenerations | undefined> {
      const latest = now() - loadedAt >= missRefreshMs ? await load() : current;
      return latest === seen ? undefined : latest;
    },
  };
}

export type GenerationResolver = ReturnType<typeof createGenerationResolver>;
