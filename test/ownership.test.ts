/**
 * Ownership end to end (reliability.md §2 #14, #15, #19; P8): keys of two owners made with the built
 * `nucat keys create --owner`, pushes and unlists over real HTTP and with the real `dotnet nuget push` /
 * `dotnet nuget delete`, ids shared and prefixes reserved with `nucat owners` / `nucat prefixes`, and the
 * signature state shown by `nucat info`.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildNupkg } from '@nucat/testing';
import { dotnetDelete, dotnetPush, makeScratchDir } from './support/dotnet.js';
import { describeResponse, pushRaw, request } from './support/feed.js';
import { useStack } from './support/use-stack.js';

const stack = useStack();
const keys = { alice: '', bob: '' };
let work: string;

const output = (result: { stdout: string; stderr: string }) => `${result.stdout}\n${result.stderr}`;

/** Runs the built CLI and expects exit code `code`. */
async function cli(args: string[], code = 0): Promise<string> {
  const result = await stack().cli(args);
  expect(result.code, `nucat ${args.join(' ')}\n${output(result)}`).toBe(code);
  return output(result);
}

async function pushAs(owner: keyof typeof keys, id: string, version: string, files?: Record<string, string | Buffer>) {
  return pushRaw(stack(), buildNupkg({ id, version, ...(files ? { files } : {}) }), { apiKey: keys[owner] });
}

function errorOf(result: { text: string }): { code: string; message: string; details?: { reason: string } } {
  return (JSON.parse(result.text) as { error: { code: string; message: string; details?: { reason: string } } }).error;
}

beforeAll(async () => {
  work = await makeScratchDir('ownership');
  for (const [owner, args] of [
    ['alice', ['--name', 'alice-ci', '--owner', 'alice']],
    ['bob', ['--name', 'bob-ci', '--owner', 'Bob']],
  ] as const) {
    const created = await stack().cli(['keys', 'create', ...args]);
    expect(created.code, output(created)).toBe(0);
    keys[owner] = created.stdout.trim();
  }
});

describe('keys with owners', () => {
  it("lists each key's owner; keys created without --owner (the stack's own) belong to 'default', which is not shown", async () => {
    const listed = await cli(['keys', 'list']);
    expect(listed).toMatch(/ alice-ci {2}active .* expires=never {2}owner=alice\n/);
    expect(listed).toMatch(/ bob-ci {2}active .* expires=never {2}owner=bob\n/);
    expect(listed).toMatch(/ e2e {2}active .* expires=never\n/);
    expect(await cli(['keys', 'create', '--name', 'x', '--owner', 'not valid'], 2)).toMatch(/invalid --owner/);
  });
});

describe('#14 case-variant id squatting', () => {
  it('#14 case-variant id squatting: another owner pushing another casing of the id gets 403, over HTTP and with dotnet nuget push', async () => {
    const first = await pushAs('alice', 'Nucat.E2E.Owned', '1.0.0');
    expect(first.status, describeResponse('PUT', 'alice push', first)).toBe(201);

    const raw = await pushAs('bob', 'nucat.e2e.owned', '2.0.0');
    expect(raw.status, describeResponse('PUT', 'bob push', raw)).toBe(403);
    expect(errorOf(raw)).toMatchObject({ code: 'forbidden', details: { reason: 'id_owned_by_another_owner' } });
    expect(errorOf(raw).message).toContain('belongs to another owner');

    const file = join(work, 'nucat.e2e.owned.3.0.0.nupkg');
    await writeFile(file, buildNupkg({ id: 'NUCAT.E2E.OWNED', version: '3.0.0' }));
    const dotnet = await dotnetPush(file, { serviceIndexUrl: stack().serviceIndexUrl, apiKey: keys.bob }, [], { allowFailure: true });
    expect(dotnet.code, output(dotnet)).not.toBe(0);
    expect(output(dotnet)).toMatch(/403|Forbidden/);

    expect(await cli(['owners', 'list', 'NUCAT.e2e.OWNED'])).toMatch(/^Nucat\.E2E\.Owned {2}owners: alice {2}claimed: /);
  });

  it('#14 case-variant id squatting: two owners pushing one new id at once through real HTTP — exactly one 201, the other 403', async () => {
    for (let round = 0; round < 4; round++) {
      const [a, b] = await Promise.all([pushAs('alice', `Nucat.E2E.Race${round}`, '1.0.0'), pushAs('bob', `NUCAT.E2E.RACE${round}`, '1.0.0')]);
      expect([a.status, b.status].sort(), `round ${round}: ${a.text} / ${b.text}`).toEqual([201, 403]);
      const winner = a.status === 201 ? 'alice' : 'bob';
      expect(await cli(['owners', 'list', `nucat.e2e.race${round}`])).toContain(`owners: ${winner} `);
    }
  });

  it('a non-owner cannot unlist (dotnet nuget delete → 403); after `nucat owners add` it can, after `owners remove` not any more', async () => {
    const refused = await dotnetDelete('nucat.e2e.owned', '1.0.0', { serviceIndexUrl: stack().serviceIndexUrl, apiKey: keys.bob }, { allowFailure: true });
    expect(refused.code, output(refused)).not.toBe(0);
    expect(output(refused)).toMatch(/403|Forbidden/);

    expect(await cli(['owners', 'add', 'nucat.e2e.owned', 'bob'])).toContain('added bob to nucat.e2e.owned');
    expect(await cli(['owners', 'list', 'Nucat.E2E.Owned'])).toContain('owners: alice, bob ');
    const unlisted = await dotnetDelete('nucat.e2e.owned', '1.0.0', { serviceIndexUrl: stack().serviceIndexUrl, apiKey: keys.bob });
    expect(unlisted.code, output(unlisted)).toBe(0);
    expect((await pushAs('bob', 'Nucat.E2E.Owned', '2.0.0')).status).toBe(201);

    expect(await cli(['owners', 'remove', 'Nucat.E2E.Owned', 'bob'])).toContain('removed bob');
    expect((await pushAs('bob', 'Nucat.E2E.Owned', '4.0.0')).status).toBe(403);
    expect(await cli(['owners', 'remove', 'Nucat.E2E.Owned', 'alice'], 1)).toMatch(/last owner/);
    expect(await cli(['owners', 'list', 'No.Such.Id'], 1)).toMatch(/no package id/);
  });
});

