import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  createConsumerProject,
  dotnetTest,
  makeScratchDir,
  readProjectAssets,
  readResolvedPackages,
} from './support/dotnet.js';
import { describeResponse, flatNupkgUrl, pushRaw, readFlatVersions, sha512Base64, timestampMs } from './support/feed.js';
import { listMachinePackages, MACHINE_PACKAGES_ROOT, type MachinePackage } from './support/machine-packages.js';
import { useStack } from './support/use-stack.js';

const stack = useStack();
const TEST_PROJECT_PACKAGES = ['Microsoft.NET.Test.Sdk', 'xunit', 'xunit.runner.visualstudio'];

let packages: MachinePackage[];

beforeAll(async () => {
  packages = await listMachinePackages();
  if (packages.length === 0) {
    throw new Error(`no .nupkg files under ${MACHINE_PACKAGES_ROOT} (set NUCAT_TEST_MACHINE_PACKAGES to another folder)`);
  }
});

describe('real packages from the machine', () => {
  it('accepts every one of them and projects them', async () => {
    const results: { pkg: MachinePackage; status: number; what: string; commitTimestamp?: string }[] = [];
    // A few at a time: enough to overlap, not enough to turn a slow server into timeouts.
    const queue = [...packages];
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        for (let pkg = queue.shift(); pkg; pkg = queue.shift()) {
          const result = await pushRaw(stack(), await readFile(pkg.path));
          results.push({
            pkg,
            status: result.status,
            what: describeResponse('PUT', `${stack().publishUrl}/v3/package/`, result),
            ...(result.commitTimestamp ? { commitTimestamp: result.commitTimestamp } : {}),
          });
        }
      }),
    );

    const failed = results.filter((r) => r.status !== 201 && r.status !== 202).map((r) => `${r.pkg.path}: ${r.what}`);
    expect(failed).toEqual([]);
    const stamps = results.map((r) => r.commitTimestamp);
    expect(stamps.every((s) => s !== undefined), 'every push answers X-Nucat-Commit-Timestamp').toBe(true);
    const latest = (stamps as string[]).reduce((a, b) => (timestampMs(a) >= timestampMs(b) ? a : b));
    await stack().waitForProjection(latest, undefined, 120_000);
  });

  it('serves each of them from the flat container with the exact bytes', async () => {
    for (const pkg of packages) {
      expect(await readFlatVersions(stack(), pkg.id), `flat container versions of ${pkg.id}`).toContain(pkg.version);
      const url = await flatNupkgUrl(stack(), pkg.id, pkg.version);
      const response = await fetch(url);
      expect(response.status, `GET ${url}`).toBe(200);
      expect(sha512Base64(Buffer.from(await response.arrayBuffer())), `bytes of ${url}`).toBe(
        sha512Base64(await readFile(pkg.path)),
      );
    }
  });

  it('restores an xunit test project from nucat alone and dotnet test passes', async () => {
    const references = TEST_PROJECT_PACKAGES.map((id) => {
      const found = packages.find((p) => p.id === id.toLowerCase());
      if (!found) throw new Error(`${id} is not among the machine packages under ${MACHINE_PACKAGES_ROOT}`);
      return { id, version: found.version };
    });
    const dir = join(await makeScratchDir('machine-packages'), 'tests');
    await createConsumerProject({ dir, references, test: true, source: stack().serviceIndexUrl });

    const result = await dotnetTest(dir);

    expect(result.stdout).toMatch(/Passed!\s+-\s+Failed:\s+0,\s+Passed:\s+1\b/);
    expect(Object.keys((await readProjectAssets(dir)).project.restore?.sources ?? {})).toEqual([stack().serviceIndexUrl]);
    const available = new Set(packages.map((p) => `${p.id}/${p.version}`));
    const resolved = [...(await readResolvedPackages(dir))].map(([id, version]) => `${id}/${version.toLowerCase()}`);
    expect(resolved.filter((r) => !available.has(r)), 'resolved packages that nobody pushed').toEqual([]);
    for (const { id, version } of references) expect(resolved).toContain(`${id.toLowerCase()}/${version}`);
  });
});
