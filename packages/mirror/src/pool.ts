/**
 * Runs `fn` over `items` with at most `concurrency` calls in flight, starting them in order.
 * Resolves when all are done; rejects with the first error once the calls in flight have settled
 * (no new ones start after an error).
 */
export async function runPool<T>(items: readonly T[], concurrency: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const lane = async (): Promise<void> => {
    while (failure === undefined && next < items.length) {
      const index = next++;
      try {
        await fn(items[index]!, index);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, lane));
  if (failure) throw failure.error;
}

/** Like {@link runPool}, collecting each call's result in input order. */
export async function mapPool<T, R>(items: readonly T[], concurrency: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  await runPool(items, concurrency, async (item, index) => {
    results[index] = await fn(item, index);
  });
  return results;
}
