import type { PackageDetailsData } from '@nucat/catalog';

/** A single SPDX license identifier (no operators, no `+`): the only expressions with exactly one web page. */
const SIMPLE_SPDX_ID = /^[A-Za-z0-9][A-Za-z0-9.-]*$/;

/**
 * The icon URL clients show: the flat container `…/icon` URL when the package embeds an icon,
 * else the nuspec `iconUrl`, else `""`. Shared by the registration `catalogEntry` and search results.
 *
 * @param flatContainerBase absolute, ending in `/`.
 */
export function packageIconUrl(
  data: Pick<PackageDetailsData, 'iconFile' | 'iconUrl'>,
  flatContainerBase: string,
  lowerId: string,
  lowerVersion: string,
): string {
  if (data.iconFile !== undefined) return `${flatContainerBase}${lowerId}/${lowerVersion}/icon`;
  return data.iconUrl ?? '';
}

/**
 * The license web page: for a single SPDX identifier its page on spdx.org; otherwise the nuspec
 * `licenseUrl` (packages with a compound expression or a license file keep theirs), else `""`.
 * Shared by the registration `catalogEntry` and search results.
 */
export function packageLicenseUrl(data: Pick<PackageDetailsData, 'licenseExpression' | 'licenseUrl'>): string {
  if (data.licenseExpression !== undefined && SIMPLE_SPDX_ID.test(data.licenseExpression)) {
    return `https://spdx.org/licenses/${data.licenseExpression}.html`;
  }
  return data.licenseUrl ?? '';
}
