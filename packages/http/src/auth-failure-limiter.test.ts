/**
 * The failed-key-check limiter on its own, with a fake clock (reliability.md §2 #22). The apps'
 * tests (apps/{publish,read}-api/test/auth-rate-limit.int.test.ts) show it over HTTP.
 */
import { describe, expect, it } from 'vitest';
import { TooManyAuthFailuresError, clientKey, createAuthFailureLimiter } from './auth-failure-limiter.js';
import { createMetrics } from './metrics.js';

const refused = () => Promise.reject(Object.assign(new Error('The API key is invalid, expired or revoked.'), { code: 'forbidden' }));
const accepted = () => Promise.resolve('grant');

async function outcome(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'ok';
  } catch (error) {
    if (error instanceof TooManyAuthFailuresError) return `429 after ${error.retryAfterSeconds}s`;
    return (error as { code?: string }).code ?? 'error';
  }
}

function clock(start = 1_000_000) {
  const time = { now: start };
  return { time, now: () => time.now };
}

describe('#22 rate-limited failed key checks: the limiter', () => {
  it('#22 rate-limited failed key checks: blocks an address after maxFailures refusals within the window, with Retry-After until the block ends', async () => {
    const { time, now } = clock();
    const limiter = createAuthFailureLimiter({ maxFailures: 3, windowMs: 60_000, now });
    for (let i = 0; i < 3; i += 1) expect(await outcome(limiter.guard('10.0.0.1', 'bad', refused))).toBe('forbidden');
    expect(await outcome(limiter.guard('10.0.0.1', 'bad', refused))).toBe('429 after 60s');
    time.now += 45_500;
    expect(await outcome(limiter.guard('10.0.0.1', 'other-bad', refused))).toBe('429 after 15s');
    time.now += 15_000;
    // The block is over: checks run again (and count afresh).
    expect(await outcome(limiter.guard('10.0.0.1', 'bad', refused))).toBe('forbidden');
  });

  it('#22 rate-limited failed key checks: does not run the check of a blocked address (no database work)', async () => {
    const limiter = createAuthFailureLimiter({ maxFailures: 1, windowMs: 60_000 });
    await outcome(limiter.guard('10.0.0.1', 'bad', refused));
    let ran = false;
    const result = await outcome(
      limiter.guard('10.0.0.1', 'bad', () => {
        ran = true;
        return refused();
      }),
    );
    expect(result).toMatch(/^429/);
    expect(ran).toBe(false);
  });

  it('#22 rate-limited failed key checks: failures spread over more than a window never block', async () => {
    const { time, now } = clock();
    const limiter = createAuthFailureLimiter({ maxFailures: 3, windowMs: 10_000, now });
    for (let i = 0; i < 10; i += 1) {
      expect(await outcome(limiter.guard('10.0.0.1', 'bad', refused))).toBe('forbidden');
      time.now += 5_001;
    }
  });

  it('#22 rate-limited failed key checks: another address, and a valid key from it, are not affected', async () => {
    const limiter = createAuthFailureLimiter({ maxFailures: 2, windowMs: 60_000 });
    for (let i = 0; i < 5; i += 1) await outcome(limiter.guard('10.0.0.1', 'bad', refused));
    expect(await outcome(limiter.guard('10.0.0.1', 'bad', refused))).toMatch(/^429/);
    expect(await outcome(limiter.guard('10.0.0.2', 'valid', accepted))).toBe('ok');
    expect(await outcome(limiter.guard('10.0.0.2', 'bad', refused))).toBe('forbidden');
  });

  it('#22 rate-limited failed key checks: from a blocked address, a key that verified recently still works; a key never seen waits', async () => {
    const { time, now } = clock();
    const limiter = createAuthFailureLimiter({ maxFailures: 2, windowMs: 60_000, trustedKeyTtlMs: 30_000, now });
    expect(await outcome(limiter.guard('10.0.0.1', 'valid', accepted))).toBe('ok');
    for (let i = 0; i < 2; i += 1) await outcome(limiter.guard('10.0.0.1', 'bad', refused));
    expect(await outcome(limiter.guard('10.0.0.1', 'valid', accepted))).toBe('ok');
    expect(await outcome(limiter.guard('10.0.0.1', 'new-valid', accepted))).toMatch(/^429/);
    // A trusted key is still checked every time: revoked, it is refused (and counted).
    expect(await outcome(limiter.guard('10.0.0.1', 'valid', refused))).toBe('forbidden');
    // Trust expires (30 s after the key last verified), the block (60 s) has not.
    time.now += 30_001;
    expect(await outcome(limiter.guard('10.0.0.1', 'valid', accepted))).toMatch(/^429/);
  });

  it('#22 rate-limited failed key checks: errors that are not refusals (database down) do not count', async () => {
    const limiter = createAuthFailureLimiter({ maxFailures: 1, windowMs: 60_000 });
    const down = () => Promise.reject(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }));
    for (let i = 0; i < 3; i += 1) expect(await outcome(limiter.guard('10.0.0.1', 'k', down))).toBe('ECONNREFUSED');
    expect(await outcome(limiter.guard('10.0.0.1', 'valid', accepted))).toBe('ok');
  });

  it('#22 rate-limited failed key checks: memory stays bounded by maxAddresses and maxTrustedKeys', async () => {
    const limiter = createAuthFailureLimiter({ maxFailures: 5, windowMs: 60_000, maxAddresses: 100, maxTrustedKeys: 50 });
    for (let i = 0; i < 5_000; i += 1) {
      await outcome(limiter.guard(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, `bad-${i}`, refused));
      await outcome(limiter.guard(`10.200.0.${i & 255}`, `valid-${i}`, accepted));
    }
    expect(limiter.size).toEqual({ addresses: 100, trustedKeys: 50 });
  });

  it('#22 rate-limited failed key checks: counts failures and 429s in the metrics', async () => {
    const metrics = createMetrics({ app: 'test', processMetrics: false });
    const limiter = createAuthFailureLimiter({ maxFailures: 2, windowMs: 60_000, metrics });
    for (let i = 0; i < 5; i += 1) await outcome(limiter.guard('10.0.0.1', 'bad', refused));
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/^nucat_auth_failed_key_checks_total\{app="test"\} 2$/m);
    expect(text).toMatch(/^nucat_auth_rate_limited_total\{app="test"\} 3$/m);
  });

  it('#22 rate-limited failed key checks: maxFailures 0 turns the limiter off', async () => {
    const limiter = createAuthFailureLimiter({ maxFailures: 0, windowMs: 60_000 });
    for (let i = 0; i < 50; i += 1) expect(await outcome(limiter.guard('10.0.0.1', 'bad', refused))).toBe('forbidden');
    expect(limiter.size.addresses).toBe(0);
  });

  it('#22 rate-limited failed key checks: counts IPv6 clients by /64 and IPv4-mapped ones as IPv4', () => {
    expect(clientKey('2001:db8:1:2:3:4:5:6')).toBe('2001:db8:1:2::/64');
    expect(clientKey('2001:db8:1:2::ffff')).toBe('2001:db8:1:2::/64');
    expect(clientKey('2001:0db8::1')).toBe('2001:db8:0:0::/64');
    expect(clientKey('::1')).toBe('0:0:0:0::/64');
    expect(clientKey('::ffff:192.0.2.7')).toBe('192.0.2.7');
    expect(clientKey('192.0.2.7')).toBe('192.0.2.7');
  });
});
