/**
 * A package's bytes or identity are not what the caller expected (a mirror's source served other
 * bytes than its catalog leaf describes, or a package with another id or version).
 */
export class PackageMismatchError extends Error {
  readonly code = 'package_mismatch';
  constructor(message: string, readonly details?: Record<string, unknown>) {
    super(message);
    this.name = 'PackageMismatchError';
  }
}
