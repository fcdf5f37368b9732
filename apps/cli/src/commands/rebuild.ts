import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import {
  GENERATIONS_POINTER_KEY,
  RebuildInProgressError,
  cancelRebuild,
  findFeedId,
  findProjectionGeneration,
  formatCatalogTimestamp,
  generationCursorName,
  getCursor,
  isBlobProjection,
  parseGenerationsPointer,
  requestRebuild,
  resetCursor,
  type BlobProjection,
} from '@nucat/catalog';
import { loadConfig } from '@nucat/config';
import { createDb, type Db } from '@nucat/db';
import { createFilesystemBlobStore, type BlobStore } from '@nucat/storage';

/** Usage lines of the rebuild command, for the CLI's help. */
export const REBUILD_USAGE = `  rebuild <flatcontainer|registration|search> [--wait] [--timeout S] [--cancel]
                                        rebuild a projection from the catalog. flatcontainer and
                                        registration are built into a new generation (key prefix)
                                        by the running workers while the current one keeps serving,
                                        then switched to at once; the old one is deleted after a
                                        grace period. search replays the catalog into the search
                                        backend in place (its cursor is reset; documents are replaced
                                        per id, so search keeps answering). --wait prints progress
                                        until done (or --timeout seconds); --cancel abandons a
                                        rebuild under way.`;

const PROJECTIONS = ['flatcontainer', 'registration', 'search'] as const;

async function catalogHead(db: Db, feedId: number): Promise<Date | undefined> {
  const row = await db.selectFrom('catalog_heads').select('last_commit_timestamp').where('feed_id', '=', feedId).executeTakeFirst();
  return row?.last_commit_timestamp ?? undefined;
}

