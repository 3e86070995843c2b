/**
 * Bounded concurrency: runs `task` over `items` with at most `limit` at a time, results in the items' order.
 * Once `signal` aborts, no further item is started (those running finish); the results then stop at the last started.
 */
export async function pool<T, R>(
  items: readonly T[],
  limit: number,
  task: (item: T, index: number) => Promise<R>,
  signal?: AbortSignal,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(Math.max(1, limit), items.length) }, async () => {
    while (next < items.length && !signal?.aborted) {
      const i = next++;
      results[i] = await task(items[i]!, i);
    }
  });
  await Promise.all(workers);
  // items start in order, so the started ones are exactly the first `next`, all finished by now
  return results.slice(0, next);
}
