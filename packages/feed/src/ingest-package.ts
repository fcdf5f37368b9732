import { createHash } from 'node:crypto';
import { buildPackageDetails, packageContentKeys, prepareCatalogCommit, type CommitStamp } from '@nucat/catalog';
import {
  fullVersion,
  isSemVer2Package,
  lowerNormalizedVersion,
  normalizeVersion,
  readNupkgFrom,
  toLowerId,
  tryParseVersion,
  InvalidPackageError,
  type NupkgContents,
  type NupkgLimits,
  type ZipSource,
} from '@nucat/nuget';
import { sql } from 'kysely';
import { claimBatcherOf } from './claim-batcher.js';
import { PackageMismatchError } from './errors.js';
import type { FeedDeps } from './feed-deps.js';
import { hashFile, readNupkgFile } from './file-zip-source.js';

/** Where the `.nupkg` to ingest is: a file (the caller keeps owning it) or a zip source in memory. */
export type IngestSource = { file: string } | { source: ZipSource };

/** Input of {@link ingestPackage}. */
export type IngestInput = IngestSource & {
  /** Standard base64 SHA-512 of the bytes, when the caller computed it on the way in. @defaultValue computed here */
  sha512?: string;
  /** Size in bytes, when known. @defaultValue computed here */
  size?: number;
  /** Listed state of the new version. @defaultValue true */
  listed?: boolean;
  /** Refuse the package unless its SHA-512 (base64) is this one. */
  expectedHash?: string;
  /** Refuse the package unless its nuspec id and version match these (compared in key form). */
  expectedIdentity?: { id: string; version: string };
  /** Limits for reading the zip. @defaultValue the `@nucat/nuget` defaults */
  limits?: Partial<NupkgLimits>;
  /**
   * Called once the package is read and before anything is written, with the nuspec id and whether
   * the id already has versions in the feed; throw to refuse (the publish API checks API-key scopes here).
   */
  authorize?(packageId: string, idExists: boolean): void | Promise<void>;
};

/** The outcome of {@link ingestPackage}. */
export type IngestResult =
  | { kind: 'created'; packageId: string; version: string; commit: CommitStamp }
  | {
      kind: 'exists';
      /** Id of the package given (its nuspec casing). */
      packageId: string;
      /** Full version of the package given. */
      version: string;
      /** Normalized version of the package given. */
      normalizedVersion: string;
      /** Whether the stored version has exactly these bytes. */
      sameBytes: boolean;
      listed: boolean;
      /** A hard-deleted version: its id+version can never be used again. */
      deleted: boolean;
    };

/**
 * Validates a package, stores its content (content-addressed, durable) and appends a
 * PackageDetails commit in the same transaction that claims the id+version.
 *
 * Order: validation and blob writes happen before the transaction, so the catalog lock is held
 * only for the claim and the append — one statement (`claimAndAppendCommits`) and the `COMMIT`; a
 * crash before commit leaves an unreferenced content blob and no visible package, and a retry
 * succeeds. Concurrent ingests of one feed in one process share transactions (group commit, see
 * `ClaimBatcher`); each still gets its own catalog commit. The id+version claim is the `packages`
 * primary key, so concurrent ingests of one version produce exactly one commit, and a deleted
 * version (its row stays) is never claimed again.
 *
 * @returns `created` with the commit (durable: committed), or `exists` (nothing written) when the
 *   id+version is already claimed, deleted ones included.
 * @throws InvalidPackageError (code `invalid_package`) for an invalid or symbols package;
 *   PackageMismatchError (code `package_mismatch`) when `expectedHash` / `expectedIdentity` do not match;
 *   whatever `authorize` throws.
 */
