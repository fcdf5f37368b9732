/**
 * A private feed (NUCAT_PRIVATE=true) driven by the real dotnet CLI and the built `nucat` CLI:
 * read-only keys made with `nucat keys create --scopes read`, listed and revoked with `nucat keys`;
 * `dotnet restore` with packageSourceCredentials (any user name, an API key as the password) works and
 * fails without them, or with a wrong or revoked key; `dotnet nuget push -k` works, and so does a push
 * whose key comes only from the source credentials (Basic).
 * Cases: reliability.md §2 #22, #23, #24. Protocol: nuget-protocol.md §4 and §12.
 */
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '@nucat/testing';
import {
  createConsumerProject,
  dotnetRestore,
  makeScratchDir,
  packLibrary,
  readResolvedPackages,
  runDotnet,
  writeNugetConfig,
  type DotnetResult,
} from './support/dotnet.js';
import { request } from './support/feed.js';
import { useStack, withStackLogs } from './support/use-stack.js';

const ID = 'Nucat.E2E.Private';
const stack = useStack({ env: { NUCAT_PRIVATE: 'true' } });

let work: string;
let readKey: string;
let pushKey: string;
let libraries: { v1: string; v2: string };

const output = (result: { stdout: string; stderr: string }) => `${result.stdout}\n${result.stderr}`;
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/** A fresh scratch folder whose nuget.config names the private feed, with these credentials if any. */
async function configuredDir(prefix: string, credentials?: { username: string; password: string }): Promise<string> {
  const dir = await makeScratchDir(prefix);
  await writeNugetConfig(dir, stack().serviceIndexUrl, credentials ? { credentials } : {});
  return dir;
}

/** `dotnet nuget push` from a folder whose nuget.config carries read credentials (the service index is private). */
async function push(nupkg: string, options: { apiKey?: string; credentials: { username: string; password: string } }): Promise<DotnetResult> {
  const cwd = await configuredDir('push', options.credentials);
  const args = ['nuget', 'push', nupkg, '-s', stack().serviceIndexUrl, ...(options.apiKey ? ['-k', options.apiKey] : [])];
  return runDotnet(args, cwd, { allowFailure: true });
}

/** Waits until the flat container and registration (read with the read key) list `version`. */
async function waitUntilRestorable(version: string): Promise<void> {
  const headers = { Authorization: basic('ci', readKey) };
  const lowerId = ID.toLowerCase();
  await waitFor(
    async () => {
      const flat = await request(`${stack().publicUrl}/v3/flatcontainer/${lowerId}/index.json`, { headers });
      const registration = await request(`${stack().publicUrl}/v3/registration5-gz-semver2/${lowerId}/index.json`, { headers });
      return flat.status === 200 && flat.text.includes(`"${version}"`) && registration.status === 200 && registration.text.includes(`"${version}"`);
    },
    { what: `${ID} ${version} to be restorable`, timeoutMs: 60_000, intervalMs: 100 },
  );
}

/** Restores a project referencing `ID` at `version` with this nuget.config. */
async function restore(prefix: string, version: string, credentials?: { username: string; password: string }): Promise<{ dir: string; result: DotnetResult }> {
  const dir = await configuredDir(prefix, credentials);
  await createConsumerProject({ dir, references: [{ id: ID, version: `[${version}]` }] });
  const result = await dotnetRestore(dir, { allowFailure: true, noCache: true });
  return { dir, result };
}

beforeAll(async () => {
  await withStackLogs(stack, async () => {
    work = await makeScratchDir('private-feed');
    const [v1, v2] = await Promise.all([
      packLibrary({ dir: join(work, 'lib-1.0.0'), id: ID, version: '1.0.0' }),
      packLibrary({ dir: join(work, 'lib-2.0.0'), id: ID, version: '2.0.0' }),
    ]);
    libraries = { v1: v1.nupkg, v2: v2.nupkg };
  });
});

