import { createHmac, randomBytes } from 'node:crypto';
import { isIPv6 } from 'node:net';
import type { Counter } from 'prom-client';
import type { HttpMetrics } from './metrics.js';

/** Options of {@link createAuthFailureLimiter}. */
export interface AuthFailureLimiterOptions {
  /** Failed key checks from one client address that block it. 0 turns the limiter off. */
  maxFailures: number;
  /** Window in ms in which those failures count, and how long the block then lasts. */
  windowMs: number;
  /** Most client addresses remembered (least recently seen dropped first). @defaultValue 10000 */
  maxAddresses?: number;
  /**
   * How long a key that verified stays exempt from its address's block, in ms (it is still verified
   * every time; only the limiter lets it through). @defaultValue 3600000 (1 h)
   */
  trustedKeyTtlMs?: number;
  /** Most keys remembered as having verified. @defaultValue 10000 */
  maxTrustedKeys?: number;
  /**
   * Registers `nucat_auth_failed_key_checks_total` and `nucat_auth_rate_limited_total` (requests
   * answered 429) in these metrics.
   */
  metrics?: HttpMetrics;
  /** Clock, in epoch ms. @defaultValue Date.now */
  now?: () => number;
}

/** Refused because the client's address failed too many key checks (429 with `Retry-After`). */
export class TooManyAuthFailuresError extends Error {
  readonly code = 'too_many_requests' as const;
  /** Read by the error middleware: an exposed 4xx keeps its status and these headers. */
  readonly status = 429;
  readonly expose = true;
  readonly headers: Readonly<Record<string, string>>;
  constructor(readonly retryAfterSeconds: number) {
    super(`Too many failed API key checks from this address; retry in ${retryAfterSeconds} s.`);
    this.name = 'TooManyAuthFailuresError';
    this.headers = { 'Retry-After': String(retryAfterSeconds) };
  }
}

/** A limiter of failed API key checks per client address; see {@link createAuthFailureLimiter}. */
export interface AuthFailureLimiter {
  /**
   * Runs `verify` for a presented key from `address`, unless the address is blocked and the key has
   * not verified recently: then it throws {@link TooManyAuthFailuresError} without running it.
   * A rejection of `verify` that `isRefusal` accepts counts as a failure of `address`; a result
   * marks the key as verified.
   * @param isRefusal which errors mean "this key is refused" (others, e.g. the database being down,
   *   do not count). @defaultValue an error whose `code` is `unauthorized` or `forbidden`
   */
  guard<T>(address: string, presentedKey: string, verify: () => Promise<T>, isRefusal?: (error: unknown) => boolean): Promise<T>;
  /** Remembered addresses and keys, to show the memory stays bounded. */
  readonly size: { readonly addresses: number; readonly trustedKeys: number };
}

interface AddressState {
  /** Start of the current counting window (epoch ms). */
  windowStart: number;
  failures: number;
  /** Blocked until then (epoch ms); 0 when not blocked. */
  blockedUntil: number;
}

/**
 * Rate limit of failed API key checks (reliability.md §2 #22): after `maxFailures` refused keys
 * from one client address within `windowMs`, key checks from that address answer **429** with
 * `Retry-After` for `windowMs`, without touching the database.
 *
 * Decisions:
 * - **Per address, never per key.** Someone else's failures, from another address, never lock a
 *   valid key out. IPv4 addresses count one by one; IPv6 ones by /64 (what one host is usually given).
 * - **Only presented keys count.** A request without credentials is answered 401 as before (NuGet's
 *   first request to a private feed is anonymous) and costs nothing to check.
 * - **Valid keys keep working from a blocked address when they verified recently** (within
 *   `trustedKeyTtlMs`, in this process): a team behind one NAT address is not locked out by one
 *   misconfigured machine. A key never seen before waits out the block (`Retry-After`). Such a key is
 *   still verified on every request, so a revoked key stops working as before.
 * - **Unknown key and wrong secret stay indistinguishable**: both are refusals, counted the same; the
 *   429 does not depend on the key.
 * - **Bounded memory**: at most `maxAddresses` addresses and `maxTrustedKeys` keys, least recently
 *   used dropped first; keys are remembered as an HMAC under a per-process random secret.
 * - Checks already running when the limit is reached finish (a client's concurrency adds at most one
 *   round of failures).
 */
