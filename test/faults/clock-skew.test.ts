/**
 * reliability.md §2 #40: clock skew, and a clock moving backwards, on API nodes. Next to the stack's own
 * publish-api, two more publish-api processes run on the same database with their JavaScript clocks shifted by
 * a preload (`support/clock-offset.mjs`): one 3 h ahead, one 3 h behind; mid-test their clocks jump (8 h back,
 * 5 h forward). Pushes, an unlist and a relist go round-robin through the three nodes.
 *
 * Ordering and every timestamp a client sees come from the database clock: each commit timestamp lies between
 * two readings of PostgreSQL's clock taken just before and just after the request, the sequence is strictly
 * increasing in the order the operations happened, and the catalog leaves' `created` / `published` /
 * `lastEdited`, the registration leaves and the `packages` row carry those same database times.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildNupkg, freePort } from '@nucat/testing';
import { useFaultRig } from '../support/faults.js';
import {
  describeResponse,
  getJson,
  pushRaw,
  readAllCatalogItems,
  readRegistrationLeaves,
  relistRaw,
  timestampMs,
  unlistRaw,
  type Feed,
  type PushResult,
} from '../support/feed.js';
import { REPO_ROOT } from '../support/stack.js';

const rig = useFaultRig();

const HOUR = 3_600_000;
const PRELOAD = pathToFileURL(join(REPO_ROOT, 'test', 'support', 'clock-offset.mjs')).href;

/** A publish-api node: its feed handle and, for a skewed one, the file holding its clock offset. */
interface Node {
  name: string;
  feed: Feed;
  clockFile?: string;
}

let clockDir: string;
const nodes: Record<'true' | 'ahead' | 'behind', Node> = {} as never;

beforeAll(async () => {
  const { stack } = rig();
  clockDir = await mkdtemp(join(tmpdir(), 'nucat-clock-'));
  nodes.true = { name: 'true clock', feed: stack };
  for (const [name, offset] of [['ahead', 3 * HOUR], ['behind', -3 * HOUR]] as const) {
    const clockFile = join(clockDir, `${name}.txt`);
    await writeFile(clockFile, String(offset));
    const copy = await stack.startCopy('publish-api', {
      env: { NUCAT_PUBLISH_PORT: String(await freePort()), NODE_OPTIONS: `--import=${PRELOAD}`, NUCAT_TEST_CLOCK_FILE: clockFile },
    });
    nodes[name] = { name, clockFile, feed: { serviceIndexUrl: stack.serviceIndexUrl, apiKey: stack.apiKey, publishUrl: copy.url! } };
  }
});

afterAll(async () => {
  if (clockDir) await rm(clockDir, { recursive: true, force: true });
});

/** PostgreSQL's clock, in epoch ms. */
async function databaseNow(): Promise<number> {
  const result = await rig().db.query<{ now: Date }>('SELECT clock_timestamp() AS now');
  return result.rows[0]!.now.getTime();
}

/** What one operation did: its commit timestamp and the database clock around it. */
interface Step {
  what: string;
  node: string;
  /** Epoch ms of the commit timestamp the server reported. */
  commit: number;
  /** The commit timestamp text (7 fraction digits). */
  commitText: string;
  dbBefore: number;
  dbAfter: number;
}

const steps: Step[] = [];

async function step(what: string, node: Node, run: (feed: Feed) => Promise<PushResult>, expectedStatus: number): Promise<Step> {
  const dbBefore = await databaseNow();
  const result = await run(node.feed);
  const dbAfter = await databaseNow();
  expect(result.status, describeResponse(what, node.name, result)).toBe(expectedStatus);
  expect(result.commitTimestamp, `${what}: X-Nucat-Commit-Timestamp`).toBeDefined();
  const done = { what, node: node.name, commit: timestampMs(result.commitTimestamp!), commitText: result.commitTimestamp!, dbBefore, dbAfter };
  steps.push(done);
  return done;
}

