/**
 * Counts the system calls a process makes while something runs (`strace -f -c -p`), per unit of work:
 * evidence of where a server's time goes that a CPU profile of JavaScript does not show (thread-pool
 * hand-offs, extra reads). strace slows the traced process down; use it for counts, not for speed.
 */
import { spawn, spawnSync } from 'node:child_process';

/** Whether strace can be used here. */
export function haveStrace(): boolean {
  return spawnSync('sh', ['-c', 'command -v strace'], { encoding: 'utf8' }).stdout.trim() !== '';
}

/**
 * Runs `work` with strace attached to `pid` (all threads) and returns the calls per unit of work
 * (`work` resolves to how many units it did), largest first; calls under 0.05 per unit are left out.
 */
export async function syscallsPerUnit(pid: number, work: () => Promise<number>): Promise<{ name: string; perUnit: number }[]> {
  const tracer = spawn('strace', ['-f', '-c', '-p', String(pid)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let report = '';
  tracer.stderr.on('data', (chunk: Buffer) => (report += chunk.toString()));
  const exited = new Promise<void>((resolve) => tracer.once('exit', () => resolve()));
  await new Promise((r) => setTimeout(r, 300)); // attach to every thread first
  let units = 0;
  try {
    units = await work();
  } finally {
    tracer.kill('SIGINT');
    await exited;
  }
  // Rows: "% time  seconds  usecs/call  calls  [errors]  syscall"
  return report
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter((f) => f.length >= 5 && /^[\d.]+$/.test(f[0]!) && /^\d+$/.test(f[3]!) && f.at(-1) !== 'total')
    .map((f) => ({ name: f.at(-1)!, perUnit: Number(f[3]) / Math.max(1, units) }))
    .filter((row) => row.perUnit >= 0.05)
    .sort((a, b) => b.perUnit - a.perUnit);
}
