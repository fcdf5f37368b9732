/**
 * The source feed answered something the mirror cannot use: an HTTP error, a document that is not
 * a catalog, a leaf without a hash, a package that is not where its catalog says.
 */
export class MirrorSourceError extends Error {
  readonly code = 'mirror_source';
  constructor(message: string, readonly details?: Record<string, unknown>) {
    super(message);
    this.name = 'MirrorSourceError';
  }
}

/** An option given to the mirror or verify is unusable (a concurrency of 0, a malformed id glob). */
export class InvalidMirrorOptionError extends Error {
  readonly code = 'invalid_mirror_option';
  constructor(message: string, readonly details?: Record<string, unknown>) {
    super(message);
    this.name = 'InvalidMirrorOptionError';
  }
}
