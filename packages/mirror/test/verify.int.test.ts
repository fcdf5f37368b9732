/**
 * verifyFeeds over HTTP only, between two recorded gallery-format feeds (gallery-fixture.ts): the
 * same recording published to different points, and one serving other bytes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatFeedDifference, verifyFeeds } from '../src/index.js';
import { startRecordedFeed, type RecordedCommit, type RecordedFeed } from './gallery-fixture.js';

const COMMITS: RecordedCommit[] = [
  { commitTimeStamp: '2024-01-02T03:04:05.1234567Z', page: 0, items: [{ type: 'PackageDetails', lowerId: 'xunit.abstractions', version: '2.0.3', listed: true }] },
  { commitTimeStamp: '2024-01-02T03:04:05.1234568Z', page: 0, items: [{ type: 'PackageDetails', lowerId: 'xunit.assert', version: '2.9.3', listed: true }] },
  { commitTimeStamp: '2024-01-02T04:00:00.5000000Z', page: 0, items: [{ type: 'PackageDetails', lowerId: 'newtonsoft.json', version: '13.0.3', listed: true }] },
  { commitTimeStamp: '2024-01-03T10:00:00.2500001Z', page: 1, items: [{ type: 'PackageDetails', lowerId: 'xunit.assert', version: '2.9.3', listed: false }] },
  { commitTimeStamp: '2024-01-04T09:30:00.0000001Z', page: 1, items: [{ type: 'PackageDelete', lowerId: 'newtonsoft.json', version: '13.0.3' }] },
  { commitTimeStamp: '2024-01-05T00:00:00.9999999Z', page: 1, items: [{ type: 'PackageDetails', lowerId: 'xunit.core', version: '2.9.3', listed: true }] },
];

let a: RecordedFeed;
let b: RecordedFeed;

beforeAll(async () => {
  [a, b] = await Promise.all([startRecordedFeed(COMMITS), startRecordedFeed(COMMITS)]);
  a.publish(COMMITS.length);
});

afterAll(async () => {
  await Promise.all([a?.close(), b?.close()]);
});

describe('verifyFeeds', () => {
  it('finds no difference between two feeds in the same state', async () => {
    b.publish(COMMITS.length);
    const result = await verifyFeeds({ source: a.serviceIndexUrl, target: b.serviceIndexUrl });
    expect(result).toEqual({ ids: 4, versions: 3, differences: [] });
  });

  it('lists missing, extra, different-bytes and different-listed versions, one line each', async () => {
    b.publish(3); // before the unlist, the delete and xunit.core
    b.corrupt('xunit.abstractions', '2.0.3', b.bytesOf('xunit.assert', '2.9.3'));
    try {
      const result = await verifyFeeds({ source: a.serviceIndexUrl, target: b.serviceIndexUrl });
      expect(result.differences.map(formatFeedDifference)).toEqual([
        'extra Newtonsoft.Json 13.0.3: in the target, not in the source',
        expect.stringMatching(/^different-bytes xunit\.abstractions 2\.0\.3: source sha512 \S+, target sha512 \S+$/),
        'different-listed xunit.assert 2.9.3: source unlisted, target listed',
        'missing xunit.core 2.9.3: in the source, not in the target',
      ]);
    } finally {
      b.corrupt('xunit.abstractions', '2.0.3', undefined);
    }
  });

  it('compares only the ids the globs allow', async () => {
    b.publish(3);
    const result = await verifyFeeds({ source: a.serviceIndexUrl, target: b.serviceIndexUrl, idGlobs: ['xunit.a*'] });
    expect(result.ids).toBe(2);
    expect(result.differences.map((d) => `${d.kind} ${d.id}`)).toEqual(['different-listed xunit.assert']);
  });
});
