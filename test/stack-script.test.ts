/**
 * The README's first command, `npm run stack` (infra/stack.sh), run as a user runs it: it brings the
 * apps up, prints a service index URL and an API key; `dotnet nuget push` with that key is accepted and
 * a project restores the package from that URL alone; Ctrl-C stops every process it started. The
 * script gets its own database, Redis prefix, data folder and ports, so it can run next to anything.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildNupkg, createTestDatabase, createTestRedisPrefix, freePort, waitFor, type TestDatabase, type TestRedisPrefix } from '@nucat/testing';
import { createConsumerProject, dotnetPush, dotnetRestore, makeScratchDir, readResolvedPackages } from './support/dotnet.js';
import { readFlatVersions } from './support/feed.js';
import { REPO_ROOT } from './support/stack.js';

const ID = 'Nucat.E2E.StackScript';

let database: TestDatabase;
let redis: TestRedisPrefix;
let dataDir: string;
let script: ChildProcess | undefined;
let exited: Promise<void>;
let output = '';
let ports: { read: number; publish: number; worker: number };

beforeAll(async () => {
  database = await createTestDatabase();
  redis = createTestRedisPrefix();
  dataDir = await mkdtemp(join(tmpdir(), 'nucat-stack-script-'));
  ports = { read: await freePort(), publish: await freePort(), worker: await freePort() };
  script = spawn('bash', ['infra/stack.sh'], {
    cwd: REPO_ROOT,
    // Its own process group, as in a terminal: Ctrl-C signals the whole group.
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      DATABASE_URL: database.url,
      REDIS_URL: redis.url,
      NUCAT_REDIS_PREFIX: redis.prefix,
      NUCAT_DATA_DIR: dataDir,
      NUCAT_READ_PORT: String(ports.read),
      NUCAT_PUBLISH_PORT: String(ports.publish),
      NUCAT_WORKER_PORT: String(ports.worker),
      NUCAT_WORKER_POLL_MS: '200',
    },
  });
  script.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  script.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  exited = new Promise((resolve) => script!.once('exit', () => resolve()));
});

afterAll(async () => {
  if (script?.exitCode === null && script.pid) {
    try {
      process.kill(-script.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await redis?.cleanup();
  await database?.drop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

/** What the script printed: the service index URL and the API key. */
function printed(): { serviceIndexUrl: string; apiKey: string } | undefined {
  const url = /service index\s*:\s*(\S+)/.exec(output)?.[1];
  const key = /API key\s*:\s*(\S+)/.exec(output)?.[1];
  return url && key ? { serviceIndexUrl: url, apiKey: key } : undefined;
}

describe('npm run stack (infra/stack.sh)', () => {
  it('prints the service index URL and an API key once every app answers', async () => {
    const feed = await waitFor(printed, { what: `the stack to print its URL and key; output so far:\n${output}`, timeoutMs: 240_000 });
    expect(feed.serviceIndexUrl).toBe(`http://127.0.0.1:${ports.read}/v3/index.json`);
    // The key printed is the one kept in the data folder, so a restart prints the same key.
    expect(feed.apiKey).toBe((await readFile(join(dataDir, 'api-key'), 'utf8')).trim());
    const index = (await (await fetch(feed.serviceIndexUrl)).json()) as { resources: { '@type': string; '@id': string }[] };
    expect(index.resources.find((r) => r['@type'] === 'PackagePublish/2.0.0')?.['@id']).toBe(`http://127.0.0.1:${ports.publish}/v3/package`);
    expect((await fetch(`http://127.0.0.1:${ports.worker}/health`)).status).toBe(200);
  });

  it('accepts dotnet nuget push with the printed key, and a project restores the package from the printed URL alone', async () => {
    const feed = printed()!;
    const work = await makeScratchDir('stack-script');
    const file = join(work, `${ID}.1.0.0.nupkg`);
    await writeFile(file, buildNupkg({ id: ID, version: '1.0.0' }));
    const push = await dotnetPush(file, feed, [], { allowFailure: true });
    expect(push.code, `${push.stdout}\n${push.stderr}`).toBe(0);

    await waitFor(async () => (await readFlatVersions(feed, ID))?.includes('1.0.0'), { what: `${ID} in the flat container`, timeoutMs: 60_000 });
    const project = join(work, 'consumer');
    await createConsumerProject({ dir: project, references: [{ id: ID, version: '1.0.0' }], source: feed.serviceIndexUrl });
    const restore = await dotnetRestore(project, { allowFailure: true });
    expect(restore.code, `${restore.stdout}\n${restore.stderr}`).toBe(0);
    expect((await readResolvedPackages(project)).get(ID.toLowerCase())).toBe('1.0.0');
  });

  it('stops every process it started on Ctrl-C', async () => {
    process.kill(-script!.pid!, 'SIGINT');
    const stopped = await Promise.race([exited.then(() => true), sleep(30_000).then(() => false)]);
    expect(stopped, `the script did not exit within 30 s of SIGINT; output:\n${output}`).toBe(true);
    for (const port of [ports.read, ports.publish, ports.worker]) {
      await waitFor(async () => fetch(`http://127.0.0.1:${port}/health`).then(() => false, () => true), {
        what: `nothing to answer on port ${port}`,
        timeoutMs: 15_000,
      });
    }
  });
});
