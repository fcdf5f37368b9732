import { parseArgs } from 'node:util';
import { releaseStaleClaims } from '@nucat/auth';
import { collectOrphanBlobs, DEFAULT_ORPHAN_MIN_AGE_MS, InvalidCollectOptionsError } from '@nucat/feed';
import { openFeedContext } from './mirror.js';

/** Usage lines of the gc command, for the CLI's help. */
export const GC_USAGE = `  gc [--dry-run] [--min-age 1h]        delete content blobs no package references (left by pushes that died between
                                        writing their bytes and committing), once their newest file is older than
                                        --min-age (default 1h, at least 1m; units s, m, h, d), and release claims of
                                        ids whose first push never committed, untouched for as long. Blobs a push in
                                        progress relies on are never deleted. --dry-run lists without deleting.`;

/** Reads `90s`, `10m`, `1h`, `2d` (a number and a unit) into milliseconds; undefined when it is not one. */
export function parseDuration(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)(s|m|h|d)$/.exec(text.trim());
  if (!match) return undefined;
  const unit = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] as 's' | 'm' | 'h' | 'd'];
  return Number(match[1]) * unit;
}

function formatBytes(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(1)} MB` : bytes >= 1024 ? `${(bytes / 1024).toFixed(1)} KB` : `${bytes} B`;
}

/**
 * `nucat gc [--dry-run] [--min-age 1h]`: one line per collected content hash and per released claim on
 * stdout, a summary on stderr. Works on the whole blob store and database (every feed).
 * @returns the exit code: 0, or 2 for bad options.
 */
export async function runGcCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { 'dry-run': { type: 'boolean', default: false }, 'min-age': { type: 'string' } },
    allowPositionals: false,
  });
  const minAgeText = values['min-age'];
  const minAgeMs = minAgeText === undefined ? DEFAULT_ORPHAN_MIN_AGE_MS : parseDuration(minAgeText);
  if (minAgeMs === undefined) {
    process.stderr.write(`nucat: --min-age must be a number and a unit (s, m, h, d), like 1h\n\n${GC_USAGE}\n`);
    return 2;
  }
  const dryRun = values['dry-run'];
  const feed = await openFeedContext(2);
  try {
    let report;
    try {
      report = await collectOrphanBlobs(feed, { minAgeMs, dryRun });
    } catch (error) {
      if (!(error instanceof InvalidCollectOptionsError)) throw error;
      process.stderr.write(`nucat: ${error.message}\n`);
      return 2;
    }
    const verb = dryRun ? 'would delete' : 'deleted';
    for (const c of report.collected) {
      process.stdout.write(`${verb} ${c.keys.join(' ')}  (${formatBytes(c.bytes)}, written ${c.lastModified.toISOString()})\n`);
    }
    const claims = await releaseStaleClaims(feed.db, { minAgeMs, dryRun });
    for (const claim of claims) {
      process.stdout.write(
        `${dryRun ? 'would release' : 'released'} claim of ${claim.id} (no version; last pushed ${claim.touchedAt.toISOString()})\n`,
      );
    }
    const bytes = report.collected.reduce((sum, c) => sum + c.bytes, 0);
    process.stderr.write(
      `gc${dryRun ? ' (dry run)' : ''}: ${report.scanned} content hash(es): ${report.referenced} referenced, ` +
        `${report.tooYoung} too young, ${report.leased} leased by a push, ${report.collected.length} orphaned ` +
        `(${formatBytes(bytes)} ${verb}); ${claims.length} stale id claim(s) ${dryRun ? 'to release' : 'released'}` +
        `${report.unknownKeys > 0 ? `; ${report.unknownKeys} unknown key(s) under content/ left alone` : ''}\n`,
    );
    return 0;
  } finally {
    await feed.close();
  }
}
