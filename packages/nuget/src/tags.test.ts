import { describe, expect, it } from 'vitest';
import { splitTags } from './tags.js';

describe('splitTags', () => {
  it.each([
    [undefined, []],
    ['', []],
    ['   ', []],
    ['json', ['json']],
    ['json serializer', ['json', 'serializer']],
    ['a,b;c|d\te', ['a', 'b', 'c', 'd', 'e']],
    [' a ,, b ;; ', ['a', 'b']],
    ['a\r\nb', ['a', 'b']],
    ['Case Kept case', ['Case', 'Kept', 'case']],
  ])('splits %j into %j', (input, tags) => {
    expect(splitTags(input)).toEqual(tags);
  });
});
