/**
 * Meilisearch filter expressions built from values that may come from a user. Pure.
 *
 * Every value is written as a double-quoted string. Inside it Meilisearch first turns `\"` into `"`
 * and then resolves backslash escapes (`\\` → `\`), so escaping each backslash and each double
 * quote with a backslash makes any text a literal: operators (`AND`, `OR`, `NOT`, `IN`, `TO`,
 * `=`, `(`), quotes and backslashes in the value can never end the string or change the expression.
 * Values that no stored value can equal are not written at all and the condition is simply
 * `false`: values holding a control character or half of a surrogate pair (which JSON cannot carry
 * to the server); values with leading or trailing whitespace or empty ones (Meilisearch trims
 * filter values, and nucat never stores such a value, so `" json"` must not find `json`); and
 * values longer than {@link MAX_FILTER_VALUE_BYTES} once normalized (Meilisearch looks an `=` value
 * up as a database key, truncates long stored values, and nucat does not store longer ones).
 *
 * A {@link Condition} is a filter expression or a constant (`true` matches everything, `false`
 * nothing); the combinators fold constants away, so a whole filter that is `false` is never sent.
 *
 * @see https://www.meilisearch.com/docs/learn/filtering_and_sorting/filter_expression_reference
 */

/** A filter expression, or a constant. */
export type Condition = string | boolean;

/**
 * Longest value, in UTF-8 bytes after Meilisearch's facet normalization, that nucat stores in a
 * filter list or compares with `=`. Meilisearch keeps facet strings up to about 468 bytes (500
 * minus its key overhead); staying well below keeps every lookup key valid.
 */
export const MAX_FILTER_VALUE_BYTES = 400;

/** Meilisearch's facet normalization: trim, compatibility decomposition (NFKD), lowercase. */
export function normalizeFacetValue(value: string): string {
  return value.trim().normalize('NFKD').toLowerCase();
}

/** True when a stored or queried value fits {@link MAX_FILTER_VALUE_BYTES} once normalized. */
export function fitsFilterValue(value: string): boolean {
  return Buffer.byteLength(normalizeFacetValue(value), 'utf8') <= MAX_FILTER_VALUE_BYTES;
}

/** True when `value` can equal a value nucat stores (see the module comment). */
function isComparable(value: string): boolean {
  return value !== '' && value.trim() === value && fitsFilterValue(value);
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
/** Half of a surrogate pair without its other half. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
/** Attribute names are ours (never user input); this guards against a programming mistake. */
const ATTRIBUTE = /^[A-Za-z][A-Za-z0-9]*$/;

/**
 * Quotes a string for a Meilisearch filter: `"` + value with `\` and `"` escaped + `"`.
 *
 * @returns undefined when the value holds a control character or a lone surrogate (such a value
 *   matches nothing).
 * @example quoteFilterValue('say "hi" \\o/') // '"say \\"hi\\" \\\\o/"'
 */
export function quoteFilterValue(value: string): string | undefined {
  if (CONTROL.test(value) || LONE_SURROGATE.test(value)) return undefined;
  return `"${value.replace(/[\\"]/g, (char) => `\\${char}`)}"`;
}

/**
 * `attribute = "value"` (for an array attribute: some element equals the value).
 *
 * @returns `false` when no stored value can equal `value` (see the module comment).
 */
export function equals(attribute: string, value: string): string | false {
  if (!isComparable(value)) return false;
  const quoted = quoteFilterValue(value);
  return quoted === undefined ? false : `${checkAttribute(attribute)} = ${quoted}`;
}

/** `attribute IN ["a", "b"]` without the values that cannot match (see {@link equals}); `false` when none can. */
export function isIn(attribute: string, values: readonly string[]): string | false {
  const quoted = values
    .filter(isComparable)
    .map(quoteFilterValue)
    .filter((v): v is string => v !== undefined);
  return quoted.length === 0 ? false : `${checkAttribute(attribute)} IN [${quoted.join(', ')}]`;
}

/** Conjunction; `true` when empty. */
export function and(...conditions: readonly Condition[]): Condition {
  const parts: string[] = [];
  for (const condition of conditions) {
    if (condition === false) return false;
    if (condition !== true) parts.push(condition);
  }
  if (parts.length === 0) return true;
  return parts.length === 1 ? parts[0]! : parts.map((p) => `(${p})`).join(' AND ');
}

/** Disjunction; `false` when empty. */
export function or(...conditions: readonly Condition[]): Condition {
  const parts: string[] = [];
  for (const condition of conditions) {
    if (condition === true) return true;
    if (condition !== false) parts.push(condition);
  }
  if (parts.length === 0) return false;
  return parts.length === 1 ? parts[0]! : parts.map((p) => `(${p})`).join(' OR ');
}

/** Negation. */
export function not(condition: Condition): Condition {
  if (typeof condition === 'boolean') return !condition;
  return `NOT (${condition})`;
}

function checkAttribute(attribute: string): string {
  if (!ATTRIBUTE.test(attribute)) throw new TypeError(`Not a filter attribute name: ${attribute}`);
  return attribute;
}
