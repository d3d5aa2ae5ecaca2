import { describe, expect, it } from 'vitest';
import { mapBounded } from '../../../src/util/map-bounded.js';

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('mapBounded', () => {
  it('keeps the order of the items, with at most `limit` calls in flight', async () => {
    let inFlight = 0;
    let most = 0;
    const results = await mapBounded([5, 1, 4, 2, 3, 0, 6], 3, async (item, index) => {
      inFlight++;
      most = Math.max(most, inFlight);
      for (let i = 0; i < item; i++) await tick(); // finish out of order
      inFlight--;
      return `${index}:${item}`;
    });
    expect(results).toEqual(['0:5', '1:1', '2:4', '3:2', '4:3', '5:0', '6:6']);
    expect(most).toBe(3);
  });

  it('starts nothing after a failure, lets the calls in flight settle, then throws the first', async () => {
    const started: number[] = [];
    const settled: number[] = [];
    const failure = await mapBounded([0, 1, 2, 3, 4, 5], 2, async (item) => {
      started.push(item);
      for (let i = 0; i < (item === 0 ? 3 : 1); i++) await tick();
      settled.push(item);
      if (item === 1) throw new Error('one');
      return item;
    }).catch((error: Error) => error.message);
    expect(failure).toBe('one');
    // 0 and 1 start; 1 fails; 0 (in flight) settles before the throw; 2.. never start.
    expect(started).toEqual([0, 1]);
    expect(settled.sort()).toEqual([0, 1]);
  });

  it('an empty list, and a limit below one or not a number, still work', async () => {
    expect(await mapBounded([], 4, async () => 1)).toEqual([]);
    expect(await mapBounded([1, 2], 0, async (item) => item * 2)).toEqual([2, 4]);
    expect(await mapBounded([1, 2], Number.NaN, async (item) => item * 2)).toEqual([2, 4]);
  });

  it('aborts the signal of the calls in flight with the first failure, so they can stop', async () => {
    const one = new Error('one');
    const seen: unknown[] = [];
    const failure = await mapBounded([0, 1, 2], 2, async (item, _index, signal) => {
      if (item === 1) {
        await tick();
        throw one;
      }
      // Item 0 runs until told to stop, as a transfer whose stream is destroyed would.
      await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
      seen.push(signal.reason);
      throw new Error('stopped');
    }).catch((error: unknown) => error);
    expect(failure).toBe(one);
    expect(seen).toEqual([one]);
  });

  it("on the caller's abort starts nothing more, stops the calls in flight and throws its reason", async () => {
    const caller = new AbortController();
    const reason = new Error('caller');
    const started: number[] = [];
    const stoppedWith: unknown[] = [];
    const failure = await mapBounded(
      [0, 1, 2, 3],
      2,
      async (item, _index, signal) => {
        started.push(item);
        if (item === 1) setImmediate(() => caller.abort(reason));
        await new Promise<void>((resolve) =>
          signal.addEventListener('abort', () => resolve(), { once: true }),
        );
        stoppedWith.push(signal.reason);
        throw new Error(`call ${item} stopped`); // a consequence of the abort, not the failure thrown
      },
      { signal: caller.signal },
    ).catch((error: unknown) => error);
    expect(failure).toBe(reason);
    expect(started).toEqual([0, 1]);
    expect(stoppedWith).toEqual([reason, reason]);
  });

  it("throws the caller's reason even when every call succeeded before the abort was seen", async () => {
    const caller = new AbortController();
    const failure = await mapBounded(
      [0],
      1,
      async () => {
        caller.abort('late');
        return 1;
      },
      { signal: caller.signal },
    ).catch((error: unknown) => error);
    expect(failure).toBe('late');
  });

  it('starts nothing when the caller has already aborted', async () => {
    const started: number[] = [];
    const failure = await mapBounded(
      [0, 1],
      2,
      async (item) => {
        started.push(item);
        return item;
      },
      { signal: AbortSignal.abort('before') },
    ).catch((error: unknown) => error);
    expect(failure).toBe('before');
    expect(started).toEqual([]);
  });
});
