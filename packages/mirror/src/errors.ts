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

/**
 * A mirror or verify request was refused before it was sent: its host is, or resolves to, a
 * link-local or cloud metadata address (reliability.md #44). `details`: `{ url, host, address }`.
 */
export class BlockedAddressError extends Error {
  readonly code = 'blocked_address';
  constructor(message: string, readonly details?: Record<string, unknown>) {
    super(message);
    this.name = 'BlockedAddressError';
  }
}

/**
 * The source answered a package path with something that is not a `.nupkg`: an HTML or JSON page, or
 * bytes without a zip's signature (reliability.md #44). Nothing is stored; the item fails and the
 * cursor stays before it. `details`: `{ url, contentType, leading }` (`leading`: the first bytes, printable).
 */
export class NotAPackageError extends Error {
  readonly code = 'not_a_package';
  constructor(message: string, readonly details?: Record<string, unknown>) {
    super(message);
    this.name = 'NotAPackageError';
  }
}
