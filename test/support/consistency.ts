/**
 * What a reader of a feed may rely on at any moment (reliability.md #42): every version a flat container
 * `index.json` lists has its `.nupkg`, and every registration page and leaf an index links — and the package
 * and catalog leaf each leaf links — answers 200. {@link ConsistencyReader} checks an id the way a client walks
 * it, and names every broken link.
 */
import { RESOURCE, resourceUrl, under, type Feed, type RegistrationLeaf } from './feed.js';

/** The outcome of checking one id. */
export interface IdReading {
  /** The versions the flat container listed (undefined: index.json answered 404, the id is not there yet). */
  flatVersions: string[] | undefined;
  /** The versions the registration index (with its pages) listed (undefined: 404). */
  registrationVersions: string[] | undefined;
  /** Links followed. */
  links: number;
  /** Broken links and unexpected answers, each naming the URL and the status. */
  violations: string[];
}

interface RegistrationPage {
  '@id': string;
  items?: RegistrationLeaf[];
}

/** Reads ids as a client does, from one service index. */
export class ConsistencyReader {
  private constructor(
    private readonly flatBase: string,
    private readonly registrationBase: string,
  ) {}

  /** A reader of `feed` (reads its service index once). */
  static async of(feed: Pick<Feed, 'serviceIndexUrl'>): Promise<ConsistencyReader> {
    return new ConsistencyReader(await resourceUrl(feed, RESOURCE.packageBaseAddress), await resourceUrl(feed, RESOURCE.registrationsSemVer2));
  }

  /** Walks `id`'s flat container and registration, following every link once. */
  async read(id: string): Promise<IdReading> {
    const lowerId = id.toLowerCase();
    const reading: IdReading = { flatVersions: undefined, registrationVersions: undefined, links: 0, violations: [] };
    const get = async (url: string, what: string): Promise<Response | undefined> => {
      reading.links += 1;
      const response = await fetch(url, { signal: AbortSignal.timeout(30_000) });
      if (response.status !== 200) {
        await response.arrayBuffer();
        reading.violations.push(`${id}: ${what} ${url} answered ${response.status}`);
        return undefined;
      }
      return response;
    };

    // Flat container: index.json, then each listed version's .nupkg.
    const indexUrl = under(this.flatBase, `${lowerId}/index.json`);
    reading.links += 1;
    const index = await fetch(indexUrl, { signal: AbortSignal.timeout(30_000) });
    if (index.status === 200) {
      reading.flatVersions = ((await index.json()) as { versions: string[] }).versions;
      for (const version of reading.flatVersions) {
        const nupkg = await get(under(this.flatBase, `${lowerId}/${version}/${lowerId}.${version}.nupkg`), `listed version ${version}: .nupkg`);
        await nupkg?.arrayBuffer();
      }
    } else {
      await index.arrayBuffer();
      if (index.status !== 404) reading.violations.push(`${id}: flat container ${indexUrl} answered ${index.status}`);
    }

    // Registration: the index, pages that are not inlined, each leaf, and what each leaf links to.
    const registrationUrl = under(this.registrationBase, `${lowerId}/index.json`);
    reading.links += 1;
    const registration = await fetch(registrationUrl, { signal: AbortSignal.timeout(30_000) });
    if (registration.status === 200) {
      const pages = ((await registration.json()) as { items: RegistrationPage[] }).items;
      reading.registrationVersions = [];
      for (const page of pages) {
        let items = page.items;
        if (!items) {
          const response = await get(page['@id'], 'registration page');
          items = response ? (((await response.json()) as RegistrationPage).items ?? []) : [];
        }
        for (const leaf of items) {
          reading.registrationVersions.push(leaf.catalogEntry.version);
          for (const [what, url] of [
            ['registration leaf', leaf['@id']],
            ['packageContent', leaf.packageContent],
            ['catalog leaf', leaf.catalogEntry['@id']],
          ] as const) {
            await (await get(url, `${what} of ${leaf.catalogEntry.version}`))?.arrayBuffer();
          }
        }
      }
    } else {
      await registration.arrayBuffer();
      if (registration.status !== 404) reading.violations.push(`${id}: registration ${registrationUrl} answered ${registration.status}`);
    }
    return reading;
  }
}
