import { describe, expect, it } from 'vitest';
import { parseBasicAuthorization, readPresentedCredentials } from './credentials.js';

const KEY = `nucat_0123456789abcdef_${'A'.repeat(43)}`;
const basic = (userPass: string) => `Basic ${Buffer.from(userPass, 'utf8').toString('base64')}`;

describe('parseBasicAuthorization', () => {
  it('decodes user name and password, splitting at the first colon', () => {
    expect(parseBasicAuthorization(basic('ci:pa:ss'))).toEqual({ username: 'ci', password: 'pa:ss' });
  });

  it('accepts any case of the scheme, extra spaces, an empty user name and unpadded base64', () => {
    expect(parseBasicAuthorization(`bAsIc   ${Buffer.from(`:${KEY}`).toString('base64')}  `)).toEqual({ username: '', password: KEY });
    expect(parseBasicAuthorization('Basic YTpi')).toEqual({ username: 'a', password: 'b' });
    expect(parseBasicAuthorization('Basic YTpiYw')).toEqual({ username: 'a', password: 'bc' });
  });

  it.each([
    ['another scheme', `Bearer ${KEY}`],
    ['no credentials after the scheme', 'Basic'],
    ['no colon in the decoded text', basic('justakey')],
    ['invalid base64 characters', 'Basic !!!!'],
    ['base64 whose bits do not round-trip', 'Basic YR=='],
    ['an impossible base64 length', 'Basic YTpiY'],
    ['two tokens', 'Basic YTpi YTpi'],
    ['a header longer than 2 KiB', basic(`u:${'x'.repeat(3000)}`)],
  ])('refuses %s', (_why, header) => {
    expect(parseBasicAuthorization(header)).toBeUndefined();
  });
});

describe('readPresentedCredentials', () => {
  it('takes the key from X-NuGet-ApiKey', () => {
    expect(readPresentedCredentials({ apiKey: KEY })).toEqual({ kind: 'key', key: KEY, source: 'api-key-header' });
  });

  it('takes the Basic password as the key, whatever the user name', () => {
    expect(readPresentedCredentials({ authorization: basic(`anyone:${KEY}`) })).toEqual({ kind: 'key', key: KEY, source: 'basic' });
  });

  it('prefers X-NuGet-ApiKey when both are sent', () => {
    expect(readPresentedCredentials({ apiKey: KEY, authorization: basic('u:other') })).toMatchObject({ key: KEY, source: 'api-key-header' });
  });

  it('sees nothing when both headers are absent or blank (as ctx.get returns them)', () => {
    expect(readPresentedCredentials({})).toEqual({ kind: 'none' });
    expect(readPresentedCredentials({ apiKey: '', authorization: '' })).toEqual({ kind: 'none' });
    expect(readPresentedCredentials({ apiKey: '  ', authorization: ' ' })).toEqual({ kind: 'none' });
  });

  it('calls an Authorization header without a usable password malformed', () => {
    for (const authorization of ['Bearer x', 'Basic', basic('user:'), basic('user:   '), basic('nocolon'), 'Basic %%%']) {
      expect(readPresentedCredentials({ authorization }), authorization).toEqual({ kind: 'malformed' });
    }
  });
});
