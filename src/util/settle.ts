/**
 * `Promise.all` that rejects only once every promise has settled, with the first rejection (in
 * the order given). A caller that cleans up on failure (a sink's `abort`, an `rm -r` of staging)
 * then never races a sibling that is still writing, as it would after `Promise.all`'s early
 * rejection. The platform has `Promise.allSettled` but no rethrowing form; this is that form.
 */
export async function allSettledOrThrow<T extends readonly unknown[]>(
  promises: readonly [...{ [K in keyof T]: PromiseLike<T[K]> | T[K] }],
): Promise<T> {
  const results = await Promise.allSettled(promises);
  const failed = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
  if (failed) throw failed.reason;
  return results.map((result) => (result as PromiseFulfilledResult<unknown>).value) as unknown as T;
}
