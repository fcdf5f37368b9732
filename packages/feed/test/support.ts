import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDb, migrateToLatest, type Db } from '@nucat/db';
import { createFilesystemBlobStore, type BlobStore } from '@nucat/storage';
import { createTestDatabase, type TestDatabase } from '@nucat/testing';
import type { FeedDeps } from '../src/index.js';

/** A migrated test database, a filesystem blob store under a temp folder, and the deps of the main feed. */
export interface FeedFixture {
  database: TestDatabase;
  db: Db;
  store: BlobStore;
  /** The temp folder; the blob store's root is `<dir>/blobs`. */
  dir: string;
  deps: FeedDeps;
  close(): Promise<void>;
}

/** Opens a {@link FeedFixture}; `name` goes into the temp folder's name. */
export async function openFeedFixture(name: string, poolSize: number): Promise<FeedFixture> {
  const database = await createTestDatabase();
  const db = createDb({ url: database.url, poolSize });
  await migrateToLatest(db);
  const feedId = (await db.selectFrom('feeds').select('id').where('name', '=', 'main').executeTakeFirstOrThrow()).id;
  const dir = await mkdtemp(join(tmpdir(), `nucat-${name}-test-`));
  const store = createFilesystemBlobStore({ root: join(dir, 'blobs') });
  return {
    database,
    db,
    store,
    dir,
    deps: { db, store, feedId },
    async close() {
      await db.destroy();
      await database.drop();
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
