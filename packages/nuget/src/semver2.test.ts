import { describe, expect, it } from 'vitest';
import { isSemVer2Package } from './semver2.js';

describe('isSemVer2Package', () => {
  it.each([
    [{ version: '1.0.0' }, false],
    [{ version: '1.0.0-beta' }, false],
    [{ version: '1.0.0-beta.1' }, true],
    [{ version: '1.0.0+sha' }, true],
    // The normalized version lost the metadata, but the nuspec version had it.
    [{ version: '1.0.0', verbatimVersion: '1.0.0+build.5' }, true],
    [{ version: '1.0.0', verbatimVersion: '1.0.0.0' }, false],
    [{ version: '1.0.0', dependencyGroups: [{ dependencies: [{ range: '[1.0.0, )' }] }] }, false],
    [{ version: '1.0.0', dependencyGroups: [{ dependencies: [{ range: '[1.0.0-beta.1, )' }] }] }, true],
    [{ version: '1.0.0', dependencyGroups: [{ dependencies: [{ range: '(, 2.0.0-rc.1)' }] }] }, true],
    [{ version: '1.0.0', dependencyGroups: [{}, { dependencies: [{}, { range: '' }, { range: 'junk' }] }] }, false],
    [{ version: 'not a version' }, false],
  ])('%j is SemVer2: %s', (pkg, expected) => {
    expect(isSemVer2Package(pkg)).toBe(expected);
  });
});
