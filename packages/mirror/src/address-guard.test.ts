import { describe, expect, it } from 'vitest';
import type { LookupAddress } from 'node:dns';
import { createAddressGuard, createGuardedLookup, isBlockedAddress, type LookupFn } from './address-guard.js';

/** A resolver answering from a table, as DNS would. */
function table(entries: Record<string, string[]>): LookupFn {
  return async (hostname) => {
    const addresses = entries[hostname];
    if (!addresses) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
    return addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };
}

describe('#44 upstream: isBlockedAddress', () => {
  it.each([
    ['169.254.169.254', true],
    ['169.254.0.1', true],
    ['169.254.255.255', true],
    ['100.100.100.200', true],
    ['fe80::1', true],
    ['febf:ffff::1', true],
    ['fd00:ec2::254', true],
    ['::ffff:169.254.169.254', true],
    ['::ffff:a9fe:a9fe', true],
    ['127.0.0.1', false],
    ['::1', false],
    ['10.1.2.3', false],
    ['192.168.1.10', false],
    ['169.253.255.255', false],
    ['169.255.0.1', false],
    ['fec0::1', false],
    ['2001:db8::1', false],
    ['not an address', false],
  ])('%s → %s', (address, blocked) => {
    expect(isBlockedAddress(address)).toBe(blocked);
  });
});

describe('#44 upstream: the address guard', () => {
  const lookup = table({
    'metadata.feed.test': ['169.254.169.254'],
    'dual.feed.test': ['127.0.0.1', 'fe80::1'],
    localhost: ['127.0.0.1', '::1'],
    'feed.test': ['10.0.0.5'],
  });
  const guard = createAddressGuard({ lookup });

  it('refuses link-local and metadata literals, IPv6 and IPv4-mapped forms included', async () => {
    for (const url of ['http://169.254.169.254/latest/meta-data/', 'http://[fe80::1]:5000/v3/index.json', 'http://[::ffff:169.254.169.254]/x', 'https://[fd00:ec2::254]/']) {
      await expect(guard(url), url).rejects.toMatchObject({ code: 'blocked_address', message: expect.stringMatching(/link-local or cloud metadata/) });
    }
  });

  it('refuses a host name when any of its addresses is blocked, naming the host and the address', async () => {
    await expect(guard('http://metadata.feed.test/v3/index.json')).rejects.toMatchObject({
      code: 'blocked_address',
      message: expect.stringContaining('metadata.feed.test resolves to 169.254.169.254'),
      details: { host: 'metadata.feed.test', address: '169.254.169.254' },
    });
    await expect(guard('http://dual.feed.test/v3/index.json')).rejects.toMatchObject({ details: { address: 'fe80::1' } });
  });

  it('lets loopback, private ranges and unresolvable names through', async () => {
    for (const url of ['http://127.0.0.1:5000/v3/index.json', 'http://[::1]:5000/', 'http://localhost:5000/', 'https://feed.test/v3/index.json', 'http://nowhere.feed.test/']) {
      await expect(guard(url), url).resolves.toBeUndefined();
    }
  });

  it('allows everything when told to', async () => {
    const open = createAddressGuard({ lookup, allowLinkLocal: true });
    await expect(open('http://169.254.169.254/')).resolves.toBeUndefined();
    await expect(open('http://metadata.feed.test/')).resolves.toBeUndefined();
  });
});

describe('#44 upstream: the guarded lookup of connections', () => {
  const lookup = table({
    'metadata.feed.test': ['169.254.169.254'],
    'dual.feed.test': ['10.0.0.7', 'fe80::1'],
    'both.feed.test': ['10.0.0.7', '2001:db8::7'],
  });
  /** Calls a net.connect lookup the way Node.js does and returns what its callback got. */
  const resolve = (fn: ReturnType<typeof createGuardedLookup>, host: string, options: { all?: boolean; family?: number } = {}) =>
    new Promise<{ error: unknown; address: string | LookupAddress[]; family?: number | undefined }>((done) =>
      fn(host, options, ((error: unknown, address: string | LookupAddress[], family?: number) => done({ error, address, family })) as never),
    );

  it('answers allowed names, one address or all of them, of the family asked for', async () => {
    const guarded = createGuardedLookup({ lookup });
    expect(await resolve(guarded, 'both.feed.test')).toMatchObject({ error: null, address: '10.0.0.7', family: 4 });
    expect(await resolve(guarded, 'both.feed.test', { family: 6 })).toMatchObject({ error: null, address: '2001:db8::7', family: 6 });
    expect(await resolve(guarded, 'both.feed.test', { all: true })).toMatchObject({
      error: null,
      address: [
        { address: '10.0.0.7', family: 4 },
        { address: '2001:db8::7', family: 6 },
      ],
    });
  });

  it('fails a name with any blocked address in its answer, and passes on resolver errors', async () => {
    const guarded = createGuardedLookup({ lookup });
    expect((await resolve(guarded, 'metadata.feed.test')).error).toMatchObject({ code: 'blocked_address', details: { host: 'metadata.feed.test', address: '169.254.169.254' } });
    expect((await resolve(guarded, 'dual.feed.test', { all: true })).error).toMatchObject({ code: 'blocked_address', details: { address: 'fe80::1' } });
    expect((await resolve(guarded, 'nowhere.feed.test')).error).toMatchObject({ code: 'ENOTFOUND' });
  });

  it('answers blocked addresses when told to allow them', async () => {
    const open = createGuardedLookup({ lookup, allowLinkLocal: true });
    expect(await resolve(open, 'metadata.feed.test')).toMatchObject({ error: null, address: '169.254.169.254', family: 4 });
  });
});
