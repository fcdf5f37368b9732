import { beforeAll, describe, expect, it } from 'vitest';
import { buildNupkg, waitFor } from '@nucat/testing';
import { makeScratchDir, runDotnet, writeNugetConfig } from './support/dotnet.js';
import { getJson, pushRaw, request } from './support/feed.js';
import { useStack, withStackLogs } from './support/use-stack.js';

const stack = useStack();

/** What `dotnet package search --format json` prints, reduced to what the tests read. */
interface DotnetSearchOutput {
  searchResult: { sourceName: string; packages?: { id: string; latestVersion?: string; version?: string; totalDownloads?: number }[] }[];
}

interface QueryResponse {
  totalHits: number;
  data: { id: string; version: string; registration: string; versions: { version: string; downloads: number; '@id': string }[]; totalDownloads: number; title: string; tags: string[]; authors: string[]; owners: string[] }[];
}

const PACKAGES = [
  { id: 'Contoso.Widgets', version: '1.0.0', description: 'Widgets for everyone.', tags: 'widgets ui', authors: 'Contoso' },
  { id: 'Contoso.Widgets', version: '2.0.0', description: 'Widgets for everyone, version two.', tags: 'widgets ui', authors: 'Contoso' },
  { id: 'Contoso.Widgets.Extras', version: '1.0.0', description: 'More parts.', tags: 'extras', authors: 'Contoso' },
  { id: 'Fabrikam.Gadgets', version: '1.0.0', description: 'Gadgets that work well with widgets.', tags: 'gadgets', authors: 'Fabrikam' },
  { id: 'Fabrikam.Preview', version: '1.0.0-beta', description: 'Only a prerelease so far.', tags: 'preview', authors: 'Fabrikam' },
  { id: 'Fabrikam.SemVer2', version: '1.0.0-rc.1', description: 'A SemVer 2.0.0 package.', tags: 'semver', authors: 'Fabrikam' },
  { id: 'Fabrikam.Hidden', version: '1.0.0', description: 'Unlisted widgets.', tags: 'widgets', authors: 'Fabrikam' },
];

