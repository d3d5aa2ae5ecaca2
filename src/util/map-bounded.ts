/** Options of {@link mapBounded}. */
export interface MapBoundedOptions {
  /** The caller's cancellation: once it fires no further item starts and the calls get it too. */
  signal?: AbortSignal | undefined;
}

/**
 * `items.map(map)` with at most `limit` calls in flight, results in the items' order: the one
 * "N at a time" worker pool (copy's blob transfers, .deb downloads, SBOM inspection, signature
 * checks all use it, so the stop rule cannot drift between copies).
 *
 * Each call gets a signal that fires on the caller's abort or on the first failure (its reason),
 * so calls in flight can stop early (destroy their streams). After a failure or an abort no further
 * item starts; the calls in flight settle before anything is thrown (none keeps running behind a
 * caller that has moved on). Then the caller's abort reason is thrown when its signal fired (a
 * failure that follows an abort is its consequence), else the first failure.
 *
 * The platform has no bounded `Promise.all`; the libraries that do (p-limit, p-map) are a
 * dependency for these few lines and do not stop the calls in flight.
 */
export async function mapBounded<T, R>(
  items: readonly T[],
  limit: number,
  map: (item: T, index: number, signal: AbortSignal) => Promise<R>,
  options: MapBoundedOptions = {},
): Promise<R[]> {
  const { signal: callerSignal } = options;
  const failed = new AbortController();
  const signal = callerSignal ? AbortSignal.any([callerSignal, failed.signal]) : failed.signal;
  const results = new Array<R>(items.length);
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (!signal.aborted && next < items.length) {
      const index = next++;
      try {
        results[index] = await map(items[index] as T, index, signal);
      } catch (error) {
        if (failure === undefined) {
          failure = { error };
          failed.abort(error);
        }
      }
    }
  };
  // A limit below one (or not a number) still makes progress, one at a time.
  const width = Math.min(items.length, Math.max(1, Math.floor(limit) || 1));
  await Promise.all(Array.from({ length: width }, worker));
  callerSignal?.throwIfAborted();
  if (failure) throw failure.error;
  return results;
}
