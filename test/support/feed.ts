/**
 * Raw HTTP access to a nucat stack, the way a client discovers it: the service index first, then the
 * resources it advertises. Errors name the URL, the status and the start of the body.
 */
import { createHash, randomUUID } from 'node:crypto';

/** What the raw helpers need to know about the stack. `Stack` satisfies it. */
export interface Feed {
  readonly serviceIndexUrl: string;
  readonly publishUrl: string;
  readonly apiKey: string;
}

/** Resource types the tests look up in the service index. */
export const RESOURCE = {
  packageBaseAddress: 'PackageBaseAddress/3.0.0',
  registrationsSemVer2: 'RegistrationsBaseUrl/3.6.0',
  catalog: 'Catalog/3.0.0',
  packagePublish: 'PackagePublish/2.0.0',
} as const;

/** A response read whole. */
export interface HttpResult {
  status: number;
  headers: Headers;
  text: string;
}

/** Outcome of a raw push. */
export interface PushResult extends HttpResult {
  /** `X-Nucat-Commit-Id`, when present. */
  commitId?: string;
  /** `X-Nucat-Commit-Timestamp`, when present. */
  commitTimestamp?: string;
}

/** Fetches `url` and reads the body as text (fetch undoes `Content-Encoding: gzip`). */
export async function request(url: string, init: RequestInit = {}): Promise<HttpResult> {
  const response = await fetch(url, { ...init, signal: init.signal ?? AbortSignal.timeout(60_000) });
  return { status: response.status, headers: response.headers, text: await response.text() };
}

/** One line describing a response, for assertion messages. */
export function describeResponse(method: string, url: string, result: HttpResult): string {
  const body = result.text.length > 800 ? `${result.text.slice(0, 800)}…` : result.text;
  return `${method} ${url} → ${result.status}: ${body}`;
}

/**
 * GETs `url` and parses JSON.
 * @returns undefined on 404 when `allowNotFound` is set.
 * @throws when the status is not 200 or the body is not JSON, naming the URL, status and body.
 */
export async function getJson<T>(url: string, options: { allowNotFound: true }): Promise<T | undefined>;
export async function getJson<T>(url: string, options?: { allowNotFound?: false }): Promise<T>;
export async function getJson<T>(url: string, options: { allowNotFound?: boolean } = {}): Promise<T | undefined> {
  const result = await request(url);
  if (result.status === 404 && options.allowNotFound) return undefined;
  if (result.status !== 200) throw new Error(`expected 200 from ${describeResponse('GET', url, result)}`);
  try {
    return JSON.parse(result.text) as T;
  } catch {
    throw new Error(`expected JSON from ${describeResponse('GET', url, result)}`);
  }
}

/** The service index document. */
export interface ServiceIndex {
  version: string;
  resources: { '@id': string; '@type': string; comment?: string }[];
}

/** The `@id` of the first resource of `type` in the service index; throws listing what is advertised. */
export async function resourceUrl(feed: Pick<Feed, 'serviceIndexUrl'>, type: string): Promise<string> {
  const index = await getJson<ServiceIndex>(feed.serviceIndexUrl);
  const resource = index.resources.find((r) => r['@type'] === type);
  if (!resource) {
    const types = index.resources.map((r) => r['@type']).join(', ');
    throw new Error(`${feed.serviceIndexUrl} does not advertise ${type} (it has: ${types})`);
  }
  return resource['@id'];
}

/** Joins a resource `@id` and a relative path, whether or not the `@id` ends in a slash. */
export function under(base: string, path: string): string {
  return `${base.endsWith('/') ? base : `${base}/`}${path}`;
}

/** Base64 SHA-512 of the bytes, as catalog `packageHash` carries it. */
export function sha512Base64(bytes: Buffer): string {
  return createHash('sha512').update(bytes).digest('base64');
}

/**
 * `PUT {publishUrl}/v3/package/` with a multipart body whose first part is the package, as the official
 * client shapes it (part `package`, file name `package.nupkg`, `application/octet-stream`).
 */
