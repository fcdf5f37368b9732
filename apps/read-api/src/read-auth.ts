import type Koa from 'koa';
import { AuthError, authorizeRead, createCachedKeyVerifier, readPresentedCredentials } from '@nucat/auth';
import type { Db } from '@nucat/db';
import { TooManyAuthFailuresError, type AuthFailureLimiter } from '@nucat/http';

/** Options of {@link createReadAuth}. */
export interface ReadAuthOptions {
  db: Db;
  feedId: number;
  /**
   * How long a verified key is trusted without asking the database, in ms: also the longest a revoked
   * key keeps reading. @defaultValue 10000
   */
  keyCacheTtlMs?: number;
  /** Most keys remembered at once (least recently used dropped first). @defaultValue 1000 */
  keyCacheMaxEntries?: number;
  /**
   * Rate limit of refused keys per client address (reliability.md §2 #22): a blocked address gets 429
   * with `Retry-After` for keys that have not verified recently. @defaultValue no limit
   */
  failedKeyLimiter?: AuthFailureLimiter;
}

/** The message of every 401 of a private feed, whatever was missing or wrong. */
export const PRIVATE_FEED_MESSAGE =
  'This feed is private: send HTTP Basic credentials whose password is an API key (any user name).';

/**
 * Paths a private feed still answers without credentials: the probes a load balancer or orchestrator
 * calls (they show no package data). `/metrics` is not among them: Prometheus sends a read key as
 * Basic credentials.
 */
const OPEN_PATHS: ReadonlySet<string> = new Set(['/health', '/ready']);

/** The key check could not run (the database is down): 503, the client retries. */
class KeyCheckUnavailableError extends Error {
  readonly code = 'unavailable';
  constructor(cause: unknown) {
    super('The feed cannot check credentials right now; retry shortly.', { cause });
    this.name = 'KeyCheckUnavailableError';
  }
}

/**
 * Koa middleware making every read path private (everything but `/health` and `/ready`, unknown paths included,
 * so nothing tells an anonymous client what exists). Mount it after the error middleware and before
 * the router.
 *
 * - Credentials: the password of `Authorization: Basic` (user name ignored) or `X-NuGet-ApiKey`, an
 *   API key with any scope (`read` is the read-only one). A key in the query string is ignored.
 * - No credentials, malformed ones, or a key that is unknown, wrong, expired or revoked: **401** with
 *   `WWW-Authenticate: Basic realm="nucat"` and one body for all of these. NuGet goes out anonymously,
 *   answers a 401 challenge with the source's `packageSourceCredentials`, and on another 401 knows the
 *   credentials were refused (and asks a credential provider, or fails non-interactively). A 403
 *   would not tell it to retry with credentials when it has an API key configured.
 * - A valid key without a read scope (none today: every scope reads): **403**.
 * - With `failedKeyLimiter`: a key presented from an address that had too many keys refused gets
 *   **429** with `Retry-After`, unchecked, unless that key verified recently. Requests without
 *   credentials are not counted (a restore starts anonymously) and still get the 401 challenge.
 * - Verified keys are cached for `keyCacheTtlMs` (see {@link createCachedKeyVerifier}), so a restore
 *   does not hit the database per request; a revoked key stops reading within that time.
 * - Responses to authenticated reads are never stored by shared caches: `public` in `Cache-Control`
 *   becomes `private`, and `Vary: Authorization` is added.
 */
export function createReadAuth(options: ReadAuthOptions): Koa.Middleware {
  const verifier = createCachedKeyVerifier({
    db: options.db,
    feedId: options.feedId,
    ...(options.keyCacheTtlMs !== undefined ? { ttlMs: options.keyCacheTtlMs } : {}),
    ...(options.keyCacheMaxEntries !== undefined ? { maxEntries: options.keyCacheMaxEntries } : {}),
  });

  return async function requireReadCredentials(ctx, next) {
    if (OPEN_PATHS.has(ctx.path)) return next();
    const presented = readPresentedCredentials({ apiKey: ctx.get('X-NuGet-ApiKey'), authorization: ctx.get('Authorization') });
    if (presented.kind !== 'key') throw new AuthError('unauthorized', PRIVATE_FEED_MESSAGE);
    const limiter = options.failedKeyLimiter;
    const verify = () => verifier.verify(presented.key);
    let grant;
    try {
      grant = await (limiter ? limiter.guard(ctx.ip, presented.key, verify) : verify());
    } catch (error) {
      if (error instanceof TooManyAuthFailuresError) throw error;
      if (error instanceof AuthError) throw new AuthError('unauthorized', PRIVATE_FEED_MESSAGE);
      ctx.state.log?.warn({ err: error }, 'API key check failed');
      throw new KeyCheckUnavailableError(error);
    }
    authorizeRead(grant);
    ctx.vary('Authorization');
    await next();
    const cacheControl = ctx.response.get('Cache-Control');
    if (cacheControl) ctx.set('Cache-Control', cacheControl.replace(/\bpublic\b/i, 'private'));
  };
}
