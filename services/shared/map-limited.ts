/**
 * Runs an async function over items with at most `limit` calls in flight, keeping the order of results:
 * enough concurrency to overlap database round trips, bounded so one request never opens a connection per
 * item (FerretDB answers lookups by `_id` one round trip each).
 */
export async function mapLimited<T, R>(items: readonly T[], limit: number, map: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await map(items[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return results;
}