export async function ingestPackage(deps: FeedDeps, input: IngestInput): Promise<IngestResult> {
  const { sha512, size } = await measure(input);
  if (input.expectedHash !== undefined && input.expectedHash !== sha512) {
    throw new PackageMismatchError(`The package's SHA-512 is ${sha512}, expected ${input.expectedHash}.`, {
      expected: input.expectedHash,
      actual: sha512,
    });
  }

  // Read piece by piece from the file: memory stays bounded whatever the package size.
  const contents: NupkgContents =
    'file' in input ? await readNupkgFile(input.file, input.limits) : await readNupkgFrom(input.source, input.limits);
  if (contents.isSymbolsPackage) {
    throw new InvalidPackageError('This is a symbols package (SymbolsPackage type); push .snupkg files to the symbol package endpoint.');
  }
  const manifest = contents.manifest;
  const lowerId = toLowerId(manifest.id);
  const lowerVersion = lowerNormalizedVersion(manifest.version);
  if (input.expectedIdentity) {
    const expected = input.expectedIdentity;
    if (toLowerId(expected.id) !== lowerId || expectedLowerVersion(expected.version) !== lowerVersion) {
      throw new PackageMismatchError(
        `The package is ${manifest.id} ${normalizeVersion(manifest.version)}, expected ${expected.id} ${expected.version}.`,
        { expected, actual: { id: manifest.id, version: fullVersion(manifest.version) } },
      );
    }
  }

  // One query: whether the id has versions (for authorize) and the row of this version, if any.
  const state = await lookUp(deps, lowerId, lowerVersion);
  if (input.authorize) await input.authorize(manifest.id, state.idExists);

  const identity = { packageId: manifest.id, version: fullVersion(manifest.version), normalizedVersion: normalizeVersion(manifest.version) };
  if (state.row) return existsResult(state.row, sha512, identity);

  // Durable bytes first (content-addressed: identical uploads share a key, different ones never collide).
  // The puts run side by side; all of them have resolved (each durable) before the claim is sent.
  const keys = packageContentKeys(sha512);
  const nupkgBody = 'file' in input ? { file: input.file } : await input.source.read(0, input.source.size);
  // Settle all before failing: a put still running after another failed (a full disk) would leave
  // its temporary file behind the refusal the client already has.
  const stored = Promise.allSettled([
    deps.store.put(keys.nupkg, nupkgBody, { onlyIfAbsent: true }),
    deps.store.put(keys.nuspec, contents.nuspecBytes, { onlyIfAbsent: true }),
    contents.icon ? deps.store.put(keys.icon, contents.icon.bytes, { onlyIfAbsent: true }) : undefined,
    contents.readme ? deps.store.put(keys.readme, contents.readme.bytes, { onlyIfAbsent: true }) : undefined,
  ]).then((results) => {
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  });

  const listed = input.listed ?? true;
  const semver2 = isSemVer2Package({
    version: fullVersion(manifest.version),
    verbatimVersion: manifest.verbatimVersion,
    dependencyGroups: manifest.dependencyGroups,
  });
  let commit;
  try {
    commit = prepareCatalogCommit([
      {
        type: 'PackageDetails',
        lowerId,
        lowerVersion,
        build: (c) =>
          buildPackageDetails({
            manifest,
            packageHash: sha512,
            packageSize: size,
            entries: contents.entries,
            created: c.commitTimestamp,
            published: c.commitTimestamp,
            listed,
          }),
      },
    ]);
  } finally {
    await stored;
  }

  const stamp = await claimBatcherOf(deps.db, deps.feedId).claim(
    {
      claim: {
        lowerId,
        lowerVersion,
        id: manifest.id,
        version: fullVersion(manifest.version),
        normalizedVersion: normalizeVersion(manifest.version),
        listed,
        semver2,
        packageHash: sha512,
        packageSize: size,
      },
      commit,
    },
    { weight: contents.entries.length + 1, lockTimeoutMs: deps.lockTimeoutMs },
  );
  if (!stamp) {
    // Claimed by a concurrent ingest: nothing was written for this one.
    const raced = await lookUp(deps, lowerId, lowerVersion);
    if (!raced.row) throw new Error(`${manifest.id} ${normalizeVersion(manifest.version)}: claim failed but no row exists`);
    return existsResult(raced.row, sha512, identity);
  }
  return { kind: 'created', packageId: manifest.id, version: fullVersion(manifest.version), commit: stamp };
}

interface ExistingRow {
  listed: boolean;
  deleted: boolean;
  package_hash: string;
}

/** Whether the id has any version in the feed, and the row of this version (deleted included). */
async function lookUp(deps: FeedDeps, lowerId: string, lowerVersion: string): Promise<{ idExists: boolean; row?: ExistingRow }> {
  const result = await sql<{ id_exists: boolean; listed: boolean | null; deleted: boolean | null; package_hash: string | null }>`
    SELECT EXISTS (SELECT 1 FROM packages WHERE feed_id = ${deps.feedId} AND lower_id = ${lowerId}) AS id_exists,
           p.listed, p.deleted, p.package_hash
    FROM (SELECT 1) AS one
    LEFT JOIN packages p ON p.feed_id = ${deps.feedId} AND p.lower_id = ${lowerId} AND p.lower_version = ${lowerVersion}`.execute(deps.db);
  const found = result.rows[0]!;
  if (found.package_hash === null) return { idExists: found.id_exists };
  return { idExists: true, row: { listed: found.listed!, deleted: found.deleted!, package_hash: found.package_hash } };
}

function existsResult(
  row: ExistingRow,
  sha512: string,
  identity: { packageId: string; version: string; normalizedVersion: string },
): IngestResult {
  return { kind: 'exists', ...identity, sameBytes: row.package_hash === sha512, listed: row.listed, deleted: row.deleted };
}

async function measure(input: IngestInput): Promise<{ sha512: string; size: number }> {
  if (input.sha512 !== undefined && input.size !== undefined) return { sha512: input.sha512, size: input.size };
  if ('file' in input) return hashFile(input.file);
  const bytes = await input.source.read(0, input.source.size);
  return { sha512: createHash('sha512').update(bytes).digest('base64'), size: bytes.length };
}

function expectedLowerVersion(text: string): string | undefined {
  const version = tryParseVersion(text);
  return version ? lowerNormalizedVersion(version) : undefined;
}
