import { createHash } from 'node:crypto';
import {
  appendCatalogCommit,
  buildPackageDetails,
  packageContentKeys,
  type CommitStamp,
} from '@nucat/catalog';
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
 * only for the inserts; a crash before commit leaves an unreferenced content blob and no visible
 * package, and a retry succeeds. The id+version claim is the `packages` primary key, so
 * concurrent ingests of one version produce exactly one commit, and a deleted version (its row
 * stays) is never claimed again.
 *
 * @returns `created` with the commit, or `exists` (nothing written) when the id+version is already
 *   claimed, deleted ones included.
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

  if (input.authorize) {
    const idExists = await deps.db
      .selectFrom('packages')
      .select('lower_version')
      .where('feed_id', '=', deps.feedId)
      .where('lower_id', '=', lowerId)
      .limit(1)
      .executeTakeFirst();
    await input.authorize(manifest.id, idExists !== undefined);
  }

  const identity = { packageId: manifest.id, version: fullVersion(manifest.version), normalizedVersion: normalizeVersion(manifest.version) };
  const existing = await findExisting(deps, lowerId, lowerVersion, sha512, identity);
  if (existing) return existing;

  // Durable bytes first (content-addressed: identical uploads share a key, different ones never collide).
  const keys = packageContentKeys(sha512);
  const nupkgBody = 'file' in input ? { file: input.file } : await input.source.read(0, input.source.size);
  await deps.store.put(keys.nupkg, nupkgBody, { onlyIfAbsent: true });
  await deps.store.put(keys.nuspec, contents.nuspecBytes, { onlyIfAbsent: true });
  if (contents.icon) await deps.store.put(keys.icon, contents.icon.bytes, { onlyIfAbsent: true });
  if (contents.readme) await deps.store.put(keys.readme, contents.readme.bytes, { onlyIfAbsent: true });

  const listed = input.listed ?? true;
  const semver2 = isSemVer2Package({
    version: fullVersion(manifest.version),
    verbatimVersion: manifest.verbatimVersion,
    dependencyGroups: manifest.dependencyGroups,
  });

  const commit = await deps.db.transaction().execute(async (trx) => {
    const now = new Date();
    const claimed = await trx
      .insertInto('packages')
      .values({
        feed_id: deps.feedId,
        lower_id: lowerId,
        lower_version: lowerVersion,
        id: manifest.id,
        version: fullVersion(manifest.version),
        normalized_version: normalizeVersion(manifest.version),
        listed,
        semver2,
        package_hash: sha512,
        package_size: size,
        created: now,
        last_commit_timestamp: now,
      })
      .onConflict((oc) => oc.doNothing())
      .returning('lower_id')
      .executeTakeFirst();
    if (!claimed) return undefined; // claimed by a concurrent ingest: nothing written in this transaction
    const stamp = await appendCatalogCommit(trx, deps.feedId, [
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
    await trx
      .updateTable('packages')
      .set({ created: stamp.commitTimestamp, last_commit_timestamp: stamp.commitTimestamp })
      .where('feed_id', '=', deps.feedId)
      .where('lower_id', '=', lowerId)
      .where('lower_version', '=', lowerVersion)
      .execute();
    return stamp;
  });
  if (!commit) {
    const raced = await findExisting(deps, lowerId, lowerVersion, sha512, identity);
    if (!raced) throw new Error(`${manifest.id} ${normalizeVersion(manifest.version)}: claim failed but no row exists`);
    return raced;
  }
  return { kind: 'created', packageId: manifest.id, version: fullVersion(manifest.version), commit };
}

async function findExisting(
  deps: FeedDeps,
  lowerId: string,
  lowerVersion: string,
  sha512: string,
  identity: { packageId: string; version: string; normalizedVersion: string },
): Promise<IngestResult | undefined> {
  const row = await deps.db
    .selectFrom('packages')
    .select(['listed', 'deleted', 'package_hash'])
    .where('feed_id', '=', deps.feedId)
    .where('lower_id', '=', lowerId)
    .where('lower_version', '=', lowerVersion)
    .executeTakeFirst();
  if (!row) return undefined;
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
