import { HIVE_NAMES } from './documents/index.js';

/**
 * The projections whose output lives in the blob store under a generation's key prefix, so they can
 * be rebuilt from the catalog beside the generation being served and then switched to at once.
 */
export const BLOB_PROJECTIONS = ['flatcontainer', 'registration'] as const;
export type BlobProjection = (typeof BLOB_PROJECTIONS)[number];

/** The generation served for each blob projection. */
export interface BlobGenerations {
  readonly flatcontainer: number;
  readonly registration: number;
}

/**
 * Blob key of the generation pointer: `{"flatcontainer":N,"registration":N}`. Read nodes resolve
 * key prefixes from it without the database; an absent pointer means generation 0 everywhere.
 */
export const GENERATIONS_POINTER_KEY = 'generations.json';

/** What a store without a pointer serves: the unprefixed layout of generation 0. */
export const INITIAL_GENERATIONS: BlobGenerations = Object.freeze({ flatcontainer: 0, registration: 0 });

/** Whether `name` is a blob projection (one with generations). */
export function isBlobProjection(name: string): name is BlobProjection {
  return (BLOB_PROJECTIONS as readonly string[]).includes(name);
}

function checkGeneration(generation: number): void {
  if (!Number.isSafeInteger(generation) || generation < 0) throw new RangeError(`not a projection generation: ${generation}`);
}

/**
 * The key prefix every key of a generation starts with: `""` for generation 0 (the layout from
 * before generations existed, so existing stores stay valid), `"g{N}/"` after.
 */
export function generationRoot(generation: number): string {
  checkGeneration(generation);
  return generation === 0 ? '' : `g${generation}/`;
}

/** The flat container folder of a generation: `flatcontainer` or `g{N}/flatcontainer` (no trailing `/`). */
export function flatContainerPrefix(generation: number): string {
  return `${generationRoot(generation)}flatcontainer`;
}

/**
 * The `list()` prefixes that hold exactly one generation of a projection (every key the projection
 * wrote there), for deleting a generation switched away from.
 */
export function generationKeyPrefixes(projection: BlobProjection, generation: number): string[] {
  const root = generationRoot(generation);
  return projection === 'flatcontainer' ? [`${root}flatcontainer/`] : HIVE_NAMES.map((hive) => `${root}${hive}/`);
}

/** The cursor name of a generation being rebuilt: `flatcontainer@g2`. */
export function generationCursorName(projection: BlobProjection, generation: number): string {
  checkGeneration(generation);
  return `${projection}@g${generation}`;
}

/** The pointer document for `generations`; deterministic bytes. */
export function renderGenerationsPointer(generations: BlobGenerations): Buffer {
  checkGeneration(generations.flatcontainer);
  checkGeneration(generations.registration);
  return Buffer.from(JSON.stringify({ flatcontainer: generations.flatcontainer, registration: generations.registration }));
}

/**
 * Reads a pointer document. A projection it does not name is at generation 0. Undefined when the
 * bytes are not a pointer (not JSON, not an object, or a value that is not a generation number).
 */
export function parseGenerationsPointer(bytes: Uint8Array): BlobGenerations | undefined {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    return undefined;
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const record = value as Record<string, unknown>;
  const read = (name: BlobProjection): number | undefined => {
    const n = record[name] ?? 0;
    return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0 ? n : undefined;
  };
  const flatcontainer = read('flatcontainer');
  const registration = read('registration');
  if (flatcontainer === undefined || registration === undefined) return undefined;
  return { flatcontainer, registration };
}
