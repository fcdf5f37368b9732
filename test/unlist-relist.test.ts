import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '@nucat/testing';
import {
  createConsumerProject,
  dotnetDelete,
  dotnetPush,
  dotnetRestore,
  makeScratchDir,
  packLibrary,
  readResolvedPackages,
} from './support/dotnet.js';
import {
  type CatalogPageItem,
  describeResponse,
  flatNupkgUrl,
  getJson,
  readAllCatalogItems,
  readFlatVersions,
  readRegistrationLeaves,
  relistRaw,
  sha512Base64,
  timestampMs,
} from './support/feed.js';
import { useStack, withStackLogs } from './support/use-stack.js';

const ID = 'Nucat.E2E.Unlist';
const VERSION = '1.0.0';
const stack = useStack();

let work: string;
let nupkg: Buffer;

beforeAll(() =>
  withStackLogs(stack, async () => {
    work = await makeScratchDir('unlist-relist');
    const packed = await packLibrary({ dir: join(work, 'lib'), id: ID, version: VERSION });
    nupkg = await readFile(packed.nupkg);
    await dotnetPush(packed.nupkg, stack());
  }),
);

/** Catalog items of the package, oldest first, once there are at least `count`. */
async function catalogItems(count: number): Promise<CatalogPageItem[]> {
  let items: CatalogPageItem[] = [];
  await waitFor(
    async () => {
      items = (await readAllCatalogItems(stack())).filter((i) => i['nuget:id'].toLowerCase() === ID.toLowerCase());
      return items.length >= count;
    },
    { what: `${count} catalog item(s) for ${ID}`, timeoutMs: 30_000, intervalMs: 200 },
  ).catch((error: unknown) => {
    throw new Error(`${String(error)}; catalog items seen: ${JSON.stringify(items, null, 2)}`);
  });
  return items;
}

/** `listed` of the version in the SemVer2 registration hive (absent means listed). */
async function registrationListed(): Promise<boolean> {
  const leaves = await readRegistrationLeaves(stack(), ID);
  expect(leaves, `registration index of ${ID} answered 404`).toBeDefined();
  const leaf = leaves!.find((l) => l.catalogEntry.version.toLowerCase() === VERSION);
  expect(leaf, `registration of ${ID} has no ${VERSION}: ${JSON.stringify(leaves)}`).toBeDefined();
  return leaf!.catalogEntry.listed ?? true;
}

async function leafListed(item: CatalogPageItem): Promise<boolean> {
  const leaf = await getJson<{ listed?: boolean }>(item['@id']);
  return leaf.listed ?? true;
}

describe('unlist and relist', () => {
  it('shows the pushed version as listed in registration after projection', async () => {
    const [pushed] = await catalogItems(1);
    await stack().waitForProjection(pushed!.commitTimeStamp);

    expect(await registrationListed()).toBe(true);
  });

  it('unlists with dotnet nuget delete: one new catalog leaf, listed:false in registration', async () => {
    await dotnetDelete(ID, VERSION, stack());

    const items = await catalogItems(2);
    expect(items).toHaveLength(2);
    const unlisted = items[1]!;
    expect(unlisted['@type']).toBe('nuget:PackageDetails');
    expect(await leafListed(unlisted)).toBe(false);

    await stack().waitForProjection(unlisted.commitTimeStamp);
    expect(await registrationListed()).toBe(false);
  });

  it('keeps serving the unlisted version: flat container, download and exact restore', async () => {
    expect(await readFlatVersions(stack(), ID)).toContain(VERSION);
    const url = await flatNupkgUrl(stack(), ID, VERSION);
    const download = await fetch(url);
    expect(download.status, `GET ${url}`).toBe(200);
    expect(sha512Base64(Buffer.from(await download.arrayBuffer()))).toBe(sha512Base64(nupkg));

    const dir = join(work, 'consumer');
    await createConsumerProject({ dir, references: [{ id: ID, version: `[${VERSION}]` }], source: stack().serviceIndexUrl });
    await dotnetRestore(dir, { noCache: true });
    expect((await readResolvedPackages(dir)).get(ID.toLowerCase())).toBe(VERSION);
  });

  it('relists with POST /v3/package/{id}/{version}: one new catalog leaf, listed:true again', async () => {
    const url = `${stack().publishUrl}/v3/package/${ID}/${VERSION}`;
    const result = await relistRaw(stack(), ID, VERSION);
    expect(result.status, describeResponse('POST', url, result)).toBeGreaterThanOrEqual(200);
    expect(result.status, describeResponse('POST', url, result)).toBeLessThan(300);

    const items = await catalogItems(3);
    expect(items).toHaveLength(3);
    const relisted = items[2]!;
    expect(await leafListed(relisted)).toBe(true);

    await stack().waitForProjection(relisted.commitTimeStamp);
    expect(await registrationListed()).toBe(true);
  });

  it('normalizes the id and version the client typed in the delete path (NUCAT.E2E.UNLIST 1.0)', async () => {
    await dotnetDelete(ID.toUpperCase(), '1.0', stack());

    const items = await catalogItems(4);
    expect(items).toHaveLength(4);
    expect(await leafListed(items[3]!)).toBe(false);
    await stack().waitForProjection(items[3]!.commitTimeStamp);
    expect(await registrationListed()).toBe(false);
  });

  it('orders the four leaves by commit timestamp in the order the operations happened', async () => {
    const items = await catalogItems(4);

    expect(items).toHaveLength(4);
    expect(new Set(items.map((i) => i.commitId)).size).toBe(4);
    expect(new Set(items.map((i) => i['@id'])).size).toBe(4);
    expect(new Set(items.map((i) => timestampMs(i.commitTimeStamp))).size).toBe(4);
    // push, unlist, relist, unlist
    expect(await Promise.all(items.map(leafListed))).toEqual([true, false, true, false]);
  });
});
