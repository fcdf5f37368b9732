import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildNupkg, waitFor } from '@nucat/testing';
import {
  createConsumerProject,
  dotnetPush,
  dotnetRestore,
  makeScratchDir,
  packLibrary,
  readProjectAssets,
  readResolvedPackages,
} from './support/dotnet.js';
import { describeResponse, flatNupkgUrl, pushRaw, readFlatVersions, request, sha512Base64 } from './support/feed.js';
import { useStack } from './support/use-stack.js';

const ID = 'Nucat.E2E.Widgets';
const stack = useStack();

let work: string;
let packed: { nupkg: string };

beforeAll(async () => {
  work = await makeScratchDir('push-and-restore');
  packed = await packLibrary({ dir: join(work, 'widgets-1.0.0'), id: ID, version: '1.0.0' });
});

function output(result: { stdout: string; stderr: string }): string {
  return `${result.stdout}\n${result.stderr}`;
}

describe('dotnet nuget push', () => {
  it('publishes a library packed by dotnet pack', async () => {
    const result = await dotnetPush(packed.nupkg, stack());

    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/Your package was pushed/);
  });

  it('fails a second push of the same id and version with 409 Conflict', async () => {
    const result = await dotnetPush(packed.nupkg, stack(), [], { allowFailure: true });

    expect(result.code, output(result)).not.toBe(0);
    expect(output(result)).toMatch(/409|Conflict/);
  });

  // The client sends the bytes as they are: the server must see through other spellings of the identity.
  it.each([
    { id: 'NUCAT.E2E.WIDGETS', version: '1.0', why: 'other id casing, two-part version' },
    { id: 'nucat.e2e.widgets', version: '1.0.0+build.9', why: 'lowercase id, build metadata' },
  ])('fails a push of $id $version ($why) with 409 Conflict, and --skip-duplicate passes it', async ({ id, version }) => {
    const file = join(work, `${id}.${version}.nupkg`);
    await writeFile(file, buildNupkg({ id, version }));

    const refused = await dotnetPush(file, stack(), [], { allowFailure: true });
    expect(refused.code, output(refused)).not.toBe(0);
    expect(output(refused)).toMatch(/409|Conflict/);
    const skipped = await dotnetPush(file, stack(), ['--skip-duplicate'], { allowFailure: true });
    expect(skipped.code, output(skipped)).toBe(0);
  });

  it('succeeds on the duplicate with --skip-duplicate', async () => {
    const result = await dotnetPush(packed.nupkg, stack(), ['--skip-duplicate'], { allowFailure: true });

    expect(result.code, output(result)).toBe(0);
    expect(output(result)).toMatch(/already exists/i);
  });
});

describe('raw multipart push', () => {
  it('answers a new package with 201 or 202 and the commit headers', async () => {
    const result = await pushRaw(stack(), buildNupkg({ id: 'Nucat.E2E.Raw', version: '1.0.0' }));
    const what = describeResponse('PUT', `${stack().publishUrl}/v3/package/`, result);

    expect([201, 202], what).toContain(result.status);
    expect(result.commitId, `X-Nucat-Commit-Id missing: ${what}`).toMatch(/^[0-9a-f-]{36}$/i);
    expect(result.commitTimestamp, `X-Nucat-Commit-Timestamp missing: ${what}`).toMatch(
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/,
    );
  });

  // Identity is (lowercased id, normalized version): every one of these is the package pushed above.
  it.each([
    { id: 'nucat.e2e.widgets', version: '1.0.0', why: 'lowercase id' },
    { id: 'NUCAT.E2E.WIDGETS', version: '1.0.0', why: 'uppercase id' },
    { id: ID, version: '1.0', why: 'two-part version' },
    { id: ID, version: '1.0.0.0', why: 'four-part version with zero revision' },
    { id: ID, version: '01.0.0', why: 'leading zero' },
    { id: ID, version: '1.0.0+build.5', why: 'build metadata' },
  ])('rejects $id $version ($why) as a duplicate with 409', async ({ id, version }) => {
    const result = await pushRaw(stack(), buildNupkg({ id, version }));

    expect(result.status, describeResponse('PUT', `${stack().publishUrl}/v3/package/`, result)).toBe(409);
  });
});

describe('restore', () => {
  it('restores the pushed version from nucat alone once it is projected', async () => {
    await waitFor(async () => (await readFlatVersions(stack(), ID))?.includes('1.0.0'), {
      what: `${ID} 1.0.0 in the flat container index.json`,
      timeoutMs: 60_000,
      intervalMs: 200,
    });
    const url = await flatNupkgUrl(stack(), ID, '1.0.0');
    const download = await fetch(url);
    expect(download.status, `GET ${url}`).toBe(200);
    expect(sha512Base64(Buffer.from(await download.arrayBuffer()))).toBe(sha512Base64(await readFile(packed.nupkg)));

    const dir = join(work, 'consumer-exact');
    await createConsumerProject({ dir, references: [{ id: ID, version: '1.0.0' }], source: stack().serviceIndexUrl });
    await dotnetRestore(dir, { noCache: true });

    expect((await readResolvedPackages(dir)).get(ID.toLowerCase())).toBe('1.0.0');
    expect(Object.keys((await readProjectAssets(dir)).project.restore?.sources ?? {})).toEqual([stack().serviceIndexUrl]);
  });

  it('resolves a floating 1.* range to 1.1.0 once 1.1.0 is pushed and projected', async () => {
    const dir = join(work, 'consumer-floating');
    await createConsumerProject({ dir, references: [{ id: ID, version: '1.*' }], source: stack().serviceIndexUrl });
    await dotnetRestore(dir, { noCache: true });
    expect((await readResolvedPackages(dir)).get(ID.toLowerCase())).toBe('1.0.0');

    const next = await packLibrary({ dir: join(work, 'widgets-1.1.0'), id: ID, version: '1.1.0' });
    const pushed = await pushRaw(stack(), await readFile(next.nupkg));
    const what = describeResponse('PUT', `${stack().publishUrl}/v3/package/`, pushed);
    expect([201, 202], what).toContain(pushed.status);
    expect(pushed.commitTimestamp, `X-Nucat-Commit-Timestamp missing: ${what}`).toBeDefined();
    await stack().waitForProjection(pushed.commitTimestamp!);

    // A fresh packages folder and HTTP cache come with every call; --force skips the no-op check.
    await dotnetRestore(dir, { noCache: true, force: true });

    expect((await readResolvedPackages(dir)).get(ID.toLowerCase())).toBe('1.1.0');
  });
});

describe('flat container after pushes', () => {
  it('lists both versions, lowercased and ascending', async () => {
    const versions = await readFlatVersions(stack(), ID);

    expect(versions).toEqual(['1.0.0', '1.1.0']);
  });

  it('answers 404 for an id nobody pushed', async () => {
    const result = await request(await flatNupkgUrl(stack(), 'Nucat.E2E.Nobody', '1.0.0'));

    expect(result.status).toBe(404);
    expect(await readFlatVersions(stack(), 'Nucat.E2E.Nobody')).toBeUndefined();
  });
});
