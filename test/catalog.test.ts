import { setTimeout as sleep } from 'node:timers/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildNupkg, type NupkgSpec } from '@nucat/testing';
import {
  type CatalogIndex,
  type CatalogPage,
  catalogIndexUrl,
  describeResponse,
  getJson,
  pushRaw,
  type PushResult,
  sha512Base64,
  timestampMs,
  CatalogFollower,
} from './support/feed.js';
import { useStack, withStackLogs } from './support/use-stack.js';

const stack = useStack();

/** Catalog timestamps: .NET round-trip format, 7 fraction digits, UTC. */
const TIMESTAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$/;

const SEED: NupkgSpec[] = [
  { id: 'Nucat.E2E.Catalog.Core', version: '1.0.0', tags: 'core seed' },
  { id: 'Nucat.E2E.Catalog.Core', version: '2.0.0-beta.1' },
  {
    id: 'Nucat.E2E.Catalog.App',
    version: '1.0.0',
    dependencies: [{ id: 'Nucat.E2E.Catalog.Core', range: '1.0.0', targetFramework: 'netstandard2.0' }],
  },
];
const seeded: { spec: NupkgSpec; bytes: Buffer; push: PushResult }[] = [];

function pushUrl(): string {
  return `${stack().publishUrl}/v3/package/`;
}

function typesOf(value: string | string[]): string[] {
  return Array.isArray(value) ? value : [value];
}

beforeAll(() =>
  withStackLogs(stack, async () => {
    for (const spec of SEED) {
      const bytes = buildNupkg(spec);
      const push = await pushRaw(stack(), bytes);
      if (push.status !== 201 && push.status !== 202) {
        throw new Error(`seeding the catalog failed: ${describeResponse('PUT', pushUrl(), push)}`);
      }
      seeded.push({ spec, bytes, push });
    }
  }),
);

async function readCatalog(): Promise<{ index: CatalogIndex; pages: CatalogPage[] }> {
  const index = await getJson<CatalogIndex>(await catalogIndexUrl(stack()));
  const pages = await Promise.all(index.items.map((p) => getJson<CatalogPage>(p['@id'])));
  return { index, pages };
}

describe('catalog documents', () => {
  it('links the index to pages that hold every pushed package', async () => {
    const indexUrl = await catalogIndexUrl(stack());
    const { index, pages } = await readCatalog();

    expect(index['@id']).toBe(indexUrl);
    expect(typesOf(index['@type'])).toContain('CatalogRoot');
    expect(index.count).toBe(index.items.length);
    expect(index.commitTimeStamp).toMatch(TIMESTAMP);
    for (const [i, ref] of index.items.entries()) {
      const page = pages[i]!;
      expect(ref['@type']).toBe('CatalogPage');
      expect(page['@id']).toBe(ref['@id']);
      expect(page.parent).toBe(indexUrl);
      expect(page.count).toBe(page.items.length);
      expect(ref.count).toBe(page.items.length);
      expect(page.commitTimeStamp).toBe(ref.commitTimeStamp);
      const newest = Math.max(...page.items.map((item) => timestampMs(item.commitTimeStamp)));
      expect(timestampMs(page.commitTimeStamp)).toBe(newest);
    }
    const allItems = pages.flatMap((p) => p.items);
    expect(timestampMs(index.commitTimeStamp)).toBe(Math.max(...allItems.map((i) => timestampMs(i.commitTimeStamp))));
    for (const { spec } of seeded) {
      const matches = allItems.filter(
        (i) => i['nuget:id'] === spec.id && i['nuget:version'] === spec.version,
      );
      expect(matches, `${spec.id} ${spec.version} in catalog pages`).toHaveLength(1);
    }
    for (const item of allItems) {
      // Page item @type is a plain string (NuGet.CatalogReader rejects arrays).
      expect(['nuget:PackageDetails', 'nuget:PackageDelete']).toContain(item['@type']);
      expect(item.commitTimeStamp).toMatch(TIMESTAMP);
      expect(item.commitId).toMatch(/^[0-9a-f-]{36}$/i);
    }
  });

  it('serves a PackageDetails leaf per push with identity, hash, size, entries and dependencies', async () => {
    const { pages } = await readCatalog();
    const allItems = pages.flatMap((p) => p.items);

    for (const { spec, bytes, push } of seeded) {
      const item = allItems.find((i) => i['nuget:id'] === spec.id && i['nuget:version'] === spec.version)!;
      const leaf = await getJson<Record<string, unknown>>(item['@id']);

      expect(leaf['@id']).toBe(item['@id']);
      expect(typesOf(leaf['@type'] as string | string[])).toEqual(
        expect.arrayContaining(['PackageDetails', 'catalog:Permalink']),
      );
      expect(leaf['catalog:commitId']).toBe(item.commitId);
      expect(leaf['catalog:commitTimeStamp']).toBe(item.commitTimeStamp);
      expect(item.commitId).toBe(push.commitId);
      expect(timestampMs(item.commitTimeStamp)).toBe(timestampMs(push.commitTimestamp ?? ''));
      expect(leaf).toMatchObject({
        id: spec.id,
        version: spec.version,
        verbatimVersion: spec.version,
        listed: true,
        isPrerelease: spec.version.includes('-'),
        packageHash: sha512Base64(bytes),
        packageHashAlgorithm: 'SHA512',
        packageSize: bytes.length,
        authors: 'nucat tests',
      });
      expect((leaf['@context'] as Record<string, unknown>)['@vocab']).toBe('http://schema.nuget.org/schema#');
      const entries = leaf['packageEntries'] as { fullName: string; length: number }[];
      expect(entries.map((e) => e.fullName)).toEqual(
        expect.arrayContaining([`${spec.id}.nuspec`, 'lib/netstandard2.0/_._']),
      );
    }

    const app = seeded.find((s) => s.spec.id === 'Nucat.E2E.Catalog.App')!;
    const appItem = allItems.find((i) => i['nuget:id'] === app.spec.id)!;
    const appLeaf = await getJson<{ dependencyGroups: { targetFramework?: string; dependencies: { id: string; range: string }[] }[] }>(
      appItem['@id'],
    );
    expect(appLeaf.dependencyGroups).toMatchObject([
      { targetFramework: 'netstandard2.0', dependencies: [{ id: 'Nucat.E2E.Catalog.Core', range: '[1.0.0, )' }] },
    ]);
    const core = seeded.find((s) => s.spec.version === '1.0.0' && s.spec.id === 'Nucat.E2E.Catalog.Core')!;
    const coreItem = allItems.find((i) => i['nuget:id'] === core.spec.id && i['nuget:version'] === '1.0.0')!;
    expect((await getJson<{ tags: string[] }>(coreItem['@id'])).tags).toEqual(['core', 'seed']);
  });
});

