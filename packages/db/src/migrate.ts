import { Migrator, type Migration, type MigrationProvider } from 'kysely';
import type { Db } from './create-db.js';
import * as initial from './migrations/2026_11_21_1600_initial.js';
import * as search from './migrations/2026_11_21_1700_search.js';
import * as mirror from './migrations/2026_11_21_1800_mirror.js';
import * as generations from './migrations/2026_11_21_1900_generations.js';
import * as searchPerf from './migrations/2026_11_21_2000_search_perf.js';
import * as ownership from './migrations/2026_11_21_2100_ownership.js';
import * as appendFunction from './migrations/2026_11_21_2150_append_function.js';
import * as signatures from './migrations/2026_11_21_2200_signatures.js';
import * as contentLeases from './migrations/2026_11_21_2300_content_leases.js';
import * as searchOwners from './migrations/2026_11_21_2400_search_owners.js';
import * as cursorRuns from './migrations/2026_11_22_0100_cursor_runs.js';

/** Migrations are compiled into the package (no directory scanning), in name order. */
const migrations: Record<string, Migration> = {
  '2026_11_21_1600_initial': initial,
  '2026_11_21_1700_search': search,
  '2026_11_21_1800_mirror': mirror,
  '2026_11_21_1900_generations': generations,
  '2026_11_21_2000_search_perf': searchPerf,
  '2026_11_21_2100_ownership': ownership,
  '2026_11_21_2150_append_function': appendFunction,
  '2026_11_21_2200_signatures': signatures,
  '2026_11_21_2300_content_leases': contentLeases,
  '2026_11_21_2400_search_owners': searchOwners,
  '2026_11_22_0100_cursor_runs': cursorRuns,
};

const provider: MigrationProvider = { getMigrations: async () => migrations };

/** Applies every pending migration; throws with the failing migration's name on error. */
export async function migrateToLatest(db: Db): Promise<string[]> {
  const migrator = new Migrator({ db, provider });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new Error(`migration ${failed} failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
