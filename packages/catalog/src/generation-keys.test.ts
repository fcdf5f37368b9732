import { describe, expect, it } from 'vitest';
import {
  flatContainerPrefix,
  generationCursorName,
  generationKeyPrefixes,
  generationRoot,
  parseGenerationsPointer,
  renderGenerationsPointer,
} from './generation-keys.js';

describe('generation key layout', () => {
  it('keeps generation 0 at the unprefixed keys written before generations existed', () => {
    expect(generationRoot(0)).toBe('');
    expect(flatContainerPrefix(0)).toBe('flatcontainer');
    expect(generationKeyPrefixes('registration', 0)).toEqual(['registration5-semver1/', 'registration5-gz-semver1/', 'registration5-gz-semver2/']);
  });

  it('puts a later generation under g{N}/', () => {
    expect(generationRoot(2)).toBe('g2/');
    expect(flatContainerPrefix(2)).toBe('g2/flatcontainer');
    expect(generationKeyPrefixes('flatcontainer', 2)).toEqual(['g2/flatcontainer/']);
    expect(generationKeyPrefixes('registration', 2)).toEqual(['g2/registration5-semver1/', 'g2/registration5-gz-semver1/', 'g2/registration5-gz-semver2/']);
  });

  it('names the cursor of a generation being rebuilt after its projection', () => {
    expect(generationCursorName('registration', 3)).toBe('registration@g3');
  });

  it('rejects a generation that is not a non-negative integer', () => {
    expect(() => generationRoot(-1)).toThrow(RangeError);
    expect(() => generationRoot(1.5)).toThrow(RangeError);
  });
});

describe('generation pointer document', () => {
  it('round-trips', () => {
    const bytes = renderGenerationsPointer({ flatcontainer: 2, registration: 1 });
    expect(bytes.toString()).toBe('{"flatcontainer":2,"registration":1}');
    expect(parseGenerationsPointer(bytes)).toEqual({ flatcontainer: 2, registration: 1 });
  });

  it('takes a projection it does not name as generation 0', () => {
    expect(parseGenerationsPointer(Buffer.from('{"flatcontainer":1}'))).toEqual({ flatcontainer: 1, registration: 0 });
  });

  it('is undefined for bytes that are not a pointer', () => {
    for (const text of ['', 'null', '[]', '{"flatcontainer":"1"}', '{"registration":-1}', '{"flatcontainer":1.5}', '{']) {
      expect(parseGenerationsPointer(Buffer.from(text)), text).toBeUndefined();
    }
  });
});
