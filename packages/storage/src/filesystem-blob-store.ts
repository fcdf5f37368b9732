import { randomBytes } from 'node:crypto';
import { constants, type BigIntStats } from 'node:fs';
import { copyFile, link, mkdir, open, opendir, readFile, rename, rm, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { assertValidBlobKey, isValidBlobKey, RESERVED_BLOB_KEY_SEGMENT, splitBlobKeyPrefix } from './blob-key.js';
import type { BlobBody, BlobInfo, BlobStore, OpenedBlob, PutOptions, PutResult } from './blob-store.js';
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

/** Error codes meaning "there is nothing under this path". */
const MISSING = new Set(['ENOENT', 'ENOTDIR']);
/** Error codes meaning "this filesystem cannot hard-link here". */
const NO_HARD_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'EXDEV', 'EMLINK', 'ENOSYS']);

class FilesystemBlobStore implements BlobStore {
  readonly #root: string;
  readonly #tmpDir: string;
  #tmpDirReady: Promise<void> | undefined;

  constructor(root: string) {
    this.#root = root;
    this.#tmpDir = path.join(root, RESERVED_BLOB_KEY_SEGMENT);
  }

  async put(key: string, body: BlobBody, options: PutOptions = {}): Promise<PutResult> {
    assertValidBlobKey(key);
    const target = this.#pathOf(key);
    const tmp = await this.#writeTemp(body);
    try {
      await makeDirs(path.dirname(target));
      // A hard link appears atomically, and only when the name is free.
      let existed: boolean;
      try {
        await link(tmp, target);
        await syncDir(path.dirname(target));
        return { kind: 'created' };
      } catch (error) {
        const code = errorCode(error);
        if (code === 'EEXIST') {
          await assertNotFolder(target, key);
          if (options.onlyIfAbsent === true) return { kind: 'conflict' };
          existed = true;
        } else if (NO_HARD_LINKS.has(code) && options.onlyIfAbsent !== true) {
          existed = (await statFile(target)) !== undefined;
        } else {
          throw error;
        }
      }
      // The name is taken (or there are no hard links): rename() replaces it atomically.
      await rename(tmp, target);
      await syncDir(path.dirname(target));
      return { kind: existed ? 'replaced' : 'created' };
    } finally {
      await rm(tmp, { force: true });
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

  async copy(fromKey: string, toKey: string): Promise<void> {
    assertValidBlobKey(fromKey);
    assertValidBlobKey(toKey);
    const source = this.#pathOf(fromKey);
    const target = this.#pathOf(toKey);
    if ((await statFile(source)) === undefined) throw new BlobNotFoundError(fromKey);
    if (fromKey === toKey) return;
    await makeDirs(path.dirname(target));

    // 1. New target: a hard link is atomic and copies no bytes.
    try {
      await link(source, target);
      await syncDir(path.dirname(target));
      return;
    } catch (error) {
      const code = errorCode(error);
      if (code === 'ENOENT' && (await statFile(source)) === undefined) throw new BlobNotFoundError(fromKey);
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
        if (code === 'ENOENT' && (await statFile(source)) === undefined) throw new BlobNotFoundError(fromKey);
        if (!NO_HARD_LINKS.has(code)) throw error;
        await copyFile(source, tmp, constants.COPYFILE_EXCL);
        await syncFile(tmp);
      }
      // When target already is a link to the same file, rename() succeeds without doing anything;
      // the finally block then removes the staged name.
      await rename(tmp, target);
      await syncDir(path.dirname(target));
    } finally {
      await rm(tmp, { force: true });
    }
  }

  async delete(key: string): Promise<boolean> {
    assertValidBlobKey(key);
    const file = this.#pathOf(key);
    try {
      await unlink(file);
    } catch (error) {
      const code = errorCode(error);
      if (MISSING.has(code) || code === 'EISDIR') return false;
      throw error;
    }
    await syncDir(path.dirname(file));
    return true;
  }

  async *list(prefix: string): AsyncIterable<string> {
    const { directory } = splitBlobKeyPrefix(prefix);
    yield* this.#walk(directory, prefix);
  }

  async close(): Promise<void> {
    // Nothing is held open between calls.
  }

  async *#walk(directoryKey: string, prefix: string): AsyncGenerator<string> {
    let dir;
    try {
      dir = await opendir(directoryKey === '' ? this.#root : this.#pathOf(directoryKey));
    } catch (error) {
      if (MISSING.has(errorCode(error))) return;
      throw error;
    }
    for await (const entry of dir) {
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
    this.#tmpDirReady ??= makeDirs(this.#tmpDir).catch((error: unknown) => {
      this.#tmpDirReady = undefined;
      throw error;
    });
    await this.#tmpDirReady;
    return path.join(this.#tmpDir, randomBytes(16).toString('hex'));
  }

  /** Writes the body to a fresh, fsync'd temporary file and returns its path. */
  async #writeTemp(body: BlobBody): Promise<string> {
    const tmp = await this.#tempPath();
    try {
      if (body instanceof Uint8Array) {
        const handle = await open(tmp, 'wx', 0o644);
        try {
          await handle.writeFile(body);
          await handle.sync();
        } finally {
          await handle.close();
        }
      } else if (body !== null && typeof body === 'object' && typeof body.file === 'string') {
        // Copy, never move: the caller still owns its file.
        await copyFile(body.file, tmp, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE);
        await syncFile(tmp);
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

/** mkdir -p, then fsync every folder whose entries changed, so new folders survive a crash. */
async function makeDirs(dir: string): Promise<void> {
  const first = await mkdir(dir, { recursive: true });
  if (first === undefined) return;
  await syncDir(path.dirname(first));
  for (let current = dir; current.length >= first.length; current = path.dirname(current)) {
    await syncDir(current);
    if (current === first) break;
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
