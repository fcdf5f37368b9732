/**
 * Thrown when a catalog document cannot be rendered from the values given: an invalid date, a base
 * URL that is not absolute, an empty page. Always a programming or data error, never user input.
 */
export class InvalidCatalogInputError extends Error {
  /** Stable error code. */
  readonly code = 'invalid_catalog_input' as const;
  /** What was wrong, for logs. */
  readonly details?: Record<string, unknown>;

  constructor(message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'InvalidCatalogInputError';
    if (details !== undefined) this.details = details;
  }
}
