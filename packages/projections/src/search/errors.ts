/**
 * Thrown when the leaves handed to the search document builder contradict the id being built (a
 * leaf of another id, or a `lowerVersion` that does not match its data). A programming or data
 * error: retrying cannot fix it.
 */
export class InvalidSearchInputError extends Error {
  /** Stable error code. */
  readonly code = 'invalid_search_input' as const;
  /** What was wrong, for logs. */
  readonly details?: Record<string, unknown>;

  constructor(message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'InvalidSearchInputError';
    if (details !== undefined) this.details = details;
  }
}
