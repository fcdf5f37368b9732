/** Characters that separate tags: space, comma, tab, `|`, `;` (NuGet Gallery), plus CR and LF. */
const TAG_SEPARATORS = /[ ,\t|;\r\n]+/;

/**
 * Splits a nuspec `<tags>` value into tags. The nuspec format says space-delimited; the NuGet Gallery also
 * splits on `,`, tab, `|` and `;`, and so do we (line breaks too). Empty pieces are dropped; case
 * and order are kept.
 *
 * @returns the tags; an empty array when `text` is missing or blank.
 * @example splitTags('json, serializer|fast') // ['json', 'serializer', 'fast']
 */
export function splitTags(text: string | undefined): string[] {
  if (text === undefined) return [];
  return text.split(TAG_SEPARATORS).filter((tag) => tag !== '');
}
