import { setTimeout as sleep } from 'node:timers/promises';

/** Thrown by {@link waitFor} when the condition did not hold in time. */
export class WaitTimeoutError extends Error {
  override readonly name = 'WaitTimeoutError';
  readonly code = 'wait_timeout' as const;
  readonly details: { what: string; timeoutMs: number; lastError?: string };

  constructor(what: string, timeoutMs: number, lastError?: unknown) {
    const reason = lastError === undefined ? '' : ` (last error: ${describeError(lastError)})`;
    super(`timed out waiting for ${what} after ${timeoutMs} ms${reason}`);
    this.details = { what, timeoutMs, ...(lastError === undefined ? {} : { lastError: describeError(lastError) }) };
  }
}

/** Options of {@link waitFor}. */
export interface WaitForOptions {
  /** Named in the timeout message: "timed out waiting for <what>". */
  what: string;
  /** @defaultValue 30000 */
  timeoutMs?: number;
  /** Pause between attempts. @defaultValue 100 */
  intervalMs?: number;
}

/**
 * Calls `fn` until it returns a value other than `undefined`, `null` or `false`, and resolves with that value.
 * A throw from `fn` counts as "not yet" and is reported in the timeout message if nothing succeeds.
 *
 * @throws WaitTimeoutError (code `wait_timeout`) when `timeoutMs` passes first.
 * @example
 * ```ts
 * const body = await waitFor(async () => (await fetch(url)).ok || undefined, { what: 'the health check' });
 * ```
 */
export async function waitFor<T>(
  fn: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  options: WaitForOptions,
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const intervalMs = options.intervalMs ?? 100;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value !== undefined && value !== null && value !== false) return value;
      lastError = undefined;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) throw new WaitTimeoutError(options.what, timeoutMs, lastError);
    await sleep(Math.min(intervalMs, Math.max(0, deadline - Date.now())));
  }
}

function describeError(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
