/** The `--min-age` argument of `nucat gc` (reliability.md §2 #32; the collector itself: packages/feed/test/collect-orphans.int.test.ts). */
import { describe, expect, it } from 'vitest';
import { parseDuration } from '../src/commands/gc.js';

describe('nucat gc --min-age', () => {
  it.each([
    ['90s', 90_000],
    ['10m', 600_000],
    ['1h', 3_600_000],
    ['1.5h', 5_400_000],
    ['2d', 172_800_000],
  ])('reads %s', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['', '1', 'h', '1 h', '-1h', '1w', '1h30m', 'soon'])('refuses %j', (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });
});
