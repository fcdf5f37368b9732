/**
 * Thrown by {@link parseSearchParameters} when a search or autocomplete query parameter cannot be
 * used (for example `skip=abc` or `take=1.5`). `@nucat/http` maps `invalid_request` to 400.
 */
export class InvalidSearchParameterError extends Error {
  /** Stable error code. */
  readonly code = 'invalid_request' as const;
  /** The offending parameter and value, for example `{ parameter: 'skip', value: 'abc' }`. */
  readonly details?: Record<string, unknown>;

  constructor(message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'InvalidSearchParameterError';
    if (details !== undefined) this.details = details;
  }
}

/**
 * Thrown by a backend's `replacePackage` when the documents do not belong to the id being replaced
 * or repeat a variant: a bug in the caller, never caused by a request.
 */
export class InvalidSearchDocumentError extends Error {
  /** Stable error code. */
  readonly code = 'invalid_search_document' as const;
  constructor(
    message: string,
    readonly details: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'InvalidSearchDocumentError';
  }
}
