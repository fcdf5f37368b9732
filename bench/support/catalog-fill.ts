/**
 * Fills a feed's catalog straight through the libraries the publish API uses — @nucat/nuget reads the
 * package, @nucat/storage stores its bytes (durable, content-addressed), @nucat/catalog appends the
 * leaves — with many leaves per commit. For benchmarks of what comes after publishing (catalog replay),
 * where pushing ten thousand packages one HTTP request at a time would take most of the time budget.
 * The publish API itself is measured by push-throughput.ts and corpus.ts.
 */
import { createHash } from 'node:crypto';
import { appendCatalogCommit, buildPackageDetails, packageContentKeys, type PendingCatalogItem } from '@nucat/catalog';
import type { Db } from '@nucat/db';
import { fullVersion, isSemVer2Package, lowerNormalizedVersion, normalizeVersion, readNupkg, toLowerId } from '@nucat/nuget';
import type { BlobStore } from '@nucat/storage';
import type { Corpus } from './corpus.js';

/** What {@link fillCatalog} did. */
export interface FillReport {
  leaves: number;
  commits: number;
  seconds: number;
  /** The last commit timestamp (ISO). */
  lastCommit: Date;
}

interface Prepared {
  item: PendingCatalogItem;
  row: {
    lower_id: string;
    lower_version: string;
    id: string;
    version: string;
    normalized_version: string;
    semver2: boolean;
    package_hash: string;
    package_size: number;
  };
}

/**
 * Stores every package of `corpus` and appends one PackageDetails leaf per package, `perCommit`
 * leaves per catalog commit, in the corpus's push order. Also writes the `packages` rows, as a push does.
 */
export async function fillCatalog(db: Db, store: BlobStore, feedId: number, corpus: Corpus, options: { perCommit?: number; concurrency?: number } = {}): Promise<FillReport> {
  const perCommit = options.perCommit ?? 100;
  const concurrency = options.concurrency ?? 8;
  const order = corpus.pushOrder();
  const started = performance.now();
  let commits = 0;
  let lastCommit = new Date(0);
  for (let from = 0; from < order.length; from += perCommit) {
    const slice = order.slice(from, from + perCommit);
    const prepared: Prepared[] = new Array(slice.length);
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(concurrency, slice.length) }, async () => {
        while (next < slice.length) {
          const index = next++;
          const { id, versionIndex } = slice[index]!;
          const bytes = corpus.build(id, versionIndex);
          const contents = readNupkg(bytes);
          const hash = createHash('sha512').update(bytes).digest('base64');
          const keys = packageContentKeys(hash);
          await store.put(keys.nupkg, bytes, { onlyIfAbsent: true });
          await store.put(keys.nuspec, contents.nuspecBytes, { onlyIfAbsent: true });
          const manifest = contents.manifest;
          const lowerId = toLowerId(manifest.id);
          const lowerVersion = lowerNormalizedVersion(manifest.version);
          prepared[index] = {
            item: {
              type: 'PackageDetails',
              lowerId,
              lowerVersion,
              build: (commit) =>
                buildPackageDetails({
                  manifest,
                  packageHash: hash,
                  packageSize: bytes.length,
                  entries: contents.entries,
                  created: commit.commitTimestamp,
                  published: commit.commitTimestamp,
                  listed: true,
                }),
            },
            row: {
              lower_id: lowerId,
              lower_version: lowerVersion,
              id: manifest.id,
              version: fullVersion(manifest.version),
              normalized_version: normalizeVersion(manifest.version),
              semver2: isSemVer2Package({ version: fullVersion(manifest.version), verbatimVersion: manifest.verbatimVersion, dependencyGroups: manifest.dependencyGroups }),
              package_hash: hash,
              package_size: bytes.length,
            },
          };
        }
      }),
    );
    const stamp = await db.transaction().execute(async (trx) => {
      const now = new Date();
      await trx
        .insertInto('packages')
        .values(prepared.map((p) => ({ feed_id: feedId, ...p.row, listed: true, created: now, last_commit_timestamp: now })))
        .execute();
      return appendCatalogCommit(trx, feedId, prepared.map((p) => p.item));
    });
    commits += 1;
    lastCommit = stamp.commitTimestamp;
  }
  return { leaves: order.length, commits, seconds: (performance.now() - started) / 1000, lastCommit };
}
