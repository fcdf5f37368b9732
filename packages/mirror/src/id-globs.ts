import { InvalidMirrorOptionError } from './errors.js';

/**
 * Compiles package id globs (`Contoso.*`, `Newtonsoft.Json`, `xunit*`) into a predicate. `*`
 * matches any run of characters, `?` one character; matching ignores ASCII case, as package ids do.
 * No globs match every id.
 *
 * @throws InvalidMirrorOptionError (code `invalid_mirror_option`) for a glob with characters no id has.
 */
export function compileIdGlobs(globs: readonly string[] | undefined): (id: string) => boolean {
  const patterns = (globs ?? []).map((g) => g.trim()).filter((g) => g !== '');
  if (patterns.length === 0) return () => true;
  const regexes = patterns.map((glob) => {
    if (!/^[A-Za-z0-9_.\-*?]+$/.test(glob)) {
      throw new InvalidMirrorOptionError(`'${glob}' is not an id glob: use letters, digits, '.', '-', '_', '*' and '?'.`, { glob });
    }
    const body = glob.replace(/[.]/g, '\\.').replace(/\*/g, '.*').replace(/\?/g, '.');
    return new RegExp(`^${body}$`, 'i');
  });
  return (id) => regexes.some((r) => r.test(id));
}

/** Splits a comma-separated glob list (`'A.*,B'`) as the command line gives it. */
export function splitIdGlobs(text: string | undefined): string[] {
  return (text ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
}
