import { describe, expect, it } from 'vitest';
import { waitFor, WaitTimeoutError } from './wait-for.js';

describe('waitFor', () => {
  it('resolves with the first value that is not undefined, null or false', async () => {
    let calls = 0;
    const value = await waitFor(() => (++calls >= 3 ? { calls } : undefined), { what: 'three calls', intervalMs: 1 });

    expect(value).toEqual({ calls: 3 });
  });

  it('treats a throw as "not yet"', async () => {
    let calls = 0;
    const value = await waitFor(
      async () => {
        if (++calls < 2) throw new Error('not ready');
        return 'ready';
      },
      { what: 'readiness', intervalMs: 1 },
    );

    expect(value).toBe('ready');
  });

  it('names what it waited for and the last error when it times out', async () => {
    const waiting = waitFor(
      () => {
        throw new Error('connection refused');
      },
      { what: 'the read-api health check', timeoutMs: 30, intervalMs: 5 },
    );

    await expect(waiting).rejects.toBeInstanceOf(WaitTimeoutError);
    await expect(waiting).rejects.toThrow(/timed out waiting for the read-api health check .*connection refused/);
  });
});
