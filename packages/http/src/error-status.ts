/**
 * Every error `code` the HTTP layer knows, mapped to its status. This is the only place where error
 * codes meet HTTP statuses; packages below `http` only set `code` on their errors.
 */
export const errorStatus = Object.freeze({
  invalid_package: 400,
  invalid_version: 400,
  invalid_request: 400,
  invalid_blob_key: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  request_timeout: 408,
  package_conflict: 409,
  payload_too_large: 413,
  unavailable: 503,
  // Disk full (blob store, upload folder or the database's own files): nothing was stored. 507, not
  // 503 + Retry-After: it names the cause, and waiting a few seconds does not free space.
  insufficient_storage: 507,
  // The search backend answered with an error: the client may retry; it is not the client's fault.
  search_backend_error: 503,
} as const satisfies Record<string, number>);

/** An error code with a known HTTP status. */
export type ErrorCode = keyof typeof errorStatus;

/** @returns true when `code` is a key of {@link errorStatus}. */
export function isKnownErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(errorStatus, code);
}
