import type { Db } from '@nucat/db';
import type { BlobStore } from '@nucat/storage';

/** What the feed operations work on: the database, the blob store and the feed's id. */
export interface FeedDeps {
  db: Db;
  store: BlobStore;
  feedId: number;
}
