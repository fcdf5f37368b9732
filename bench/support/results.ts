/**
 * The figures a benchmark wants in the suite's closing table. Each benchmark prints its own report;
 * when `npm run bench` runs it, it also appends its headline figures (one JSON line each) to the file
 * named by `NUCAT_BENCH_RESULTS`, and `bench/summary.ts` prints them all against issue 5's targets.
 * Run alone, a benchmark records nothing.
 */
import { appendFileSync } from 'node:fs';

/** One headline figure: what nucat did, what the reference did in the same run, and the goal. */
export interface BenchFigure {
  /** The benchmark that measured it (`read-path`, `replay`…). */
  bench: string;
  /** What was measured, e.g. `flat index.json c=64 req/s`. */
  figure: string;
  /** nucat's value. */
  value: number;
  /** Unit of `value` and `reference` (`req/s`, `ms`, `leaves/s`, `MiB`…). */
  unit: string;
  /** The reference's value in the same run (nginx, the static feed, the durability floor…). */
  reference?: number;
  /** What the reference is, e.g. `nginx`. */
  referenceName?: string;
  /** The goal, as text (`≥ 0.8× nginx`), and whether this run met it. */
  target?: string;
  met?: boolean;
}

/** Appends `figures` to `$NUCAT_BENCH_RESULTS` (no-op when it is not set). */
export function recordFigures(figures: readonly BenchFigure[]): void {
  const file = process.env['NUCAT_BENCH_RESULTS'];
  if (!file || figures.length === 0) return;
  appendFileSync(file, figures.map((f) => JSON.stringify(f)).join('\n') + '\n');
}
