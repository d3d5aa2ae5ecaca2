import { Readable } from 'node:stream';

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
  async function* chunks(): AsyncGenerator<Buffer> {
    inner = start();
    yield* inner;
  }
  const outer = Readable.from(chunks(), { objectMode: false });
  // Readable.from only finishes destroying once a pending read of `inner` settles; clean up at
  // once instead, which also settles that read.
  const destroyGenerator = outer._destroy.bind(outer);
  outer._destroy = (error, callback) => {
    cleanUp();
    destroyGenerator(error, callback);
  };
  outer.once('close', cleanUp);
  return outer;
}