export async function pushRaw(feed: Feed, nupkg: Buffer, options: { apiKey?: string } = {}): Promise<PushResult> {
  const boundary = `nucat-e2e-${randomUUID()}`;
  const body = Buffer.concat([
    Buffer.from(
      `--${boundary}\r\nContent-Type: application/octet-stream\r\n` +
        'Content-Disposition: form-data; name="package"; filename="package.nupkg"\r\n\r\n',
    ),
    nupkg,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
  const result = await request(`${feed.publishUrl}/v3/package/`, {
    method: 'PUT',
    headers: {
      'Content-Type': `multipart/form-data; boundary="${boundary}"`,
      'X-NuGet-ApiKey': options.apiKey ?? feed.apiKey,
    },
    body,
  });
  const commitId = result.headers.get('x-nucat-commit-id') ?? undefined;
  const commitTimestamp = result.headers.get('x-nucat-commit-timestamp') ?? undefined;
  return { ...result, ...(commitId ? { commitId } : {}), ...(commitTimestamp ? { commitTimestamp } : {}) };
}

/** `DELETE {publishUrl}/v3/package/{id}/{version}` (unlist). */
export function unlistRaw(feed: Feed, id: string, version: string): Promise<PushResult> {
  return packageCommand(feed, 'DELETE', id, version);
}

/** `POST {publishUrl}/v3/package/{id}/{version}` (relist). */
export function relistRaw(feed: Feed, id: string, version: string): Promise<PushResult> {
  return packageCommand(feed, 'POST', id, version);
}

async function packageCommand(feed: Feed, method: string, id: string, version: string): Promise<PushResult> {
  const url = `${feed.publishUrl}/v3/package/${encodeURIComponent(id)}/${encodeURIComponent(version)}`;
  const result = await request(url, { method, headers: { 'X-NuGet-ApiKey': feed.apiKey } });
  const commitTimestamp = result.headers.get('x-nucat-commit-timestamp') ?? undefined;
  return { ...result, ...(commitTimestamp ? { commitTimestamp } : {}) };
}

/** Flat container `index.json` versions of an id. @returns undefined on 404. */
export async function readFlatVersions(feed: Pick<Feed, 'serviceIndexUrl'>, id: string): Promise<string[] | undefined> {
  const base = await resourceUrl(feed, RESOURCE.packageBaseAddress);
  const index = await getJson<{ versions?: string[] }>(under(base, `${id.toLowerCase()}/index.json`), { allowNotFound: true });
  return index === undefined ? undefined : (index.versions ?? []);
}

/** URL of a `.nupkg` in the flat container (`lowerVersion` = lowercased normalized version). */
export async function flatNupkgUrl(feed: Pick<Feed, 'serviceIndexUrl'>, id: string, lowerVersion: string): Promise<string> {
  const base = await resourceUrl(feed, RESOURCE.packageBaseAddress);
  const lowerId = id.toLowerCase();
  return under(base, `${lowerId}/${lowerVersion}/${lowerId}.${lowerVersion}.nupkg`);
}

/** A registration leaf item (index or page `items[]` entry). */
export interface RegistrationLeaf {
  '@id': string;
  '@type': string;
  catalogEntry: { '@id': string; id: string; version: string; listed?: boolean; [key: string]: unknown };
  packageContent: string;
  registration?: string;
}

interface RegistrationPage {
  '@id': string;
  count: number;
  lower: string;
  upper: string;
  items?: RegistrationLeaf[];
}

/**
 * Every leaf of an id in the SemVer2 registration hive (`RegistrationsBaseUrl/3.6.0`), fetching pages that are
 * not inlined. @returns undefined on 404.
 */
export async function readRegistrationLeaves(
  feed: Pick<Feed, 'serviceIndexUrl'>,
  id: string,
): Promise<RegistrationLeaf[] | undefined> {
  const base = await resourceUrl(feed, RESOURCE.registrationsSemVer2);
  const index = await getJson<{ items: RegistrationPage[] }>(under(base, `${id.toLowerCase()}/index.json`), {
    allowNotFound: true,
  });
  if (index === undefined) return undefined;
  const leaves: RegistrationLeaf[] = [];
  for (const page of index.items) {
    const items = page.items ?? (await getJson<RegistrationPage>(page['@id'])).items ?? [];
    leaves.push(...items);
  }
  return leaves;
}

/** A catalog page item. */
export interface CatalogPageItem {
  '@id': string;
  '@type': string;
  commitId: string;
  commitTimeStamp: string;
  'nuget:id': string;
  'nuget:version': string;
}

/** The catalog index document. */
export interface CatalogIndex {
  '@id': string;
  '@type': string | string[];
  commitId: string;
  commitTimeStamp: string;
  count: number;
  items: { '@id': string; '@type': string; commitId: string; commitTimeStamp: string; count: number }[];
}

/** A catalog page document. */
export interface CatalogPage {
  '@id': string;
  '@type': string | string[];
  commitId: string;
  commitTimeStamp: string;
  count: number;
  parent: string;
  items: CatalogPageItem[];
}

/** The catalog index URL (`Catalog/3.0.0` from the service index). */
export function catalogIndexUrl(feed: Pick<Feed, 'serviceIndexUrl'>): Promise<string> {
  return resourceUrl(feed, RESOURCE.catalog);
}

/** Every item of every catalog page, in commit timestamp order. */
export async function readAllCatalogItems(feed: Pick<Feed, 'serviceIndexUrl'>): Promise<CatalogPageItem[]> {
  const index = await getJson<CatalogIndex>(await catalogIndexUrl(feed));
  const items: CatalogPageItem[] = [];
  for (const page of index.items) items.push(...(await getJson<CatalogPage>(page['@id'])).items);
  return items.sort((a, b) => timestampMs(a.commitTimeStamp) - timestampMs(b.commitTimeStamp));
}

/** Epoch milliseconds of a catalog timestamp (7 fraction digits are cut to 3). */
export function timestampMs(text: string): number {
  const match = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?$/.exec(text);
  if (!match) return Number.NaN;
  return Date.parse(`${match[1]}.${(match[2] ?? '').padEnd(3, '0').slice(0, 3)}${match[3] ?? 'Z'}`);
}

/**
 * A catalog consumer over HTTP following nuget-protocol.md §8 "Cursor rule": read the index, take pages newer
 * than the cursor, take their items with cursor < commitTimeStamp ≤ upperBound (now, taken before the index is
 * read), process them in timestamp order, move the cursor to the last processed timestamp. Everything processed
 * is kept, in processing order, for the test to check.
 */
export class CatalogFollower {
  cursor = Number.NEGATIVE_INFINITY;
  readonly processed: CatalogPageItem[] = [];
  runs = 0;

  private constructor(private readonly indexUrl: string) {}

  /** A follower of the stack's catalog (`Catalog/3.0.0` from the service index), cursor at the start. */
  static async of(feed: Pick<Feed, 'serviceIndexUrl'>): Promise<CatalogFollower> {
    return new CatalogFollower(await catalogIndexUrl(feed));
  }

  /** One run of the cursor rule. */
  async runOnce(): Promise<void> {
    this.runs++;
    const upperBound = Date.now();
    const index = await getJson<CatalogIndex>(this.indexUrl);
    const pages = index.items
      .filter((p) => timestampMs(p.commitTimeStamp) > this.cursor)
      .sort((a, b) => timestampMs(a.commitTimeStamp) - timestampMs(b.commitTimeStamp));
    const batch: CatalogPageItem[] = [];
    for (const ref of pages) {
      const page = await getJson<CatalogPage>(ref['@id']);
      for (const item of page.items) {
        const at = timestampMs(item.commitTimeStamp);
        if (at > this.cursor && at <= upperBound) batch.push(item);
      }
    }
    batch.sort((a, b) => timestampMs(a.commitTimeStamp) - timestampMs(b.commitTimeStamp));
    this.processed.push(...batch);
    if (batch.length > 0) this.cursor = timestampMs(batch.at(-1)!.commitTimeStamp);
  }
}
