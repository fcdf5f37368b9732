export { ifNoneMatchMatches } from './conditional.js';
export { createErrorMiddleware, type ErrorBody } from './error-middleware.js';
export { errorStatus, isKnownErrorCode, type ErrorCode } from './error-status.js';
export { createRequestContext, type RequestState } from './request-context.js';
export {
  GZIP_MIN_BYTES,
  sendBytes,
  sendJson,
  sendStream,
  type OpenedBody,
  type SendBytesOptions,
  type SendJsonOptions,
  type SendStreamOptions,
} from './send.js';
export {
  HTTP_REQUEST_DURATION_METRIC,
  UNMATCHED_ROUTE,
  createMetrics,
  type CreateMetricsOptions,
  type HttpMetrics,
} from './metrics.js';
export { createProbes, createReadinessProbe, type ProbeOptions, type Probes, type ReadinessProbe } from './probes.js';
export {
  ReadinessError,
  assertLagWithin,
  runReadinessChecks,
  type CheckOutcome,
  type ReadinessCheck,
  type ReadinessReport,
  type RunReadinessOptions,
} from './readiness.js';
export {
  createLimitedServer,
  effectiveMaxConnections,
  isTimedOutRequest,
  openFilesLimit,
  serverLimitStats,
  type LimitedServerOptions,
  type ServerLimitStats,
  type ServerLimits,
} from './server-limits.js';
export {
  TooManyAuthFailuresError,
  clientKey,
  createAuthFailureLimiter,
  type AuthFailureLimiter,
  type AuthFailureLimiterOptions,
} from './auth-failure-limiter.js';
