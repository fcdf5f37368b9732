/** Plain-text tables and number formats shared by the benchmarks' reports. */

/** Formats `rows` under `headers` as an aligned table (numbers and ratios right-aligned). */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const right = headers.map((_, i) => rows.every((r) => /^[-+]?[\d.,]+\s*(ms|s|×|%|MB\/s|KiB|MiB|\/s)?$|^—$|^n\/a$/.test((r[i] ?? '').trim())));
  const line = (cells: readonly string[]) =>
    cells.map((c, i) => (right[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** `1234.5` → `1,235`. */
export function int(value: number): string {
  return Number.isFinite(value) ? Math.round(value).toLocaleString('en-US') : 'n/a';
}

/** Milliseconds with a precision that suits the size. */
export function ms(value: number): string {
  if (!Number.isFinite(value)) return 'n/a';
  return value < 10 ? `${value.toFixed(2)} ms` : value < 100 ? `${value.toFixed(1)} ms` : `${Math.round(value)} ms`;
}

/** Seconds, one decimal. */
export function seconds(value: number): string {
  return Number.isFinite(value) ? `${value.toFixed(1)} s` : 'n/a';
}

/** A ratio `a / b` as `0.83×`. */
export function ratio(a: number, b: number): string {
  const r = a / b;
  return Number.isFinite(r) ? `${r.toFixed(2)}×` : 'n/a';
}

/** Median of a sample (mean of the middle two for an even count). */
export function median(samples: readonly number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Prints a section title. */
export function heading(title: string): void {
  console.log(`\n== ${title} ==`);
}

/** One line about the machine, for the record: cores, CPU model, Node, date. */
export async function machineLine(): Promise<string> {
  const os = await import('node:os');
  const cpus = os.cpus();
  return `${new Date().toISOString()} · ${cpus.length} cores (${cpus[0]?.model.trim() ?? '?'}) · ${Math.round(os.totalmem() / 2 ** 30)} GiB · node ${process.version} · ${loadLine(os.loadavg(), cpus.length)}`;
}

function loadLine(load: number[], cores: number): string {
  const text = `load ${load.map((l) => l.toFixed(2)).join(' ')}`;
  // Anything else running skews every figure: say so next to them.
  return load[0]! > cores * 0.5 ? `${text} (! the machine is busy: figures will be noisy)` : text;
}

/** The 1, 5 and 15 minute load averages, for the end of a report. */
export async function loadAverage(): Promise<string> {
  const os = await import('node:os');
  return loadLine(os.loadavg(), os.cpus().length);
}
