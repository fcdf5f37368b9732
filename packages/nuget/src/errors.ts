/**
 * Thrown when an uploaded package (nupkg, snupkg or nuspec) cannot be accepted.
 *
 * The message is written for the person who pushed the package: it says what is wrong and, where
 * it helps, how to fix it. `details` carries machine-readable context (field name, offending value,
 * entry name) for logs and API responses.
 */
export class InvalidPackageError extends Error {
  /** Stable error code; `@nucat/http` maps it to 400. */
  readonly code = 'invalid_package' as const;
  /** Optional structured context, for example `{ field: 'version', value: '1.0.0-' }`. */
  readonly details?: Record<string, unknown>;

  constructor(message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'InvalidPackageError';
    if (details !== undefined) this.details = details;
  }
}

/** Thrown by {@link parseVersion} when a string is not a valid NuGet version. */
export class InvalidVersionError extends Error {
  /** Stable error code; `@nucat/http` maps it to 400. */
  readonly code = 'invalid_version' as const;

  constructor(message: string) {
    super(message);
    this.name = 'InvalidVersionError';
  }
}
