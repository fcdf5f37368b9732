/**
 * Which generation of the flat container and registration keys a read node serves (`nucat rebuild`):
 * the resolver reads the pointer document from the blob store (no database), caches it, and reads
 * it again early after a miss. Then the read app over a store whose database is unreachable (P7).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { GENERATIONS_POINTER_KEY, createFeedUrls, renderGenerationsPointer } from '@nucat/catalog';
import { createDb } from '@nucat/db';
import { createMemoryBlobStore, type BlobStore } from '@nucat/storage';
import { createReadApp } from '../src/app.js';
import { createGenerationResolver } from '../src/generations.js';

/** A manual clock for the resolver's cache. */
function createClock() {
  let t = 0;
  return {
    now: () => t,
    advance(ms: number) {
      t += ms;
    },
  };
}

const writePointer = (store: BlobStore, flatcontainer: number, registration: number) =>
  store.put(GENERATIONS_POINTER_KEY, renderGenerationsPointer({ flatcontainer, registration }));

/** A store whose reads fail, for the moments the blob store is unreachable. */
function failingReads(store: BlobStore, failing: { now: boolean }): BlobStore {
  return {
    ...store,
    put: (...args) => store.put(...args),
    stat: (key) => store.stat(key),
    read: async (key) => {
      if (failing.now) throw new Error('store unreachable');
      return store.read(key);
    },
    openRead: (key) => store.openRead(key),
    copy: (a, b) => store.copy(a, b),
    delete: (key) => store.delete(key),
    list: (prefix) => store.list(prefix),
    close: () => store.close(),
  };
}

describe('generation resolver', () => {
  it('serves generation 0 (the unprefixed layout) while the store has no pointer', async () => {
    const resolver = createGenerationResolver(createMemoryBlobStore());
    expect(await resolver.current()).toEqual({
      generations: { flatcontainer: 0, registration: 0 },
      flatContainer: 'flatcontainer',
      registrationRoot: '',
    });
  });

  it('resolves each projection to its own generation prefix', async () => {
    const store = createMemoryBlobStore();
    await writePointer(store, 3, 1);
    const resolved = await createGenerationResolver(store).current();
    expect(resolved.flatContainer).toBe('g3/flatcontainer');
    expect(resolved.registrationRoot).toBe('g1/');
  });

  it('keeps a pointer it read until the refresh interval passes', async () => {
    const store = createMemoryBlobStore();
    const clock = createClock();
    const resolver = createGenerationResolver(store, { refreshMs: 2_000, now: clock.now });
    expect((await resolver.current()).generations.flatcontainer).toBe(0);

    await writePointer(store, 1, 1);
    clock.advance(1_999);
    expect((await resolver.current()).generations.flatcontainer).toBe(0);
    clock.advance(1);
    expect((await resolver.current()).generations).toEqual({ flatcontainer: 1, registration: 1 });
  });

  it('reads the pointer again soon after a miss, and reports newer generations only when it moved', async () => {
    const store = createMemoryBlobStore();
    const clock = createClock();
    const resolver = createGenerationResolver(store, { refreshMs: 60_000, missRefreshMs: 200, now: clock.now });
    const first = await resolver.current();

    // A miss with the pointer unchanged: the miss stands.
    clock.advance(200);
    expect(await resolver.afterMiss(first)).toBeUndefined();

    // The pointer moves: a miss within 200 ms of the last read does not read it again …
    await writePointer(store, 2, 0);
    clock.advance(100);
    expect(await resolver.afterMiss(first)).toBeUndefined();
    // … a later one does, and the newer generations are kept for the next requests.
    clock.advance(100);
    const newer = await resolver.afterMiss(first);
    expect(newer?.flatContainer).toBe('g2/flatcontainer');
    expect(await resolver.current()).toBe(newer);
    // A request that resolved the old generations before the move also gets the newer ones.
    expect(await resolver.afterMiss(first)).toBe(newer);
  });

  it('never falls back to a generation it left when the pointer disappears, is unreadable, or the store fails', async () => {
    const memory = createMemoryBlobStore();
    const failing = { now: false };
    const store = failingReads(memory, failing);
    const clock = createClock();
    const resolver = createGenerationResolver(store, { refreshMs: 1_000, now: clock.now });
    await writePointer(memory, 4, 2);
    expect((await resolver.current()).generations).toEqual({ flatcontainer: 4, registration: 2 });

    await memory.delete(GENERATIONS_POINTER_KEY);
    clock.advance(1_000);
    expect((await resolver.current()).generations).toEqual({ flatcontainer: 4, registration: 2 });

    await memory.put(GENERATIONS_POINTER_KEY, Buffer.from('{"flatcontainer":"five"}'));
    clock.advance(1_000);
    expect((await resolver.current()).generations).toEqual({ flatcontainer: 4, registration: 2 });

    failing.now = true;
    clock.advance(1_000);
    expect((await resolver.current()).generations).toEqual({ flatcontainer: 4, registration: 2 });

    failing.now = false;
    await writePointer(memory, 5, 2);
    clock.advance(1_000);
    expect((await resolver.current()).generations).toEqual({ flatcontainer: 5, registration: 2 });
  });

  it('shares one pointer read between concurrent requests', async () => {
    const memory = createMemoryBlobStore();
    let reads = 0;
    const counting: BlobStore = { ...failingReads(memory, { now: false }), read: async (key) => ((reads += 1), memory.read(key)) };
    const resolver = createGenerationResolver(counting);
    await Promise.all(Array.from({ length: 20 }, () => resolver.current()));
    expect(reads).toBe(1);
  });
});

