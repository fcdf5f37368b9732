/**
 * The closing table of `npm run bench`: every headline figure the benchmarks recorded in
 * `$NUCAT_BENCH_RESULTS` (see support/results.ts), with its reference, the ratio and the target,
 * then how long each benchmark took (`<bench> <seconds>` lines in the file named by the second argument).
 *
 *   npx tsx bench/summary.ts <results.jsonl> [durations.txt]
 */
import { readFileSync, existsSync } from 'node:fs';
import type { BenchFigure } from './support/results.js';
import { heading, loadAverage, table } from './support/report.js';

const [resultsFile, durationsFile] = process.argv.slice(2);
if (!resultsFile) throw new Error('usage: summary.ts <results.jsonl> [durations.txt]');

const figures: BenchFigure[] = existsSync(resultsFile)
  ? readFileSync(resultsFile, 'utf8')
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as BenchFigure)
  : [];

const number = (value: number | undefined): string => {
  if (value === undefined || !Number.isFinite(value)) return '—';
  const abs = Math.abs(value);
  return abs >= 100 ? Math.round(value).toLocaleString('en-US') : abs >= 10 ? value.toFixed(1) : value.toFixed(2);
};

heading('summary: every headline figure, its reference in the same run, and the target');
console.log(
  table(
    ['bench', 'figure', 'nucat', 'reference', 'ratio', 'target', 'met'],
    figures.map((f) => [
      f.bench,
      f.figure,
      `${number(f.value)} ${f.unit}`,
      f.reference === undefined ? '—' : `${number(f.reference)} ${f.unit}${f.referenceName ? ` (${f.referenceName})` : ''}`,
      f.reference === undefined ? '—' : `${(f.value / f.reference).toFixed(2)}×`,
      f.target ?? '—',
      f.met === undefined ? '—' : f.met ? 'yes' : 'no',
    ]),
  ),
);
if (durationsFile && existsSync(durationsFile)) {
  const rows = readFileSync(durationsFile, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => line.split(' ') as [string, string]);
  const total = rows.reduce((sum, [, s]) => sum + Number(s), 0);
  heading('wall time per benchmark');
  console.log(table(['bench', 'seconds'], [...rows.map(([name, s]) => [name, s]), ['total', String(total)]]));
}
console.log(`  ${await loadAverage()}`);
