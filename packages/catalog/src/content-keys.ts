/**
 * Blob keys of a package's stored content, derived from its SHA-512 (content-addressed), so
 * concurrent pushes of the same id+version with different bytes never overwrite each other
 * and an upload that never commits leaves only an unreferenced (collectable) blob.
 */
export interface PackageContentKeys {
  nupkg: string;
  nuspec: string;
  icon: string;
  readme: string;
}

/** Content keys for a package hash given as standard base64 (the catalog's `packageHash`). */
export function packageContentKeys(packageHashBase64: string): PackageContentKeys {
  const hex = Buffer.from(packageHashBase64, 'base64').toString('hex');
  if (hex.length !== 128) throw new Error('packageHash is not a base64 SHA-512');
  const base = `content/${hex.slice(0, 2)}/${hex}`;
  return { nupkg: `${base}/package.nupkg`, nuspec: `${base}/package.nuspec`, icon: `${base}/icon`, readme: `${base}/readme` };
}
