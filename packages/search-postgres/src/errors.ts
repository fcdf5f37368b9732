/**
 * Thrown when a search query runs past its statement timeout (or is cancelled) in PostgreSQL.
 * `@nucat/http` maps `unavailable` to 503: the request may succeed later, and a 500 would be wrong.
 */
export class SearchUnavailableError extends Error {
  /** Stable error code. */
  readonly code = 'unavailable' as const;
  /** `{ reason: 'statement_timeout' }`. */
  readonly details: Record<string, unknown>;

  constructor(message: string, details: Record<string, unknown>, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SearchUnavailableError';
    this.details = details;
  }
}
