/**
 * reliability.md §2 #37 and promise P2, end to end: 32 concurrent writers (pushes of new versions mixed with
 * unlists and relists) while a catalog consumer follows the public catalog over HTTP with the §8 cursor rule.
 *
 * Random delays are injected inside the publish transactions with triggers on the stack's own database: one
 * before the catalog head lock (when the push claims its id+version) and one after the commit timestamp was
 * taken (when the catalog item is inserted). That is the out-of-order-commit window of §1; the consumer must
 * still see every event exactly once, in strictly increasing commit order.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildNupkg } from '@nucat/testing';
import { CatalogFollower, seededRandom, useFaultRig } from '../support/faults.js';
import { describeResponse, pushRaw, relistRaw, timestampMs, unlistRaw, type PushResult } from '../support/feed.js';

const rig = useFaultRig();

const WRITERS = 32;
const OPERATIONS_PER_WRITER = 6;
/** Upper bound of each injected delay, in seconds. */
const MAX_DELAY_S = 0.02;
const SEED = Number(process.env['NUCAT_FAULT_SEED'] ?? Date.now() % 100_000);

beforeAll(async () => {
  const { db } = rig();
  await db.query(`
    CREATE FUNCTION fault_random_delay() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN PERFORM pg_sleep(random() * ${MAX_DELAY_S}); RETURN NEW; END $$`);
  await db.query(`CREATE TRIGGER fault_delay_before_head_lock BEFORE INSERT OR UPDATE ON packages
                  FOR EACH ROW EXECUTE FUNCTION fault_random_delay()`);
  await db.query(`CREATE TRIGGER fault_delay_after_timestamp BEFORE INSERT ON catalog_items
                  FOR EACH ROW EXECUTE FUNCTION fault_random_delay()`);
});

/** One operation a writer did and what the server answered. */
interface Operation {
  kind: 'push' | 'unlist' | 'relist';
  id: string;
  version: string;
  result: PushResult;
}

/** Writer `w` owns one id: it pushes new versions and unlists/relists the ones it pushed, in a seeded random mix. */
async function writer(w: number, random: () => number): Promise<Operation[]> {
  const { stack } = rig();
  const id = `Nucat.Fault.Order.W${w}`;
  const listed: string[] = [];
  const unlisted: string[] = [];
  const done: Operation[] = [];
  for (let i = 0; i < OPERATIONS_PER_WRITER; i++) {
    await sleep(Math.floor(random() * 30));
    const roll = random();
    if (listed.length === 0 || roll < 0.5) {
      const version = `1.0.${listed.length + unlisted.length}`;
      const result = await pushRaw(stack, buildNupkg({ id, version }));
      done.push({ kind: 'push', id, version, result });
      if (result.status === 201) listed.push(version);
    } else if (unlisted.length === 0 || roll < 0.75) {
      const version = listed.splice(Math.floor(random() * listed.length), 1)[0]!;
      done.push({ kind: 'unlist', id, version, result: await unlistRaw(stack, id, version) });
      unlisted.push(version);
    } else {
      const version = unlisted.splice(Math.floor(random() * unlisted.length), 1)[0]!;
      done.push({ kind: 'relist', id, version, result: await relistRaw(stack, id, version) });
      listed.push(version);
    }
  }
  return done;
}

describe('catalog ordering under concurrent writers', () => {
  it(`#37 out-of-order commits: 32 writers with random delays inside the append, a cursor reader sees every event once, in order (seed ${SEED})`, async () => {
    const { stack, db, feedId } = rig();
    const follower = await CatalogFollower.of(stack);
    await follower.runOnce();

    const random = seededRandom(SEED);
    const seeds = Array.from({ length: WRITERS }, () => Math.floor(random() * 2 ** 31));
    let operations: Operation[] | undefined;
    const writing = Promise.all(seeds.map((seed, w) => writer(w, seededRandom(seed)))).then((ops) => (operations = ops.flat()));
    writing.catch(() => {});

    // Follow while the writers run; once they are done, everything accepted must show up within a grace period.
    let deadline = Date.now() + 120_000;
    for (;;) {
      await follower.runOnce();
      if (operations !== undefined) {
        const expected = operations.filter((o) => o.result.commitTimestamp !== undefined).length;
        if (follower.processed.length >= expected || Date.now() > deadline) break;
        deadline = Math.min(deadline, Date.now() + 10_000);
      } else if (Date.now() > deadline) {
        break;
      }
      await sleep(5);
    }
    // A few more runs: anything appearing now behind the cursor would be a duplicate.
    for (let i = 0; i < 3; i++) await follower.runOnce();
    await writing;
    const ops = operations!;

    const failed = ops
      .filter((o) => !(o.kind === 'push' ? o.result.status === 201 : o.result.status >= 200 && o.result.status < 300))
      .map((o) => `${o.kind} ${o.id} ${o.version}: ${describeResponse(o.kind, '', o.result)}`);
    expect(failed, 'every operation succeeds').toEqual([]);
    expect(ops.filter((o) => o.kind !== 'push').length, 'unlists and relists in the mix').toBeGreaterThan(WRITERS);

    // Every commit the server reported, and every commit in the database, was seen exactly once.
    const seen = new Map<string, number>();
    for (const item of follower.processed) seen.set(item.commitId, (seen.get(item.commitId) ?? 0) + 1);
    const reportedMissing = ops
      .filter((o) => o.result.commitTimestamp !== undefined && !seen.has(o.result.headers.get('x-nucat-commit-id') ?? o.result.commitId ?? ''))
      .map((o) => `${o.kind} ${o.id} ${o.version} @ ${o.result.commitTimestamp}`);
    const committed = await db.query<{ commit_id: string }>('SELECT commit_id FROM catalog_commits WHERE feed_id = $1', [feedId]);
    const dbMissing = committed.rows.filter((r) => !seen.has(r.commit_id)).map((r) => r.commit_id);
    const duplicated = [...seen].filter(([, n]) => n > 1).map(([commit, n]) => `${commit} ×${n}`);
    expect(reportedMissing, `acknowledged but never seen by the cursor reader (${follower.runs} runs)`).toEqual([]);
    expect(dbMissing, 'committed but never seen by the cursor reader').toEqual([]);
    expect(duplicated, 'seen more than once').toEqual([]);
    expect(follower.processed.length).toBe(committed.rows.length);

    // One item per commit here, so the processed sequence is strictly increasing in commit time.
    const regressions: string[] = [];
    for (let i = 1; i < follower.processed.length; i++) {
      const [before, after] = [follower.processed[i - 1]!, follower.processed[i]!];
      if (timestampMs(after.commitTimeStamp) <= timestampMs(before.commitTimeStamp)) {
        regressions.push(`${before.commitTimeStamp} (${before['nuget:id']}) then ${after.commitTimeStamp} (${after['nuget:id']})`);
      }
    }
    expect(regressions, 'commit timestamps that did not strictly increase').toEqual([]);
    console.info(`#37 seed ${SEED}: ${ops.length} operations, ${follower.processed.length} events in ${follower.runs} reader runs`);
  });
});
