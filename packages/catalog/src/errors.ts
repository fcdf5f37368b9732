/** An id+version that already exists (or existed: deleted versions are never reused). */
export class PackageConflictError extends Error {
  readonly code = 'package_conflict';
  constructor(message: string, readonly details?: Record<string, unknown>) {
    super(message);
    this.name = 'PackageConflictError';
  }
}

/** An id, version, page or leaf that is not in the catalog. */
export class NotFoundError extends Error {
  readonly code = 'not_found';
  constructor(message: string, readonly details?: Record<string, unknown>) {
    super(message);
    this.name = 'NotFoundError';
  }
}
