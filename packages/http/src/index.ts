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
