/**
 * Operating nucat, end to end: `nucat push --wait` gives read-your-writes, `nucat status --json` shows
 * every projection caught up, and every app exports its metrics and answers `/health` and `/ready`.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildNupkg } from '@nucat/testing';
import { useStack, withStackLogs } from './support/use-stack.js';

const stack = useStack();

interface StatusJson {
  catalogHead: string | null;
  projections: { projection: string; cursor: string; lagSeconds: number; lagCommits: number; queue: Record<string, number> | null }[];
  errors: string[];
}

let dir: string;
let nupkg: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'nucat-e2e-ops-'));
  nupkg = join(dir, 'contoso.operated.1.0.0.nupkg');
  await writeFile(nupkg, buildNupkg({ id: 'Contoso.Operated', version: '1.0.0', description: 'Pushed by nucat push --wait.' }));
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('nucat push --wait', () => {
  it('returns once the package is restorable and searchable, printing its commit timestamp', async () => {
    const s = stack();
    const result = await s.cli(['push', nupkg, '--source', s.serviceIndexUrl, '--api-key', s.apiKey, '--wait', 'search']);
    expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
    expect(result.stdout).toMatch(/^commit timestamp: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$/m);
    expect(result.stdout).toMatch(/^searchable: flatcontainer, registration, search at or past /m);

    // Immediately, without any further waiting: restorable…
    const index = await fetch(`${s.publicUrl}/v3/flatcontainer/contoso.operated/index.json`);
    expect(index.status).toBe(200);
    expect(await index.json()).toEqual({ versions: ['1.0.0'] });
    const registration = await fetch(`${s.publicUrl}/v3/registration5-gz-semver2/contoso.operated/index.json`);
    expect(registration.status).toBe(200);
    // …and searchable.
    const search = (await (await fetch(`${s.publicUrl}/v3/query?q=Contoso.Operated`)).json()) as { data: { id: string }[] };
    expect(search.data.map((d) => d.id)).toContain('Contoso.Operated');
  });

  it('exits 4 with the message when the version exists', async () => {
    const s = stack();
    const result = await s.cli(['push', nupkg, '--source', s.serviceIndexUrl, '--api-key', s.apiKey, '--wait']);
    expect(result.code).toBe(4);
    expect(result.stderr).toMatch(/\(409\)/);
  });

  it('exits 3 with a clear message when the projections do not catch up in time', async () => {
    const s = stack();
    await s.kill('worker', 'SIGTERM');
    try {
      const late = join(dir, 'contoso.operated.2.0.0.nupkg');
      await writeFile(late, buildNupkg({ id: 'Contoso.Operated', version: '2.0.0' }));
      const result = await s.cli(['push', late, '--source', s.serviceIndexUrl, '--api-key', s.apiKey, '--wait', '--timeout', '2']);
      expect(result.code).toBe(3);
      expect(result.stderr).toMatch(/timed out after 2 s waiting for flatcontainer, registration to reach .*The push itself succeeded\./);
    } finally {
      await s.restart('worker');
    }
  });
});

describe('nucat status --json', () => {
  it('shows every projection caught up (lag 0) once the worker has projected everything', async () => {
    const s = stack();
    // The push the worker missed while it was down is projected after its restart.
    const again = await s.cli(['push', nupkg, '--source', s.serviceIndexUrl, '--api-key', s.apiKey]);
    expect(again.code).toBe(4);
    let status: StatusJson | undefined;
    const deadline = Date.now() + 60_000;
    for (;;) {
      const result = await s.cli(['status', '--json']);
      expect(result.code, result.stderr).toBe(0);
      status = JSON.parse(result.stdout) as StatusJson;
      if (status.projections.every((p) => p.lagSeconds === 0) || Date.now() > deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(status.errors).toEqual([]);
    expect(status.catalogHead).not.toBeNull();
    expect(status.projections.map((p) => p.projection)).toEqual(['flatcontainer', 'registration', 'search']);
    for (const p of status.projections) {
      expect(p, p.projection).toMatchObject({ lagSeconds: 0, lagCommits: 0, cursor: status.catalogHead });
      expect(p.queue, p.projection).toMatchObject({ failed: 0 });
    }
  });
});

describe('metrics and probes on every app', () => {
  it('exports the expected metrics on read-api, publish-api and worker', async () => {
    const s = stack();
    const expected: Record<string, string[]> = {
      [s.publicUrl]: ['nucat_http_request_duration_seconds', 'nucat_downloads_total', 'process_cpu_seconds_total'],
      [s.publishUrl]: ['nucat_http_request_duration_seconds', 'nucat_pushes_total', 'process_cpu_seconds_total'],
      [s.workerUrl]: [
        'nucat_projection_cursor_lag_seconds',
        'nucat_projection_lag_commits',
        'nucat_projection_pending_seconds',
        'nucat_queue_jobs',
        'nucat_projected_ids_total',
        'process_cpu_seconds_total',
      ],
    };
    await withStackLogs(stack, async () => {
      for (const [base, names] of Object.entries(expected)) {
        const response = await fetch(`${base}/metrics`);
        expect(response.status, base).toBe(200);
        expect(response.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
        const text = await response.text();
        for (const name of names) expect(text, `${base}/metrics has ${name}`).toContain(`# TYPE ${name} `);
      }
    });
    const pushes = await (await fetch(`${s.publishUrl}/metrics`)).text();
    expect(pushes).toMatch(/^nucat_pushes_total\{(?=.*result="created").*\} 2$/m);
    expect(pushes).toMatch(/^nucat_pushes_total\{(?=.*result="conflict").*\} 2$/m);
    const worker = await (await fetch(`${s.workerUrl}/metrics`)).text();
    for (const projection of ['flatcontainer', 'registration', 'search']) {
      expect(worker).toMatch(new RegExp(`^nucat_projection_cursor_lag_seconds\\{(?=.*projection="${projection}").*\\} 0$`, 'm'));
      // The restarted worker projected Contoso.Operated 2.0.0, pushed while it was down.
      const projected = new RegExp(`^nucat_projected_ids_total\\{(?=.*projection="${projection}").*\\} (\\d+)$`, 'm').exec(worker);
      expect(Number(projected?.[1]), projection).toBeGreaterThanOrEqual(1);
    }
  });

  it('answers /health and /ready with 200 on every app', async () => {
    const s = stack();
    for (const base of [s.publicUrl, s.publishUrl, s.workerUrl]) {
      const health = await fetch(`${base}/health`);
      expect(health.status, `${base}/health`).toBe(200);
      const ready = await fetch(`${base}/ready`);
      const body = (await ready.json()) as { status: string; checks: Record<string, unknown> };
      expect(ready.status, `${base}/ready: ${JSON.stringify(body)}`).toBe(200);
      expect(body.status).toBe('ready');
    }
    const worker = (await (await fetch(`${s.workerUrl}/ready`)).json()) as { checks: Record<string, unknown> };
    expect(Object.keys(worker.checks)).toEqual(['database', 'redis', 'projections']);
  });
});
