/**
 * Replication: two nucat instances on loopback, each with its own database, Redis prefix and data
 * folder. The replica is fed only by `nucat mirror --source <primary>`. After pushes, unlists,
 * relists and hard deletes on the primary, the replica converges: for every id the flat container
 * versions, the .nupkg bytes, the registration listed state and the search results agree,
 * `nucat verify` exits 0 (and 1, naming the difference, before), and `dotnet restore` works against
 * the replica alone. The mirror's throughput is printed.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildNupkg, waitFor } from '@nucat/testing';
import { createConsumerProject, dotnetRestore, makeScratchDir, readResolvedPackages, removeDotnetScratch } from './support/dotnet.js';
import {
  type CatalogIndex,
  type Feed,
  catalogIndexUrl,
  flatNupkgUrl,
  getJson,
  pushRaw,
  readAllCatalogItems,
  readFlatVersions,
  readRegistrationLeaves,
  relistRaw,
  request,
  sha512Base64,
  unlistRaw,
} from './support/feed.js';
import { MACHINE_PACKAGES_ROOT, listMachinePackages } from './support/machine-packages.js';
import { startStack, type CommandResult, type Stack } from './support/stack.js';

let primary: Stack;
let replica: Stack;

beforeAll(async () => {
  [primary, replica] = await Promise.all([startStack(), startStack()]);
});

afterAll(async () => {
  try {
    await Promise.all([primary?.stop(), replica?.stop()]);
  } finally {
    await removeDotnetScratch();
  }
});

beforeEach(({ onTestFailed }) => {
  onTestFailed(() => {
    if (primary) console.error(`\n----- primary (most recent lines) -----\n${primary.logs()}\n`);
    if (replica) console.error(`\n----- replica (most recent lines) -----\n${replica.logs()}\n`);
  });
});

/** Generated packages pushed next to the machine's real ones. */
const GENERATED = [
  { id: 'Nucat.Replica.A', version: '1.0.0' },
  { id: 'Nucat.Replica.A', version: '1.1.0' },
  { id: 'Nucat.Replica.A', version: '2.0.0-beta.1+build.7' },
  { id: 'Nucat.Replica.B', version: '1.0.0' },
  { id: 'Nucat.Replica.Gone', version: '1.0.0' },
  { id: 'Nucat.Replica.Gone', version: '2.0.0' },
  { id: 'Nucat.Replica.Vanished', version: '1.0.0' },
];

/** Waits until `stack`'s projections (search included) have projected its whole catalog. */
async function waitForAllProjections(stack: Stack): Promise<void> {
  const index = await getJson<CatalogIndex>(await catalogIndexUrl(stack));
  if (index.count === 0) return;
  await stack.waitForProjection(index.commitTimeStamp, ['flatcontainer', 'registration', 'search'], 120_000);
}

function expectOk(result: CommandResult, what: string): void {
  expect(result.code, `${what} exited ${result.code}\n--- stdout ---\n${result.stdout}\n--- stderr ---\n${result.stderr}`).toBe(0);
}

/** Every id named in a feed's catalog, as written there (latest casing). */
async function catalogIds(feed: Pick<Feed, 'serviceIndexUrl'>): Promise<string[]> {
  const ids = new Map<string, string>();
  for (const item of await readAllCatalogItems(feed)) ids.set(item['nuget:id'].toLowerCase(), item['nuget:id']);
  return [...ids.values()].sort();
}

interface IdView {
  versions: string[] | undefined;
  hashes: Record<string, string>;
  listed: Record<string, boolean> | undefined;
}

/** What a client sees of an id: flat versions, each .nupkg's SHA-512, registration listed states. */
async function viewOf(stack: Stack, id: string): Promise<IdView> {
  const versions = await readFlatVersions(stack, id);
  const hashes: Record<string, string> = {};
  for (const version of versions ?? []) {
    const response = await fetch(await flatNupkgUrl(stack, id, version));
    expect(response.status, `${id} ${version} nupkg`).toBe(200);
    hashes[version] = sha512Base64(Buffer.from(await response.arrayBuffer()));
  }
  const leaves = await readRegistrationLeaves(stack, id);
  const listed = leaves && Object.fromEntries(leaves.map((l) => [l.catalogEntry.version.toLowerCase().split('+')[0]!, l.catalogEntry.listed ?? true]));
  return { versions, hashes, listed };
}

interface SearchView {
  totalHits: number;
  data: { id: string; version: string; versions: string[] }[];
}