function key(id: string, version: string): string {
  return `${id.toLowerCase()}@${version.toLowerCase()}`;
}

describe('catalog under concurrent pushes', () => {
  it('lets a cursor reader see each of 40 concurrent pushes exactly once, in strictly increasing commit order', async () => {
    const reader = await CatalogFollower.of(stack());
    await reader.runOnce();

    // 10 ids × 4 versions, all in flight at once, while the reader polls.
    const specs: NupkgSpec[] = Array.from({ length: 40 }, (_, i) => ({
      id: `Nucat.E2E.Burst${i % 10}`,
      version: `1.0.${Math.floor(i / 10)}`,
    }));
    let results: PushResult[] | undefined;
    const pushes = Promise.all(specs.map((spec) => pushRaw(stack(), buildNupkg(spec)))).then((r) => (results = r));
    pushes.catch(() => {});
    const accepted = (): Set<string> =>
      new Set(
        specs.filter((_, i) => results![i]!.status === 201 || results![i]!.status === 202).map((s) => key(s.id, s.version)),
      );
    const seen = (keys: Set<string>): number =>
      reader.processed.filter((i) => keys.has(key(i['nuget:id'], i['nuget:version']))).length;
    // A 201/202 means the commit is durable, so once every push has answered, everything accepted must be
    // readable soon; an item still missing after that grace period was skipped by the cursor for good.
    let deadline = Date.now() + 120_000;
    while (Date.now() < deadline) {
      await reader.runOnce();
      if (results !== undefined) {
        if (seen(accepted()) >= accepted().size) break;
        deadline = Math.min(deadline, Date.now() + 10_000);
      }
      await sleep(5);
    }
    // A couple more runs: anything appearing now behind the cursor would be a duplicate or a lost event.
    await reader.runOnce();
    await reader.runOnce();

    await pushes;
    const wanted = new Set(specs.map((s) => key(s.id, s.version)));
    const failed = results!
      .map((r, i) => ({ r, spec: specs[i]! }))
      .filter(({ r }) => r.status !== 201 && r.status !== 202)
      .map(({ r, spec }) => `${spec.id} ${spec.version}: ${describeResponse('PUT', pushUrl(), r)}`);
    expect(failed, 'every concurrent push succeeds').toEqual([]);

    const counts = new Map<string, number>();
    for (const item of reader.processed) {
      const k = key(item['nuget:id'], item['nuget:version']);
      counts.set(k, (counts.get(k) ?? 0) + 1);
    }
    const missing = [...wanted].filter((k) => !counts.has(k));
    const duplicated = [...counts].filter(([, n]) => n > 1).map(([k, n]) => `${k} ×${n}`);
    expect(missing, `pushed but never seen by the cursor reader (${reader.runs} runs)`).toEqual([]);
    expect(duplicated, 'seen more than once by the cursor reader').toEqual([]);

    // Every push is its own commit: timestamps strictly increase along the processed sequence.
    const regressions: string[] = [];
    for (let i = 1; i < reader.processed.length; i++) {
      const before = reader.processed[i - 1]!;
      const after = reader.processed[i]!;
      if (before.commitId !== after.commitId && timestampMs(after.commitTimeStamp) <= timestampMs(before.commitTimeStamp)) {
        regressions.push(`${before.commitTimeStamp} (${before['nuget:id']}) then ${after.commitTimeStamp} (${after['nuget:id']})`);
      }
    }
    expect(regressions, 'commit timestamps that did not strictly increase').toEqual([]);

    // The push responses name the same commits the catalog shows, each at a distinct millisecond.
    const byKey = new Map(reader.processed.map((i) => [key(i['nuget:id'], i['nuget:version']), i]));
    for (const [i, result] of results!.entries()) {
      const item = byKey.get(key(specs[i]!.id, specs[i]!.version))!;
      expect(result.commitId).toBe(item.commitId);
      expect(timestampMs(result.commitTimestamp ?? '')).toBe(timestampMs(item.commitTimeStamp));
    }
    expect(new Set(results!.map((r) => timestampMs(r.commitTimestamp ?? ''))).size).toBe(40);
  });
});
