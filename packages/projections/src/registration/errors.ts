/**
 * Thrown when the leaves handed to the registration builder contradict each other or the id being
 * built (a leaf of another id, a `lowerVersion` that does not match its data) or the options are
 * unusable. A programming or data error: retrying cannot fix it.
 */
export class InvalidRegistrationInputError extends Error {
  /** Stable error code. */
  readonly code = 'invalid_registration_input' as const;
  /** What was wrong, for logs. */
  readonly details?: Record<string, unknown>;

  constructor(message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'InvalidRegistrationInputError';
    if (details !== undefined) this.details = details;
  }
}
