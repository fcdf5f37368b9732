/**
 * `dotnet restore` of a generated project with 100+ PackageReferences (ids from a seeded corpus pushed
 * through the publish API), cold: a fresh global packages folder and HTTP cache every run and
 * `--no-http-cache`. From nucat (its read-api) and from nginx serving a static copy of the same feed —
 * the projected flat container and registration files plus a static service index that points
 * PackageBaseAddress and RegistrationsBaseUrl at nginx. Runs alternate; the median of each is compared.
 * The requests each server saw are counted by kind, and both restores must resolve the same graph.
 *
 *   npx tsx bench/restore.ts [--quick] [--runs 3] [--references 120]
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createConsumerProject, dotnetRestore, readResolvedPackages, removeDotnetScratch } from '../test/support/dotnet.js';
import { createCorpus, type CorpusOptions } from './support/corpus.js';
import { startNginx } from './support/nginx.js';
import { heading, int, machineLine, median, ratio, seconds, table } from './support/report.js';
import { seedCorpus, startApp, startBenchStack } from './support/stack-tools.js';
import { recordFigures } from './support/results.js';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    runs: { type: 'string' },
    references: { type: 'string' },
    seed: { type: 'string', default: '42' },
  },
});
const quick = values.quick;
const runs = Number(values.runs ?? (quick ? 2 : 3));
const referenceCount = Number(values.references ?? 120);

/** Path → kind of request, for the request counts. */
function kindOf(path: string): string {
  if (path === '/v3/index.json') return 'service index';
  if (/^\/v3\/flatcontainer\/[^/]+\/index\.json/.test(path)) return 'flat index.json';
  if (path.endsWith('.nupkg')) return '.nupkg';
  if (path.endsWith('.nuspec')) return '.nuspec';
  if (/^\/v3\/registration5-[^/]+\/[^/]+\/index\.json/.test(path)) return 'registration index';
  if (/^\/v3\/registration5-/.test(path)) return 'registration page/leaf';
  return 'other';
}

function countKinds(paths: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const path of paths) counts.set(kindOf(path), (counts.get(kindOf(path)) ?? 0) + 1);
  return counts;
}

