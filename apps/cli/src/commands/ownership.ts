import { parseArgs } from 'node:util';
import {
  addOwner,
  listOwners,
  listReservations,
  OwnershipChangeError,
  releaseIdPattern,
  removeOwner,
  reserveIdPattern,
} from '@nucat/auth';
import { openFeedContext, type FeedContext } from './mirror.js';

/** Usage lines of the owners command, for the CLI's help. */
export const OWNERS_USAGE = `  owners list <id>                      the owners of a package id (any casing) and the casing it was claimed with
  owners add <id> <owner>               share an id with another owner (its keys may then push and unlist it)
  owners remove <id> <owner>            take an owner off an id (never the last one: add the new owner first)`;

/** Usage lines of the prefixes command, for the CLI's help. */
export const PREFIXES_USAGE = `  prefixes reserve <pattern> --owner O  reserve ids for an owner: 'Contoso.*' (same as 'Contoso.') covers every id
                                        starting with 'Contoso.' (not 'Contoso', not 'ContosoEvil'); 'Contoso' is that
                                        id exactly. Only the owners of the most specific reservation covering a NEW
                                        id may push it (403 for others); ids already pushed keep their owners.
  prefixes list                         every reservation: pattern, owner, date
  prefixes release <pattern> [--owner O]
                                        drop a reservation (for one owner, or for all)`;

/**
 * `nucat owners list|add|remove …`: ownership of package ids (direct database access: the operator's tool).
 * @returns the exit code: 0, 1 unknown id or refused change.
 */
export async function runOwnersCommand(args: string[]): Promise<number> {
  const [sub, id, owner, ...extra] = args;
  const usage = (message: string) => new Error(`${message}\n\n${OWNERS_USAGE}`);
  if (!id || extra.length > 0) throw usage(`owners ${sub ?? ''} needs a package id`);
  return onFeed(async (feed) => {
    switch (sub) {
      case 'list': {
        if (owner !== undefined) throw usage('owners list takes only <id>');
        const found = await listOwners(feed.db, feed.feedId, id);
        if (!found) {
          process.stderr.write(`nucat: no package id '${id}' in this feed\n`);
          return 1;
        }
        process.stdout.write(`${found.id}  owners: ${found.owners.join(', ') || '(none)'}  claimed: ${found.claimedAt.toISOString()}\n`);
        return 0;
      }
      case 'add':
      case 'remove': {
        if (!owner) throw usage(`owners ${sub} needs <id> <owner>`);
        const result = sub === 'add' ? await addOwner(feed.db, feed.feedId, id, owner) : await removeOwner(feed.db, feed.feedId, id, owner);
        const verb = sub === 'add' ? (result === 'added' ? 'added' : 'already an owner:') : result === 'removed' ? 'removed' : 'not an owner:';
        process.stdout.write(`${verb} ${owner.toLowerCase()} ${sub === 'add' ? 'to' : 'from'} ${id}\n`);
        return 0;
      }
      default:
        throw usage(`unknown owners command '${sub ?? ''}'`);
    }
  });
}

/**
 * `nucat prefixes reserve|list|release …`: reserved id prefixes.
 * @returns the exit code: 0, 1 refused (bad pattern or owner, nothing to release).
 */
export async function runPrefixesCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  const { values, positionals } = parseArgs({ args: rest, options: { owner: { type: 'string' } }, allowPositionals: true });
  const usage = (message: string) => new Error(`${message}\n\n${PREFIXES_USAGE}`);
  return onFeed(async (feed) => {
    switch (sub) {
      case 'reserve': {
        const [pattern, ...extra] = positionals;
        if (!pattern || extra.length > 0 || !values.owner) throw usage('prefixes reserve needs <pattern> --owner O');
        const reserved = await reserveIdPattern(feed.db, feed.feedId, pattern, values.owner);
        const what = reserved.pattern.kind === 'prefix' ? 'prefix' : 'id';
        process.stdout.write(
          `${reserved.result === 'reserved' ? 'reserved' : 'already reserved:'} ${what} ${reserved.pattern.display} for ${values.owner.toLowerCase()}\n`,
        );
        return 0;
      }
      case 'list': {
        if (positionals.length > 0 || values.owner !== undefined) throw usage('prefixes list takes no arguments');
        for (const r of await listReservations(feed.db, feed.feedId)) {
          process.stdout.write(`${r.display}  ${r.kind}  owner=${r.owner}  reserved=${r.createdAt.toISOString()}\n`);
        }
        return 0;
      }
      case 'release': {
        const [pattern, ...extra] = positionals;
        if (!pattern || extra.length > 0) throw usage('prefixes release needs <pattern> [--owner O]');
        const n = await releaseIdPattern(feed.db, feed.feedId, pattern, values.owner);
        if (n === 0) {
          process.stderr.write(`nucat: no reservation '${pattern}'${values.owner ? ` for ${values.owner}` : ''}\n`);
          return 1;
        }
        process.stdout.write(`released ${n} reservation(s) of ${pattern}\n`);
        return 0;
      }
      default:
        throw usage(`unknown prefixes command '${sub ?? ''}'`);
    }
  });
}

/** Runs a command on the local feed, then closes it; a refused ownership change prints why and exits 1. */
async function onFeed(work: (feed: FeedContext) => Promise<number>): Promise<number> {
  const feed = await openFeedContext(2);
  try {
    return await work(feed);
  } catch (error) {
    if (error instanceof OwnershipChangeError) {
      process.stderr.write(`nucat: ${error.message}\n`);
      return 1;
    }
    throw error;
  } finally {
    await feed.close();
  }
}
