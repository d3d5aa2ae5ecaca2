import { describe, expect, it } from 'vitest';
import { allSettledOrThrow } from '../../../src/util/settle.js';

describe('allSettledOrThrow', () => {
  it('gives the values in order when all fulfil', async () => {
    expect(await allSettledOrThrow([Promise.resolve(1), 'two', Promise.resolve(3)])).toEqual([1, 'two', 3]);
  });

  it('rejects with the first rejection given, after the others have settled', async () => {
    let later = false;
    const slow = new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
      later = true;
    });
    const first = new Error('first');
    await expect(
      allSettledOrThrow([slow, Promise.reject(first), Promise.reject(new Error('second'))]),
    ).rejects.toBe(first);
    expect(later).toBe(true);
  });
});
