import Koa from 'koa';
import Router from '@koa/router';
import { AuthError, readPresentedCredentials, verifyApiKey, type ApiKeyGrant } from '@nucat/auth';
import { formatCatalogTimestamp } from '@nucat/catalog';
import type { Logger } from '@nucat/config';
import {
  createAuthFailureLimiter,
  createErrorMiddleware,
  createRequestContext,
  isTimedOutRequest,
  type AuthFailureLimiter,
  type HttpMetrics,
} from '@nucat/http';
import { createPublishOps } from './ops.js';
import { pushPackage, setListed, type PublishDeps, type PublishResult } from './publish-service.js';
import { receiveUpload } from './upload.js';
import { translateInfrastructureErrors } from './unavailable.js';

/** Collaborators of the publish API. */
export interface PublishAppDeps extends PublishDeps {
  log: Logger;
  maxPackageBytes: number;
  tempDir: string;
  /** Prometheus metrics served at `/metrics`. @defaultValue new metrics with `app="publish-api"` */
  metrics?: HttpMetrics;
  /** Aborted when the process shuts down: `/health` and `/ready` then answer 503. */
  shutdownSignal?: AbortSignal;
  /**
   * Rate limit of refused API keys per client address (reliability.md §2 #22): after `maxFailures`
   * within `windowMs`, key checks from that address answer 429 with `Retry-After` (see
   * `createAuthFailureLimiter` in @nucat/http for who is still let through). The apps' main passes
   * `config.authFailures`. @defaultValue no limit
   */
  authFailures?: { maxFailures: number; windowMs: number };
}

function setCommitHeaders(ctx: Koa.Context, result: PublishResult): void {
  if (!result.commit) return;
  ctx.set('X-Nucat-Commit-Id', result.commit.commitId);
  ctx.set('X-Nucat-Commit-Timestamp', formatCatalogTimestamp(result.commit.commitTimestamp));
}

/** How long the connection of a refused upload keeps discarding input after the response. */
const LINGER_MS = 2_000;

/**
 * Closes the connection of a request answered before its body was read (too large, no key…), so
 * the server does not go on reading an upload the client may still be sending.
 *
 * A "lingering close": the response (with `Connection: close`) goes out, then FIN, and whatever
 * still arrives is discarded for at most {@link LINGER_MS} before the socket is destroyed.
 * Destroying it at once with unread input, as Node.js does after a `Connection: close` response
 * (`destroySoon()`), makes the kernel reset the connection: the client may lose the response and
 * see a network error instead, which NuGet retries by uploading again. So for this socket,
 * `destroySoon()` only ends the writable side.
 */
function closeAfterResponse(ctx: Koa.Context): void {
  const socket = ctx.req.socket;
  if (!socket || socket.destroyed) return; // the client is gone already
  ctx.set('Connection', 'close');
  ctx.req.resume();
  socket.destroySoon = () => socket.end();
  ctx.res.once('finish', () => {
    socket.end();
    const timer = setTimeout(() => socket.destroy(), LINGER_MS);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
  });
}

/**
 * The grant of the API key a request presents in `X-NuGet-ApiKey` (`-k`) or as the password of
 * `Authorization: Basic` (user name ignored), which a NuGet client sends after a 401 challenge when
 * the source has `packageSourceCredentials`.
 *
 * - nothing usable (no header, malformed Basic): AuthError `unauthorized` → 401 + `WWW-Authenticate: Basic`,
 *   so the client's credential flow runs;
 * - a refused key in `X-NuGet-ApiKey`: `forbidden` → 403 (the client was given a key; prompting would not help);
 * - a refused key as the Basic password: `unauthorized` → 401 with the challenge again, which is what NuGet's
 *   credential flow expects for credentials it supplied. Same message either way.
 * - a key presented from an address that failed too many checks (`limiter`): 429 with `Retry-After`,
 *   without checking it — unless it verified recently (see `createAuthFailureLimiter`).
 */
