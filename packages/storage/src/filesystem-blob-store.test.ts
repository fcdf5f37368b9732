import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runBlobStoreContract } from './contract.js';
import { createFilesystemBlobStore, type BlobStore } from './index.js';

runBlobStoreContract('filesystem', async () => {
  const root = await mkdtemp(path.join(tmpdir(), 'nucat-fs-store-'));
  return { store: createFilesystemBlobStore({ root }), cleanup: () => rm(root, { recursive: true, force: true }) };
});

describe('filesystem blob store', () => {
  let root: string;
  let store: BlobStore;

  beforeEach(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'nucat-fs-store-'));
    store = createFilesystemBlobStore({ root: path.join(root, 'blobs') });
  });

  afterEach(async () => {
    await store.close();
    await rm(root, { recursive: true, force: true });
  });

  it('maps a key to the file of the same path under root', async () => {
    await store.put('flat/x/1.0.0/x.nuspec', Buffer.from('<package/>'));
    expect(await readdir(path.join(root, 'blobs', 'flat', 'x', '1.0.0'))).toEqual(['x.nuspec']);
  });

  it('leaves no temporary files behind and never lists the .tmp folder', async () => {
    await store.put('a', Buffer.from('1'));
    await store.put('a', Buffer.from('2'));
    await store.put('a', Buffer.from('3'), { onlyIfAbsent: true });
    await store.copy('a', 'b');
    await store.copy('a', 'b');
    expect(await readdir(path.join(root, 'blobs', '.tmp'))).toEqual([]);

    await writeFile(path.join(root, 'blobs', '.tmp', 'left-by-a-crash'), 'partial');
    const keys: string[] = [];
    for await (const key of store.list('')) keys.push(key);
    expect(keys.sort()).toEqual(['a', 'b']);
  });

  it('leaves no temporary files behind after non-durable writes either', async () => {
    await store.put('lazy/a', Buffer.from('1'), { durable: false });
    await store.put('lazy/a', Buffer.from('2'), { durable: false });
    await store.put('lazy/a', Buffer.from('3'), { onlyIfAbsent: true, durable: false });
    await store.copy('lazy/a', 'lazy/b', { durable: false });
    await store.copy('lazy/a', 'lazy/b', { durable: false });
    await store.sync();
    expect(await readdir(path.join(root, 'blobs', '.tmp'))).toEqual([]);
    expect((await readFile(path.join(root, 'blobs', 'lazy', 'b'))).toString()).toBe('2');
  });

  it('shows non-durable writes to another store on the same root at once, before any sync', async () => {
    await store.put('shared/lazy', Buffer.from('not synced yet'), { durable: false });
    const other = createFilesystemBlobStore({ root: path.join(root, 'blobs') });
    expect((await other.read('shared/lazy'))?.toString()).toBe('not synced yet');
    // Either store's sync covers it: syncfs flushes the whole filesystem.
    await other.sync();
    await store.sync();
  });

  it('resolves sync() while the root folder does not exist yet', async () => {
    const nowhere = createFilesystemBlobStore({ root: path.join(root, 'never', 'created') });
    await nowhere.sync();
  });

  it('falls back to fsyncing each file and folder it changed when there is no sync command', async () => {
    const savedPath = process.env['PATH'];
    process.env['PATH'] = path.join(root, 'no-commands-here');
    try {
      await store.put('fallback/x/a.json', Buffer.from('a'), { durable: false });
      await store.copy('fallback/x/a.json', 'fallback/y/b.json', { durable: false });
      await store.delete('fallback/x/a.json', { durable: false });
      await store.sync();
      await store.put('fallback/z', Buffer.from('z'), { durable: false });
      await store.sync();
    } finally {
      process.env['PATH'] = savedPath;
    }
    expect((await store.read('fallback/y/b.json'))?.toString()).toBe('a');
    expect((await store.read('fallback/z'))?.toString()).toBe('z');
  });

  it('skips files whose names are not valid keys', async () => {
    await store.put('dir/ok', Buffer.from('1'));
    await writeFile(path.join(root, 'blobs', 'dir', 'not ok'), 'x');
    const keys: string[] = [];
    for await (const key of store.list('dir/')) keys.push(key);
    expect(keys).toEqual(['dir/ok']);
  });

  it('treats a folder as no blob', async () => {
    await store.put('folder/inner', Buffer.from('1'));
    expect(await store.stat('folder')).toBeUndefined();
    expect(await store.read('folder')).toBeUndefined();
    expect(await store.openRead('folder')).toBeUndefined();
    expect(await store.delete('folder')).toBe(false);
    await expect(store.put('folder', Buffer.from('2'))).rejects.toThrow(/folder of other blobs/);
    await expect(store.put('folder', Buffer.from('2'), { onlyIfAbsent: true })).rejects.toThrow(
      /folder of other blobs/,
    );
  });

  it('reports stored blobs through a second store on the same root', async () => {
    await store.put('shared/k', Buffer.from('from one process'));
    const other = createFilesystemBlobStore({ root: path.join(root, 'blobs') });
    expect((await other.read('shared/k'))?.toString()).toBe('from one process');
    expect(await other.put('shared/k', Buffer.from('x'), { onlyIfAbsent: true })).toEqual({ kind: 'conflict' });
  });

  it('creates the root folder on first write', async () => {
    const nested = createFilesystemBlobStore({ root: path.join(root, 'not', 'yet', 'there') });
    expect(await nested.read('k')).toBeUndefined();
    expect(await nested.put('k', Buffer.from('1'))).toEqual({ kind: 'created' });
    await mkdir(path.join(root, 'not', 'yet', 'there'), { recursive: true });
  });

  it('refuses to be created without a root', () => {
    expect(() => createFilesystemBlobStore({ root: '' })).toThrow(TypeError);
  });
});
