import { lookup as dnsLookup } from 'node:dns/promises';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { BlockedAddressError } from './errors.js';

/** Resolves a host name to its addresses (the shape of `dns.promises.lookup(host, { all: true })`). */
export type LookupFn = (hostname: string) => Promise<readonly { address: string; family: number }[]>;

/**
 * Addresses a mirror never fetches from unless told to (reliability.md #44, SSRF): link-local ranges,
 * where cloud instance metadata services answer, and the metadata addresses outside them.
 * - 169.254.0.0/16 — IPv4 link-local (169.254.169.254 is the metadata service of most clouds);
 * - fe80::/10 — IPv6 link-local;
 * - fd00:ec2::254 — an IPv6 metadata address; 100.100.100.200 — an IPv4 metadata address outside 169.254/16.
 * IPv4-mapped IPv6 forms (`::ffff:169.254.169.254`) match the IPv4 rules. Loopback and private
 * ranges stay allowed: a mirror of another feed on the same host or network is normal.
 */
const BLOCKED = (() => {
  const list = new BlockList();
  list.addSubnet('169.254.0.0', 16, 'ipv4');
  list.addAddress('100.100.100.200', 'ipv4');
  list.addSubnet('fe80::', 10, 'ipv6');
  list.addAddress('fd00:ec2::254', 'ipv6');
  return list;
})();

/** @returns true when `address` (an IP address in text form) is link-local or a known metadata address. */
export function isBlockedAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return false;
  return BLOCKED.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

/** Options of {@link createAddressGuard}. */
export interface AddressGuardOptions {
  /** Allow link-local and metadata addresses. @defaultValue false */
  allowLinkLocal?: boolean;
  /** How host names are resolved. @defaultValue `dns.promises.lookup(host, { all: true, verbatim: true })` */
  lookup?: LookupFn;
}

const defaultLookup: LookupFn = (hostname) => dnsLookup(hostname, { all: true, verbatim: true });

/** How long a host's resolved addresses are reused (a mirror run asks the same host thousands of times). */
const RESOLVED_TTL_MS = 30_000;

/** The error for a request to `url` (or a connection to `host`) whose `host` is, or resolves to, the blocked `address`. */
function blockedError(url: string | undefined, host: string, address: string): BlockedAddressError {
  return new BlockedAddressError(
    `refusing to ${url !== undefined ? `fetch ${url}` : `connect to ${host}`}: ${host === address ? 'it is' : `${host} resolves to`} ${address}, ` +
      'a link-local or cloud metadata address (the mirror option allowLinkLocal, NUCAT_MIRROR_ALLOW_LINK_LOCAL=true, allows it)',
    { ...(url !== undefined ? { url } : {}), host, address },
  );
}

/**
 * Creates a check run before every request of a mirror or verify: it refuses a URL whose host is, or
 * resolves to, a blocked address (see {@link isBlockedAddress}) with {@link BlockedAddressError}.
 * A host that does not resolve is let through (the request then fails on its own, with its own error).
 * A host's addresses are reused for 30 s.
 *
 * The check gives a clear error before anything is sent, and is the only check of a URL whose host is
 * an IP address. A host name whose DNS answer changes after it (DNS rebinding) is caught where the
 * connection is made: the HTTP client connects through {@link createGuardedLookup}.
 */
export function createAddressGuard(options: AddressGuardOptions = {}): (url: string) => Promise<void> {
  if (options.allowLinkLocal === true) return async () => {};
  const lookup = options.lookup ?? defaultLookup;
  const resolved = new Map<string, { addresses: readonly string[]; at: number }>();
  const resolve = async (host: string): Promise<readonly string[]> => {
    const cached = resolved.get(host);
    if (cached && performance.now() - cached.at < RESOLVED_TTL_MS) return cached.addresses;
    const addresses = (await lookup(host)).map((a) => a.address);
    if (resolved.size > 1000) resolved.clear();
    resolved.set(host, { addresses, at: performance.now() });
    return addresses;
  };
  return async (url) => {
    const { hostname } = new URL(url);
    // URL keeps IPv6 literals in brackets.
    const host = hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
    let addresses: readonly string[];
    if (isIP(host) !== 0) {
      addresses = [host];
    } else {
      try {
        addresses = await resolve(host);
      } catch {
        return;
      }
    }
    const blocked = addresses.find(isBlockedAddress);
    if (blocked !== undefined) throw blockedError(url, host, blocked);
  };
}

/**
 * A `lookup` for `net.connect` (and so for an HTTP agent) that resolves with `options.lookup` and
 * fails with {@link BlockedAddressError} when any address of the answer is blocked: the address a
 * connection is made to is the address that was checked, whatever the name resolved to before.
 */
export function createGuardedLookup(options: AddressGuardOptions = {}): LookupFunction {
  const lookup = options.lookup ?? defaultLookup;
  return (hostname, lookupOptions, callback) => {
    const family = typeof lookupOptions.family === 'number' ? lookupOptions.family : lookupOptions.family === 'IPv6' ? 6 : lookupOptions.family === 'IPv4' ? 4 : 0;
    lookup(hostname).then(
      (answer) => {
        const addresses = answer.filter((a) => family === 0 || a.family === family);
        const blocked = options.allowLinkLocal === true ? undefined : addresses.find((a) => isBlockedAddress(a.address));
        if (blocked !== undefined) return callback(blockedError(undefined, hostname, blocked.address), '', 0);
        if (addresses.length === 0) {
          const error = Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND', hostname });
          return callback(error, '', 0);
        }
        if (lookupOptions.all === true) return (callback as unknown as (err: null, all: { address: string; family: number }[]) => void)(null, addresses.map((a) => ({ address: a.address, family: a.family })));
        callback(null, addresses[0]!.address, addresses[0]!.family);
      },
      (error: unknown) => callback(error as NodeJS.ErrnoException, '', 0),
    );
  };
}