describe('search with the real dotnet client', () => {
  let config: string;

  beforeAll(async () => {
    await withStackLogs(stack, async () => {
      const s = stack();
      const feed = { serviceIndexUrl: s.serviceIndexUrl, publishUrl: s.publishUrl, apiKey: s.apiKey };
      let last = '';
      for (const p of PACKAGES) {
        const pushed = await pushRaw(feed, buildNupkg(p));
        expect(pushed.status, `push ${p.id} ${p.version}: ${pushed.text}`).toBe(201);
        last = pushed.commitTimestamp!;
      }
      const unlisted = await request(`${s.publishUrl}/v3/package/Fabrikam.Hidden/1.0.0`, { method: 'DELETE', headers: { 'X-NuGet-ApiKey': s.apiKey } });
      expect(unlisted.status).toBe(204);
      last = unlisted.headers.get('x-nucat-commit-timestamp') ?? last;
      await s.waitForProjection(last, ['flatcontainer', 'registration', 'search']);
      config = await writeNugetConfig(await makeScratchDir('search'), s.serviceIndexUrl);
    });
  });

  async function dotnetSearch(args: string[]): Promise<{ id: string; version: string }[]> {
    const result = await runDotnet(['package', 'search', ...args, '--configfile', config, '--format', 'json'], process.cwd());
    const parsed = JSON.parse(result.stdout.slice(result.stdout.indexOf('{'))) as DotnetSearchOutput;
    return parsed.searchResult.flatMap((r) => r.packages ?? []).map((p) => ({ id: p.id, version: p.latestVersion ?? p.version ?? '' }));
  }

  it('finds packages by id, tags and description, exact id first, and hides unlisted and prerelease ones', async () => {
    const found = await dotnetSearch(['widgets']);
    const ids = found.map((p) => p.id);
    expect(ids.slice(0, 2)).toEqual(['Contoso.Widgets', 'Contoso.Widgets.Extras']);
    expect(ids).toContain('Fabrikam.Gadgets'); // description match
    expect(ids).not.toContain('Fabrikam.Hidden'); // unlisted
    expect(found.find((p) => p.id === 'Contoso.Widgets')?.version).toBe('2.0.0');
  });

  it('shows prerelease-only packages with --prerelease only', async () => {
    expect((await dotnetSearch(['Fabrikam'])).map((p) => p.id)).not.toContain('Fabrikam.Preview');
    expect((await dotnetSearch(['Fabrikam', '--prerelease'])).map((p) => p.id)).toContain('Fabrikam.Preview');
  });

  it('answers --exact-match from registration, one row per listed version', async () => {
    const found = await dotnetSearch(['contoso.widgets', '--exact-match']);
    expect(new Set(found.map((p) => p.id))).toEqual(new Set(['Contoso.Widgets']));
    expect(found.map((p) => p.version).sort()).toEqual(['1.0.0', '2.0.0']);
  });

  it('keeps SemVer 2.0.0 packages out unless semVerLevel=2.0.0', async () => {
    const s = stack();
    const semver1 = await getJson<QueryResponse>(`${s.publicUrl}/v3/query?q=Fabrikam.SemVer2&prerelease=true`);
    expect(semver1.data.map((d) => d.id)).not.toContain('Fabrikam.SemVer2');
    const semver2 = await getJson<QueryResponse>(`${s.publicUrl}/v3/query?q=Fabrikam.SemVer2&prerelease=true&semVerLevel=2.0.0`);
    expect(semver2.data[0]?.id).toBe('Fabrikam.SemVer2');
    expect(semver2.data[0]?.registration).toContain('/registration5-gz-semver2/');
  });

  it('finds ids by owner: and shows their owners; owners changed with `nucat owners` reach search', async () => {
    const s = stack();
    const byOwner = async (owner: string) => (await getJson<QueryResponse>(`${s.publicUrl}/v3/query?q=owner:${owner}&take=100&prerelease=true&semVerLevel=2.0.0`)).data;
    // The stack's key belongs to the default owner, and so does every id it pushed.
    const mine = await byOwner('default');
    expect(mine.map((d) => d.id)).toEqual(expect.arrayContaining(['Contoso.Widgets', 'Fabrikam.Gadgets', 'Fabrikam.SemVer2']));
    expect(mine.find((d) => d.id === 'Contoso.Widgets')?.owners).toEqual(['default']);
    expect(await byOwner('contoso')).toEqual([]);
    expect((await dotnetSearch(['owner:default'])).map((p) => p.id)).toContain('Contoso.Widgets');

    const added = await s.cli(['owners', 'add', 'Contoso.Widgets', 'contoso']);
    expect(added.code, added.stderr).toBe(0);
    // No catalog commit: the worker's owner sync (every 10 s) brings it to search.
    const found = await waitFor(async () => {
      const data = await byOwner('CONTOSO');
      return data.length > 0 ? data : undefined;
    }, { what: 'owner:contoso to find Contoso.Widgets', timeoutMs: 60_000 });
    expect(found.map((d) => [d.id, d.owners])).toEqual([['Contoso.Widgets', ['contoso', 'default']]]);
    expect((await dotnetSearch(['owner:contoso widgets'])).map((p) => p.id)).toEqual(['Contoso.Widgets']);

    const removed = await s.cli(['owners', 'remove', 'Contoso.Widgets', 'contoso']);
    expect(removed.code, removed.stderr).toBe(0);
    await waitFor(async () => (await byOwner('contoso')).length === 0, { what: 'owner:contoso to find nothing again', timeoutMs: 60_000 });
  });

  it('answers in the SearchQueryService shape with consistent totalHits and paging', async () => {
    const s = stack();
    const all = await getJson<QueryResponse>(`${s.publicUrl}/v3/query?q=&take=100`);
    expect(all.totalHits).toBe(all.data.length);
    const page = await getJson<QueryResponse>(`${s.publicUrl}/v3/query?q=&skip=1&take=2`);
    expect(page.totalHits).toBe(all.totalHits);
    expect(page.data.map((d) => d.id)).toEqual(all.data.slice(1, 3).map((d) => d.id));
    const widgets = all.data.find((d) => d.id === 'Contoso.Widgets')!;
    expect(widgets.versions.map((v) => v.version)).toEqual(['1.0.0', '2.0.0']);
    expect(widgets.title).toBe('Contoso.Widgets');
    for (const v of widgets.versions) expect((await request(v['@id'])).status, v['@id']).toBe(200);
  });

  it('counts nupkg downloads (GET only) into totalDownloads', async () => {
    const s = stack();
    const url = `${s.publicUrl}/v3/flatcontainer/contoso.widgets.extras/1.0.0/contoso.widgets.extras.1.0.0.nupkg`;
    for (let i = 0; i < 3; i++) expect((await request(url)).status).toBe(200);
    expect((await request(url, { method: 'HEAD' })).status).toBe(200);
    let total = 0;
    for (let attempt = 0; attempt < 100 && total < 3; attempt++) {
      await new Promise((r) => setTimeout(r, 200));
      const r = await getJson<QueryResponse>(`${s.publicUrl}/v3/query?q=packageid:Contoso.Widgets.Extras`);
      total = r.data[0]?.totalDownloads ?? 0;
    }
    expect(total).toBe(3);
  });

  it('autocompletes ids by prefix and versions by id', async () => {
    const s = stack();
    const ids = await getJson<{ totalHits: number; data: string[] }>(`${s.publicUrl}/v3/autocomplete?q=contoso`);
    expect(ids.data).toEqual(expect.arrayContaining(['Contoso.Widgets', 'Contoso.Widgets.Extras']));
    const versions = await getJson<{ data: string[] }>(`${s.publicUrl}/v3/autocomplete?id=contoso.widgets`);
    expect(versions.data).toEqual(['1.0.0', '2.0.0']);
  });

  it('#30 search abuse: answers hostile queries with a result or a 400, never a 5xx', async () => {
    const s = stack();
    const hostile = ['a & | ! :* ( )', '"unterminated', "o'brien", 'id:', `${'x'.repeat(10_000)}`, 'tags:"a b" OR 1=1 --', '\\', '%00', 'é😀'];
    for (const q of hostile) {
      const r = await request(`${s.publicUrl}/v3/query?q=${encodeURIComponent(q)}`);
      expect(r.status, `q=${q.slice(0, 40)}`).toBeLessThan(500);
    }
    for (const params of ['take=1000000', 'skip=1000000000', 'take=-5', 'skip=abc', 'semVerLevel=banana', 'packageType=%27%3B--']) {
      const r = await request(`${s.publicUrl}/v3/query?q=widgets&${params}`);
      expect(r.status, params).toBeLessThan(500);
    }
  });
});
