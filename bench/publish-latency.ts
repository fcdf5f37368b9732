/**
 * Publish → restorable latency: push a package through the real publish API and time until the
 * read API's flat container lists the version and serves its .nupkg — what `dotnet restore`
 * needs. Runs a fresh stack (test database, Redis prefix, temp blob folder) on loopback.
 *
 *   npx tsx bench/publish-latency.ts [--pushes 120] [--poll-ms 2]
 */
import { parseArgs } from 'node:util';
import { buildNupkg } from '@nucat/testing';
import { startStack } from '../test/support/stack.js';
import { pushRaw } from '../test/support/feed.js';
import { formatMs, summarize } from './stats.js';

const { values } = parseArgs({ options: { pushes: { type: 'string', default: '120' }, 'poll-ms': { type: 'string', default: '2' } } });
const pushes = Number(values.pushes);
const pollMs = Number(values['poll-ms']);

const stack = await startStack();
const feed = { serviceIndexUrl: stack.serviceIndexUrl, publishUrl: stack.publishUrl, apiKey: stack.apiKey };
const id = 'Bench.Latency';
const lowerId = id.toLowerCase();
const pushMs: number[] = [];
const commitToRestorable: number[] = [];
const publishToRestorable: number[] = [];
try {
  for (let i = 0; i < pushes; i++) {
    const version = `1.0.${i}`;
    const nupkg = buildNupkg({ id, version, description: 'latency probe' });
    const t0 = performance.now();
    const pushed = await pushRaw(feed, nupkg);
    const t1 = performance.now();
    if (pushed.status !== 201) throw new Error(`push ${version} answered ${pushed.status}: ${pushed.text}`);
    // Restorable = index.json lists it and the .nupkg downloads (the two requests restore makes).
    for (;;) {
      const index = await fetch(`${stack.publicUrl}/v3/flatcontainer/${lowerId}/index.json`);
      if (index.ok && ((await index.json()) as { versions: string[] }).versions.includes(version)) {
        const nupkgResponse = await fetch(`${stack.publicUrl}/v3/flatcontainer/${lowerId}/${version}/${lowerId}.${version}.nupkg`, { method: 'HEAD' });
        if (nupkgResponse.ok) break;
      } else if (!index.ok) {
        await index.arrayBuffer();
      }
      await new Promise((r) => setTimeout(r, pollMs));
    }
    const t2 = performance.now();
    pushMs.push(t1 - t0);
    commitToRestorable.push(t2 - t1);
    publishToRestorable.push(t2 - t0);
  }
} finally {
  await stack.stop();
}

const rows: [string, number[]][] = [
  ['push request (201)', pushMs],
  ['201 → restorable', commitToRestorable],
  ['publish → restorable', publishToRestorable],
];
console.log(`publish → restorable, ${pushes} sequential pushes, idle stack, poll every ${pollMs} ms`);
for (const [name, samples] of rows) {
  const s = summarize(samples);
  console.log(`  ${name.padEnd(22)} p50 ${formatMs(s.p50).padStart(9)}  p90 ${formatMs(s.p90).padStart(9)}  p99 ${formatMs(s.p99).padStart(9)}  max ${formatMs(s.max).padStart(9)}`);
}
