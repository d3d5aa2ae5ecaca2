import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { Transform } from 'node:stream';
import { RampartError } from '../errors.js';

/** A content digest; only sha256 is produced or accepted. */
export type Digest = `sha256:${string}`;

const DIGEST_PATTERN = /^sha256:[a-f0-9]{64}$/;

export function sha256Digest(data: Uint8Array | string): Digest {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

export function isDigest(value: string): value is Digest {
  return DIGEST_PATTERN.test(value);
}

/** Parses `sha256:<64 lowercase hex>`; anything else is a RampartError. */
export function parseDigest(value: string): Digest {
  if (!isDigest(value)) {
    throw new RampartError(
      'INVALID_REFERENCE',
      `malformed digest '${value}': expected sha256:<64 lowercase hex characters>`,
      { details: { reference: value } },
    );
  }
  return value;
}

/** The hex part of a digest, used as a blob file name. */
export function digestHex(digest: Digest): string {
  return digest.slice('sha256:'.length);
}

/**
 * Streams known to end in an error unless their bytes have this digest and size (a verifying
 * stream, or a pass-through of one). Set only by rampart's own code, never from input: a consumer
 * that would verify the same bytes again (a sink writing what a verified source reads) skips the
 * second hash. Keyed by identity, so a wrapper counts only when it is marked itself.
 */
const verifiedStreams = new WeakMap<Readable, { digest: Digest; size: number }>();

/** Marks `stream` as failing unless its bytes are `digest` and `size` (see `isVerifiedAs`). */
export function markVerified<T extends Readable>(stream: T, digest: Digest, size: number): T {
  verifiedStreams.set(stream, { digest, size });
  return stream;
}

/** Carries `from`'s mark, if any, to `to`: for a pass-through that forwards `from`'s errors. */
export function forwardVerified<T extends Readable>(from: Readable, to: T): T {
  const mark = verifiedStreams.get(from);
  if (mark) verifiedStreams.set(to, mark);
  return to;
}

/** True when `stream` already fails unless its bytes have this digest and size. */
export function isVerifiedAs(stream: Readable, digest: Digest, size: number): boolean {
  const mark = verifiedStreams.get(stream);
  return mark !== undefined && mark.digest === digest && mark.size === size;
}

/**
 * The check of one blob's bytes, fed chunk by chunk: never more than `expectedSize` bytes, and at
 * the end exactly that many, hashing to `expected`. The one rule behind `verifyingStream` and the
 * streams that verify as they read (a registry download).
 */
export class BlobCheck {
  private readonly hash = createHash('sha256');
  /** Bytes seen so far. */
  size = 0;

  constructor(
    readonly expected: Digest,
    readonly expectedSize: number | undefined,
    private readonly label: string = expected,
  ) {}

  /** Adds a chunk; SIZE_MISMATCH once the bytes pass the expected size. */
  update(chunk: Uint8Array): void {
    this.hash.update(chunk);
    this.size += chunk.byteLength;
    const { expected, expectedSize, size, label } = this;
    if (expectedSize !== undefined && size > expectedSize) {
      throw new RampartError('SIZE_MISMATCH', `${label}: more than the expected ${expectedSize} bytes`, {
        details: { digest: expected, expected: expectedSize, actual: size, location: label },
      });
    }
  }

  /** At the end: SIZE_MISMATCH (short) or DIGEST_MISMATCH unless the bytes were the expected ones. */
  finish(): void {
    const { expected, expectedSize, size, label } = this;
    if (expectedSize !== undefined && size !== expectedSize) {
      throw new RampartError(
        'SIZE_MISMATCH',
        `${label}: got ${size} bytes, expected ${expectedSize} (truncated or corrupt blob)`,
        { details: { digest: expected, expected: expectedSize, actual: size, location: label } },
      );
    }
    const actual: Digest = `sha256:${this.hash.digest('hex')}`;
    if (actual !== expected) {
      throw new RampartError(
        'DIGEST_MISMATCH',
        `${label}: content has digest ${actual}, expected ${expected}`,
        {
          details: { expected, actual, location: label },
        },
      );
    }
  }
}

/**
 * A passthrough that hashes what flows through it and fails at the end of the stream when the
 * content does not match, so consumers never see a silently corrupted blob complete successfully.
 */
export function verifyingStream(expected: Digest, expectedSize?: number, what?: string): Transform {
  const check = new BlobCheck(expected, expectedSize, what ?? expected);
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      try {
        check.update(chunk);
      } catch (error) {
        callback(error as Error);
        return;
      }
      callback(null, chunk);
    },
    flush(callback) {
      try {
        check.finish();
      } catch (error) {
        callback(error as Error);
        return;
      }
      callback();
    },
  });
  return expectedSize === undefined ? stream : markVerified(stream, expected, expectedSize);
}

/** Consumes a stream and returns its sha256 digest and byte count. */
export async function digestStream(stream: Readable): Promise<{ digest: Digest; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of stream) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    hash.update(bytes);
    size += bytes.length;
  }
  return { digest: `sha256:${hash.digest('hex')}`, size };
}

/** Reads a whole (small) stream into memory: manifests and configs only, never layers. */
export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks);
}
