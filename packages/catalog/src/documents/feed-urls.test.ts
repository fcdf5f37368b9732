import { describe, expect, it } from 'vitest';
import { createFeedUrls, HIVE_NAMES } from './feed-urls.js';

describe('createFeedUrls', () => {
  it('puts the catalog, flat container and hives under the V3 root', () => {
    const urls = createFeedUrls('http://127.0.0.1:5000/v3/');
    expect(urls.v3Base).toBe('http://127.0.0.1:5000/v3/');
    expect(urls.catalogBase).toBe('http://127.0.0.1:5000/v3/catalog0/');
    expect(urls.flatContainerBase).toBe('http://127.0.0.1:5000/v3/flatcontainer/');
    expect(HIVE_NAMES.map((h) => urls.registrationBase(h))).toEqual([
      'http://127.0.0.1:5000/v3/registration5-semver1/',
      'http://127.0.0.1:5000/v3/registration5-gz-semver1/',
      'http://127.0.0.1:5000/v3/registration5-gz-semver2/',
    ]);
  });

  it('adds the trailing slash when the root lacks it', () => {
    expect(createFeedUrls('https://feed.test/v3').catalogBase).toBe('https://feed.test/v3/catalog0/');
  });

  it('rejects a relative or non-http base with a coded error', () => {
    expect(() => createFeedUrls('/v3/')).toThrow(expect.objectContaining({ code: 'invalid_catalog_input' }));
    expect(() => createFeedUrls('ftp://feed.test/v3/')).toThrow(expect.objectContaining({ code: 'invalid_catalog_input' }));
  });
});