console.log(`restore: ${await machineLine()}`);
// Quick: at most 5 versions per id (~300 pushes); default: the full spread (~1,400 pushes).
const corpusOptions: CorpusOptions = { seed: Number(values.seed), ids: referenceCount + 10, prefix: 'Restore', ...(quick ? { maxVersions: 5 } : {}) };
const corpus = createCorpus(corpusOptions);
const stack = await startBenchStack();
const workDir = await mkdtemp(join(tmpdir(), 'nucat-bench-restore-'));
const stops: (() => Promise<void>)[] = [];
try {
  heading('corpus');
  await seedCorpus(stack, corpus, { pauseWorker: true, publishers: 2 });

  // References: the first `referenceCount` ids of the corpus at their newest version.
  const references = corpus.ids.slice(0, referenceCount).map((id) => ({ id: id.id, version: id.versions.at(-1)! }));

  // The static feed: nginx over the blob folder, with a service index pointing at itself.
  const nucatIndex = (await (await fetch(stack.serviceIndexUrl)).json()) as { version: string; resources: { '@id': string; '@type': string }[] };
  const staticNginx = await startNginx({
    blobs: join(stack.dataDir, 'blobs'),
    accessLog: true,
    serviceIndex: (baseUrl) => ({
      version: nucatIndex.version,
      resources: nucatIndex.resources
        .filter((r) => r['@type'].startsWith('PackageBaseAddress') || r['@type'].startsWith('RegistrationsBaseUrl'))
        .map((r) => ({ ...r, '@id': r['@id'].replace(stack.publicUrl, baseUrl) })),
    }),
  });
  stops.push(() => staticNginx.stop());
  const readApiLog = join(workDir, 'read-api.log');
  const readApi = await startApp(stack, 'read-api', { logFile: readApiLog, ownPublicUrl: true });
  stops.push(() => readApi.stop());

  const sources = [
    { name: 'nginx (static copy)', serviceIndex: `${staticNginx.url}/v3/index.json` },
    { name: 'nucat read-api', serviceIndex: `${readApi.url}/v3/index.json` },
  ];
  for (const [i, source] of sources.entries()) {
    await createConsumerProject({ dir: join(workDir, `project-${i}`), references, source: source.serviceIndex });
  }

  heading(`dotnet restore, ${references.length} PackageReferences, cold (fresh NUGET_PACKAGES and HTTP cache, --no-http-cache), ${runs} run(s) each`);
  // One untimed restore of a one-reference project first: the first dotnet/MSBuild start is slower than the rest.
  await createConsumerProject({ dir: join(workDir, 'warm-up'), references: references.slice(0, 1), source: sources[1]!.serviceIndex });
  await dotnetRestore(join(workDir, 'warm-up'), { noCache: true, force: true });
  const times: number[][] = sources.map(() => []);
  const resolved: Map<string, string>[] = [];
  const logStart = { nginx: (await staticNginx.readAccessLog()).length, nucat: (await readFile(readApiLog, 'utf8')).split('\n').length - 1 };
  for (let run = 0; run < runs; run++) {
    // Alternate which source goes first, so neither always restores right after the other warmed the disk.
    const order = run % 2 === 0 ? [...sources.entries()] : [...sources.entries()].reverse();
    for (const [i, source] of order) {
      const dir = join(workDir, `project-${i}`);
      const started = performance.now();
      await dotnetRestore(dir, { noCache: true, force: true });
      times[i]!.push((performance.now() - started) / 1000);
      if (run === 0) resolved[i] = await readResolvedPackages(dir);
      console.error(`  … run ${run + 1}: ${source.name} ${seconds(times[i]!.at(-1)!)}`);
    }
  }
  const [a, b] = resolved as [Map<string, string>, Map<string, string>];
  const same = a.size === b.size && [...a].every(([id, v]) => b.get(id) === v);
  if (!same) throw new Error('the two restores resolved different packages');
  const missing = references.filter((r) => a.get(r.id.toLowerCase())?.toLowerCase() !== r.version.toLowerCase());
  if (missing.length > 0) throw new Error(`not resolved as referenced: ${missing.map((m) => `${m.id} ${m.version}`).join(', ')}`);

  const rows = sources.map((source, i) => [source.name, ...times[i]!.map(seconds), seconds(median(times[i]!))]);
  console.log(table(['source', ...times[0]!.map((_, r) => `run ${r + 1}`), 'median'], rows));
  console.log(`  nucat / static: ${ratio(median(times[1]!), median(times[0]!))} (wall time, lower is better); ${a.size} packages resolved, identical graphs`);
  recordFigures([
    {
      bench: 'restore',
      figure: `dotnet restore, ${references.length} references, cold (median of ${runs})`,
      value: median(times[1]!),
      unit: 's',
      reference: median(times[0]!),
      referenceName: 'static feed on nginx',
      target: '≤ 1.1× static',
      met: median(times[1]!) <= 1.1 * median(times[0]!),
    },
  ]);

  // What the client fetched (all timed runs together).
  const nginxPaths = (await staticNginx.readAccessLog()).slice(logStart.nginx).map((line) => line.split(' ')[1]!);
  const nucatPaths = (await readFile(readApiLog, 'utf8'))
    .split('\n')
    .slice(logStart.nucat)
    .filter((line) => line.includes('"msg":"request"'))
    .map((line) => (JSON.parse(line) as { path: string }).path);
  const nginxKinds = countKinds(nginxPaths);
  const nucatKinds = countKinds(nucatPaths);
  const kinds = [...new Set([...nginxKinds.keys(), ...nucatKinds.keys()])].sort();
  console.log(`\n  requests per run, by kind:`);
  console.log(table(['kind', 'nginx', 'nucat'], kinds.map((k) => [k, int((nginxKinds.get(k) ?? 0) / runs), int((nucatKinds.get(k) ?? 0) / runs)])));
} finally {
  for (const stop of stops.reverse()) await stop().catch((error: unknown) => console.error(error));
  await stack.stop();
  await removeDotnetScratch();
  await rm(workDir, { recursive: true, force: true });
}
