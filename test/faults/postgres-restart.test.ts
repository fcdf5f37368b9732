/**
 * reliability.md §2 #38 and promise P1: PostgreSQL crashes and restarts while clients push. A client sees
 * 201, 503 with `Retry-After` (then retries), or — when a commit happened but its answer was lost — 409 on the
 * retry; never a 500, and never a 201 for a package that is missing afterwards. The stack runs on a private
 * PostgreSQL cluster that is crashed twice: `pg_ctl restart -m immediate`, then an immediate stop with two
 * seconds of downtime before it starts again.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { buildNupkg, waitFor } from '@nucat/testing';
import { catalogItemsOf, lastCommitTimestamp, packageRowExists, useFaultRig } from '../support/faults.js';
import { pushRaw, readFlatVersions } from '../support/feed.js';
import { RESTORE_PROJECTIONS } from '../support/stack.js';

const rig = useFaultRig({ privatePostgres: true });

const WRITERS = 8;
/** A package a writer keeps retrying gives up after this long (then the test fails). */
const RETRY_FOR_MS = 30_000;

/** What happened to one package, attempt by attempt. */
interface PackageLog {
  id: string;
  version: string;
  /** Status per attempt ('network error: …' when the request itself failed). */
  attempts: (number | string)[];
  /** 201, or 409 after an attempt whose outcome was unknown (503 or network error). */
  final?: 201 | 409;
}

/** Problems seen on the wire: anything but 201, 409-on-retry, or 503 with Retry-After. */
const violations: string[] = [];

async function pushUntilDecided(id: string, version: string): Promise<PackageLog> {
  const { stack } = rig();
  const nupkg = buildNupkg({ id, version });
  const log: PackageLog = { id, version, attempts: [] };
  const giveUpAt = Date.now() + RETRY_FOR_MS;
  while (Date.now() < giveUpAt) {
    let status: number;
    try {
      const result = await pushRaw(stack, nupkg);
      status = result.status;
      log.attempts.push(status);
      if (status === 201) {
        log.final = 201;
        return log;
      }
      if (status === 409) {
        if (log.attempts.length === 1) violations.push(`${id} ${version}: 409 on the first attempt: ${result.text}`);
        log.final = 409;
        return log;
      }
      if (status === 503) {
        if (!result.headers.get('retry-after')) violations.push(`${id} ${version}: 503 without Retry-After`);
      } else {
        violations.push(`${id} ${version}: ${status} ${result.text.slice(0, 300)}`);
        return log;
      }
    } catch (error) {
      // The publish-api must stay up; a failed request is a violation, but the retry still tells us the outcome.
      log.attempts.push(`network error: ${String(error)}`);
      violations.push(`${id} ${version}: request failed: ${String(error)}`);
    }
    await sleep(250); // a client honours Retry-After; the test keeps it short
  }
  violations.push(`${id} ${version}: still undecided after ${RETRY_FOR_MS} ms (${log.attempts.join(', ')})`);
  return log;
}

describe('PostgreSQL restarted during pushes', () => {
  it('#38 pushes during two PostgreSQL crashes get 201, 503 + Retry-After or 409 on retry; never 500, never a lost 201', async () => {
    const { stack, postgres, db, feedId } = rig();
    const logs: PackageLog[] = [];
    let writing = true;
    const writers = Array.from({ length: WRITERS }, async (_, w) => {
      for (let n = 0; writing; n++) logs.push(await pushUntilDecided(`Nucat.Fault.Pg.W${w}`, `1.0.${n}`));
    });
    const accepted = () => logs.filter((l) => l.final === 201).length;
    const acceptedReaches = (n: number) =>
      waitFor(() => accepted() >= n, { what: `${n} pushes answered 201 (violations so far: ${violations.join('; ')})`, timeoutMs: 60_000, intervalMs: 20 });

    try {
      // Some pushes go through, then the first crash: immediate restart (crash recovery on start).
      await acceptedReaches(10);
      await postgres!.restart();
      await acceptedReaches(accepted() + 10);
      // The second crash stays down for a while: connections are refused, requests must answer 503.
      await postgres!.kill();
      await sleep(2_000);
      await postgres!.start();
      await acceptedReaches(accepted() + 10);
    } finally {
      writing = false;
      await Promise.all(writers);
    }

    const statuses = logs.flatMap((l) => l.attempts);
    const count = (s: number | string) => statuses.filter((x) => x === s).length;
    console.info(
      `#38 ${logs.length} packages: ${count(201)}×201, ${count(503)}×503, ${count(409)}×409 (on retry), ` +
        `${statuses.filter((s) => typeof s === 'string').length} network errors`,
    );
    expect(violations, 'answers a client must never get').toEqual([]);
    expect(count(503), 'the outage was seen by clients (as 503)').toBeGreaterThan(0);

    // Every 201 (and every 409 after an unanswered attempt) is durable: one packages row, exactly one catalog item.
    const problems: string[] = [];
    for (const log of logs) {
      const lowerId = log.id.toLowerCase();
      if (!(await packageRowExists(db, feedId, lowerId, log.version))) problems.push(`${log.id} ${log.version} (${log.final}): no packages row`);
      const items = await catalogItemsOf(db, feedId, lowerId, log.version);
      if (items.length !== 1) problems.push(`${log.id} ${log.version} (${log.final}): ${items.length} catalog items`);
    }
    expect(problems, 'acknowledged pushes missing or duplicated after the restarts').toEqual([]);

    // The worker lived through both crashes and projects everything.
    await stack.waitForProjection((await lastCommitTimestamp(db, feedId)).toISOString(), RESTORE_PROJECTIONS, 60_000);
    for (let w = 0; w < WRITERS; w++) {
      const id = `Nucat.Fault.Pg.W${w}`;
      const versions = logs.filter((l) => l.id === id).map((l) => l.version);
      expect(await readFlatVersions(stack, id), `flat container of ${id}`).toEqual(versions);
    }
  });
});
