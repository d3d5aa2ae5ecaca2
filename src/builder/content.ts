import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, constants as fsConstants } from 'node:fs';
import { mkdir, open, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { RampartError } from '../errors.js';
import { readAll, verifyingStream } from '../oci/digest.js';
import { tempPathFor } from '../util/atomic-file.js';

/**
 * A regular file's bytes in the rootfs tree, held by reference: a content-addressed file (the
 * unpacked-.deb cache, or the build's spool of `files:` sources) named with the sha256 and size
 * its bytes must have. Nothing reads it until the layer is written, and every read is verified
 * against the digest, so a cache file that changed on disk fails the build instead of entering
 * the image. Small generated files stay Buffers.
 */
export type ContentRef = { path: string; sha256: string; size: number };

export type TreeContent = Buffer | ContentRef;

export function isContentRef(content: TreeContent | undefined): content is ContentRef {
  return content !== undefined && !Buffer.isBuffer(content);
}

export function contentSize(content: TreeContent | undefined): number {
  if (content === undefined) return 0;
  return Buffer.isBuffer(content) ? content.length : content.size;
}

export function contentSha256(content: TreeContent | undefined): string {
  if (isContentRef(content)) return content.sha256;
  return createHash('sha256')
    .update(content ?? Buffer.alloc(0))
    .digest('hex');
}

/** Same bytes: compared by digest when either side is a reference. */
export function sameBytes(a: TreeContent | undefined, b: TreeContent | undefined): boolean {
  if (!isContentRef(a) && !isContentRef(b)) return (a ?? Buffer.alloc(0)).equals(b ?? Buffer.alloc(0));
  return contentSize(a) === contentSize(b) && contentSha256(a) === contentSha256(b);
}

/**
 * The bytes as a stream that fails with DIGEST_MISMATCH/SIZE_MISMATCH unless they are exactly
 * what the reference names. The file is opened without following a symlink and must be a
 * regular file (a FIFO swapped in would otherwise block the build).
 */
export function openContent(content: TreeContent | undefined): Readable {
  if (!isContentRef(content)) {
    return Readable.from([content ?? Buffer.alloc(0)]);
  }
  const verifier = verifyingStream(`sha256:${content.sha256}`, content.size, `cached file ${content.path}`);
  (async () => {
    const handle = await open(
      content.path,
      fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK,
    );
    try {
      const info = await handle.stat();
      if (!info.isFile()) {
        throw new RampartError('IO', `cached file ${content.path} is not a regular file; delete it`, {
          details: { path: content.path },
        });
      }
      await pipeline(createReadStream('', { fd: handle.fd, autoClose: false }), verifier, { end: true });
    } finally {
      await handle.close();
    }
  })().catch((error: unknown) => {
    verifier.destroy(
      error instanceof RampartError
        ? error
        : new RampartError('IO', `cannot read ${content.path}: ${(error as Error).message}`, {
            cause: error,
            details: { path: content.path },
          }),
    );
  });
  return verifier;
}

/** The whole content, verified (for the few small files the build reads: certificates). */
export async function readContent(content: TreeContent | undefined): Promise<Buffer> {
  if (!isContentRef(content)) return content ?? Buffer.alloc(0);
  return readAll(openContent(content));
}

/**
 * A directory of files named by the sha256 of their bytes. `put` is idempotent and atomic (temp
 * file + rename), so concurrent builds can share one store; what is in it is verified on every
 * read (openContent), never trusted.
 */
export class ContentStore {
  constructor(readonly dir: string) {}

  /** The file of a digest; anything but 64 hex digits (a forged cache index) is refused, never joined. */
  pathOf(sha256: string): string {
    if (!/^[0-9a-f]{64}$/.test(sha256)) {
      throw new RampartError('DIGEST_MISMATCH', `content store ${this.dir}: '${sha256}' is not a sha256`, {
        details: { expected: 'sha256', actual: sha256, path: this.dir },
      });
    }
    return join(this.dir, sha256);
  }

  /**
   * Whether the store's file for a digest holds exactly those bytes. The size alone is not
   * enough: a zero-filled or otherwise damaged file of the right size would be trusted forever
   * and fail every build that reads it, instead of being replaced by the next put.
   */
  async holds(sha256: string, size: number): Promise<boolean> {
    const path = this.pathOf(sha256);
    const info = await stat(path).catch(() => undefined);
    if (!info?.isFile() || info.size !== size) return false;
    return (await sha256OfFile(path).catch(() => undefined)) === sha256;
  }

  async put(bytes: Buffer): Promise<ContentRef> {
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const path = this.pathOf(sha256);
    if (!(await this.holds(sha256, bytes.length))) {
      // A damaged file of that name is replaced: rename over it is atomic for concurrent readers.
      // No fsync: a torn file is caught by the digest check on read, like any other damage.
      await mkdir(this.dir, { recursive: true });
      const temp = tempPathFor(path);
      try {
        await writeFile(temp, bytes, { flag: 'wx' });
        await rename(temp, path);
      } catch (error) {
        await rm(temp, { force: true });
        throw error;
      }
    }
    return { path, sha256, size: bytes.length };
  }

  /** Copies a stream in, hashing as it goes: memory stays flat whatever the size. */
  async putStream(source: Readable): Promise<ContentRef> {
    await mkdir(this.dir, { recursive: true });
    const temp = tempPathFor(join(this.dir, 'spool'));
    const hash = createHash('sha256');
    let size = 0;
    try {
      await pipeline(
        source,
        new Transform({
          transform(chunk: Buffer, _encoding, callback) {
            hash.update(chunk);
            size += chunk.length;
            callback(null, chunk);
          },
        }),
        createWriteStream(temp, { flags: 'wx' }),
      );
      const sha256 = hash.digest('hex');
      const path = this.pathOf(sha256);
      await rename(temp, path);
      return { path, sha256, size };
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
  }
}

/** The sha256 of a file's bytes, streamed. */
async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