async function verifyRequestKey(ctx: Koa.Context, deps: PublishAppDeps, limiter: AuthFailureLimiter | undefined): Promise<ApiKeyGrant> {
  const presented = readPresentedCredentials({ apiKey: ctx.get('X-NuGet-ApiKey'), authorization: ctx.get('Authorization') });
  if (presented.kind !== 'key') return verifyApiKey(deps.db, deps.feedId, undefined);
  const verify = () => verifyApiKey(deps.db, deps.feedId, presented.key);
  try {
    return await (limiter ? limiter.guard(ctx.ip, presented.key, verify) : verify());
  } catch (error) {
    if (error instanceof AuthError && presented.source === 'basic') throw new AuthError('unauthorized', error.message);
    throw error;
  }
}

/**
 * The PackagePublish resource: push (PUT), unlist (DELETE) and relist (POST).
 * https://learn.microsoft.com/nuget/api/package-publish-resource
 *
 * The API key is checked from the headers before a byte of the body is read, so a client
 * without rights is turned away without uploading the package. It may come in `X-NuGet-ApiKey` or
 * as a Basic password (see {@link verifyRequestKey}).
 */
export function createPublishApp(deps: PublishAppDeps): Koa {
  const app = new Koa();
  // The client address is the socket's: the failed-key limiter counts per address, so no header may set it.
  app.proxy = false;
  const router = new Router();

  // Operations: /health, /ready and /metrics (ops.ts).
  const ops = createPublishOps({
    db: deps.db,
    ...(deps.metrics ? { metrics: deps.metrics } : {}),
    ...(deps.shutdownSignal ? { shutdownSignal: deps.shutdownSignal } : {}),
  });
  router.get('/health', ops.probes.health);
  router.get('/ready', ops.probes.ready);
  router.get('/metrics', ops.metrics.handler);
  const limiter =
    deps.authFailures && deps.authFailures.maxFailures > 0
      ? createAuthFailureLimiter({ ...deps.authFailures, metrics: ops.metrics })
      : undefined;

  // The client appends a trailing slash to the PackagePublish @id; accept both forms.
  const push = async (ctx: Koa.Context) => {
    const grant = await verifyRequestKey(ctx, deps, limiter);
    const upload = await receiveUpload(ctx.req, { maxBytes: deps.maxPackageBytes, tempDir: deps.tempDir });
    try {
      const result = await pushPackage(deps, grant, upload);
      setCommitHeaders(ctx, result);
      ctx.status = 201;
      ctx.body = { id: result.packageId, version: result.version, commitId: result.commit?.commitId, ...(result.signature ? { signature: result.signature } : {}) };
      ctx.state.log?.info({ packageId: result.packageId, version: result.version }, 'package pushed');
    } finally {
      await upload.remove();
    }
  };
  router.put('/v3/package', ops.countPush, push);
  router.put('/v3/package/', ops.countPush, push);

  // DELETE unlists (the version stays restorable); POST relists. Both answer 2xx with no body.
  router.delete('/v3/package/:id/:version', async (ctx) => {
    const grant = await verifyRequestKey(ctx, deps, limiter);
    const result = await setListed(deps, grant, ctx.params.id!, ctx.params.version!, false);
    setCommitHeaders(ctx, result);
    ctx.status = 204;
  });
  router.post('/v3/package/:id/:version', async (ctx) => {
    const grant = await verifyRequestKey(ctx, deps, limiter);
    const result = await setListed(deps, grant, ctx.params.id!, ctx.params.version!, true);
    setCommitHeaders(ctx, result);
    ctx.status = 200;
  });

  app.use(ops.metrics.middleware);
  app.use(createRequestContext(deps.log));
  // Outside the error middleware, so it sees the final status of thrown errors too.
  app.use(async (ctx, next) => {
    await next();
    // A push refused before its body was read: close the connection rather than drain it.
    if (ctx.status >= 400 && !ctx.req.complete) closeAfterResponse(ctx);
  });
  app.use(createErrorMiddleware());
  app.use(translateInfrastructureErrors());
  app.use(router.routes());
  app.use(router.allowedMethods());
  app.on('error', (err, ctx) => {
    const log = ctx?.state?.log ?? deps.log;
    // The server answered 408 itself (body too slow) and closed the connection: the client's doing.
    if (ctx?.req && isTimedOutRequest(ctx.req)) log.warn({ err: err.message }, 'request body too slow: answered 408, connection closed');
    else log.error({ err }, 'request failed');
  });
  return app;
}
