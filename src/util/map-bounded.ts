/**
 * `items.map(map)` with at most `limit` calls in flight, results in the items' order. On the first
 * failure no further item is started; the calls in flight settle before it is thrown (none keeps
 * running behind a caller that has moved on). The platform has no bounded `Promise.all`; the
 * libraries that do (p-limit, p-map) are a dependency for these few lines.
 */
export async function mapBounded<T, R>(
  items: readonly T[],
  limit: number,
  map: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (failure === undefined && next < items.length) {
      const index = next++;
      try {
        results[index] = await map(items[index] as T, index);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, limit), items.length) }, worker));
  if (failure) throw failure.error;
  return results;
}