/** The JSON log lines one publish-api copy printed, by its port. */
function loggedTimesOf(port: string): number[] {
  return rig()
    .stack.logs()
    .split('\n')
    .filter((line) => line.includes('"msg":"publish-api listening"') && line.includes(`"port":${port}`))
    .map((line) => (JSON.parse(line) as { time: number }).time);
}

describe('publish-api nodes with skewed clocks', () => {
  it('#40 clock skew: the skewed nodes really run 3 h ahead and 3 h behind (their own log times)', () => {
    const now = Date.now();
    for (const [name, offset] of [['ahead', 3 * HOUR], ['behind', -3 * HOUR]] as const) {
      const port = new URL(nodes[name].feed.publishUrl).port;
      const times = loggedTimesOf(port);
      expect(times, `${name}: "publish-api listening" logged`).toHaveLength(1);
      // Logged a moment ago by a clock `offset` away from ours: the difference is within a few minutes of it.
      expect(Math.abs(times[0]! - now - offset), `${name}: logged time − real time − offset (ms)`).toBeLessThan(10 * 60_000);
    }
  });

  it('#40 clock skew: commits through nodes 3 h ahead, 3 h behind and stepping back 8 h get strictly increasing database times', async () => {
    const id = 'Nucat.Fault.Clock';
    const other = 'Nucat.Fault.Clock.Other';
    const push = (packageId: string, version: string) => (feed: Feed) => pushRaw(feed, buildNupkg({ id: packageId, version }));

    await step(`push ${id} 1.0.0`, nodes.true, push(id, '1.0.0'), 201);
    await step(`push ${id} 1.0.1`, nodes.ahead, push(id, '1.0.1'), 201);
    await step(`push ${id} 1.0.2`, nodes.behind, push(id, '1.0.2'), 201);
    // The node 3 h ahead steps back to 5 h behind: its clock moves backwards by 8 h between two of its pushes.
    await writeFile(nodes.ahead.clockFile!, String(-5 * HOUR));
    await step(`push ${other} 1.0.0`, nodes.ahead, push(other, '1.0.0'), 201);
    await step(`unlist ${id} 1.0.1`, nodes.behind, (feed) => unlistRaw(feed, id, '1.0.1'), 204);
    // …and the node 3 h behind jumps to 2 h ahead.
    await writeFile(nodes.behind.clockFile!, String(2 * HOUR));
    await step(`relist ${id} 1.0.1`, nodes.ahead, (feed) => relistRaw(feed, id, '1.0.1'), 200);
    await step(`push ${other} 1.0.1`, nodes.behind, push(other, '1.0.1'), 201);
    await step(`push ${other} 1.0.2`, nodes.true, push(other, '1.0.2'), 201);

    const outside = steps
      .filter((s) => s.commit < Math.floor(s.dbBefore) || s.commit > s.dbAfter)
      .map((s) => `${s.what} via ${s.node}: ${s.commitText} not within database clock [${new Date(s.dbBefore).toISOString()}, ${new Date(s.dbAfter).toISOString()}]`);
    expect(outside, 'commit timestamps outside the database clock readings around their request').toEqual([]);
    const backwards = steps.slice(1).filter((s, i) => s.commit <= steps[i]!.commit).map((s, i) => `${steps[i]!.what} (${steps[i]!.commitText}) then ${s.what} (${s.commitText})`);
    expect(backwards, 'commit timestamps that did not strictly increase').toEqual([]);
  });

  it('#40 clock skew: catalog leaves, registration and the packages row show those database times', async () => {
    expect(steps, 'the previous test recorded its steps').toHaveLength(8);
    const { stack, db, feedId } = rig();
    const at = (what: string) => steps.find((s) => s.what === what)!;
    await stack.waitForProjection(steps.at(-1)!.commitText);

    // Catalog: each leaf's commit time is the step's; created/published/lastEdited are database times of the right step.
    type Leaf = { 'catalog:commitTimeStamp': string; created: string; published: string; lastEdited?: string; listed?: boolean; version: string };
    const items = (await readAllCatalogItems(stack)).filter((i) => i['nuget:id'].startsWith('Nucat.Fault.Clock'));
    expect(items.map((i) => timestampMs(i.commitTimeStamp))).toEqual(steps.map((s) => s.commit));
    const leaves = await Promise.all(items.map((i) => getJson<Leaf>(i['@id'])));
    const problems: string[] = [];
    leaves.forEach((leaf, n) => {
      const s = steps[n]!;
      const check = (field: string, value: string | undefined, expected: number) => {
        if (value === undefined) return;
        if (timestampMs(value) !== expected) problems.push(`${s.what}: ${field} ${value}, expected ${new Date(expected).toISOString()}`);
      };
      check('catalog:commitTimeStamp', leaf['catalog:commitTimeStamp'], s.commit);
      check('lastEdited', leaf.lastEdited, s.commit);
      const pushedAt = at(s.what.startsWith('push') ? s.what : `push Nucat.Fault.Clock ${leaf.version}`).commit;
      check('created', leaf.created, pushedAt);
      if (s.what.startsWith('unlist')) {
        if (!leaf.published.startsWith('1900-01-01')) problems.push(`${s.what}: published ${leaf.published}, expected 1900-01-01 (unlisted)`);
      } else {
        check('published', leaf.published, s.commit);
      }
    });
    expect(problems, 'catalog leaf timestamps that are not the database time of their operation').toEqual([]);

    // Registration: published per version is the push time, or the relist time for 1.0.1.
    const registration = await readRegistrationLeaves(stack, 'Nucat.Fault.Clock');
    expect(
      Object.fromEntries((registration ?? []).map((l) => [l.catalogEntry.version, timestampMs(String(l.catalogEntry['published']))])),
    ).toEqual({
      '1.0.0': at('push Nucat.Fault.Clock 1.0.0').commit,
      '1.0.1': at('relist Nucat.Fault.Clock 1.0.1').commit,
      '1.0.2': at('push Nucat.Fault.Clock 1.0.2').commit,
    });

    // The packages rows: created = the push, last_commit_timestamp = the version's last change.
    const rows = await db.query<{ lower_id: string; lower_version: string; created: Date; last_commit_timestamp: Date }>(
      `SELECT lower_id, lower_version, created, last_commit_timestamp FROM packages WHERE feed_id = $1 AND lower_id LIKE 'nucat.fault.clock%' ORDER BY lower_id, lower_version`,
      [feedId],
    );
    const expected = [
      ['nucat.fault.clock', '1.0.0', 'push Nucat.Fault.Clock 1.0.0', 'push Nucat.Fault.Clock 1.0.0'],
      ['nucat.fault.clock', '1.0.1', 'push Nucat.Fault.Clock 1.0.1', 'relist Nucat.Fault.Clock 1.0.1'],
      ['nucat.fault.clock', '1.0.2', 'push Nucat.Fault.Clock 1.0.2', 'push Nucat.Fault.Clock 1.0.2'],
      ['nucat.fault.clock.other', '1.0.0', 'push Nucat.Fault.Clock.Other 1.0.0', 'push Nucat.Fault.Clock.Other 1.0.0'],
      ['nucat.fault.clock.other', '1.0.1', 'push Nucat.Fault.Clock.Other 1.0.1', 'push Nucat.Fault.Clock.Other 1.0.1'],
      ['nucat.fault.clock.other', '1.0.2', 'push Nucat.Fault.Clock.Other 1.0.2', 'push Nucat.Fault.Clock.Other 1.0.2'],
    ].map(([lowerId, version, created, last]) => ({ lowerId, version, created: at(created!).commit, last: at(last!).commit }));
    expect(rows.rows.map((r) => ({ lowerId: r.lower_id, version: r.lower_version, created: r.created.getTime(), last: r.last_commit_timestamp.getTime() }))).toEqual(expected);
  });
});
