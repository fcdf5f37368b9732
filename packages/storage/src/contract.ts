import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BlobStore } from './blob-store.js';

/** What the factory given to {@link runBlobStoreContract} returns: a fresh, empty store. */
export interface BlobStoreUnderTest {
  store: BlobStore;
  /** Removes everything the store created (folder, bucket prefix, …). Called after `store.close()`. */
  cleanup(): Promise<void>;
}

/**
 * The behaviour every {@link BlobStore} must have, as a vitest suite. Call it once per implementation
 * from a test file; `make` is called before each test and must return an empty store.
 *
 * @example
 * runBlobStoreContract('memory', async () => ({ store: createMemoryBlobStore(), cleanup: async () => {} }));
 */
export function runBlobStoreContract(name: string, make: () => Promise<BlobStoreUnderTest>): void {
  describe(`BlobStore contract: ${name}`, () => {
    let store: BlobStore;
    let cleanup: () => Promise<void>;
    let scratch: string;

    beforeEach(async () => {
      ({ store, cleanup } = await make());
      scratch = await mkdtemp(path.join(tmpdir(), 'nucat-blob-contract-'));
    });

    afterEach(async () => {
      await store.close();
      await cleanup();
      await rm(scratch, { recursive: true, force: true });
    });

    async function listAll(prefix: string): Promise<string[]> {
      const keys: string[] = [];
      for await (const key of store.list(prefix)) keys.push(key);
      return keys.sort();
    }

    async function readStream(stream: NodeJS.ReadableStream): Promise<Buffer> {
      const chunks: Buffer[] = [];
      for await (const chunk of stream) chunks.push(Buffer.from(chunk as Uint8Array));
      return Buffer.concat(chunks);
    }

    describe('put and read', () => {
      it('returns the bytes that were put, through read, stat and openRead', async () => {
        const bytes = Buffer.from('{"hello":"world"}');
        const before = Date.now();
        expect(await store.put('a/b/c.json', bytes)).toEqual({ kind: 'created' });

        expect(await store.read('a/b/c.json')).toEqual(bytes);
        const info = await store.stat('a/b/c.json');
        expect(info).toMatchObject({ key: 'a/b/c.json', size: bytes.length });
        expect(info?.lastModified).toBeInstanceOf(Date);
        expect(info?.lastModified.getTime()).toBeGreaterThanOrEqual(before - 2_000);
        expect(info?.etag).toMatch(/^[A-Za-z0-9_-]+$/);

        const opened = await store.openRead('a/b/c.json');
        expect(opened?.info).toEqual(info);
        expect(await readStream(opened!.stream)).toEqual(bytes);
      });

      it('stores an empty blob', async () => {
        expect(await store.put('empty', Buffer.alloc(0))).toEqual({ kind: 'created' });
        expect(await store.read('empty')).toEqual(Buffer.alloc(0));
        expect((await store.stat('empty'))?.size).toBe(0);
      });

      it('answers undefined for a key that holds nothing', async () => {
        await store.put('a/b', Buffer.from('x'));
        expect(await store.read('a/c')).toBeUndefined();
        expect(await store.stat('a/c')).toBeUndefined();
        expect(await store.openRead('a/c')).toBeUndefined();
        expect(await store.read('nothing/here/at/all')).toBeUndefined();
      });

      it('keeps keys case-sensitive', async () => {
        await store.put('Case/Key', Buffer.from('upper'));
        expect(await store.read('case/key')).toBeUndefined();
        expect(await store.read('Case/Key')).toEqual(Buffer.from('upper'));
      });

      it('is not affected when the caller changes its buffer afterwards', async () => {
        const bytes = Buffer.from('original');
        await store.put('k', bytes);
        bytes.write('CHANGED!');
        expect((await store.read('k'))?.toString()).toBe('original');
      });

      it('copies a file body and leaves the caller’s file in place', async () => {
        const file = path.join(scratch, 'upload.nupkg');
        await writeFile(file, 'package bytes');
        expect(await store.put('pkg/upload.nupkg', { file })).toEqual({ kind: 'created' });
        expect((await store.read('pkg/upload.nupkg'))?.toString()).toBe('package bytes');
        expect((await readFile(file)).toString()).toBe('package bytes');

        await writeFile(file, 'changed later');
        expect((await store.read('pkg/upload.nupkg'))?.toString()).toBe('package bytes');
      });

      it('rejects a file body whose file does not exist, and stores nothing', async () => {
        await expect(store.put('k', { file: path.join(scratch, 'missing') })).rejects.toThrow();
        expect(await store.stat('k')).toBeUndefined();
      });
    });

    describe('replace', () => {
      it('replaces an existing blob and reports it', async () => {
        await store.put('k.json', Buffer.from('one'));
        const first = await store.stat('k.json');
        expect(await store.put('k.json', Buffer.from('second'))).toEqual({ kind: 'replaced' });
        expect((await store.read('k.json'))?.toString()).toBe('second');
        const second = await store.stat('k.json');
        expect(second?.size).toBe(6);
        expect(second?.etag).not.toBe(first?.etag);
      });

      it('keeps the same etag while the content does not change', async () => {
        await store.put('k', Buffer.from('stable'));
        const a = await store.stat('k');
        const b = await store.stat('k');
        expect(b?.etag).toBe(a?.etag);
      });
    });

    describe('onlyIfAbsent', () => {
      it('creates when absent and answers conflict, leaving the blob alone, when present', async () => {
        expect(await store.put('p.nupkg', Buffer.from('first'), { onlyIfAbsent: true })).toEqual({ kind: 'created' });
        expect(await store.put('p.nupkg', Buffer.from('second'), { onlyIfAbsent: true })).toEqual({ kind: 'conflict' });
        expect((await store.read('p.nupkg'))?.toString()).toBe('first');
      });

      it('answers conflict for a file body too', async () => {
        const file = path.join(scratch, 'f');
        await writeFile(file, 'from file');
        await store.put('p', Buffer.from('first'));
        expect(await store.put('p', { file }, { onlyIfAbsent: true })).toEqual({ kind: 'conflict' });
        expect((await store.read('p'))?.toString()).toBe('first');
      });

      it('lets exactly one of many concurrent puts of one key win', async () => {
        const bodies = Array.from({ length: 12 }, (_, i) => Buffer.from(`body number ${i} `.repeat(1000)));
        const results = await Promise.all(
          bodies.map((body) => store.put('race/x.nupkg', body, { onlyIfAbsent: true })),
        );
        const winners = results.flatMap((result, i) => (result.kind === 'created' ? [i] : []));
        expect(winners).toHaveLength(1);
        expect(results.filter((r) => r.kind === 'conflict')).toHaveLength(bodies.length - 1);
        expect((await store.read('race/x.nupkg'))?.equals(bodies[winners[0]!]!)).toBe(true);
        expect(await listAll('')).toEqual(['race/x.nupkg']);
      });
    });

    describe('copy', () => {
      it('copies to a new key and keeps the source', async () => {
        await store.put('from/a.nupkg', Buffer.from('payload'));
        await store.copy('from/a.nupkg', 'to/deep/b.nupkg');
        expect((await store.read('to/deep/b.nupkg'))?.toString()).toBe('payload');
        expect((await store.read('from/a.nupkg'))?.toString()).toBe('payload');
      });

      it('replaces an existing target', async () => {
        await store.put('src', Buffer.from('new content'));
        await store.put('dst', Buffer.from('old'));
        await store.copy('src', 'dst');
        expect((await store.read('dst'))?.toString()).toBe('new content');
        await store.copy('src', 'dst');
        expect((await store.read('dst'))?.toString()).toBe('new content');
        expect(await listAll('')).toEqual(['dst', 'src']);
      });

      it('keeps the copy unchanged when the source is replaced or deleted later', async () => {
        await store.put('src', Buffer.from('v1'));
        await store.copy('src', 'dst');
        await store.put('src', Buffer.from('v2'));
        expect((await store.read('dst'))?.toString()).toBe('v1');
        await store.delete('src');
        expect((await store.read('dst'))?.toString()).toBe('v1');
      });

      it('copying a key onto itself changes nothing', async () => {
        await store.put('same', Buffer.from('x'));
        await store.copy('same', 'same');
        expect((await store.read('same'))?.toString()).toBe('x');
      });

      it('throws BlobNotFoundError when the source is missing', async () => {
        await expect(store.copy('missing', 'dst')).rejects.toMatchObject({
          name: 'BlobNotFoundError',
          code: 'blob_not_found',
        });
        expect(await store.stat('dst')).toBeUndefined();
      });
    });

    describe('delete', () => {
      it('deletes a blob once and then reports there was nothing', async () => {
        await store.put('d/x', Buffer.from('x'));
        expect(await store.delete('d/x')).toBe(true);
        expect(await store.read('d/x')).toBeUndefined();
        expect(await store.stat('d/x')).toBeUndefined();
        expect(await store.delete('d/x')).toBe(false);
        expect(await store.delete('never/was')).toBe(false);
      });

      it('allows the key to be created again after a delete', async () => {
        await store.put('again', Buffer.from('1'), { onlyIfAbsent: true });
        await store.delete('again');
        expect(await store.put('again', Buffer.from('2'), { onlyIfAbsent: true })).toEqual({ kind: 'created' });
      });
    });

    describe('list', () => {
      beforeEach(async () => {
        for (const key of [
          'flat/contoso.widgets/index.json',
          'flat/contoso.widgets/1.0.0/contoso.widgets.1.0.0.nupkg',
          'flat/contoso.widgets.extra/index.json',
          'flat/other/index.json',
          'reg/contoso.widgets/index.json',
          'top.json',
        ]) {
          await store.put(key, Buffer.from(key));
        }
      });

      it('lists every key under a folder prefix', async () => {
        expect(await listAll('flat/contoso.widgets/')).toEqual([
          'flat/contoso.widgets/1.0.0/contoso.widgets.1.0.0.nupkg',
          'flat/contoso.widgets/index.json',
        ]);
      });

      it('matches a prefix that ends inside a segment', async () => {
        expect(await listAll('flat/contoso.w')).toEqual([
          'flat/contoso.widgets.extra/index.json',
          'flat/contoso.widgets/1.0.0/contoso.widgets.1.0.0.nupkg',
          'flat/contoso.widgets/index.json',
        ]);
        expect(await listAll('t')).toEqual(['top.json']);
      });

      it('lists everything for an empty prefix', async () => {
        expect(await listAll('')).toHaveLength(6);
      });

      it('lists nothing for a prefix nothing starts with', async () => {
        expect(await listAll('nothing/')).toEqual([]);
        expect(await listAll('flat/zzz')).toEqual([]);
      });

      it('does not list deleted keys', async () => {
        await store.delete('flat/other/index.json');
        expect(await listAll('flat/o')).toEqual([]);
      });
    });

    describe('key validation', () => {
      const invalidKeys = [
        '',
        '/absolute',
        'trailing/',
        'double//slash',
        '.',
        '..',
        './a',
        'a/../b',
        'a/..',
        'back\\slash',
        'spa ce',
        'colon:x',
        'percent%2e',
        'nul\u0000',
        'unicodé',
        '.tmp/x',
        'x'.repeat(256),
        `${`${'x'.repeat(255)}/`.repeat(3)}${'y'.repeat(100)}/${'z'.repeat(156)}`,
      ];

      it.each(invalidKeys.map((key) => [JSON.stringify(key).slice(0, 40), key]))(
        'rejects %s in every operation',
        async (_label, key) => {
          const invalid = { name: 'InvalidBlobKeyError', code: 'invalid_blob_key' };
          await expect(store.put(key, Buffer.from('x'))).rejects.toMatchObject(invalid);
          await expect(store.read(key)).rejects.toMatchObject(invalid);
          await expect(store.stat(key)).rejects.toMatchObject(invalid);
          await expect(store.openRead(key)).rejects.toMatchObject(invalid);
          await expect(store.delete(key)).rejects.toMatchObject(invalid);
          await expect(store.copy(key, 'ok')).rejects.toMatchObject(invalid);
          await store.put('ok', Buffer.from('x'));
          await expect(store.copy('ok', key)).rejects.toMatchObject(invalid);
        },
      );

      it('accepts the characters NuGet ids and versions use', async () => {
        const key = 'flat/Contoso_Widgets-2/1.0.0-beta.1+build/x.nupkg';
        await store.put(key, Buffer.from('x'));
        expect(await listAll('')).toEqual([key]);
        const longest = `${`${'x'.repeat(255)}/`.repeat(3)}${'y'.repeat(100)}/${'z'.repeat(155)}`;
        expect(longest).toHaveLength(1024);
        expect(await store.put(longest, Buffer.from('x'))).toEqual({ kind: 'created' });
      });

      it('rejects list prefixes that no valid key can start with', async () => {
        const invalid = { code: 'invalid_blob_key' };
        await expect(listAll('../')).rejects.toMatchObject(invalid);
        await expect(listAll('/a')).rejects.toMatchObject(invalid);
        await expect(listAll('a//')).rejects.toMatchObject(invalid);
        await expect(listAll('a b')).rejects.toMatchObject(invalid);
        await expect(listAll('.tmp/')).rejects.toMatchObject(invalid);
      });
    });

    describe('non-durable writes and sync', () => {
      const lazy = { durable: false } as const;

      it('makes a non-durable put, replace, copy and delete visible at once, with the results of durable ones', async () => {
        expect(await store.put('nd/deep/a.json', Buffer.from('one'), lazy)).toEqual({ kind: 'created' });
        expect((await store.read('nd/deep/a.json'))?.toString()).toBe('one');
        expect(await store.put('nd/deep/a.json', Buffer.from('two'), lazy)).toEqual({ kind: 'replaced' });
        expect((await store.read('nd/deep/a.json'))?.toString()).toBe('two');
        expect((await store.stat('nd/deep/a.json'))?.size).toBe(3);

        await store.copy('nd/deep/a.json', 'nd/other/b.json', lazy);
        expect((await store.read('nd/other/b.json'))?.toString()).toBe('two');
        await store.put('nd/deep/a.json', Buffer.from('three'), lazy);
        await store.copy('nd/deep/a.json', 'nd/other/b.json', lazy);
        expect((await store.read('nd/other/b.json'))?.toString()).toBe('three');
        await expect(store.copy('nd/missing', 'nd/never', lazy)).rejects.toMatchObject({ code: 'blob_not_found' });

        expect(await store.delete('nd/deep/a.json', lazy)).toBe(true);
        expect(await store.delete('nd/deep/a.json', lazy)).toBe(false);
        expect(await store.read('nd/deep/a.json')).toBeUndefined();
        expect(await listAll('nd/')).toEqual(['nd/other/b.json']);

        await store.sync();
        expect((await store.read('nd/other/b.json'))?.toString()).toBe('three');
      });

      it('stores a non-durable file body', async () => {
        const file = path.join(scratch, 'body');
        await writeFile(file, 'from a file');
        expect(await store.put('nd/file', { file }, lazy)).toEqual({ kind: 'created' });
        await store.sync();
        expect((await store.read('nd/file'))?.toString()).toBe('from a file');
      });

      it('keeps onlyIfAbsent exclusive without durability: one of many concurrent puts wins', async () => {
        const bodies = Array.from({ length: 8 }, (_, i) => Buffer.from(`lazy body ${i}`));
        const results = await Promise.all(bodies.map((b) => store.put('nd/race', b, { onlyIfAbsent: true, durable: false })));
        const winners = results.flatMap((r, i) => (r.kind === 'created' ? [i] : []));
        expect(winners).toHaveLength(1);
        expect((await store.read('nd/race'))?.equals(bodies[winners[0]!]!)).toBe(true);
      });

      it('resolves sync on an empty store, and every one of many concurrent syncs amid writes', async () => {
        await store.sync();
        const work: Promise<unknown>[] = [];
        for (let i = 0; i < 20; i++) {
          work.push(store.put(`nd/many/${i}.json`, Buffer.from(String(i)), lazy));
          if (i % 4 === 0) work.push(store.sync());
        }
        await Promise.all(work);
        await Promise.all([store.sync(), store.sync(), store.sync()]);
        expect(await listAll('nd/many/')).toHaveLength(20);
        expect((await store.read('nd/many/7.json'))?.toString()).toBe('7');
      });
    });

    describe('atomic replace', () => {
      it('gives readers the old or the new bytes, never a mix, during large non-durable replaces', async () => {
        const older = Buffer.alloc(2 * 1024 * 1024 + 5, 'c');
        const newer = Buffer.alloc(3 * 1024 * 1024 + 11, 'd');
        await store.put('lazy.nupkg', older, { durable: false });
        let writing = true;
        const writer = (async () => {
          try {
            for (let i = 0; i < 6; i++) await store.put('lazy.nupkg', i % 2 === 0 ? newer : older, { durable: false });
          } finally {
            writing = false;
          }
        })();
        let reads = 0;
        const reader = async (): Promise<void> => {
          do {
            const bytes = (await store.read('lazy.nupkg'))!;
            expect(bytes.equals(older) || bytes.equals(newer)).toBe(true);
            reads++;
          } while (writing);
        };
        await Promise.all([writer, reader(), reader()]);
        expect(reads).toBeGreaterThanOrEqual(2);
        await store.sync();
        expect((await store.read('lazy.nupkg'))?.equals(older)).toBe(true);
      }, 60_000);

      it('gives readers the old or the new bytes, never a mix, during large concurrent replaces', async () => {
        const older = Buffer.alloc(3 * 1024 * 1024 + 17, 'a');
        const newer = Buffer.alloc(5 * 1024 * 1024 + 3, 'b');
        await store.put('big.nupkg', older);

        let writing = true;
        const writer = (async () => {
          try {
            for (let i = 0; i < 6; i++) await store.put('big.nupkg', i % 2 === 0 ? newer : older);
          } finally {
            writing = false;
          }
        })();
        let reads = 0;
        const reader = async (useStream: boolean): Promise<void> => {
          do {
            let bytes: Buffer;
            if (useStream) {
              const opened = await store.openRead('big.nupkg');
              bytes = await readStream(opened!.stream);
              expect(bytes.length).toBe(opened!.info.size);
            } else {
              bytes = (await store.read('big.nupkg'))!;
            }
            expect(bytes.equals(older) || bytes.equals(newer)).toBe(true);
            reads++;
          } while (writing);
        };
        await Promise.all([writer, reader(false), reader(true), reader(false)]);

        expect(reads).toBeGreaterThanOrEqual(3);
        expect((await store.read('big.nupkg'))?.equals(older)).toBe(true);
      }, 60_000);
    });
  });
}
