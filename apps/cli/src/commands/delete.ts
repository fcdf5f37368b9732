import { formatCatalogTimestamp } from '@nucat/catalog';
import { deletePackage } from '@nucat/feed';
import { openFeedContext } from './mirror.js';

/** Usage lines of the delete command, for the CLI's help. */
export const DELETE_USAGE = `  delete <id> <version>                 hard-delete a version (admin, direct database access): appends a
                                        PackageDelete to the catalog, so it leaves the flat container,
                                        registration and search (and every mirror). Unlike unlisting it
                                        cannot be undone, and the id+version can never be pushed again.`;

/**
 * `nucat delete <id> <version>`: hard delete (PackageDelete leaf).
 * @returns the exit code: 0 deleted (or deleted before), 1 no such version.
 */
export async function runDeleteCommand(args: string[]): Promise<number> {
  const [id, version, ...extra] = args;
  if (!id || !version || extra.length > 0) throw new Error(`delete needs exactly <id> <version>\n\n${DELETE_USAGE}`);
  const feed = await openFeedContext(2);
  try {
    const result = await deletePackage(feed, { id, version });
    switch (result.kind) {
      case 'deleted':
        process.stdout.write(`deleted ${result.packageId} ${result.version} (commit ${formatCatalogTimestamp(result.commit.commitTimestamp)})\n`);
        return 0;
      case 'already-deleted':
        process.stdout.write(`${result.packageId} ${result.version} was already deleted\n`);
        return 0;
      case 'not-found':
        process.stderr.write(`nucat: ${id} ${version} does not exist in this feed\n`);
        return 1;
    }
  } finally {
    await feed.close();
  }
}
