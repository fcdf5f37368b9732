import { InvalidSearchDocumentError } from '@nucat/search';
import { MeilisearchApiError, MeilisearchRequestError, MeilisearchRequestTimeOutError, MeilisearchTaskTimeOutError } from 'meilisearch';
import { describe, expect, it } from 'vitest';
import { MeilisearchBackendError, MeilisearchInvalidDocumentError, MeilisearchUnavailableError } from './errors.js';
import { createMeilisearchSearchBackend, translateError, versionAtLeast } from './meilisearch-search-backend.js';

const SECRET = 'super-secret-api-key';

describe('createMeilisearchSearchBackend', () => {
  it('connects to nothing until it is used', () => {
    expect(() => createMeilisearchSearchBackend({ url: 'http://127.0.0.1:1', apiKey: SECRET })).not.toThrow();
  });

  it('refuses bad options with a message naming the option and never the key', () => {
    const cases: [Parameters<typeof createMeilisearchSearchBackend>[0], RegExp][] = [
      [{ url: 'http://127.0.0.1:7700', apiKey: SECRET, indexPrefix: 'has space' }, /index prefix/],
      [{ url: 'http://127.0.0.1:7700', apiKey: SECRET, requestTimeoutMs: 0 }, /requestTimeoutMs/],
      [{ url: 'http://127.0.0.1:7700', apiKey: SECRET, taskTimeoutMs: -1 }, /taskTimeoutMs/],
      [{ url: 'not a url at all', apiKey: SECRET }, /URL/],
    ];
    for (const [options, message] of cases) {
      let thrown: unknown;
      try {
        createMeilisearchSearchBackend(options);
      } catch (error) {
        thrown = error;
      }
      expect(thrown, String(message)).toBeInstanceOf(MeilisearchBackendError);
      expect((thrown as Error).message).toMatch(message);
      expect(JSON.stringify({ message: (thrown as Error).message, details: (thrown as MeilisearchBackendError).details })).not.toContain(SECRET);
    }
  });

  it('refuses documents of another id or a repeated variant before any request', async () => {
    const backend = createMeilisearchSearchBackend({ url: 'http://127.0.0.1:1' });
    const document = {
      lowerId: 'a', variant: 'semver1-stable' as const, id: 'A', version: '1.0.0', versions: [], title: '', description: '', summary: '',
      tags: [], authors: [], iconUrl: '', licenseUrl: '', projectUrl: '', packageTypes: [], lastCommitTimestamp: '', owners: [],
    };
    await expect(backend.replacePackage(1, 'b', [document])).rejects.toBeInstanceOf(InvalidSearchDocumentError);
    await expect(backend.replacePackage(1, 'a', [document, document])).rejects.toMatchObject({ code: 'invalid_search_document' });
  });

  it('sends nothing for empty download or owner updates', async () => {
    // Port 1 refuses connections: a request would reject.
    const backend = createMeilisearchSearchBackend({ url: 'http://127.0.0.1:1' });
    await expect(backend.setDownloads(1, [])).resolves.toBeUndefined();
    await expect(backend.setOwners(1, [])).resolves.toBeUndefined();
  });

  it('refuses every call once closed', async () => {
    const backend = createMeilisearchSearchBackend({ url: 'http://127.0.0.1:1' });
    await backend.close();
    await expect(backend.flush()).rejects.toMatchObject({ code: 'search_backend_error', details: { reason: 'closed' } });
    await expect(backend.setOwners(1, [{ lowerId: 'a', owners: ['x'] }])).rejects.toMatchObject({ details: { reason: 'closed' } });
  });
});

describe('versionAtLeast', () => {
  it('compares major and minor versions', () => {
    expect(versionAtLeast('1.31.0', { major: 1, minor: 31 })).toBe(true);
    expect(versionAtLeast('1.31.0-rc.1', { major: 1, minor: 31 })).toBe(true);
    expect(versionAtLeast('v1.40.2', { major: 1, minor: 31 })).toBe(true);
    expect(versionAtLeast('2.0.0', { major: 1, minor: 31 })).toBe(true);
    expect(versionAtLeast('1.30.9', { major: 1, minor: 31 })).toBe(false);
    expect(versionAtLeast('0.99.0', { major: 1, minor: 31 })).toBe(false);
  });

  it('treats an unreadable version as old', () => {
    expect(versionAtLeast('', { major: 1, minor: 0 })).toBe(false);
    expect(versionAtLeast('nightly', { major: 1, minor: 0 })).toBe(false);
  });
});

describe('translateError', () => {
  it('turns timeouts and connection failures into unavailable errors', () => {
    const timeout = new MeilisearchRequestTimeOutError(5_000, { headers: { Authorization: `Bearer ${SECRET}` } });
    const cases: [unknown, string][] = [
      [new MeilisearchRequestError('http://127.0.0.1:7700/multi-search', timeout), 'request_timeout'],
      [timeout, 'request_timeout'],
      [new MeilisearchTaskTimeOutError(12, 60_000), 'task_timeout'],
      [new MeilisearchRequestError('http://127.0.0.1:7700/multi-search', new TypeError('fetch failed')), 'request_failed'],
    ];
    for (const [error, reason] of cases) {
      const translated = translateError(error, 'search');
      expect(translated).toBeInstanceOf(MeilisearchUnavailableError);
      expect(translated).toMatchObject({ code: 'unavailable', details: { operation: 'search', reason } });
      expect((translated as Error).message).not.toContain(SECRET);
    }
  });

  it('turns error responses into backend errors carrying the Meilisearch code', () => {
    const response = new Response('', { status: 400, statusText: 'Bad Request' });
    const error = new MeilisearchApiError(response, { message: 'Attribute `x` is not filterable.', code: 'invalid_search_filter', type: 'invalid_request', link: '' });
    expect(translateError(error, 'search')).toMatchObject({
      code: 'search_backend_error',
      details: { operation: 'search', status: 400, meiliCode: 'invalid_search_filter' },
    });
  });

  it('passes anything else through', () => {
    const error = new MeilisearchInvalidDocumentError('x', {});
    expect(translateError(error, 'replacePackage')).toBe(error);
  });
});
