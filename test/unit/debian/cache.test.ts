import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ReadableStream as WebReadableStream } from 'node:stream/web';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ContentCache, defaultCacheDir } from '../../../src/debian/cache.js';
import { isRampartError } from '../../../src/errors.js';
import { writeFileAtomic } from '../../../src/util/atomic-file.js';

let root: string;
const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

/** Yields `data` in small chunks with pauses, so concurrent writers interleave. */
async function* slowly(data: Buffer, pauseMs = 2): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < data.length; i += 1024) {
    await new Promise((resolve) => setTimeout(resolve, pauseMs));
    yield data.subarray(i, i + 1024);
  }
}

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'rampart-cache-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('ContentCache', () => {
  it('honours XDG_CACHE_HOME', () => {
    expect(defaultCacheDir({ XDG_CACHE_HOME: '/x/cache' })).toBe('/x/cache/rampart');
    expect(defaultCacheDir({})).toMatch(/\.cache\/rampart$/);
  });

  it('stores a verified stream under its digest', async () => {
    const cache = new ContentCache(root);
    const data = Buffer.from('a'.repeat(10_000));
    let counted = 0;
    const path = await cache.putVerifiedStream(
      slowly(data, 0),
      { sha256: sha256(data), size: data.length },
      'test',
      (n) => {
        counted += n;
      },
    );
    expect(path).toBe(join(root, 'blobs', 'sha256', sha256(data)));
    expect(await readFile(path)).toEqual(data);
    expect(counted).toBe(data.length);
    expect(await cache.has(sha256(data), data.length)).toBe(true);
    expect(await cache.has(sha256(data), data.length + 1)).toBe(false);
  });

  it('keeps nothing when the hash or the size does not match', async () => {
    const cache = new ContentCache(root);
    const data = Buffer.from('payload');
    const wrong = sha256(Buffer.from('other'));
    const error = await cache
      .putVerifiedStream(slowly(data), { sha256: wrong }, 'http://m.example/x.deb')
      .catch((e) => e);
    expect(isRampartError(error, 'DIGEST_MISMATCH')).toBe(true);
    expect((error as Error).message).toContain('http://m.example/x.deb');
    const sizeError = await cache
      .putVerifiedStream(slowly(data), { sha256: sha256(data), size: 3 }, 'x')
      .catch((e: unknown) => e);
    expect(isRampartError(sizeError, 'DIGEST_MISMATCH')).toBe(true);
    expect(await readdir(join(root, 'blobs', 'sha256'))).toEqual([]);
  });

  it('a source that fails before it is read (a reset while the directory is made) rejects, and does not crash', async () => {
    const cache = new ContentCache(root);
    // Errored a moment after the cache takes it (while its mkdir and open run), as a mirror's reset
    // can arrive then: before the fix, an uncaught exception that ended the process.
    const source = new WebReadableStream<Uint8Array>({
      start(controller) {
        setTimeout(() => controller.error(new Error('connection reset')), 1);
      },
    });
    const error = await cache
      .putVerifiedStream(
        source as unknown as ReadableStream<Uint8Array>,
        { sha256: sha256(Buffer.from('x')), size: 1 },
        'x',
      )
      .catch((e: unknown) => e);
    expect((error as Error).message).toContain('connection reset');
    expect(await readdir(join(root, 'blobs', 'sha256')).catch(() => [])).toEqual([]);
  });

  it('stops reading a source as soon as it overflows the expected size', async () => {
    const cache = new ContentCache(root);
    const expected = Buffer.alloc(4096, 1);
    let produced = 0;
    async function* endless(): AsyncGenerator<Uint8Array> {
      // A hostile mirror: the right prefix, then data that never ends.
      for (;;) {
        produced += 1024;
        yield Buffer.alloc(1024, 1);
        if (produced > 64 * 1024 * 1024) return;
      }
    }
    const error = await cache
      .putVerifiedStream(endless(), { sha256: sha256(expected), size: expected.length }, 'x')
      .catch((e: unknown) => e);
    expect(isRampartError(error, 'DIGEST_MISMATCH')).toBe(true);
    expect(produced).toBeLessThan(64 * 1024);
    expect(await readdir(join(root, 'blobs', 'sha256'))).toEqual([]);
  });

  it('survives concurrent writers of the same blob and never exposes a partial file', async () => {
    const data = Buffer.from(Array.from({ length: 64 * 1024 }, (_, i) => i % 251));
    const digest = sha256(data);
    // Separate instances stand in for separate processes sharing the directory.
    const writers = Array.from({ length: 4 }, () =>
      new ContentCache(root).putVerifiedStream(slowly(data, 1), { sha256: digest, size: data.length }, 'x'),
    );
    const readers = (async () => {
      const cache = new ContentCache(root);
      for (let i = 0; i < 50; i++) {
        if (await cache.has(digest)) expect(sha256(await cache.readBlob(digest))).toBe(digest);
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
    })();
    await Promise.all([...writers, readers]);
    expect(sha256(await readFile(join(root, 'blobs', 'sha256', digest)))).toBe(digest);
    expect(await readdir(join(root, 'blobs', 'sha256'))).toEqual([digest]);
  });

  it('round-trips JSON values, treating corrupt files as misses', async () => {
    const cache = new ContentCache(root);
    await cache.writeJson('meta', 'http://m.example/InRelease', { etag: '"x"' });
    expect(await cache.readJson('meta', 'http://m.example/InRelease')).toEqual({ etag: '"x"' });
    expect(await cache.readJson('meta', 'other')).toBeUndefined();
    const [file] = await readdir(join(root, 'meta'));
    await writeFileAtomic(join(root, 'meta', file as string), '{"etag": tru');
    expect(await cache.readJson('meta', 'http://m.example/InRelease')).toBeUndefined();
  });

  it('rejects digests that are not sha256 hex (no path tricks)', () => {
    expect(() => new ContentCache(root).blobPath('../../etc/passwd')).toThrow(/sha256/);
  });
});
