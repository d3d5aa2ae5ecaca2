import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { promptHidden } from '../../../src/cli/prompt.js';

// A terminal stand-in: a stream with setRawMode, put in place of process.stdin.
const realStdin = Object.getOwnPropertyDescriptor(process, 'stdin') as PropertyDescriptor;
afterEach(() => {
  Object.defineProperty(process, 'stdin', realStdin);
  vi.restoreAllMocks();
});

function fakeTerminal(): PassThrough & { setRawMode(mode: boolean): void } {
  const input = Object.assign(new PassThrough(), { setRawMode: (_mode: boolean) => undefined });
  Object.defineProperty(process, 'stdin', { value: input, configurable: true });
  vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  return input;
}

describe('promptHidden', () => {
  it('leaves no listener on stdin once answered, however many times it asks', async () => {
    const input = fakeTerminal();
    for (const typed of ['first\r', 'second\n']) {
      const answer = promptHidden('Password: ');
      input.write(typed);
      expect(await answer).toBe(typed.trim());
      expect([input.listenerCount('data'), input.listenerCount('end')]).toEqual([0, 0]);
    }
  });

  it('Ctrl-C cancels and leaves no listener either', async () => {
    const input = fakeTerminal();
    const answer = promptHidden('Password: ');
    input.write('\u0003');
    await expect(answer).rejects.toMatchObject({ code: 'CANCELLED' });
    expect([input.listenerCount('data'), input.listenerCount('end')]).toEqual([0, 0]);
  });
});
