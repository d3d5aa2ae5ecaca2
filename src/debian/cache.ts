import { createHash } from 'node:crypto';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { RampartError } from '../errors.js';
import { writeFileAtomic, writeStreamAtomic } from '../util/atomic-file.js';

/** `$XDG_CACHE_HOME/rampart`, else `~/.cache/rampart`. */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const base =
    env.XDG_CACHE_HOME && env.XDG_CACHE_HOME.length > 0 ? env.XDG_CACHE_HOME : join(homedir(), '.cache');
  return join(base, 'rampart');
}

const SHA256_HEX = /^[0-9a-f]{64}$/;
const CACHE_WRITE_SYSCALLS = new Set(['mkdir', 'open', 'write', 'fsync', 'rename', 'close']);

/**
 * A content-addressed cache shared by concurrent processes: blobs live at `blobs/sha256/<hex>`
 * and only ever appear through an atomic rename after their hash was verified, so a file
 * present under its digest is complete and correct. Metadata and parsed indexes are keyed
 * files written the same way.
 */
export class ContentCache {
  constructor(readonly root: string) {}

  blobPath(sha256: string): string {
    if (!SHA256_HEX.test(sha256))
      throw new RampartError('DIGEST_MISMATCH', `not a sha256 hex digest: ${sha256}`);
    return join(this.root, 'blobs', 'sha256', sha256);
  }

  /** True when the blob exists (with `size`, when given). */
  async has(sha256: string, size?: number): Promise<boolean> {
    try {
      const info = await stat(this.blobPath(sha256));
      return size === undefined || info.size === size;
    } catch {
      return false;
    }
  }

  async readBlob(sha256: string): Promise<Buffer> {
    return readFile(this.blobPath(sha256));
  }

  /** Stores bytes under their own digest and returns it. */
  async putBytes(bytes: Uint8Array): Promise<string> {
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    if (!(await this.has(sha256, bytes.length))) await writeFileAtomic(this.blobPath(sha256), bytes);
    return sha256;
  }

  /**
   * Streams `source` into the cache, hashing on the way; the blob becomes visible only when
   * its SHA-256 (and size, when known) match. `what` names the source (a URL) for errors.
   * A source longer than `expected.size` is cut off as soon as it overflows, so a hostile
   * mirror cannot fill the disk.
   */
  async putVerifiedStream(
    source: AsyncIterable<Uint8Array> | ReadableStream<Uint8Array>,
    expected: { sha256: string; size?: number },
    what: string,
    onBytes?: (n: number) => void,
  ): Promise<string> {
    const path = this.blobPath(expected.sha256);
    const hash = createHash('sha256');
    let size = 0;
    const mismatch = (actual: string) =>
      new RampartError(
        'HASH_MISMATCH',
        `${what}: expected sha256 ${expected.sha256}${expected.size !== undefined ? ` (${expected.size} bytes)` : ''}, got ${actual} (${size} bytes); the mirror copy is corrupt or tampered with`,
      );
    const verifier = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        size += chunk.length;
        if (expected.size !== undefined && size > expected.size) {
          callback(mismatch('more data than expected'));
          return;
        }
        hash.update(chunk);
        onBytes?.(chunk.length);
        callback(null, chunk);
      },
      flush(callback) {
        const actual = hash.digest('hex');
        const ok = actual === expected.sha256 && (expected.size === undefined || size === expected.size);
        callback(ok ? null : mismatch(actual));
      },
    });
    const input =
      source instanceof ReadableStream
        ? Readable.fromWeb(source as import('node:stream/web').ReadableStream<Uint8Array>)
        : Readable.from(source);
    try {
      await mkdir(dirname(path), { recursive: true });
      await writeStreamAtomic(path, input, verifier);
    } catch (error) {
      // Writing the cache failed; a failing source (the network) is the caller's to retry.
      if (CACHE_WRITE_SYSCALLS.has((error as NodeJS.ErrnoException).syscall ?? '')) {
        throw new RampartError(
          'IO',
          `cannot store ${what} in the cache ${this.root}: ${(error as Error).message}; check free space and permissions, or use another cache directory`,
          { cause: error },
        );
      }
      throw error;
    } finally {
      input.destroy();
    }
    return path;
  }

  private keyedPath(kind: string, key: string, ext: string): string {
    const safe = createHash('sha256').update(key).digest('hex').slice(0, 32);
    return join(this.root, kind, `${safe}.${ext}`);
  }

  /** Keyed JSON values (InRelease metadata, parsed indexes); a corrupt file reads as a miss. */
  async readJson<T>(kind: string, key: string): Promise<T | undefined> {
    try {
      return JSON.parse(await readFile(this.keyedPath(kind, key, 'json'), 'utf8')) as T;
    } catch {
      return undefined;
    }
  }

  async writeJson(kind: string, key: string, value: unknown): Promise<void> {
    await writeFileAtomic(this.keyedPath(kind, key, 'json'), `${JSON.stringify(value)}\n`);
  }
}
