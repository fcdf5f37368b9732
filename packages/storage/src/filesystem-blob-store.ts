import { randomBytes } from 'node:crypto';
import { constants, linkSync, mkdirSync, readdirSync, renameSync, statSync, unlinkSync, writeFileSync, type BigIntStats, type Dirent } from 'node:fs';
import { execFile } from 'node:child_process';
import { copyFile, link, mkdir, open, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { promisify } from 'node:util';
import { assertValidBlobKey, isValidBlobKey, RESERVED_BLOB_KEY_SEGMENT, splitBlobKeyPrefix } from './blob-key.js';
import type { BlobBody, BlobInfo, BlobStore, OpenedBlob, PutOptions, PutResult, WriteOptions } from './blob-store.js';
import { BlobNotFoundError } from './errors.js';

/** Options of {@link createFilesystemBlobStore}. */
export interface FilesystemBlobStoreOptions {
  /** Folder holding the blobs; created on first write. Several processes may share it. */
  root: string;
}

/**
 * A {@link BlobStore} on a local filesystem folder. The key `a/b/c.json` is the file `<root>/a/b/c.json`.
 *
 * - Writes go to `<root>/.tmp/<random>`, are fsync'd, then linked or renamed into place and the parent
 *   folder is fsync'd: readers never see a partial file, and a resolved put survives a crash.
 * - Non-durable writes (`durable: false`) skip every fsync and stay just as atomic. `sync()` then runs
 *   `sync -f <root>` (syncfs(2): every dirty file and folder of that filesystem, written by any process,
 *   reaches the disk), which costs about as much as a few fsyncs whatever the number of files. Where
 *   the `sync` command is missing it falls back to fsyncing each file and folder this object changed
 *   without durability. After a power loss, a file renamed into place whose data had not reached the
 *   disk yet can read back empty or short: write it again, do not trust it.
 * - `onlyIfAbsent` uses `link()`, which fails when the name exists, so concurrent puts of one key give
 *   exactly one `'created'`. This needs a filesystem with hard links (any local Linux filesystem).
 * - `copy()` hard-links when it can (no bytes copied), else copies the bytes.
 * - `etag` is derived from size, modification time (ns) and inode number, not from the content: it
 *   changes on every write, so it is a valid strong validator, but rewriting equal bytes changes it too.
 * - A key cannot be both a blob and a folder of other blobs (`a` and `a/b`); such a put throws.
 *   Deleting a blob leaves its (possibly empty) parent folders in place.
 * - Temporary files left by a crash stay in `<root>/.tmp/`; they are never listed.
 *
 * @throws TypeError when `options.root` is missing or empty.
 */
export function createFilesystemBlobStore(options: FilesystemBlobStoreOptions): BlobStore {
  if (options === undefined || typeof options.root !== 'string' || options.root.length === 0) {
    throw new TypeError('createFilesystemBlobStore: options.root must be a non-empty path');
  }
  return new FilesystemBlobStore(path.resolve(options.root));
}

const execFileAsync = promisify(execFile);

/** Error codes meaning "there is nothing under this path". */
const MISSING = new Set(['ENOENT', 'ENOTDIR']);
/** Error codes meaning "this filesystem cannot hard-link here". */
const NO_HARD_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'EXDEV', 'EMLINK', 'ENOSYS']);

class FilesystemBlobStore implements BlobStore {
  readonly #root: string;
  readonly #tmpDir: string;
  #tmpDirReady: Promise<void> | undefined;
  /**
   * Files and folders changed by non-durable writes since the last sync began. Only needed when the
   * `sync` command is missing: then `sync()` fsyncs each of them instead of the whole filesystem.
   */
  #unsynced = new Set<string>();
  /** False once running `sync -f` failed to start (no such command here). */
  #syncfsAvailable = true;
  /** The sync running now, and the one queued behind it for callers that came while it ran. */
  #syncing: Promise<void> | undefined;
  #queuedSync: Promise<void> | undefined;
  /** When the event loop last got a turn during synchronous non-durable writes. */
  #lastTurn = 0;
  /** True once the .tmp folder is known to exist (synchronous path). */
  #tmpDirNow = false;
  /** Temporary names of the synchronous path: a random prefix per store and a counter. */
  readonly #tmpPrefix = `${randomBytes(8).toString('hex')}-`;
  #tmpCount = 0;

