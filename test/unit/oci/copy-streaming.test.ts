/**
 * How blob bytes move through a copy: hashed once (where they are consumed, not again by a sink
 * that receives an already verified stream), still refused when they do not match, and written to
 * files in large writes rather than one write per network-sized chunk.
 */
import { createHash } from 'node:crypto';
import { access, mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RampartError } from '../../../src/errors.js';
import { copy } from '../../../src/oci/copy.js';
import type { Digest } from '../../../src/oci/digest.js';
import type { Image, Manifest } from '../../../src/oci/image.js';
import { openImage, openSink } from '../../../src/oci/open.js';
import { writeStreamAtomic } from '../../../src/util/atomic-file.js';
import { type RandomImage, writeRandomImage } from '../../helpers/random-image.js';

const MB = 1000 * 1000;
let work: string;
let image: RandomImage;
const source = () => join(work, 'source');

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'rampart-copy-streaming-'));
  image = await writeRandomImage(source(), 'v1', [3 * MB, 2 * MB]);
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** Bytes fed to sha256 hashes while `run` runs (every Hash object shares one prototype). */
async function bytesHashed(run: () => Promise<unknown>): Promise<number> {
  const proto = Object.getPrototypeOf(createHash('sha256')) as { update: (...args: unknown[]) => unknown };
  const update = proto.update;
  let bytes = 0;
  proto.update = function (this: unknown, data: unknown, ...rest: unknown[]) {
    bytes += typeof data === 'string' ? Buffer.byteLength(data) : (data as Uint8Array).byteLength;
    return update.call(this, data, ...rest);
  };
  try {
    await run();
  } finally {
    proto.update = update;
  }
  return bytes;
}