/** Search results without the parts that differ by host (URLs) or by traffic (download counts). */
async function searchOf(stack: Stack, query: string): Promise<SearchView> {
  const response = await getJson<{ totalHits: number; data: { id: string; version: string; versions: { version: string }[] }[] }>(
    `${stack.publicUrl}/v3/query?${query}`,
  );
  return {
    totalHits: response.totalHits,
    data: response.data.map((d) => ({ id: d.id, version: d.version, versions: d.versions.map((v) => v.version) })).sort((a, b) => a.id.localeCompare(b.id)),
  };
}

/** Asserts that the replica shows every id of the primary exactly as the primary does. */
async function expectConverged(): Promise<void> {
  // The replica's catalog may lack ids the primary pushed and deleted before the mirror saw them.
  const ids = [...new Set([...(await catalogIds(primary)), ...(await catalogIds(replica))])];
  expect(ids.length).toBeGreaterThan(GENERATED.length);
  for (const id of ids) {
    const [a, b] = await Promise.all([viewOf(primary, id), viewOf(replica, id)]);
    expect(b, id).toEqual(a);
  }
  for (const query of ['q=&take=100&prerelease=true&semVerLevel=2.0.0', 'q=&take=100', 'q=xunit&take=100&prerelease=true', 'q=Nucat.Replica&take=100&prerelease=true&semVerLevel=2.0.0']) {
    expect(await searchOf(replica, query), query).toEqual(await searchOf(primary, query));
  }
}

/** Runs `nucat mirror` on the replica, prints its summary, returns its output. */
async function mirrorReplica(): Promise<CommandResult> {
  const result = await replica.cli(['mirror', '--source', primary.serviceIndexUrl, '--concurrency', '8']);
  expectOk(result, 'nucat mirror');
  console.log(`[replication] nucat mirror --source <primary> --concurrency 8\n${result.stderr.trim()}`);
  return result;
}