async function commitsAfter(db: Db, feedId: number, cursor: Date): Promise<number> {
  const row = await db
    .selectFrom('catalog_commits')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('feed_id', '=', feedId)
    .where('commit_timestamp', '>', cursor)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Writes progress: rewritten in place on a terminal, one line every few seconds otherwise. */
function createProgress() {
  const tty = process.stderr.isTTY === true;
  let lastLine = 0;
  return {
    show(text: string) {
      if (tty) process.stderr.write(`\r\x1b[2K${text}`);
      else if (Date.now() - lastLine >= 5_000) {
        lastLine = Date.now();
        process.stderr.write(`${text}\n`);
      }
    },
    end() {
      if (tty) process.stderr.write('\n');
    },
  };
}

/**
 * Waits until `projection` has switched to `generation` and the pointer read nodes follow names it
 * (it is written just after the switch commits); the exit code.
 */
async function waitForSwitch(db: Db, store: BlobStore, feedId: number, projection: BlobProjection, generation: number, deadline: number): Promise<number> {
  const cursorName = generationCursorName(projection, generation);
  const progress = createProgress();
  for (;;) {
    const state = await findProjectionGeneration(db, feedId, projection);
    const bytes = state.active >= generation ? await store.read(GENERATIONS_POINTER_KEY) : undefined;
    const served = bytes ? parseGenerationsPointer(bytes)?.[projection] : undefined;
    if (served !== undefined && served >= generation) {
      progress.end();
      process.stdout.write(`${projection}: switched to generation ${generation}; generation ${state.retired ?? generation - 1} is deleted after the grace period\n`);
      return 0;
    }
    if (state.active >= generation) {
      progress.show(`${projection}: switched to generation ${generation}; waiting for the workers to publish the pointer`);
    } else {
      if (state.building !== generation) {
        progress.end();
        process.stderr.write(`nucat rebuild: the rebuild of ${projection} into generation ${generation} was cancelled\n`);
        return 1;
      }
      const cursor = await getCursor(db, feedId, cursorName);
      const behind = await commitsAfter(db, feedId, cursor);
      const head = await catalogHead(db, feedId);
      progress.show(
        `${projection} g${generation}: at ${cursor.getTime() === 0 ? '(start)' : formatCatalogTimestamp(cursor)}, ${behind} commit(s) behind the head${head ? ` (${formatCatalogTimestamp(head)})` : ''}`,
      );
    }
    if (Date.now() > deadline) {
      progress.end();
      process.stderr.write(`nucat rebuild: timed out; the rebuild goes on (is a worker running ${projection}?)\n`);
      return 1;
    }
    await sleep(1_000);
  }
}

/** Waits until the search cursor has passed `head` (the catalog head when the replay began); the exit code. */
async function waitForSearch(db: Db, feedId: number, head: Date | undefined, deadline: number): Promise<number> {
  const progress = createProgress();
  for (;;) {
    const cursor = await getCursor(db, feedId, 'search');
    if (!head || cursor.getTime() >= head.getTime()) {
      progress.end();
      process.stdout.write('search: replayed\n');
      return 0;
    }
    progress.show(`search: at ${cursor.getTime() === 0 ? '(start)' : formatCatalogTimestamp(cursor)}, ${await commitsAfter(db, feedId, cursor)} commit(s) to go`);
    if (Date.now() > deadline) {
      progress.end();
      process.stderr.write('nucat rebuild: timed out; the replay goes on (is a worker running search?)\n');
      return 1;
    }
    await sleep(1_000);
  }
}

/**
 * `nucat rebuild <projection> [--wait] [--timeout S] [--cancel]`.
 * @returns the exit code: 0 done (or requested), 1 refused, cancelled or timed out, 2 bad usage.
 */
export async function runRebuildCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: { wait: { type: 'boolean' }, cancel: { type: 'boolean' }, timeout: { type: 'string' } },
    allowPositionals: true,
  });
  const projection = positionals[0];
  if (positionals.length !== 1 || !(PROJECTIONS as readonly string[]).includes(projection!)) {
    process.stderr.write(`nucat rebuild: name one projection (${PROJECTIONS.join(', ')})\n\n${REBUILD_USAGE}\n`);
    return 2;
  }
  const timeoutSeconds = values.timeout !== undefined ? Number(values.timeout) : undefined;
  if (timeoutSeconds !== undefined && !(Number.isFinite(timeoutSeconds) && timeoutSeconds > 0)) {
    process.stderr.write('nucat rebuild: --timeout must be a positive number of seconds\n');
    return 2;
  }
  const deadline = timeoutSeconds !== undefined ? Date.now() + timeoutSeconds * 1000 : Number.POSITIVE_INFINITY;

  const config = loadConfig(process.env);
  const db = createDb({ url: config.database.url, poolSize: 2 });
  try {
    const feedId = await findFeedId(db, config.feed.name);
    if (feedId === undefined) {
      process.stderr.write(`nucat rebuild: feed '${config.feed.name}' not found: run 'nucat migrate' first\n`);
      return 1;
    }

    if (!isBlobProjection(projection!)) {
      // Search has no generations: its documents are replaced whole per id, so replaying the
      // catalog over the live index is safe and search keeps answering throughout.
      if (values.cancel) {
        process.stderr.write('nucat rebuild: a search replay cannot be cancelled (it is only a cursor reset)\n');
        return 1;
      }
      const head = await catalogHead(db, feedId);
      await resetCursor(db, feedId, 'search');
      process.stdout.write('search: cursor reset; the workers replay the catalog into the search backend\n');
      return values.wait ? waitForSearch(db, feedId, head, deadline) : 0;
    }

    if (values.cancel) {
      const cancelled = await cancelRebuild(db, feedId, projection);
      if (cancelled === undefined) {
        process.stderr.write(`nucat rebuild: no rebuild of ${projection} is under way\n`);
        return 1;
      }
      process.stdout.write(`${projection}: rebuild into generation ${cancelled} cancelled (its keys are reused by the next rebuild)\n`);
      return 0;
    }

    let generation: number;
    try {
      generation = await requestRebuild(db, feedId, projection);
    } catch (err) {
      if (err instanceof RebuildInProgressError) {
        process.stderr.write(`nucat rebuild: ${err.message}\n`);
        return 1;
      }
      throw err;
    }
    process.stdout.write(
      `${projection}: rebuilding into generation ${generation} (cursor ${generationCursorName(projection, generation)}); ` +
        'the workers switch to it once it has caught up\n',
    );
    if (!values.wait) return 0;
    const store = createFilesystemBlobStore({ root: config.storage.root });
    try {
      return await waitForSwitch(db, store, feedId, projection, generation, deadline);
    } finally {
      await store.close();
    }
  } finally {
    await db.destroy();
  }
}
