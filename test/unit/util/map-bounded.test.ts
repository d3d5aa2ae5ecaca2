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

  it('an empty list, and a limit below one, still work', async () => {
    expect(await mapBounded([], 4, async () => 1)).toEqual([]);
    expect(await mapBounded([1, 2], 0, async (item) => item * 2)).toEqual([2, 4]);
  });
});
