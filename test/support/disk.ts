/**
 * A real full disk for the fault tests (reliability.md §2 #39): a small tmpfs mounted on a temp folder (root
 * only), filled and freed with filler files.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, open, readdir, rm, rmdir, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A mounted tmpfs. */
export interface SmallDisk {
  /** The mount point. */
  readonly dir: string;
  /** Bytes still free (for an unprivileged writer; tmpfs reserves nothing for root). */
  free(): Promise<number>;
  /**
   * Writes filler files until at most `leaveBytes` stay free (rounded to the 4 KiB page); 0 fills it
   * completely, so the next write of even one byte fails with ENOSPC.
   */
  fill(leaveBytes?: number): Promise<void>;
  /** Deletes the filler files. */
  release(): Promise<void>;
  /** Unmounts and removes the mount point (its contents are lost). Safe to call twice. */
  unmount(): Promise<void>;
}

const FILLER_PREFIX = 'nucat-disk-filler-';
const PAGE = 4096;

/**
 * Mounts a tmpfs of `sizeBytes` on a fresh temp folder (`mount -t tmpfs -o size=…`).
 * @returns the disk, or a string saying why it could not be mounted (not root, no mount permission in a
 *   container…), for `describe.skipIf`.
 */
export async function mountSmallDisk(sizeBytes: number): Promise<SmallDisk | string> {
  if (process.platform !== 'linux') return `a tmpfs needs Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return 'mounting a tmpfs needs root (CI runs the tests as root)';
  const dir = await mkdtemp(join(tmpdir(), 'nucat-small-disk-'));
  try {
    await run('mount', ['-t', 'tmpfs', '-o', `size=${sizeBytes},mode=0755`, 'tmpfs', dir], { timeout: 30_000 });
  } catch (error) {
    await rmdir(dir).catch(() => {});
    const e = error as { stderr?: string; message: string };
    return `mount -t tmpfs failed: ${(e.stderr || e.message).trim()}`;
  }
  let mounted = true;
  let fillers = 0;
  const free = async () => {
    const stats = await statfs(dir);
    return stats.bavail * stats.bsize;
  };
  return {
    dir,
    free,
    async fill(leaveBytes = 0) {
      let remaining = Math.max(0, (await free()) - leaveBytes);
      remaining -= remaining % PAGE;
      if (leaveBytes > 0 && remaining === 0) return;
      const file = join(dir, `${FILLER_PREFIX}${++fillers}`);
      const handle = await open(file, 'wx');
      try {
        const chunk = Buffer.alloc(1024 * 1024);
        let size = chunk.length;
        // Fill to the byte asked for, or (leaveBytes 0) until the filesystem refuses even one page.
        while (leaveBytes === 0 || remaining > 0) {
          const length = leaveBytes === 0 ? size : Math.min(size, remaining);
          try {
            const { bytesWritten } = await handle.write(chunk, 0, length);
            remaining -= bytesWritten;
          } catch (error) {
            if ((error as { code?: string }).code !== 'ENOSPC') throw error;
            if (size <= PAGE) break;
            size = Math.max(PAGE, size / 4);
          }
        }
      } finally {
        await handle.close();
      }
    },
    async release() {
      for (const name of await readdir(dir)) if (name.startsWith(FILLER_PREFIX)) await rm(join(dir, name), { force: true });
    },
    async unmount() {
      if (!mounted) return;
      mounted = false;
      await run('umount', [dir], { timeout: 30_000 }).catch(async () => {
        // Still busy (a process left behind): detach it now; the kernel frees it once unused.
        await run('umount', ['-l', dir], { timeout: 30_000 });
      });
      await rmdir(dir).catch(() => {});
    },
  };
}

/**
 * Whether this process can mount a tmpfs: mounts a tiny one and unmounts it at once.
 * @returns undefined when it can, else why not (for `describe.skipIf` and its message).
 */
export async function whyNoSmallDisk(): Promise<string | undefined> {
  const disk = await mountSmallDisk(PAGE * 16);
  if (typeof disk === 'string') return disk;
  await disk.unmount();
  return undefined;
}

/** Makes `path` (and its parents under the disk) exist, owned by `uid`/`gid` when given (for PostgreSQL). */
export async function makeOwnedDir(path: string, owner?: { uid: number; gid: number }): Promise<void> {
  await mkdir(path, { recursive: true });
  if (owner) await run('chown', [`${owner.uid}:${owner.gid}`, path]);
}