export function createAuthFailureLimiter(options: AuthFailureLimiterOptions): AuthFailureLimiter {
  const { maxFailures, windowMs } = options;
  const maxAddresses = options.maxAddresses ?? 10_000;
  const trustedKeyTtlMs = options.trustedKeyTtlMs ?? 3_600_000;
  const maxTrustedKeys = options.maxTrustedKeys ?? 10_000;
  const now = options.now ?? Date.now;
  for (const [name, value] of Object.entries({ maxFailures, windowMs, maxAddresses, trustedKeyTtlMs, maxTrustedKeys })) {
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${name} must be a whole number ≥ 0, got ${value}`);
  }
  if (windowMs < 1) throw new RangeError('windowMs must be at least 1');

  const addresses = new Map<string, AddressState>();
  const trusted = new Map<string, number>();
  const secret = randomBytes(32);
  let failed: Counter<never> | undefined;
  let limited: Counter<never> | undefined;
  if (options.metrics) {
    failed = options.metrics.counter({ name: 'nucat_auth_failed_key_checks_total', help: 'API keys presented and refused (unknown, wrong, expired or revoked).' });
    limited = options.metrics.counter({ name: 'nucat_auth_rate_limited_total', help: 'Requests answered 429: their address failed too many API key checks.' });
  }

  const fingerprint = (key: string) => createHmac('sha256', secret).update(key, 'utf8').digest('base64url').slice(0, 22);

  /** Least recently used last-touched ordering: delete and set again. */
  function touch<V>(map: Map<string, V>, key: string, value: V, max: number): void {
    map.delete(key);
    map.set(key, value);
    while (map.size > max) map.delete(map.keys().next().value!);
  }

  function isTrusted(key: string, at: number): boolean {
    const id = fingerprint(key);
    const until = trusted.get(id);
    if (until === undefined) return false;
    if (until <= at) {
      trusted.delete(id);
      return false;
    }
    return true;
  }

  function recordFailure(address: string, at: number): void {
    failed?.inc();
    let state = addresses.get(address);
    if (!state || (state.blockedUntil === 0 && at - state.windowStart >= windowMs)) state = { windowStart: at, failures: 0, blockedUntil: 0 };
    state.failures += 1;
    if (state.failures >= maxFailures && state.blockedUntil === 0) state.blockedUntil = at + windowMs;
    touch(addresses, address, state, maxAddresses);
  }

  return {
    async guard<R>(address: string, presentedKey: string, verify: () => Promise<R>, isRefusal: (error: unknown) => boolean = isKeyRefusal): Promise<R> {
      if (maxFailures === 0) return verify();
      const client = clientKey(address);
      const at = now();
      const state = addresses.get(client);
      if (state && state.blockedUntil !== 0) {
        if (state.blockedUntil <= at) {
          addresses.delete(client); // the block is over: a fresh start
        } else if (!isTrusted(presentedKey, at)) {
          limited?.inc();
          throw new TooManyAuthFailuresError(Math.max(1, Math.ceil((state.blockedUntil - at) / 1000)));
        }
      }
      let result: R;
      try {
        result = await verify();
      } catch (error) {
        if (isRefusal(error)) recordFailure(client, now());
        throw error;
      }
      if (trustedKeyTtlMs > 0 && maxTrustedKeys > 0) touch(trusted, fingerprint(presentedKey), now() + trustedKeyTtlMs, maxTrustedKeys);
      return result;
    },
    get size() {
      return { addresses: addresses.size, trustedKeys: trusted.size };
    },
  };
}

function isKeyRefusal(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'unauthorized' || code === 'forbidden';
}

/**
 * The unit an address is counted as: IPv4 (also IPv4-mapped IPv6) as is, IPv6 by its /64 prefix.
 * Anything else (a Unix socket: no address) as given.
 */
export function clientKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (!isIPv6(address)) return address;
  const [head = '', tail = ''] = address.toLowerCase().split('%')[0]!.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = address.includes('::') ? (tail === '' ? [] : tail.split(':')) : [];
  const groups = address.includes('::') ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right] : left;
  return `${groups.slice(0, 4).map((g) => Number.parseInt(g, 16).toString(16)).join(':')}::/64`;
}
