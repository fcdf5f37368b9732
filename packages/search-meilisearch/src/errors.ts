/**
 * Thrown when Meilisearch refuses or fails an operation: a failed task (its Meilisearch error code
 * is in `details.meiliCode`), an error response, or invalid backend options. Messages and details
 * never carry the API key.
 */
export class MeilisearchBackendError extends Error {
  /** Stable error code. */
  readonly code = 'search_backend_error' as const;
  /** What failed, for example `{ operation: 'replacePackage', taskUid: 12, meiliCode: 'invalid_document_id' }`. */
  readonly details?: Record<string, unknown>;

  constructor(message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MeilisearchBackendError';
    if (details !== undefined) this.details = details;
  }
}

/**
 * Thrown when Meilisearch cannot be reached or does not answer in time (request timeout,
 * connection refused, a task still not processed after the wait limit). `@nucat/http` maps
 * `unavailable` to 503: the request may succeed later.
 */
export class MeilisearchUnavailableError extends Error {
  /** Stable error code. */
  readonly code = 'unavailable' as const;
  /** `{ operation, reason }`, where reason is `request_timeout`, `request_failed` or `task_timeout`. */
  readonly details: Record<string, unknown>;

  constructor(message: string, details: Record<string, unknown>, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MeilisearchUnavailableError';
    this.details = details;
  }
}

/**
 * Thrown by `replacePackage` when the documents do not belong to the id being replaced or repeat a
 * variant: a bug in the caller, never caused by a request.
 */
export class MeilisearchInvalidDocumentError extends Error {
  /** Stable error code (the same as the PostgreSQL backend's). */
  readonly code = 'invalid_search_document' as const;
  /** The id and variant concerned. */
  readonly details: Record<string, unknown>;

  constructor(message: string, details: Record<string, unknown>) {
    super(message);
    this.name = 'MeilisearchInvalidDocumentError';
    this.details = details;
  }
}