describe('#15 reserved prefix', () => {
  it('#15 reserved prefix: `nucat prefixes reserve` keeps new ids under it for its owner; existing ids keep theirs; release frees it', async () => {
    expect((await pushAs('bob', 'Nucat.Contoso.Existing', '1.0.0')).status).toBe(201);
    expect(await cli(['prefixes', 'reserve', 'Nucat.Contoso.', '--owner', 'alice'])).toContain('reserved prefix Nucat.Contoso.* for alice');
    expect(await cli(['prefixes', 'list'])).toMatch(/Nucat\.Contoso\.\* {2}prefix {2}owner=alice {2}reserved=/);
    expect(await cli(['prefixes', 'reserve', 'Nucat.Contoso*', '--owner', 'alice'], 1)).toMatch(/invalid id pattern/);

    const refused = await pushAs('bob', 'nucat.contoso.NewTool', '1.0.0');
    expect(refused.status, refused.text).toBe(403);
    expect(errorOf(refused).details?.reason).toBe('id_prefix_reserved');
    expect((await pushAs('bob', 'Nucat.ContosoEvil', '1.0.0')).status).toBe(201);
    expect((await pushAs('alice', 'Nucat.Contoso.NewTool', '1.0.0')).status).toBe(201);
    expect((await pushAs('bob', 'Nucat.Contoso.Existing', '2.0.0')).status).toBe(201);

    expect(await cli(['prefixes', 'release', 'nucat.contoso.*'])).toContain('released 1 reservation(s)');
    expect((await pushAs('bob', 'Nucat.Contoso.Later', '1.0.0')).status).toBe(201);
  });
});

describe('#19 signature', () => {
  it('#19 signature tampering: a package with a garbage .signature.p7s is 201 and `nucat info` shows it signed (unverified)', async () => {
    const signed = await pushAs('alice', 'Nucat.E2E.Signed', '1.0.0', { '.signature.p7s': Buffer.from('garbage, not PKCS#7') });
    expect(signed.status, signed.text).toBe(201);
    expect(JSON.parse(signed.text)).toMatchObject({ signature: 'unverified' });
    expect((await pushAs('alice', 'Nucat.E2E.Signed', '2.0.0')).status).toBe(201);
    await stack().waitForProjection(signed.commitTimestamp!);

    const info = await cli(['info', 'nucat.e2e.signed']);
    expect(info).toMatch(/^Nucat\.E2E\.Signed\nowners: alice\n/);
    expect(info).toMatch(/\n1\.0\.0 {2}listed {2}signed \(unverified\) {2}/);
    expect(info).toMatch(/\n2\.0\.0 {2}listed {2}unsigned {2}/);
    // Protocol documents carry no such claim: the registration leaf is what any NuGet server serves.
    const registration = await request(`${stack().publicUrl}/v3/registration5-gz-semver2/nucat.e2e.signed/index.json`);
    expect(registration.status).toBe(200);
    expect(registration.text).not.toContain('unverified');
  });
});
