/**
 * Reads V8 `.cpuprofile` files (from `node --cpu-prof`) and says where the time went: self time by
 * function, self time by area (a package of ours, a dependency, Node internals, GC), and inclusive
 * time of the functions that show up most in stacks.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** One row of a summary. */
export interface ProfileRow {
  name: string;
  ms: number;
  share: number;
}

/** Where the time of a profile went. */
export interface ProfileSummary {
  /** Sampled time, ms (idle included). */
  totalMs: number;
  /** Sampled time not idle, ms. */
  busyMs: number;
  selfByFunction: ProfileRow[];
  selfByArea: ProfileRow[];
  inclusiveByFunction: ProfileRow[];
}

/** The area a script belongs to: `@nucat/http`, `koa`, `node:internal`, … */
function areaOf(url: string, functionName: string): string {
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  const modules = url.lastIndexOf('/node_modules/');
  if (modules >= 0) {
    const rest = url.slice(modules + '/node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  const ours = /\/(apps|packages)\/([^/]+)\//.exec(url);
  if (ours) return `@nucat/${ours[2]}`;
  if (url.startsWith('node:')) return url.startsWith('node:internal') ? 'node:internal' : url;
  return url;
}

function label(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  if (!url) return functionName || '(anonymous)';
  const file = url.replace(/^file:\/\//, '').replace(/^.*\/(node_modules|apps|packages)\//, '$1/');
  return `${functionName || '(anonymous)'} ${file}:${lineNumber + 1}`;
}

/** Summarizes one profile (or several: their samples are added up). */
export async function summarizeProfiles(paths: readonly string[], top = 15): Promise<ProfileSummary> {
  const self = new Map<string, number>();
  const areas = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let totalMs = 0;
  let idleMs = 0;
  for (const path of paths) {
    const profile = JSON.parse(await readFile(path, 'utf8')) as CpuProfile;
    const byId = new Map(profile.nodes.map((n) => [n.id, n]));
    const parent = new Map<number, number>();
    for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
    for (let i = 0; i < profile.samples.length; i++) {
      const deltaMs = (profile.timeDeltas[i] ?? 0) / 1000;
      const node = byId.get(profile.samples[i]!);
      if (!node || deltaMs <= 0) continue;
      totalMs += deltaMs;
      if (node.callFrame.functionName === '(idle)') {
        idleMs += deltaMs;
        continue;
      }
      const name = label(node);
      self.set(name, (self.get(name) ?? 0) + deltaMs);
      const area = areaOf(node.callFrame.url, node.callFrame.functionName);
      areas.set(area, (areas.get(area) ?? 0) + deltaMs);
      const seen = new Set<string>();
      for (let at: number | undefined = node.id; at !== undefined; at = parent.get(at)) {
        const frame = byId.get(at)!;
        if (frame.callFrame.functionName === '(root)') break;
        const key = label(frame);
        if (seen.has(key)) continue;
        seen.add(key);
        inclusive.set(key, (inclusive.get(key) ?? 0) + deltaMs);
      }
    }
  }
  const busyMs = totalMs - idleMs;
  const rows = (map: Map<string, number>, n: number): ProfileRow[] =>
    [...map]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, ms]) => ({ name, ms, share: ms / busyMs }));
  return { totalMs, busyMs, selfByFunction: rows(self, top), selfByArea: rows(areas, top), inclusiveByFunction: rows(inclusive, top * 2) };
}

/** The `.cpuprofile` files in a folder. */
export async function profilesIn(dir: string): Promise<string[]> {
  return (await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith('.cpuprofile')).map((f) => join(dir, f));
}

/** Prints a summary: busy share, then the top rows of each view. */
export function printProfile(title: string, summary: ProfileSummary, top = 12): void {
  const pct = (x: number) => `${(x * 100).toFixed(1).padStart(5)}%`;
  console.log(`\n${title}: ${(summary.busyMs / 1000).toFixed(1)} s busy of ${(summary.totalMs / 1000).toFixed(1)} s sampled`);
  console.log('  self time by area:');
  for (const row of summary.selfByArea.slice(0, top)) console.log(`    ${pct(row.share)}  ${row.name}`);
  console.log('  self time by function:');
  for (const row of summary.selfByFunction.slice(0, top)) console.log(`    ${pct(row.share)}  ${row.name}`);
  console.log('  inclusive time (share of busy time with the function on the stack):');
  for (const row of summary.inclusiveByFunction.slice(0, top * 2)) console.log(`    ${pct(row.share)}  ${row.name}`);
}
