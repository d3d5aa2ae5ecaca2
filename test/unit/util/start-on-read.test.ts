import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { startOnRead } from '../../../src/util/start-on-read.js';

const tick = (ms = 20) => new Promise((resolve) => setTimeout(resolve, ms));

describe('startOnRead', () => {
  it('does not build the stream until somebody reads, then passes its bytes through', async () => {
    let started = 0;
    const stream = startOnRead(() => {
      started++;
      return Readable.from([Buffer.from('ab'), Buffer.from('c')]);
    });
    await tick();
    expect(started).toBe(0);
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe('abc');
    expect(started).toBe(1);
  });

  it('holds a failure of the inner stream for the reader', async () => {
    const stream = startOnRead(
      () =>
        new Readable({
          read() {
            this.destroy(new Error('boom'));
          },
        }),
    );
    await tick();
    await expect(
      (async () => {
        for await (const _ of stream) {
          /* drain */
        }
      })(),
    ).rejects.toThrow('boom');
  });

  it('releases at once when destroyed unread, or while a read waits on the inner stream', async () => {
    let unreadReleased = 0;
    startOnRead(
      () => Readable.from([]),
      () => unreadReleased++,
    ).destroy();
    await tick();
    expect(unreadReleased).toBe(1);

    let released = 0;
    const silent = new Readable({ read() {} }); // never produces data
    const stream = startOnRead(
      () => silent,
      () => released++,
    );
    stream.on('data', () => undefined);
    await tick();
    stream.destroy();
    await tick();
    expect(silent.destroyed).toBe(true);
    expect(released).toBe(1);
    expect(stream.closed).toBe(true);
  });
});