  constructor(root: string) {
    this.#root = root;
    this.#tmpDir = path.join(root, RESERVED_BLOB_KEY_SEGMENT);
  }

  async put(key: string, body: BlobBody, options: PutOptions = {}): Promise<PutResult> {
    assertValidBlobKey(key);
    const durable = options.durable !== false;
    const target = this.#pathOf(key);
    const dir = path.dirname(target);
    if (!durable && options.onlyIfAbsent !== true && body instanceof Uint8Array) {
      await this.#pace();
      return this.#putNow(key, target, dir, body);
    }
    const tmp = await this.#writeTemp(body, durable);
    let staged = true; // the temporary name still exists
    try {
      let existed: boolean;
      // A hard link appears atomically, and only when the name is free.
      try {
        await this.#inFolder(dir, durable, () => link(tmp, target));
        await this.#settle(dir, target, durable);
        return { kind: 'created' };
      } catch (error) {
        const code = errorCode(error);
        if (code === 'EEXIST') {
          if (options.onlyIfAbsent === true) {
            await assertNotFolder(target, key);
            // The name may be another writer's that has not made its folder entry durable yet; a
            // caller that goes on as if the blob were stored (content-addressed writes) needs it to be.
            if (durable) await syncDir(dir);
            return { kind: 'conflict' };
          }
          existed = true;
        } else if (NO_HARD_LINKS.has(code) && options.onlyIfAbsent !== true) {
          existed = (await statFile(target)) !== undefined;
        } else {
          throw error;
        }
      }
      // The name is taken (or there are no hard links): rename() replaces it atomically.
      try {
        await this.#inFolder(dir, durable, () => rename(tmp, target));
      } catch (error) {
        if (errorCode(error) === 'EISDIR') await assertNotFolder(target, key);
        throw error;
      }
      staged = false;
      await this.#settle(dir, target, durable);
      return { kind: existed ? 'replaced' : 'created' };
    } finally {
      if (staged) await removeFile(tmp);
    }
  }