describe('a replica fed by nucat mirror', () => {
  let machineCount = 0;

  it('takes pushes, unlists, relists and hard deletes on the primary', async () => {
    const machine = await listMachinePackages();
    expect(machine.length, `no packages under ${MACHINE_PACKAGES_ROOT}`).toBeGreaterThan(0);
    machineCount = machine.length;
    for (const pkg of machine) {
      const push = await pushRaw(primary, await readFile(pkg.path));
      expect(push.status, `${pkg.id} ${pkg.version}: ${push.text}`).toBe(201);
    }
    for (const spec of GENERATED) {
      const push = await pushRaw(primary, buildNupkg({ ...spec, description: `Replication test package ${spec.id}.` }));
      expect(push.status, `${spec.id} ${spec.version}: ${push.text}`).toBe(201);
    }
    expect((await unlistRaw(primary, 'Nucat.Replica.A', '1.1.0')).status).toBe(204);
    expect((await unlistRaw(primary, 'Nucat.Replica.B', '1.0.0')).status).toBe(204);
    expect((await relistRaw(primary, 'Nucat.Replica.B', '1.0.0')).status).toBe(200);
    expectOk(await primary.cli(['delete', 'Nucat.Replica.Gone', '1.0.0']), 'nucat delete');
    expectOk(await primary.cli(['delete', 'nucat.replica.vanished', '1.0']), 'nucat delete');
    await waitForAllProjections(primary);

    expect(await readFlatVersions(primary, 'Nucat.Replica.Gone')).toEqual(['2.0.0']);
    expect(await readFlatVersions(primary, 'Nucat.Replica.Vanished')).toBeUndefined();
    // A deleted version can never be pushed again.
    const again = await pushRaw(primary, buildNupkg({ id: 'Nucat.Replica.Gone', version: '1.0.0', description: 'Replication test package Nucat.Replica.Gone.' }));
    expect(again.status).toBe(409);
  });

  it('nucat verify lists the differences and exits 1 before mirroring', async () => {
    const result = await replica.cli(['verify', '--source', primary.serviceIndexUrl, '--target', replica.serviceIndexUrl]);
    expect(result.code, result.stderr).toBe(1);
    const lines = result.stdout.trim().split('\n');
    expect(lines).toContain('missing Nucat.Replica.A 1.0.0: in the source, not in the target');
    expect(lines).toContain('missing Nucat.Replica.Gone 2.0.0: in the source, not in the target');
    expect(lines.some((l) => l.includes('Vanished'))).toBe(false);
    expect(lines).toHaveLength(machineCount + GENERATED.length - 2);
  });

  it('converges after nucat mirror: flat versions, bytes, listed state, search', async () => {
    const result = await mirrorReplica();
    expect(result.stderr).toMatch(/mirror: caught up at /);
    await waitForAllProjections(replica);

    await expectConverged();
    expect((await viewOf(replica, 'Nucat.Replica.A')).listed).toEqual({ '1.0.0': true, '1.1.0': false, '2.0.0-beta.1': true });
    expect(await readFlatVersions(replica, 'Nucat.Replica.Vanished')).toBeUndefined();
  });

  it('nucat verify exits 0 once the replica has caught up', async () => {
    const result = await replica.cli(['verify', '--source', primary.serviceIndexUrl, '--target', replica.serviceIndexUrl]);
    expect(result.stdout).toBe('');
    expectOk(result, 'nucat verify');
    expect(result.stderr).toMatch(/the feeds agree/);
  });

  it('nucat verify names a listed-state difference, and the next mirror run fixes it', async () => {
    expect((await unlistRaw(primary, 'Nucat.Replica.A', '1.0.0')).status).toBe(204);
    await waitForAllProjections(primary);

    const before = await replica.cli(['verify', '--source', primary.serviceIndexUrl, '--target', replica.serviceIndexUrl, '--ids', 'Nucat.Replica.*']);
    expect(before.code, before.stderr).toBe(1);
    expect(before.stdout).toBe('different-listed Nucat.Replica.A 1.0.0: source unlisted, target listed\n');

    const second = await mirrorReplica();
    expect(second.stderr).toMatch(/1 items \(1 applied/);
    await waitForAllProjections(replica);
    await expectConverged();
    expectOk(await replica.cli(['verify', '--source', primary.serviceIndexUrl, '--target', replica.serviceIndexUrl]), 'nucat verify');
  });

  it('mirrors nothing more when run again (idempotent)', async () => {
    const again = await mirrorReplica();
    expect(again.stderr).toMatch(/0 items \(0 applied/);
  });

  it('serves dotnet restore from the replica alone', async () => {
    const dir = await makeScratchDir('replica-restore');
    await createConsumerProject({
      dir,
      references: [
        { id: 'Newtonsoft.Json', version: '13.0.3' },
        { id: 'Nucat.Replica.B', version: '1.0.0' },
        { id: 'Nucat.Replica.A', version: '1.1.0' },
      ],
      source: replica.serviceIndexUrl,
    });
    await dotnetRestore(dir, { noCache: true });
    const resolved = await readResolvedPackages(dir);
    expect(resolved.get('newtonsoft.json')).toBe('13.0.3');
    expect(resolved.get('nucat.replica.b')).toBe('1.0.0');
    expect(resolved.get('nucat.replica.a')).toBe('1.1.0');
    expect(await readdir(join(dir, 'obj'))).toContain('project.assets.json');
  });

  it('answers 404 on the replica for deleted versions, as the primary does', async () => {
    for (const stack of [primary, replica]) {
      const url = await flatNupkgUrl(stack, 'Nucat.Replica.Gone', '1.0.0');
      expect((await request(url)).status, url).toBe(404);
    }
  });
});

describe('a worker that follows the primary (NUCAT_MIRROR_SOURCE)', () => {
  it('replicates new pushes and unlists without anyone running nucat mirror', async () => {
    const follower = await startStack({ env: { NUCAT_MIRROR_SOURCE: primary.serviceIndexUrl, NUCAT_MIRROR_INTERVAL_MS: '250' } });
    try {
      const feed = { serviceIndexUrl: primary.serviceIndexUrl, publishUrl: primary.publishUrl, apiKey: primary.apiKey };
      const pushed = await pushRaw(feed, buildNupkg({ id: 'Nucat.Replica.Followed', version: '3.0.0', description: 'followed' }));
      expect(pushed.status, pushed.text).toBe(201);
      await waitFor(async () => (await readFlatVersions(follower, 'Nucat.Replica.Followed'))?.includes('3.0.0') === true, {
        timeoutMs: 60_000,
        intervalMs: 200,
        what: 'the follower to serve Nucat.Replica.Followed 3.0.0',
      });
      const unlisted = await request(`${primary.publishUrl}/v3/package/Nucat.Replica.Followed/3.0.0`, {
        method: 'DELETE',
        headers: { 'X-NuGet-ApiKey': primary.apiKey },
      });
      expect(unlisted.status).toBe(204);
      await waitFor(
        async () => {
          const leaves = await readRegistrationLeaves(follower, 'Nucat.Replica.Followed');
          return leaves?.find((l) => l.catalogEntry.version === '3.0.0')?.catalogEntry.listed === false;
        },
        { timeoutMs: 60_000, intervalMs: 200, what: 'the follower to show 3.0.0 unlisted' },
      );
    } finally {
      await follower.stop();
    }
  });
});
