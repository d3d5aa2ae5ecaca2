/**
 * One writer at a time per key within this process: read-modify-write updates of one shared
 * document (a referrers tag-schema index, a cosign `.sig` manifest) queue behind each other here,
 * so only writers in other processes can race (their callers re-read and retry).
 */
const queues = new Map<string, Promise<unknown>>();

/** Runs `work` after every earlier `work` of the same key has settled. */
export async function serialised<T>(key: string, work: () => Promise<T>): Promise<T> {
  const previous = queues.get(key) ?? Promise.resolve();
  const run = previous.then(work, work);
  const tail = run.catch(() => undefined);
  queues.set(key, tail);
  try {
    return await run;
  } finally {
    if (queues.get(key) === tail) queues.delete(key);
  }
}