describe('a copy hashes each blob once', () => {
  it('oci: → oci: hashes the layers once, not once by the source and again by the sink', async () => {
    const target = join(work, 'once');
    const layerBytes = image.layers.reduce((sum, l) => sum + l.size, 0);
    const hashed = await bytesHashed(async () => {
      const object = await openImage(`oci:${source()}:v1`);
      await copy(object, await openSink(`oci:${target}:v1`), { tag: 'v1' });
    });
    // Layers once; the config and manifests (a few hundred bytes each) a few times at most.
    expect(hashed).toBeGreaterThanOrEqual(layerBytes);
    expect(hashed).toBeLessThan(layerBytes + 64 * 1024);
    for (const layer of image.layers) {
      const stored = await readFile(join(target, 'blobs/sha256', layer.digest.slice(7)));
      expect(`sha256:${createHash('sha256').update(stored).digest('hex')}`).toBe(layer.digest);
    }
  });

  it('a layer whose bytes changed (same size) still fails the copy, and no blob is written', async () => {
    const corrupt = join(work, 'corrupt');
    await writeRandomImage(corrupt, 'v1', [3 * MB]);
    const opened = await openImage(`oci:${corrupt}:v1`);
    const layer = (opened as { manifest: { layers: { digest: string }[] } }).manifest.layers[0];
    const file = join(corrupt, 'blobs/sha256', (layer?.digest ?? '').slice(7));
    const handle = await open(file, 'r+');
    await handle.write(Buffer.from([0x42, 0x42, 0x42, 0x42]), 0, 4, 1024 * 1024);
    await handle.close();
    const target = join(work, 'corrupt-copy');
    const failure = await copy(opened, await openSink(`oci:${target}:v1`), { tag: 'v1' }).catch(
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(RampartError);
    expect((failure as RampartError).code).toBe('DIGEST_MISMATCH');
    expect((failure as RampartError<'DIGEST_MISMATCH'>).details.expected).toBe(layer?.digest);
    await expect(access(target)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('a copy reads the config once', () => {
  /** A manifest or image whose config reads are counted. */
  function counting(node: Manifest | Image, reads: string[]): Manifest | Image {
    const configDigest = node.configDescriptor.digest;
    return {
      ...node,
      readConfig: () => {
        reads.push('readConfig');
        return node.readConfig();
      },
      blob: (digest: Digest) => {
        if (digest === configDigest) reads.push('blob');
        return node.blob(digest);
      },
    };
  }

  it.each(['image', 'manifest'] as const)(
    'the config of an %s is written from the bytes already read (verified), not read again',
    async (kind) => {
      const image = (await openImage(`oci:${source()}:v1`)) as Image;
      expect(image.kind).toBe('image');
      // A manifest whose config is unread, as a registry source gives: copy reads it for the platform.
      const node: Manifest | Image =
        kind === 'image' ? image : { ...image, kind: 'manifest', isImage: true, toImage: async () => image };
      const reads: string[] = [];
      const target = join(work, `config-once-${kind}`);
      await copy(counting(node, reads), await openSink(`oci:${target}:v1`), { tag: 'v1' });
      expect(reads).toEqual(kind === 'image' ? [] : ['readConfig']);
      const configDigest = image.configDescriptor.digest;
      const stored = await readFile(join(target, 'blobs/sha256', configDigest.slice(7)));
      expect(`sha256:${createHash('sha256').update(stored).digest('hex')}`).toBe(configDigest);
    },
  );
});

describe('blob files are written in large writes', () => {
  it('a 3 MiB stream of 16 KiB chunks is written in a handful of writes, byte for byte', async () => {
    const chunk = 16 * 1024;
    const data = Buffer.alloc(3 * 1024 * 1024);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7919) % 251;
    const chunks = Array.from({ length: data.length / chunk }, (_, i) =>
      data.subarray(i * chunk, (i + 1) * chunk),
    );
    const probe = await open(join(work, 'probe'), 'w');
    const proto = Object.getPrototypeOf(probe) as Record<'write' | 'writev', (...args: unknown[]) => unknown>;
    await probe.close();
    const original = { write: proto.write, writev: proto.writev };
    let writes = 0;
    for (const name of ['write', 'writev'] as const) {
      proto[name] = function (this: unknown, ...args: unknown[]) {
        writes++;
        return original[name].apply(this, args);
      };
    }
    const path = join(work, 'written.bin');
    try {
      // A stream that yields each chunk on its own turn, as a socket does.
      const stream = Readable.from(
        (async function* () {
          for (const c of chunks) {
            await new Promise((resolve) => setImmediate(resolve));
            yield c;
          }
        })(),
      );
      await writeStreamAtomic(path, stream);
    } finally {
      Object.assign(proto, original);
    }
    expect(writes).toBeGreaterThan(0);
    expect(writes).toBeLessThanOrEqual(4);
    expect((await readFile(path)).equals(data)).toBe(true);
  });

  it('a failing source leaves no file behind', async () => {
    const path = join(work, 'never.bin');
    const stream = Readable.from(
      (async function* () {
        yield Buffer.alloc(2 * 1024 * 1024);
        throw new Error('source broke');
      })(),
    );
    await expect(writeStreamAtomic(path, stream)).rejects.toThrow();
    await expect(access(path)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('a file is written back while it is written', () => {
  /** Replaces FileHandle methods for the duration of `run` (every handle shares one prototype). */
  async function withHandleMethods(
    replace: (
      original: Record<'sync' | 'datasync', (...args: unknown[]) => Promise<void>>,
    ) => Partial<Record<'sync' | 'datasync', (...args: unknown[]) => Promise<void>>>,
    run: () => Promise<unknown>,
  ): Promise<void> {
    const probe = await open(join(work, 'probe'), 'w');
    const proto = Object.getPrototypeOf(probe) as Record<
      'sync' | 'datasync',
      (...args: unknown[]) => Promise<void>
    >;
    await probe.close();
    const original = { sync: proto.sync, datasync: proto.datasync };
    Object.assign(proto, replace(original));
    try {
      await run();
    } finally {
      Object.assign(proto, original);
    }
  }

  /** 24 MiB in 256 KiB chunks, each on its own turn, as a socket gives them. */
  const bigStream = (data: Buffer) =>
    Readable.from(
      (async function* () {
        for (let at = 0; at < data.length; at += 256 * 1024) {
          await new Promise((resolve) => setImmediate(resolve));
          yield data.subarray(at, at + 256 * 1024);
        }
      })(),
    );

  it('starts fdatasync before the last byte, and still fsyncs at the end', async () => {
    const data = Buffer.alloc(24 * 1024 * 1024, 7);
    const calls: string[] = [];
    const path = join(work, 'written-back.bin');
    await withHandleMethods(
      (original) => ({
        datasync(this: unknown, ...args: unknown[]) {
          calls.push('datasync');
          return original.datasync.apply(this, args);
        },
        sync(this: unknown, ...args: unknown[]) {
          calls.push('sync');
          return original.sync.apply(this, args);
        },
      }),
      () => writeStreamAtomic(path, bigStream(data)),
    );
    expect(calls[0]).toBe('datasync');
    expect(calls.at(-1)).toBe('sync');
    expect((await readFile(path)).equals(data)).toBe(true);
  });

  it('a writeback that fails fails the write, though the final fsync succeeds, and leaves no file', async () => {
    const path = join(work, 'not-written-back.bin');
    const failure = Object.assign(new Error('EIO: i/o error, fdatasync'), {
      code: 'EIO',
      syscall: 'fdatasync',
    });
    let caught: unknown;
    await withHandleMethods(
      () => ({ datasync: () => Promise.reject(failure) }),
      () =>
        writeStreamAtomic(path, bigStream(Buffer.alloc(24 * 1024 * 1024))).catch((error: unknown) => {
          caught = error;
        }),
    );
    expect(caught).toBeInstanceOf(RampartError);
    expect((caught as RampartError).code).toBe('IO');
    expect((caught as RampartError).cause).toBe(failure);
    await expect(access(path)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
