/**
 * Orders the keys of a document the way the official gallery's JSON-LD writer does: `@id`, `@type`, then the
 * scalar properties by name, then the array and object properties by name, then `@context`. The
 * result depends only on the keys present, never on the order they were added in (stored JSON may
 * come back from PostgreSQL `jsonb` with its keys reordered).
 * @internal
 */
export function orderDocumentKeys(fields: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const names = Object.keys(fields).filter((k) => fields[k] !== undefined && k !== '@id' && k !== '@type' && k !== '@context');
  const scalars = names.filter((k) => !isStructured(fields[k])).sort(byCodeUnit);
  const structured = names.filter((k) => isStructured(fields[k])).sort(byCodeUnit);
  if (fields['@id'] !== undefined) out['@id'] = fields['@id'];
  if (fields['@type'] !== undefined) out['@type'] = fields['@type'];
  for (const k of scalars) out[k] = fields[k];
  for (const k of structured) out[k] = fields[k];
  if (fields['@context'] !== undefined) out['@context'] = fields['@context'];
  return out;
}

function isStructured(value: unknown): boolean {
  return typeof value === 'object' && value !== null;
}

/** Locale-independent string order (UTF-16 code units). @internal */
export function byCodeUnit(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
