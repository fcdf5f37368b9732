/**
 * Lowercase tokens of a package id, split on `.`, `-`, `_` and camelCase boundaries — the tokens
 * that free terms and autocomplete prefixes match by prefix. Backends should index these.
 *
 * @example tokenizeId('Contoso.JsonHelpers') // ['contoso', 'json', 'helpers']
 * @example tokenizeId('Acme.HTTPClient_v2') // ['acme', 'http', 'client', 'v2']
 */
export function tokenizeId(id: string): string[] {
  return id
    .split(/[.\-_]+/)
    .flatMap((part) => part.split(/(?<=[\p{Ll}\p{N}])(?=\p{Lu})|(?<=\p{Lu})(?=\p{Lu}\p{Ll})/u))
    .map((token) => token.toLowerCase())
    .filter((token) => token !== '');
}
