/**
 * Corpus generator: pushes a seeded corpus (see support/corpus.ts) through the real publish API of a
 * fresh stack, with the worker running (flat container and registration), and reports how fast it
 * went in and how long the projections took to catch up after the last 201.
 * Reference, same stack, same concurrency: pushes of a minimal package (fresh versions spread
 * round-robin over 50 new ids) — what the corpus shape (payload sizes, 4 MiB packages, ids with
 * hundreds or thousands of versions) costs on top.
 *
 *   npx tsx bench/corpus.ts [--quick] [--seed 42] [--ids N] [--concurrency 16]
 */
import { parseArgs } from 'node:util';
import { buildNupkg } from '@nucat/testing';
import { createCorpus, standardCorpus } from './support/corpus.js';
import { feedOf, seedCorpus, startBenchStack, waitForProjections } from './support/stack-tools.js';
import { heading, int, machineLine, ms, ratio, seconds, table } from './support/report.js';
import { pushRaw } from '../test/support/feed.js';
import { summarize } from './stats.js';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    seed: { type: 'string', default: '42' },
    ids: { type: 'string' },
    concurrency: { type: 'string', default: '16' },
  },
});

const quick = values.quick;
const concurrency = Number(values.concurrency);
const options = standardCorpus(quick, Number(values.seed));
if (values.ids) options.ids = Number(values.ids);
const corpus = createCorpus(options);

console.log(`corpus: ${await machineLine()}`);
console.log(`  ${corpus.describe()}`);
const stack = await startBenchStack();
try {
  heading(`push the corpus, ${concurrency} concurrent clients`);
  const seeded = await seedCorpus(stack, corpus, { concurrency });

  // Reference: as many pushes of a minimal package (fresh versions of one new id), same concurrency.
  const probeCount = Math.min(corpus.totalVersions, quick ? 100 : 1000);
  const latencies: number[] = [];
  let next = 0;
  let last = '';
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < probeCount) {
        const n = next++;
        const t0 = performance.now();
        const result = await pushRaw(feedOf(stack), buildNupkg({ id: `Reference.Minimal${n % 50}`, version: `1.0.${n}` }));
        latencies.push(performance.now() - t0);
        if (result.status !== 201) throw new Error(`reference push answered ${result.status}: ${result.text}`);
        if (result.commitTimestamp && result.commitTimestamp > last) last = result.commitTimestamp;
      }
    }),
  );
  const referenceSeconds = (performance.now() - started) / 1000;
  const referenceDrain = await waitForProjections(stack, last);

  const corpusRate = seeded.pushes / seeded.seconds;
  const referenceRate = probeCount / referenceSeconds;
  const s = summarize(seeded.latencies);
  const r = summarize(latencies);
  console.log(
    table(
      ['what', 'pushes', 'MiB', 'seconds', 'pushes/s', 'push p50', 'push p99', '201 → projected'],
      [
        ['corpus', int(seeded.pushes), (seeded.bytes / 1048576).toFixed(1), seconds(seeded.seconds), int(corpusRate), ms(s.p50), ms(s.p99), seconds(seeded.drainSeconds)],
        ['reference (minimal pkg, 50 ids)', int(probeCount), '—', seconds(referenceSeconds), int(referenceRate), ms(r.p50), ms(r.p99), seconds(referenceDrain)],
      ],
    ),
  );
  console.log(`  corpus/reference pushes/s: ${ratio(corpusRate, referenceRate)}`);
} finally {
  await stack.stop();
}
