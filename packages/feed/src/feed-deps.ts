import type { Db } from '@nucat/db';
import type { BlobStore } from '@nucat/storage';

/** What the feed operations work on: the database, the blob store and the feed's id. */
export interface FeedDeps {
  db: Db;
  store: BlobStore;
  feedId: number;
  /**
   * Longest wait, in ms, for a lock inside a write (the feed's catalog head, a version's row); past it
   * the write fails with PostgreSQL's 55P03 `lock_not_available` instead of queueing behind a stuck
   * writer (reliability.md #41). 0 waits without limit. @defaultValue 10000
   */
  lockTimeoutMs?: number;
}
