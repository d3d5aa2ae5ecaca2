import { createHash } from 'node:crypto';
import { mkdir, open, stat, utimes } from 'node:fs/promises';
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
 * A cache hit refreshes the entry's mtime, so that mtime means "last used" and `pruneCache`
 * never removes a blob that builds keep using (atime is no substitute: relatime and noatime
 * mounts do not keep it). An mtime younger than this is left alone, which spares a metadata
 * write per .deb on every build; the recorded last use is therefore at most this much early.
 */
export const TOUCH_RESOLUTION_MS = 10 * 60_000;

/**
 * Marks a cache entry as used now. Best effort: a read-only or foreign-owned cache still
 * serves hits, its entries just age as if unused.
 */
export async function touchCacheEntry(path: string, mtimeMs?: number, now = Date.now()): Promise<void> {
  if (mtimeMs !== undefined && now - mtimeMs < TOUCH_RESOLUTION_MS) return;
  const seconds = now / 1000;
  await utimes(path, seconds, seconds).catch(() => undefined);
}

/** Reads a whole cache file, with its mtime from the same open file (for `touchCacheEntry`). */
export async function readCacheFile(path: string): Promise<{ bytes: Buffer; mtimeMs: number }> {
  const handle = await open(path, 'r');
  try {
    const { mtimeMs } = await handle.stat();
    return { bytes: await handle.readFile(), mtimeMs };
  } finally {
    await handle.close();
  }
}

/**
 * Keyed JSON files are `{"key":K,"value":V}` with the key first, so the key of a 60 MB parsed
 * index can be read from the first bytes (cache maintenance checks the parser format in it).
 * They are named `*.keyed.json`: older rampart versions read a bare value from `*.json` under
 * the same hash, so the two layouts must never share a path.
 */
export const KEYED_JSON_SUFFIX = '.keyed.json';
const KEY_HEADER = /^\{"key":("(?:[^"\\]|\\.)*")/;
const KEY_HEADER_BYTES = 4096;

/** The key of a keyed JSON cache file, or undefined when it has none (an older layout, not JSON). */
export async function readCachedJsonKey(path: string): Promise<string | undefined> {
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(KEY_HEADER_BYTES);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    const match = KEY_HEADER.exec(buffer.subarray(0, bytesRead).toString('utf8'));
    return match ? (JSON.parse(match[1]!) as string) : undefined;
  } finally {
    await handle.close();
  }
}

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
      throw new RampartError('DIGEST_MISMATCH', `not a sha256 hex digest: ${sha256}`, {
        details: { expected: sha256 },
      });
    return join(this.root, 'blobs', 'sha256', sha256);
  }

  /** True when the blob exists (with `size`, when given); a hit marks the blob as used. */
  async has(sha256: string, size?: number): Promise<boolean> {
    const path = this.blobPath(sha256);
    try {
      const info = await stat(path);
      if (size !== undefined && info.size !== size) return false;
      await touchCacheEntry(path, info.mtimeMs);
      return true;
    } catch {
      return false;
    }
  }

  async readBlob(sha256: string): Promise<Buffer> {
    const path = this.blobPath(sha256);
    const { bytes, mtimeMs } = await readCacheFile(path);
    await touchCacheEntry(path, mtimeMs);
    return bytes;
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
        'DIGEST_MISMATCH',
        `${what}: expected sha256 ${expected.sha256}${expected.size !== undefined ? ` (${expected.size} bytes)` : ''}, got ${actual} (${size} bytes); the mirror copy is corrupt or tampered with`,
        { details: { expected: expected.sha256, actual, location: what } },
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
    // The source can fail (a mirror resetting the connection) while the directory is being made,
    // before the pipeline listens: an 'error' with no listener would end the process. The failure
    // stays on the stream (`errored`), where writeStreamAtomic's pipeline reports it.
    input.on('error', () => undefined);
    try {
      await mkdir(dirname(path), { recursive: true });
      await writeStreamAtomic(path, input, verifier);
    } catch (error) {
      // Writing the cache failed; a failing source (the network) is the caller's to retry.
      if (CACHE_WRITE_SYSCALLS.has((error as NodeJS.ErrnoException).syscall ?? '')) {
        throw new RampartError(
          'IO',
          `cannot store ${what} in the cache ${this.root}: ${(error as Error).message}; check free space and permissions, or use another cache directory`,
          {
            cause: error,
            details: {
              path: (error as NodeJS.ErrnoException).path ?? this.root,
              syscall: (error as NodeJS.ErrnoException).syscall ?? 'write',
              ...((error as NodeJS.ErrnoException).code
                ? { errno: (error as NodeJS.ErrnoException).code }
                : {}),
            },
          },
        );
      }
      throw error;
    } finally {
      input.destroy();
    }
    return path;
  }

  private keyedPath(kind: string, key: string): string {
    const safe = createHash('sha256').update(key).digest('hex').slice(0, 32);
    return join(this.root, kind, `${safe}${KEYED_JSON_SUFFIX}`);
  }

  /**
   * Keyed JSON values (InRelease metadata, parsed indexes). A corrupt file, or one stored under
   * another key (an older layout, a hash collision), reads as a miss; a hit marks it as used.
   */
  async readJson<T>(kind: string, key: string): Promise<T | undefined> {
    const path = this.keyedPath(kind, key);
    let stored: unknown;
    let mtimeMs: number;
    try {
      const file = await readCacheFile(path);
      stored = JSON.parse(file.bytes.toString('utf8'));
      mtimeMs = file.mtimeMs;
    } catch {
      return undefined;
    }
    if (typeof stored !== 'object' || stored === null || !('value' in stored)) return undefined;
    if ((stored as { key?: unknown }).key !== key) return undefined;
    await touchCacheEntry(path, mtimeMs);
    return stored.value as T;
  }

  async writeJson(kind: string, key: string, value: unknown): Promise<void> {
    // `key` first: readCachedJsonKey reads it from the head of the file.
    await writeFileAtomic(this.keyedPath(kind, key), `${JSON.stringify({ key, value })}\n`);
  }
}
