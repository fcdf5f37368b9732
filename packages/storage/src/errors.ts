/**
 * Thrown when a blob key breaks the key grammar (see {@link assertValidBlobKey}).
 * The HTTP layer maps `code` `'invalid_blob_key'` to 400.
 */
export class InvalidBlobKeyError extends Error {
  /** Stable error code. */
  readonly code = 'invalid_blob_key' as const;
  /** The offending key (cut to 200 characters) and the rule it broke. */
  readonly details: { key: string; reason: string };

  constructor(key: string, reason: string) {
    const shown = key.length > 200 ? `${key.slice(0, 200)}…` : key;
    super(`invalid blob key ${JSON.stringify(shown)}: ${reason}`);
    this.name = 'InvalidBlobKeyError';
    this.details = { key: shown, reason };
  }
}

/** Thrown when an operation needs an existing blob (the source of `copy`) and there is none. */
export class BlobNotFoundError extends Error {
  /** Stable error code. */
  readonly code = 'blob_not_found' as const;
  /** The key that was not found. */
  readonly details: { key: string };

  constructor(key: string) {
    super(`blob ${JSON.stringify(key)} does not exist`);
    this.name = 'BlobNotFoundError';
    this.details = { key };
  }
}
