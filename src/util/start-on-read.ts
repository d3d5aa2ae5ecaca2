import { finished, Readable } from 'node:stream';

/**
 * A stream whose data and errors start only when somebody reads it. Streams handed out by a
 * function are often consumed after an `await` (a temp file being opened); a stream that was
 * already flowing could fail in that gap and emit 'error' to nobody, crashing the process.
 * `start` builds the real stream on the first read; `release` frees what the caller opened
 * eagerly, as soon as the stream is destroyed (read to the end or not, started or not).
 */
export function startOnRead(start: () => Readable, release?: () => void): Readable {
  let inner: Readable | undefined;
  let released = false;
  const cleanUp = (): void => {
    // An early stop leaves the inner stream (and its file descriptor) open unless destroyed here.
    inner?.destroy();
    if (!released) {
      released = true;
      release?.();
    }
  };
  // Chunks are forwarded as they come, paused while the outer buffer is full: no generator and no
  // async iterator per chunk (those cost a promise and, when chunks queue up, a copy each).
  const outer: Readable = new Readable({
    read() {
      if (inner) {
        inner.resume();
        return;
      }
      let started: Readable;
      try {
        started = start();
      } catch (error) {
        outer.destroy(error as Error);
        return;
      }
      inner = started;
      started.on('data', (chunk: Buffer) => {
        if (!outer.push(chunk)) started.pause();
      });
      started.once('end', () => outer.push(null));
      // An error, or a close before the end (ERR_STREAM_PREMATURE_CLOSE), fails the outer stream.
      finished(started, (error) => {
        if (error) outer.destroy(error);
      });
    },
    // Read to the end or not, started or not: release at once.
    destroy(error, callback) {
      cleanUp();
      callback(error);
    },
  });
  return outer;
}
