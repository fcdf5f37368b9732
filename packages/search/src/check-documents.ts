import { InvalidSearchDocumentError } from './errors.js';
import type { SearchDocument, SearchVariant } from './types.js';

/**
 * Checks the input of `SearchBackend.replacePackage`: every document belongs to `lowerId` and no
 * variant appears twice. Every backend calls it, so all of them refuse the same mistakes.
 * @throws InvalidSearchDocumentError
 */
export function assertDocumentsOf(lowerId: string, documents: readonly SearchDocument[]): void {
  const seen = new Set<SearchVariant>();
  for (const document of documents) {
    if (document.lowerId !== lowerId) {
      throw new InvalidSearchDocumentError(`A search document of '${document.lowerId}' was given to replace '${lowerId}'.`, {
        lowerId,
        documentLowerId: document.lowerId,
      });
    }
    if (seen.has(document.variant)) {
      throw new InvalidSearchDocumentError(`Two search documents of '${lowerId}' have the variant '${document.variant}'.`, {
        lowerId,
        variant: document.variant,
      });
    }
    seen.add(document.variant);
  }
}

/** Owner names as every backend stores them: lowercase (ASCII), each once, in ordinal order. */
export function sortedOwners(owners: readonly string[]): string[] {
  return [...new Set(owners.map((o) => o.replace(/[A-Z]/g, (c) => c.toLowerCase())))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}
