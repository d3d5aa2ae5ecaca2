/**
 * An upload's source stream, verified (size and sha256) as it is read and handed out in windows
 * of N bytes, one per request body, without copying: a window is a view onto the stream.
 */
import type { Readable } from 'node:stream';
import { RampartError } from '../errors.js';
import { type Digest, isVerifiedAs, verifyingStream } from '../oci/digest.js';

/** Progress events at most every this many bytes. */
const PROGRESS_STEP = 1024 * 1024;

// biome-ignore lint/correctness/useYield: fails on its first read, as a body sent twice must.
async function* sentTwice(): AsyncGenerator<Uint8Array> {
  throw new Error('an upload body cannot be sent twice');
}

/**
 * The source stream, verified as it is read, handed out in windows of N bytes (one per request
 * body). A window is single-use: a request sent again (a 401 answered, a redirect) fails instead
 * of sending a short body, and the session is retried with a fresh stream.
 */
export class VerifiedSource {
  failure: RampartError | undefined;
  private readonly iterator: AsyncIterator<Buffer>;
  private leftover: Buffer | undefined;
  private sent = 0;
  private reported = 0;
  private readonly verifier: Readable;

  constructor(
    private readonly stream: Readable,
    digest: Digest,
    private readonly size: number,
    private readonly progress: (bytes: number) => void,
  ) {
    if (isVerifiedAs(stream, digest, size)) {
      // The source fails by itself unless it is this blob: hashing it again would only cost CPU.
      this.verifier = stream;
    } else {
      const verifier = verifyingStream(digest, size, `the upload of ${digest}`);
      stream.on('error', (error) => verifier.destroy(error));
      stream.pipe(verifier);
      this.verifier = verifier;
    }
    // The iterator listens only from its first read; a small source can fail its check before
    // that (the request not sent yet). The iterator still sees the error: the stream is errored.
    this.verifier.on('error', () => undefined);
    this.iterator = this.verifier[Symbol.asyncIterator]();
  }

  body(length: number): () => AsyncIterable<Uint8Array> {
    let used = false;
    return () => {
      if (used) return sentTwice();
      used = true;
      return this.window(length);
    };
  }

  private async *window(length: number): AsyncGenerator<Uint8Array> {
    let remaining = length;
    while (remaining > 0) {
      const chunk = this.leftover ?? (await this.next());
      this.leftover = undefined;
      if (chunk === undefined) {
        this.failure = new RampartError(
          'SIZE_MISMATCH',
          `the upload source ended after ${this.sent} bytes, expected ${this.size}`,
          { details: { expected: this.size, actual: this.sent } },
        );
        throw this.failure;
      }
      const part = chunk.byteLength > remaining ? chunk.subarray(0, remaining) : chunk;
      if (part !== chunk) this.leftover = chunk.subarray(remaining);
      remaining -= part.byteLength;
      this.sent += part.byteLength;
      if (this.sent - this.reported >= PROGRESS_STEP || this.sent === this.size) {
        this.reported = this.sent;
        this.progress(this.sent);
      }
      yield part;
    }
    // The last window waits for the end of the stream: the digest is checked there.
    if (this.sent === this.size) await this.end();
  }

  /** Reads to the end of the source, raising its size or digest failure. */
  async end(): Promise<void> {
    if (this.leftover !== undefined || (await this.next()) !== undefined) {
      this.failure = new RampartError('SIZE_MISMATCH', `the upload source has more than ${this.size} bytes`, {
        details: { expected: this.size },
      });
      throw this.failure;
    }
  }

  private async next(): Promise<Buffer | undefined> {
    try {
      const result = await this.iterator.next();
      return result.done ? undefined : result.value;
    } catch (error) {
      this.failure =
        error instanceof RampartError
          ? error
          : new RampartError('IO', `reading the upload source failed: ${(error as Error).message}`, {
              cause: error,
            });
      throw this.failure;
    }
  }

  destroy(): void {
    this.stream.destroy();
    this.verifier.destroy();
  }
}
