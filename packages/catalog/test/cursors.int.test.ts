/**
 * Projection cursors against a real PostgreSQL database: compare-and-set moves, and runs — a reset
 * starts a new run, and a move made with the run id of the run before is refused.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb, migrateToLatest, type Db } from '@nucat/db';
import { createTestDatabase, type TestDatabase } from '@nucat/testing';
import { advanceCursor, getCursor, getCursorState, resetCursor } from '../src/index.js';

let database: TestDatabase;
let db: Db;
const feedId = 1;
const t = (ms: number) => new Date(ms);

beforeAll(async () => {
  database = await createTestDatabase();
  db = createDb({ url: database.url, poolSize: 2 });
  await migrateToLatest(db);
});
afterAll(async () => {
  await db?.destroy();
  await database?.drop();
});

describe('projection cursors', () => {
  it('start at the epoch, each cursor in a run of its own', async () => {
    const a = await getCursorState(db, feedId, 'cursor.a');
    const b = await getCursorState(db, feedId, 'cursor.b');
    expect(a.cursor.getTime()).toBe(0);
    expect(a.runId).toMatch(/^[0-9a-f-]{36}$/);
    expect(b.runId).not.toBe(a.runId);
    expect(await getCursorState(db, feedId, 'cursor.a')).toEqual(a);
  });

  it('move only from where they are, only forwards, and only within the run given', async () => {
    const { runId } = await getCursorState(db, feedId, 'cursor.cas');
    expect(await advanceCursor(db, feedId, 'cursor.cas', t(0), t(1000), runId)).toBe(true);
    expect(await advanceCursor(db, feedId, 'cursor.cas', t(0), t(2000), runId)).toBe(false); // not at 0 any more
    expect(await advanceCursor(db, feedId, 'cursor.cas', t(1000), t(500), runId)).toBe(false); // backwards
    expect(await advanceCursor(db, feedId, 'cursor.cas', t(1000), t(2000), '00000000-0000-4000-8000-000000000000')).toBe(false);
    expect((await getCursor(db, feedId, 'cursor.cas')).getTime()).toBe(1000);
    expect(await advanceCursor(db, feedId, 'cursor.cas', t(1000), t(2000))).toBe(true); // no run given: any run
    expect((await getCursor(db, feedId, 'cursor.cas')).getTime()).toBe(2000);
  });

  it('start a new run when reset, so a move of the run before, from the start, is refused', async () => {
    const before = await getCursorState(db, feedId, 'cursor.reset');
    expect(await advanceCursor(db, feedId, 'cursor.reset', t(0), t(1000), before.runId)).toBe(true);

    await resetCursor(db, feedId, 'cursor.reset');
    const after = await getCursorState(db, feedId, 'cursor.reset');
    expect(after.cursor.getTime()).toBe(0);
    expect(after.runId).not.toBe(before.runId);

    // The first batch of the run before, delivered again: the cursor is at its `from`, but in another run.
    expect(await advanceCursor(db, feedId, 'cursor.reset', t(0), t(1000), before.runId)).toBe(false);
    expect((await getCursor(db, feedId, 'cursor.reset')).getTime()).toBe(0);
    expect(await advanceCursor(db, feedId, 'cursor.reset', t(0), t(1000), after.runId)).toBe(true);
  });
});
