import { listOwners } from '@nucat/auth';
import { toLowerId } from '@nucat/nuget';
import { openFeedContext } from './mirror.js';

/** Usage lines of the info command, for the CLI's help. */
export const INFO_USAGE = `  info <id>                             a package id (any casing): its owners, and per version: listed, unlisted
                                        or deleted, signed (unverified: nucat never verifies signatures) or not,
                                        size and SHA-512`;

/**
 * `nucat info <id>`: what the write side knows of an id.
 * @returns the exit code: 0, or 1 when the id has no version and no claim.
 */
export async function runInfoCommand(args: string[]): Promise<number> {
  const [id, ...extra] = args;
  if (!id || extra.length > 0) throw new Error(`info needs exactly <id>\n\n${INFO_USAGE}`);
  const feed = await openFeedContext(2);
  try {
    const owners = await listOwners(feed.db, feed.feedId, id);
    const versions = await feed.db
      .selectFrom('packages')
      .select(['id', 'version', 'listed', 'deleted', 'signature', 'package_size', 'package_hash', 'created'])
      .where('feed_id', '=', feed.feedId)
      .where('lower_id', '=', toLowerId(id))
      .orderBy('created')
      .execute();
    if (!owners && versions.length === 0) {
      process.stderr.write(`nucat: no package id '${id}' in this feed\n`);
      return 1;
    }
    process.stdout.write(`${owners?.id ?? versions[0]!.id}\n`);
    process.stdout.write(`owners: ${owners?.owners.join(', ') || '(none)'}\n`);
    for (const v of versions) {
      const state = v.deleted ? 'deleted' : v.listed ? 'listed' : 'unlisted';
      const signature = v.signature === 'unverified' ? 'signed (unverified)' : 'unsigned';
      process.stdout.write(`${v.version}  ${state}  ${signature}  ${v.package_size} bytes  sha512=${v.package_hash}  pushed=${v.created.toISOString()}\n`);
    }
    return 0;
  } finally {
    await feed.close();
  }
}
