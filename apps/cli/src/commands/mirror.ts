import { parseArgs } from 'node:util';
import { findFeedId } from '@nucat/catalog';
import { loadConfig, type Logger } from '@nucat/config';
import { createDb, type Db } from '@nucat/db';
import { DEFAULT_MIRROR_CONCURRENCY, createMirror, splitIdGlobs, type MirrorProgress, type MirrorRunResult } from '@nucat/mirror';
import { createFilesystemBlobStore, type BlobStore } from '@nucat/storage';

/** Usage lines of the mirror command, for the CLI's help. */
export const MIRROR_USAGE = `  mirror --source <service index> [--ids 'A.*,B'] [--follow] [--interval-ms N] [--concurrency N] [--max-items N]
                                        follow another feed's catalog (nucat or the official gallery's format) into
                                        this feed: downloads each package from the source's flat container,
                                        checks its catalog hash, publishes it here with the same listed
                                        state; unlists, relists and deletes too. Resumes from a cursor per
                                        source. --concurrency: ids at once (default 16). Exits 0 when caught
                                        up (or stopped early with --max-items, or while the source's flat
                                        container is behind its catalog), 1 when an item failed; --follow
                                        keeps polling every --interval-ms (default 10000) until stopped.`;

/** The local feed a command works on: database, blob store, feed id. Close it when done. */
export interface FeedContext {
  db: Db;
  store: BlobStore;
  feedId: number;
  tempDir: string;
  close(): Promise<void>;
}

/**
 * Opens the feed named by the configuration (NUCAT_FEED), with a pool of `poolSize` connections.
 * @throws when the feed does not exist (migrations not run).
 */
export async function openFeedContext(poolSize: number): Promise<FeedContext> {
  const config = loadConfig(process.env);
  const db = createDb({ url: config.database.url, poolSize });
  const store = createFilesystemBlobStore({ root: config.storage.root });
  const close = async (): Promise<void> => {
    await db.destroy();
    await store.close();
  };
  const feedId = await findFeedId(db, config.feed.name).catch(async (error: unknown) => {
    await close();
    throw error;
  });
  if (feedId === undefined) {
    await close();
    throw new Error(`feed '${config.feed.name}' not found: run 'nucat migrate' first`);
  }
  return { db, store, feedId, tempDir: config.publish.tempDir, close };
}

/** A Logger writing plain lines to stderr: `mirror <level>: <message> key=value …`. */
export function createLineLogger(minLevel: 'debug' | 'info' | 'warn' | 'error', write: (line: string) => void, bindings: Record<string, unknown> = {}): Logger {
  const order = ['debug', 'info', 'warn', 'error'];
  const at = (level: string) => (fieldsOrMessage: object | string, message?: string) => {
    if (order.indexOf(level) < order.indexOf(minLevel)) return;
    const fields = typeof fieldsOrMessage === 'string' ? {} : fieldsOrMessage;
    const text = typeof fieldsOrMessage === 'string' ? fieldsOrMessage : (message ?? '');
    const pairs = Object.entries({ ...bindings, ...fields })
      .filter(([key]) => key !== 'mirror')
      .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`);
    write(`${level === 'info' ? '' : `${level}: `}${text}${pairs.length ? `  ${pairs.join(' ')}` : ''}`);
  };
  return {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: (more) => createLineLogger(minLevel, write, { ...bindings, ...more }),
  };
}

function positiveInteger(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} must be a positive whole number, got '${text}'`);
  return value;
}

const MB = 1_000_000;

/** Rates of a run: leaves/s and MB/s over its elapsed time. */
function rates(p: { leavesFetched: number; bytesDownloaded: number }, elapsedMs: number): string {
  const seconds = Math.max(elapsedMs, 1) / 1000;
  return `${(p.leavesFetched / seconds).toFixed(1)} leaves/s, ${(p.bytesDownloaded / MB / seconds).toFixed(2)} MB/s`;
}

function progressLine(p: MirrorProgress): string {
  const lag = p.lagSeconds === undefined ? '' : `, lag ${p.lagSeconds.toFixed(1)} s`;
  return `mirror: ${p.itemsProcessed}/${p.itemsKnown} items, ${p.applied} applied, ${p.packagesDownloaded} packages (${(p.bytesDownloaded / MB).toFixed(1)} MB), ${rates(p, p.elapsedMs)}${lag}${p.conflicts ? `, ${p.conflicts} conflicts` : ''}${p.errors ? `, ${p.errors} errors` : ''}`;
}

