/**
 * Mirror throughput and replica lag, on two nucat stacks on loopback (each with its own database, Redis
 * prefix and data folder; apps from apps/ dist, so `npm run build` first).
 *
 * 1. Throughput: pushes `--packages` generated packages (`--kb` KB of incompressible payload each)
 *    plus every real package under /opt/nuget/packages to the primary, then times one
 *    `nucat mirror --source <primary> --concurrency N` on the replica: leaves/s and MB/s as the
 *    command reports them, and the wall time of the command.
 * 2. Lag under continuous pushing: runs `nucat mirror --follow --interval-ms <interval>` on the
 *    replica while pushing `--rate` packages/s to the primary for `--seconds`; for each push, the time
 *    from the primary's 201 until the replica's flat container serves the version (mirror + the
 *    replica's projection).
 *
 *   npx tsx bench/mirror.ts [--packages 150] [--kb 100] [--concurrency 16] [--rate 5] [--seconds 20] [--interval 250]
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildNupkg } from '@nucat/testing';
import { pushRaw, readFlatVersions } from '../test/support/feed.js';
import { listMachinePackages } from '../test/support/machine-packages.js';
import { APPS_ROOT, REPO_ROOT, startStack, type Stack } from '../test/support/stack.js';
import { readFile } from 'node:fs/promises';
import { summarize } from './stats.js';
import { createRandom } from './support/random.js';
import { recordFigures } from './support/results.js';

const { values } = parseArgs({
  options: {
    packages: { type: 'string', default: '150' },
    kb: { type: 'string', default: '100' },
    concurrency: { type: 'string', default: '16' },
    rate: { type: 'string', default: '5' },
    seconds: { type: 'string', default: '20' },
    interval: { type: 'string', default: '250' },
  },
});
const packageCount = Number(values.packages);
const payloadBytes = Number(values.kb) * 1024;
const concurrency = Number(values.concurrency);

function payload(seed: number): Buffer {
  const random = createRandom(seed);
  const bytes = Buffer.alloc(payloadBytes);
  for (let i = 0; i < bytes.length; i += 4) bytes.writeUInt32LE(Math.floor(random() * 0x1_0000_0000), i);
  return bytes;
}

function benchPackage(n: number, prefix: string): Buffer {
  return buildNupkg({ id: `${prefix}.${String(n).padStart(4, '0')}`, version: '1.0.0', files: { 'lib/netstandard2.0/payload.bin': payload(n + 1) } });
}

async function pushAll(stack: Stack, packages: Buffer[], parallel: number): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < packages.length) {
        const bytes = packages[next++]!;
        const result = await pushRaw(stack, bytes);
        if (result.status !== 201) throw new Error(`push answered ${result.status}: ${result.text}`);
      }
    }),
  );
}

const [primary, replica] = await Promise.all([startStack({ env: { NUCAT_LOG_LEVEL: 'warn' } }), startStack({ env: { NUCAT_LOG_LEVEL: 'warn' } })]);
try {
  // 1. Throughput.
  const machine = await listMachinePackages();
  const generated = Array.from({ length: packageCount }, (_, n) => benchPackage(n, 'Bench.Mirror'));
  const real = await Promise.all(machine.map((p) => readFile(p.path)));
  const pushStarted = performance.now();
  await pushAll(primary, [...generated, ...real], 8);
  const pushRate = (generated.length + real.length) / ((performance.now() - pushStarted) / 1000);
  const totalMb = [...generated, ...real].reduce((n, b) => n + b.length, 0) / 1e6;
  console.log(`primary: ${generated.length} generated (${values.kb} KB payload) + ${real.length} real packages, ${totalMb.toFixed(1)} MB`);

  const started = performance.now();
  const run = await replica.cli(['mirror', '--source', primary.serviceIndexUrl, '--concurrency', String(concurrency)]);
  const wallSeconds = (performance.now() - started) / 1000;
  if (run.code !== 0) throw new Error(`nucat mirror exited ${run.code}\n${run.stderr}`);
  console.log(`\n$ nucat mirror --source <primary> --concurrency ${concurrency}`);
  console.log(run.stderr.trim().split('\n').filter((l) => /^mirror: (caught up|\d+ items \()/.test(l)).join('\n'));
  console.log(`wall time of the command (process start to exit): ${wallSeconds.toFixed(2)} s`);
  console.log(`reference: the same packages pushed to the primary by 8 clients: ${pushRate.toFixed(1)} pushes/s`);
  // The closing line, not a progress line: `mirror: 166 items (…) … in 3.0 s: 54.7 leaves/s, 13.20 MB/s; lag 0.0 s`.
  const rates = /^mirror: \d+ items \(.*: ([\d.]+) leaves\/s, ([\d.]+) MB\/s/m.exec(run.stderr);
  if (!rates) throw new Error(`no rates in the mirror's output:\n${run.stderr}`);

  // 2. Lag under continuous pushing.
  const rate = Number(values.rate);
  const seconds = Number(values.seconds);
  const follower = spawn(process.execPath, [join(APPS_ROOT, 'cli', 'dist', 'main.js'), 'mirror', '--source', primary.serviceIndexUrl, '--follow', '--interval-ms', values.interval!, '--concurrency', String(concurrency)], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...replica.env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let followerLog = '';
  follower.stderr.on('data', (c: Buffer) => (followerLog += c.toString()));
  await sleep(1_000);
  const lags: number[] = [];
  const primaryLags: number[] = [];
  const waits: Promise<void>[] = [];
  const total = Math.round(rate * seconds);
  const t0 = performance.now();
  for (let n = 0; n < total; n++) {
    const due = t0 + (n * 1000) / rate;
    const delay = due - performance.now();
    if (delay > 0) await sleep(delay);
    const id = `Bench.Lag.${String(n).padStart(4, '0')}`;
    const bytes = buildNupkg({ id, version: '1.0.0', files: { 'lib/netstandard2.0/payload.bin': payload(10_000 + n) } });
    const result = await pushRaw(primary, bytes);
    if (result.status !== 201) throw new Error(`push answered ${result.status}`);
    const pushedAt = performance.now();
    const visible = async (stack: Stack, into: number[]): Promise<void> => {
      for (;;) {
        const versions = await readFlatVersions(stack, id);
        if (versions?.includes('1.0.0')) break;
        if (performance.now() - pushedAt > 120_000) throw new Error(`${id} never reached ${stack === replica ? 'the replica' : 'the primary'}\n${followerLog}`);
        await sleep(50);
      }
      into.push(performance.now() - pushedAt);
    };
    waits.push(visible(replica, lags), visible(primary, primaryLags));
  }
  await Promise.all(waits);
  follower.kill('SIGTERM');
  await new Promise((resolve) => follower.once('exit', resolve));
  const s = summarize(lags);
  const p = summarize(primaryLags);
  console.log(
    `\n$ nucat mirror --source <primary> --follow --interval-ms ${values.interval} (while pushing ${rate}/s for ${seconds} s, ${values.kb} KB packages)`,
  );
  const line = (x: typeof s) => `n=${x.n} p50 ${x.p50.toFixed(0)} ms, p90 ${x.p90.toFixed(0)} ms, p99 ${x.p99.toFixed(0)} ms, max ${x.max.toFixed(0)} ms`;
  console.log(`primary's own flat container, push 201 → it serves the version: ${line(p)}`);
  console.log(`replica, push 201 → the replica's flat container serves it:    ${line(s)}`);
  recordFigures([
    {
      bench: 'mirror',
      figure: `nucat mirror, ${generated.length + real.length} packages (${totalMb.toFixed(0)} MB), concurrency ${concurrency}`,
      value: Number(rates[1]),
      unit: 'leaves/s',
      reference: pushRate,
      referenceName: 'pushes/s of the same packages (8 clients)',
    },
    { bench: 'mirror', figure: 'nucat mirror, bytes', value: Number(rates[2]), unit: 'MB/s' },
    {
      bench: 'mirror',
      figure: `replica lag p99 (push 201 → replica serves it), ${rate} pushes/s`,
      value: s.p99,
      unit: 'ms',
      reference: p.p99,
      referenceName: "the primary's own flat container",
    },
  ]);
} finally {
  await Promise.all([primary.stop(), replica.stop()]);
}
