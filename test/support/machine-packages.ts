/** The real third-party packages installed on the test machine (the offline stand-in for a public feed). */
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';

/** Where the machine's real packages live: `<root>/<lowerid>/<version>/<lowerid>.<version>.nupkg`. */
export const MACHINE_PACKAGES_ROOT = process.env['NUCAT_TEST_MACHINE_PACKAGES'] || '/opt/nuget/packages';

/** One real package file. */
export interface MachinePackage {
  /** Absolute path of the `.nupkg`. */
  path: string;
  /** Lowercased id, from the folder name. */
  id: string;
  /** Version, from the folder name (lowercased normalized, as the global packages folder writes it). */
  version: string;
}

/**
 * Lists every `<root>/<lowerid>/<version>/<lowerid>.<version>.nupkg`, sorted by id then version folder.
 * @returns an empty array when the root folder does not exist.
 * @defaultValue root {@link MACHINE_PACKAGES_ROOT} (env NUCAT_TEST_MACHINE_PACKAGES overrides it)
 */
export async function listMachinePackages(root: string = MACHINE_PACKAGES_ROOT): Promise<MachinePackage[]> {
  if (!existsSync(root)) return [];
  const packages: MachinePackage[] = [];
  for (const id of (await readdir(root)).sort()) {
    const idDir = join(root, id);
    let versions: string[];
    try {
      versions = (await readdir(idDir)).sort();
    } catch {
      continue;
    }
    for (const version of versions) {
      const path = join(idDir, version, `${id}.${version}.nupkg`);
      if (existsSync(path)) packages.push({ path, id, version });
    }
  }
  return packages;
}
