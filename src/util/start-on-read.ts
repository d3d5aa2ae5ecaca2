import { Readable } from 'node:stream';

/**
 * A stream whose data and errors start only when somebody reads it. Streams handed out by a
 * function are often consumed after an `await` (a temp file being opened); a stream that was
 * already flowing could fail in that gap and emit 'error' to nobody, crashing the process.
 * `start` builds the real stream on the first read; `release` frees what the caller opened
 * eagerly when the stream is destroyed (read to the end or not, started or not).
 */
export function startOnRead(start: () => Readable, release?: () => void): Readable {
  let inner: Readable | undefined;
  async function* chunks(): AsyncGenerator<Buffer> {
    inner = start();
    yield* inner;
  }
  const outer = Readable.from(chunks(), { objectMode: false });
  outer.once('close', () => {
    // An early stop leaves the inner stream (and its file descriptor) open unless destroyed here.
    inner?.destroy();
    release?.();
  });
  return outer;
}