/** The closing lines of a run: outcome, counts, rates, then each conflict and error. */
export function describeMirrorRun(result: MirrorRunResult): string[] {
  const state =
    result.outcome === 'caught-up'
      ? `caught up at ${result.cursor ?? '(empty catalog)'}`
      : result.outcome === 'partial'
        ? `stopped early at ${result.cursor ?? '(start)'}, source head ${result.head ?? '?'}`
        : result.outcome === 'busy'
          ? 'another run of this mirror is in progress; nothing done'
          : `FAILED, cursor at ${result.cursor ?? '(start)'}, source head ${result.head ?? '?'}`;
  const lines = [
    `mirror: ${state}`,
    `mirror: ${result.itemsProcessed} items (${result.applied} applied, ${result.unchanged} unchanged, ${result.skipped} skipped), ` +
      `${result.leavesFetched} leaves, ${result.packagesDownloaded} packages, ${(result.bytesDownloaded / MB).toFixed(1)} MB in ` +
      `${(result.durationMs / 1000).toFixed(1)} s: ${rates(result, result.durationMs)}` +
      (result.lagSeconds !== undefined ? `; lag ${result.lagSeconds.toFixed(1)} s` : ''),
  ];
  for (const c of result.conflicts) lines.push(`mirror: conflict ${c.id} ${c.version}: ${c.reason} (source ${c.sourceHash}, here ${c.localHash || '-'})${c.message ? `: ${c.message}` : ''}`);
  for (const e of result.errors) lines.push(`mirror: error ${e.id} ${e.version} (${e.type} ${e.commitTimeStamp}): ${e.code}: ${e.message}`);
  return lines;
}

/**
 * `nucat mirror --source <service index> [--ids 'A.*,B'] [--follow] [--interval-ms N] [--concurrency N] [--max-items N]`.
 * Progress goes to stderr: a live line on a terminal, plain lines (every 5 s and per batch) otherwise.
 * @returns the exit code: 0 caught up (or stopped by --max-items or a signal), 1 when an item failed or another run holds the mirror.
 */
export async function runMirrorCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      source: { type: 'string' },
      ids: { type: 'string' },
      follow: { type: 'boolean', default: false },
      'interval-ms': { type: 'string' },
      concurrency: { type: 'string' },
      'max-items': { type: 'string' },
    },
    allowPositionals: false,
  });
  if (!values.source) throw new Error(`mirror needs --source <service index URL>\n\n${MIRROR_USAGE}`);
  const concurrency = positiveInteger('concurrency', values.concurrency, DEFAULT_MIRROR_CONCURRENCY);
  const intervalMs = positiveInteger('interval-ms', values['interval-ms'], 10_000);
  const maxItems = values['max-items'] !== undefined ? positiveInteger('max-items', values['max-items'], 1) : undefined;

  const tty = process.stderr.isTTY === true;
  let liveLine = false;
  const writeLine = (line: string): void => {
    if (liveLine) process.stderr.write('\r\x1b[K');
    liveLine = false;
    process.stderr.write(`${line}\n`);
  };
  const log = createLineLogger(tty ? 'warn' : 'info', writeLine);
  let lastProgress = 0;
  const onProgress = (p: MirrorProgress): void => {
    const now = Date.now();
    if (now - lastProgress < (tty ? 200 : 5_000)) return;
    lastProgress = now;
    if (tty) {
      process.stderr.write(`\r\x1b[K${progressLine(p)}`);
      liveLine = true;
    } else {
      writeLine(progressLine(p));
    }
  };

  const feed = await openFeedContext(concurrency + 4);
  try {
    const mirror = createMirror({
      db: feed.db,
      store: feed.store,
      feedId: feed.feedId,
      source: values.source,
      idGlobs: splitIdGlobs(values.ids),
      concurrency,
      log,
      tempDir: feed.tempDir,
      onProgress,
      http: { allowLinkLocal: loadConfig(process.env).mirror.allowLinkLocal },
    });
    const controller = new AbortController();
    const stop = (): void => controller.abort();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    try {
      if (values.follow) {
        writeLine(`mirror: following ${values.source} every ${intervalMs} ms (Ctrl-C to stop)`);
        await mirror.follow({ intervalMs, signal: controller.signal });
        return 0;
      }
      const result = await mirror.runOnce({ ...(maxItems !== undefined ? { maxItems } : {}), signal: controller.signal });
      for (const line of describeMirrorRun(result)) writeLine(line);
      return result.outcome === 'caught-up' || result.outcome === 'partial' ? 0 : 1;
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    }
  } finally {
    await feed.close();
  }
}