  async stat(key: string): Promise<BlobInfo | undefined> {
    assertValidBlobKey(key);
    const stats = await statFile(this.#pathOf(key));
    return stats === undefined ? undefined : toInfo(key, stats);
  }

  async read(key: string): Promise<Buffer | undefined> {
    assertValidBlobKey(key);
    try {
      // One open(): a concurrent replace swaps the name, not the bytes of the file already open.
      return await readFile(this.#pathOf(key));
    } catch (error) {
      if (MISSING.has(errorCode(error)) || errorCode(error) === 'EISDIR') return undefined;
      throw error;
    }
  }

  async openRead(key: string): Promise<OpenedBlob | undefined> {
    assertValidBlobKey(key);
    let handle;
    try {
      handle = await open(this.#pathOf(key), 'r');
    } catch (error) {
      if (MISSING.has(errorCode(error))) return undefined;
      throw error;
    }
    try {
      // Stat the open file, not the name, so info always describes the streamed bytes.
      const stats = await handle.stat({ bigint: true });
      if (!stats.isFile()) {
        await handle.close();
        return undefined;
      }
      return { info: toInfo(key, stats), stream: handle.createReadStream({ autoClose: true }) };
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  async copy(fromKey: string, toKey: string, options: WriteOptions = {}): Promise<void> {
    assertValidBlobKey(fromKey);
    assertValidBlobKey(toKey);
    const durable = options.durable !== false;
    const source = this.#pathOf(fromKey);
    const target = this.#pathOf(toKey);
    const dir = path.dirname(target);
    const assertSource = async () => {
      if ((await statFile(source)) === undefined) throw new BlobNotFoundError(fromKey);
    };
    if (fromKey === toKey) return assertSource();
    if (!durable) {
      await this.#pace();
      if (this.#linkNow(source, target, dir)) return;
    }

    // 1. New target: a hard link is atomic and copies no bytes.
    try {
      try {
        await link(source, target);
      } catch (error) {
        if (errorCode(error) !== 'ENOENT') throw error;
        // The source is missing, or the target's folder is: create that only for a source that exists.
        await assertSource();
        await this.#makeDirs(dir, durable);
        await link(source, target);
      }
      await this.#settle(dir, target, durable);
      return;
    } catch (error) {
      const code = errorCode(error);
      if (code === 'ENOENT' || NO_HARD_LINKS.has(code)) await assertSource();
      if (code === 'EEXIST') await assertNotFolder(target, toKey);
      else if (!NO_HARD_LINKS.has(code)) throw error;
    }

    // 2. Existing target, or no hard links: stage under .tmp, then rename over the target.
    const tmp = await this.#tempPath();
    try {
      try {
        await link(source, tmp);
      } catch (error) {
        const code = errorCode(error);
        if (code === 'ENOENT') await assertSource();
        if (!NO_HARD_LINKS.has(code)) throw error;
        await copyFile(source, tmp, constants.COPYFILE_EXCL);
        if (durable) await syncFile(tmp);
      }
      // When target already is a link to the same file, rename() succeeds without doing anything;
      // the finally block then removes the staged name.
      await this.#inFolder(dir, durable, () => rename(tmp, target));
      await this.#settle(dir, target, durable);
    } finally {
      await removeFile(tmp);
    }
  }

  async delete(key: string, options: WriteOptions = {}): Promise<boolean> {
    assertValidBlobKey(key);
    const file = this.#pathOf(key);
    try {
      if (options.durable === false) {
        await this.#pace();
        unlinkSync(file);
      } else {
        await unlink(file);
      }
    } catch (error) {
      const code = errorCode(error);
      if (MISSING.has(code) || code === 'EISDIR') return false;
      throw error;
    }
    if (options.durable !== false) await syncDir(path.dirname(file));
    else this.#unsynced.add(path.dirname(file));
    return true;
  }

  async *list(prefix: string): AsyncIterable<string> {
    const { directory } = splitBlobKeyPrefix(prefix);
    yield* this.#walk(directory, prefix);
  }

  sync(): Promise<void> {
    // A sync already running may have begun before the caller's writes: queue one more behind it,
    // shared by every caller that comes while it waits.
    if (this.#queuedSync) return this.#queuedSync;
    const begin = (): Promise<void> => {
      const running = this.#syncNow().finally(() => {
        if (this.#syncing === running) this.#syncing = undefined;
      });
      this.#syncing = running;
      return running;
    };
    if (!this.#syncing) return begin();
    const queued = this.#syncing
      .catch(() => undefined)
      .then(() => {
        this.#queuedSync = undefined;
        return begin();
      });
    this.#queuedSync = queued;
    return queued;
  }

  async close(): Promise<void> {
    // Nothing is held open between calls.
  }

  /**
   * syncfs(2) of the filesystem holding the root, through the `sync -f` command (Node has
   * no binding for it): one call makes every write on that filesystem durable, whoever made it.
   * Without the command, each file and folder changed by this object's non-durable writes is fsync'd.
   */
  async #syncNow(): Promise<void> {
    const paths = this.#unsynced;
    this.#unsynced = new Set();
    try {
      if (this.#syncfsAvailable) {
        try {
          await execFileAsync('sync', ['-f', this.#root]);
          return;
        } catch (error) {
          if (errorCode(error) === 'ENOENT' || errorCode(error) === 'EACCES') {
            this.#syncfsAvailable = false; // no such command here: fsync one path at a time
          } else if ((await statDir(this.#root)) === undefined) {
            return; // no root folder: nothing was ever written
          } else {
            throw new Error(`sync -f ${this.#root} failed: ${(error as Error).message}`, { cause: error });
          }
        }
      }
      await Promise.all([...paths].map((p) => syncPath(p)));
    } catch (error) {
      for (const p of paths) this.#unsynced.add(p);
      throw error;
    }
  }

  /**
   * Non-durable writes are many small files: their system calls are made right here rather than
   * handed to libuv's thread pool one by one (a hand-off costs more than a small write to the page
   * cache). This gives the event loop a turn every few milliseconds of them, so that timers (lock
   * renewals) and sockets are served during a long run of writes.
   */
  async #pace(): Promise<void> {
    const now = performance.now();
    if (now - this.#lastTurn < 10) return;
    await nextTurn();
    this.#lastTurn = performance.now();
  }

  /**
   * A non-durable put of bytes, with synchronous calls: a temporary file, then one rename() over the
   * key (link() and unlink() would create and remove one more name, which is what costs on a busy
   * filesystem). The kind comes from a stat() just before, so of two puts racing on one absent key
   * both may report 'created' (onlyIfAbsent is exact).
   */
  #putNow(key: string, target: string, dir: string, body: Uint8Array): PutResult {
    this.#ensureTmpDirNow();
    const tmp = path.join(this.#tmpDir, `${this.#tmpPrefix}${(this.#tmpCount++).toString(36)}`);
    try {
      // Inside the try: a write that fails part-way (ENOSPC) has already created the temporary file.
      writeFileSync(tmp, body, { flag: 'wx', mode: 0o644 });
      const existed = statFileNow(target) !== undefined;
      try {
        this.#inFolderNow(dir, () => renameSync(tmp, target));
      } catch (error) {
        if (errorCode(error) === 'EISDIR' && statSync(target, { throwIfNoEntry: false })?.isDirectory()) {
          throw new Error(`blob key ${JSON.stringify(key)} is already a folder of other blobs`);
        }
        throw error;
      }
      this.#unsynced.add(target);
      this.#unsynced.add(dir);
      return { kind: existed ? 'replaced' : 'created' };
    } catch (error) {
      try {
        unlinkSync(tmp);
      } catch {
        // already renamed, or gone
      }
      throw error;
    }
  }

  /** A non-durable copy onto a new key, with synchronous calls: true when it linked; false = take the general path. */
  #linkNow(source: string, target: string, dir: string): boolean {
    try {
      try {
        linkSync(source, target);
      } catch (error) {
        if (errorCode(error) !== 'ENOENT' || statFileNow(source) === undefined) throw error;
        this.#makeDirsNow(dir);
        linkSync(source, target);
      }
    } catch {
      return false; // an existing target, a missing source, no hard links: the general path knows
    }
    this.#unsynced.add(target);
    this.#unsynced.add(dir);
    return true;
  }

  #inFolderNow(dir: string, op: () => void): void {
    try {
      op();
    } catch (error) {
      if (errorCode(error) !== 'ENOENT') throw error;
      this.#makeDirsNow(dir);
      op();
    }
  }

  #makeDirsNow(dir: string): void {
    const first = mkdirSync(dir, { recursive: true });
    if (first === undefined) return;
    for (let current = dir; ; current = path.dirname(current)) {
      this.#unsynced.add(current);
      if (current.length <= first.length) break;
    }
    this.#unsynced.add(path.dirname(first));
  }

  #ensureTmpDirNow(): void {
    if (this.#tmpDirNow) return;
    mkdirSync(this.#tmpDir, { recursive: true });
    this.#tmpDirNow = true;
  }

  /** After a name was created in `dir`: fsync the folder, or remember both for the next sync(). */
  async #settle(dir: string, target: string, durable: boolean): Promise<void> {
    if (durable) {
      await syncDir(dir);
    } else {
      this.#unsynced.add(target);
      this.#unsynced.add(dir);
    }
  }

  /** Runs `op`, which creates a name in `dir`; when `dir` does not exist yet, creates it and runs `op` again. */
  async #inFolder(dir: string, durable: boolean, op: () => Promise<void>): Promise<void> {
    try {
      await op();
    } catch (error) {
      if (errorCode(error) !== 'ENOENT') throw error;
      await this.#makeDirs(dir, durable);
      await op();
    }
  }

  /** mkdir -p; for a durable write, fsync every folder whose entries changed, so new folders survive a crash. */
  async #makeDirs(dir: string, durable: boolean): Promise<void> {
    const first = await mkdir(dir, { recursive: true });
    if (first === undefined) return;
    for (let current = dir; ; current = path.dirname(current)) {
      if (durable) await syncDir(current);
      else this.#unsynced.add(current);
      if (current.length <= first.length) break;
    }
    if (durable) await syncDir(path.dirname(first));
    else this.#unsynced.add(path.dirname(first));
  }

  async *#walk(directoryKey: string, prefix: string): AsyncGenerator<string> {
    // One folder is read in one go, with synchronous calls: listing serves background work (projection
    // clean-up, orphan collection), where a hand-off to the thread pool per call costs more than the
    // call; #pace() lets the event loop in between folders.
    await this.#pace();
    let entries: Dirent[];
    try {
      entries = readdirSync(directoryKey === '' ? this.#root : this.#pathOf(directoryKey), { withFileTypes: true });
    } catch (error) {
      if (MISSING.has(errorCode(error))) return;
      throw error;
    }
    for (const entry of entries) {
      const key = directoryKey === '' ? entry.name : `${directoryKey}/${entry.name}`;
      // isValidBlobKey also skips the reserved .tmp folder and names no put could have written.
      if (!isValidBlobKey(key)) continue;
      if (entry.isDirectory()) {
        if (`${key}/`.startsWith(prefix) || prefix.startsWith(`${key}/`)) yield* this.#walk(key, prefix);
      } else if (entry.isFile() && key.startsWith(prefix)) {
        yield key;
      }
    }
  }

  #pathOf(key: string): string {
    return path.join(this.#root, ...key.split('/'));
  }

  async #tempPath(): Promise<string> {
    this.#tmpDirReady ??= this.#makeDirs(this.#tmpDir, true).catch((error: unknown) => {
      this.#tmpDirReady = undefined;
      throw error;
    });
    await this.#tmpDirReady;
    return path.join(this.#tmpDir, randomBytes(16).toString('hex'));
  }

  /** Writes the body to a fresh temporary file (fsync'd when `durable`) and returns its path. */
  async #writeTemp(body: BlobBody, durable: boolean): Promise<string> {
    const tmp = await this.#tempPath();
    try {
      if (body instanceof Uint8Array) {
        if (durable) {
          const handle = await open(tmp, 'wx', 0o644);
          try {
            await handle.writeFile(body);
            await handle.sync();
          } finally {
            await handle.close();
          }
        } else {
          await writeFile(tmp, body, { flag: 'wx', mode: 0o644 });
        }
      } else if (body !== null && typeof body === 'object' && typeof body.file === 'string') {
        // Copy, never move: the caller still owns its file.
        await copyFile(body.file, tmp, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE);
        if (durable) await syncFile(tmp);
      } else {
        throw new TypeError('BlobStore.put: body must be a Buffer or { file: string }');
      }
      return tmp;
    } catch (error) {
      await rm(tmp, { force: true });
      throw error;
    }
  }
}

function toInfo(key: string, stats: BigIntStats): BlobInfo {
  return {
    key,
    size: Number(stats.size),
    lastModified: new Date(Number(stats.mtimeMs)),
    etag: `${stats.size.toString(36)}-${stats.mtimeNs.toString(36)}-${stats.ino.toString(36)}`,
  };
}

/** @returns the stats of a regular file, or undefined when there is none under `file`. */
async function statFile(file: string): Promise<BigIntStats | undefined> {
  try {
    const stats = await stat(file, { bigint: true });
    return stats.isFile() ? stats : undefined;
  } catch (error) {
    if (MISSING.has(errorCode(error))) return undefined;
    throw error;
  }
}

/** Throws a plain error when the name of a blob is taken by a folder of other blobs. */
async function assertNotFolder(file: string, key: string): Promise<void> {
  try {
    if ((await stat(file)).isDirectory()) {
      throw new Error(`blob key ${JSON.stringify(key)} is already a folder of other blobs`);
    }
  } catch (error) {
    if (!MISSING.has(errorCode(error))) throw error;
  }
}

/** {@link statFile}, synchronous. */
function statFileNow(file: string): BigIntStats | undefined {
  try {
    const stats = statSync(file, { bigint: true, throwIfNoEntry: false });
    return stats?.isFile() ? stats : undefined;
  } catch (error) {
    if (MISSING.has(errorCode(error))) return undefined;
    throw error;
  }
}

/** @returns the stats of a folder, or undefined when there is none under `dir`. */
async function statDir(dir: string): Promise<BigIntStats | undefined> {
  try {
    const stats = await stat(dir, { bigint: true });
    return stats.isDirectory() ? stats : undefined;
  } catch (error) {
    if (MISSING.has(errorCode(error))) return undefined;
    throw error;
  }
}

/** unlink() that does not mind a missing name. */
async function removeFile(file: string): Promise<void> {
  try {
    await unlink(file);
  } catch (error) {
    if (!MISSING.has(errorCode(error))) throw error;
  }
}

/** fsync of a file or folder that may have been removed or replaced since it was written. */
async function syncPath(file: string): Promise<void> {
  try {
    await syncDir(file);
  } catch (error) {
    if (!MISSING.has(errorCode(error))) throw error;
  }
}

async function syncFile(file: string): Promise<void> {
  const handle = await open(file, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function syncDir(dir: string): Promise<void> {
  let handle;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch (error) {
    // Some filesystems cannot fsync a folder; there is nothing more to do there.
    if (!['EINVAL', 'EISDIR', 'EPERM'].includes(errorCode(error))) throw error;
  } finally {
    await handle?.close();
  }
}

function errorCode(error: unknown): string {
  return typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : '';
}