describe('read app serving a rebuilt generation', () => {
  let server: Server | undefined;
  afterEach(async () => {
    server?.closeAllConnections();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server = undefined;
  });

  it('serves flat container and registration from the generation the pointer names, without a database', async () => {
    const store = createMemoryBlobStore();
    const json = (value: unknown) => Buffer.from(JSON.stringify(value));
    // Generation 0 (as before any rebuild) and generation 1 (rebuilt, one version more).
    await store.put('flatcontainer/contoso.widgets/index.json', json({ versions: ['1.0.0'] }));
    await store.put('g1/flatcontainer/contoso.widgets/index.json', json({ versions: ['1.0.0', '2.0.0'] }));
    await store.put('g1/flatcontainer/contoso.widgets/2.0.0/contoso.widgets.2.0.0.nupkg', Buffer.from('nupkg bytes'));
    await store.put('registration5-semver1/contoso.widgets/index.json', json({ count: 1, generation: 0 }));
    await store.put('g2/registration5-semver1/contoso.widgets/index.json', json({ count: 1, generation: 2 }));

    // Nothing listens on port 1: any database access would fail the request.
    const db = createDb({ url: 'postgres://nucat:nucat@127.0.0.1:1/none', poolSize: 1 });
    const app = createReadApp({
      db,
      store,
      feedId: 1,
      urls: createFeedUrls('http://127.0.0.1:5000/v3/'),
      publishUrl: 'http://127.0.0.1:5001',
      log: pino({ level: 'silent' }),
      generations: createGenerationResolver(store, { refreshMs: 60_000, missRefreshMs: 0 }),
    });
    server = createServer(app.callback()).listen(0, '127.0.0.1');
    await new Promise((resolve) => server!.once('listening', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v3`;
    try {
      expect(await (await fetch(`${base}/flatcontainer/contoso.widgets/index.json`)).json()).toEqual({ versions: ['1.0.0'] });

      // The switch: the pointer moves, and later the old generation is deleted. This node's cached
      // pointer is a minute old at most; the miss on the deleted key makes it read the pointer again.
      await writePointer(store, 1, 2);
      expect(await (await fetch(`${base}/flatcontainer/contoso.widgets/index.json`)).json()).toEqual({ versions: ['1.0.0'] });
      await store.delete('flatcontainer/contoso.widgets/index.json');
      expect(await (await fetch(`${base}/flatcontainer/contoso.widgets/index.json`)).json()).toEqual({ versions: ['1.0.0', '2.0.0'] });

      const nupkg = await fetch(`${base}/flatcontainer/contoso.widgets/2.0.0/contoso.widgets.2.0.0.nupkg`);
      expect(nupkg.status).toBe(200);
      expect(Buffer.from(await nupkg.arrayBuffer()).toString()).toBe('nupkg bytes');
      expect(await (await fetch(`${base}/registration5-semver1/contoso.widgets/index.json`)).json()).toEqual({ count: 1, generation: 2 });
      expect((await fetch(`${base}/flatcontainer/contoso.widgets/3.0.0/contoso.widgets.3.0.0.nupkg`)).status).toBe(404);
    } finally {
      await db.destroy();
    }
  });
});