describe('nucat keys', () => {
  it('creates a read-only key with --scopes read and prints only the key', async () => {
    const created = await stack().cli(['keys', 'create', '--name', 'ci-read', '--scopes', 'read']);

    expect(created.code, output(created)).toBe(0);
    expect(created.stdout).toMatch(/^nucat_[0-9a-f]{16}_[A-Za-z0-9_-]{43}\n$/);
    readKey = created.stdout.trim();
  });

  it('creates a push key and a key expiring in --expires-days', async () => {
    const pushCreated = await stack().cli(['keys', 'create', '--name', 'ci-push', '--scopes', 'push,push-version']);
    const expiring = await stack().cli(['keys', 'create', '--name', 'short-lived', '--scopes', 'read', '--expires-days', '2']);

    expect(pushCreated.code, output(pushCreated)).toBe(0);
    expect(expiring.code, output(expiring)).toBe(0);
    pushKey = pushCreated.stdout.trim();
  });

  it('lists every key with its state, scopes, ids and expiry, never a secret', async () => {
    const listed = await stack().cli(['keys', 'list']);

    expect(listed.code, output(listed)).toBe(0);
    const lines = listed.stdout.trim().split('\n');
    const line = (name: string) => lines.find((l) => l.split(/\s+/)[1] === name) ?? '';
    expect(line('e2e')).toMatch(/ active {2}scopes=push,push-version,unlist,read {2}ids=\* {2}expires=never$/);
    expect(line('ci-read')).toMatch(/ active {2}scopes=read {2}ids=\* {2}expires=never$/);
    const expires = /expires=(\S+)$/.exec(line('short-lived'))?.[1] ?? '';
    expect(Date.parse(expires) - Date.now()).toBeGreaterThan(2 * 86_400_000 - 300_000);
    expect(Date.parse(expires) - Date.now()).toBeLessThanOrEqual(2 * 86_400_000);
    // The secret is everything after `nucat_<lookup>_`; it may itself contain `_` (base64url).
    const secret = readKey.slice(readKey.indexOf('_', 'nucat_'.length) + 1);
    expect(secret.length).toBeGreaterThan(20);
    expect(listed.stdout).not.toContain(secret);
  });

  it('revokes a key by name once, and says so', async () => {
    const revoked = await stack().cli(['keys', 'revoke', 'short-lived']);
    const again = await stack().cli(['keys', 'revoke', 'short-lived']);
    const listed = await stack().cli(['keys', 'list']);

    expect(revoked.code, output(revoked)).toBe(0);
    expect(revoked.stdout).toBe('revoked 1 key(s)\n');
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/no active key 'short-lived'/);
    expect(listed.stdout).toMatch(/ short-lived {2}revoked /);
  });

  it.each([
    [['--scopes', 'write'], /unknown scope 'write'/],
    [['--scopes', ','], /--scopes needs at least one/],
    [['--expires-days', '0'], /--expires-days must be a positive number/],
    [['--expires-days', 'soon'], /--expires-days must be a positive number/],
  ])('refuses keys create %j with exit code 2', async (args, message) => {
    const result = await stack().cli(['keys', 'create', '--name', 'bad', ...args]);

    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stdout).toBe('');
  });
});

describe('#24 reads of a private feed', () => {
  it('answers the service index with 401 and a Basic challenge without credentials, 200 with a read key', async () => {
    const anonymous = await request(stack().serviceIndexUrl);
    const withKey = await request(stack().serviceIndexUrl, { headers: { Authorization: basic('anyone', readKey) } });

    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toBe('Basic realm="nucat"');
    expect(withKey.status).toBe(200);
  });
});

describe('dotnet nuget push to a private feed', () => {
  it('pushes with -k (X-NuGet-ApiKey), reading the service index with the source credentials', async () => {
    const result = await push(libraries.v1, { apiKey: stack().apiKey, credentials: { username: 'ci', password: readKey } });

    expect(result.code, output(result)).toBe(0);
    expect(result.stdout).toMatch(/Your package was pushed/);
    await waitUntilRestorable('1.0.0');
  });

  it('pushes with no -k when the source credentials hold a push key (Basic on the publish API)', async () => {
    const result = await push(libraries.v2, { credentials: { username: 'ci', password: pushKey } });

    expect(result.code, output(result)).toBe(0);
    expect(result.stdout).toMatch(/Your package was pushed/);
    await waitUntilRestorable('2.0.0');
  });

  it('#23 refuses a push whose only key is a read key', async () => {
    const again = await packLibrary({ dir: join(work, 'lib-3.0.0'), id: ID, version: '3.0.0' });
    const result = await push(again.nupkg, { credentials: { username: 'ci', password: readKey } });

    expect(result.code, output(result)).not.toBe(0);
    expect(output(result)).toMatch(/403|Forbidden/);
  });
});

describe('dotnet restore from a private feed', () => {
  it('restores with packageSourceCredentials: any user name, a read key as ClearTextPassword', async () => {
    const { dir, result } = await restore('restore-creds', '1.0.0', { username: 'whoever', password: readKey });

    expect(result.code, output(result)).toBe(0);
    expect((await readResolvedPackages(dir)).get(ID.toLowerCase())).toBe('1.0.0');
  });

  it('restores with a push key as the password too (every scope reads)', async () => {
    const { dir, result } = await restore('restore-push-key', '2.0.0', { username: 'ci', password: pushKey });

    expect(result.code, output(result)).toBe(0);
    expect((await readResolvedPackages(dir)).get(ID.toLowerCase())).toBe('2.0.0');
  });

  it('fails without credentials, reporting 401', async () => {
    const { result } = await restore('restore-anonymous', '1.0.0');

    expect(result.code, output(result)).not.toBe(0);
    expect(output(result)).toMatch(/401/);
  });

  it('fails with a wrong password, reporting 401', async () => {
    const { result } = await restore('restore-wrong', '1.0.0', { username: 'ci', password: `${readKey.slice(0, -3)}abc` });

    expect(result.code, output(result)).not.toBe(0);
    expect(output(result)).toMatch(/401/);
  });

  it('#23 fails with a revoked key', async () => {
    const created = await stack().cli(['keys', 'create', '--name', 'to-revoke', '--scopes', 'read']);
    const key = created.stdout.trim();
    expect((await stack().cli(['keys', 'revoke', 'to-revoke'])).code).toBe(0);

    const { result } = await restore('restore-revoked', '1.0.0', { username: 'ci', password: key });

    expect(result.code, output(result)).not.toBe(0);
    expect(output(result)).toMatch(/401/);
  });
});
