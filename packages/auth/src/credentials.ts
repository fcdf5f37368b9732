/**
 * Where a request carries its API key. Pure: header values in, a key out.
 *
 * - `X-NuGet-ApiKey: <key>` — what `dotnet nuget push -k` sends;
 * - `Authorization: Basic base64(<user>:<key>)` — what a NuGet client sends after a 401 challenge when
 *   the source has `packageSourceCredentials`. The user name is ignored (any value works, as with
 *   GitLab tokens); the password is the API key.
 *
 * A key in the query string is never looked at: it would end up in access logs and proxy caches.
 */

/** The API key a request presents, and how it came. */
export type PresentedCredentials =
  /** Nothing usable: no header, or only headers carrying no key. */
  | { readonly kind: 'none' }
  /** An `Authorization` header that is not well-formed Basic credentials with a non-empty password. */
  | { readonly kind: 'malformed' }
  /** A key, from `X-NuGet-ApiKey` (`api-key-header`) or the password of Basic credentials (`basic`). */
  | { readonly kind: 'key'; readonly key: string; readonly source: 'api-key-header' | 'basic' };

/** Header values as Koa's `ctx.get()` returns them: `''` when absent. */
export interface CredentialHeaders {
  /** `X-NuGet-ApiKey` */
  readonly apiKey?: string | undefined;
  /** `Authorization` */
  readonly authorization?: string | undefined;
}

/** Longest `Authorization` value considered; a key is 82 characters, so this leaves room for any user name. */
const MAX_AUTHORIZATION_LENGTH = 2048;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * Decodes `Authorization: Basic …`.
 * @returns the user name and password, or undefined when the header is not Basic, the base64 is
 *   invalid, or the decoded text has no `:`.
 */
export function parseBasicAuthorization(header: string): { username: string; password: string } | undefined {
  if (header.length > MAX_AUTHORIZATION_LENGTH) return undefined;
  const match = /^basic[ \t]+(\S+)[ \t]*$/i.exec(header.trim());
  const encoded = match?.[1];
  if (encoded === undefined || !BASE64.test(encoded) || encoded.length % 4 === 1) return undefined;
  const decoded = Buffer.from(encoded, 'base64');
  // Reject bytes that do not round-trip (stray padding, bits after the end): not what a client sent.
  if (decoded.toString('base64').replace(/=+$/, '') !== encoded.replace(/=+$/, '')) return undefined;
  const text = decoded.toString('utf8');
  const colon = text.indexOf(':');
  if (colon < 0) return undefined;
  return { username: text.slice(0, colon), password: text.slice(colon + 1) };
}

/**
 * The key a request presents. `X-NuGet-ApiKey` wins when both are sent (the client was given `-k`);
 * otherwise the Basic password.
 */
export function readPresentedCredentials(headers: CredentialHeaders): PresentedCredentials {
  const apiKey = headers.apiKey?.trim();
  if (apiKey) return { kind: 'key', key: apiKey, source: 'api-key-header' };
  const authorization = headers.authorization?.trim();
  if (!authorization) return { kind: 'none' };
  const basic = parseBasicAuthorization(authorization);
  const password = basic?.password.trim();
  return password ? { kind: 'key', key: password, source: 'basic' } : { kind: 'malformed' };
}
