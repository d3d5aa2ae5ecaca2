import type { BigIntStats } from 'node:fs';
import { type FileHandle, realpath } from 'node:fs/promises';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Digest } from './digest.js';
import type { Layer } from './image.js';
import { BLOB_READ_SIZE } from './layout.js';
import type { BlobSource } from './source.js';
import { openVerifiedBlob } from './source.js';
import type { Descriptor } from './types.js';

/**
 * What identifies one state of one file, as git's index keeps it for a racy-clean check: the
 * inode (device and number), the size and both times in nanoseconds. Decimal strings (JSON has no
 * bigint). Any write changes mtime and ctime, a replacement (rename, copy) changes the inode, and
 * ctime cannot be set by a user (`utimes` that puts mtime back sets ctime to now).
 */
export interface BlobFileStat {
  dev: string;
  ino: string;
  size: string;
  mtimeNs: string;
  ctimeNs: string;
}

/**
 * Blob files rampart has read and found to match their digest: by the file's real path and the
 * digest, the stat of the file whose bytes were hashed. Kept in the user's own cache (like the
 * catalog cache: `catalog-cache.ts` has the one that `rampart scan` uses); best effort both ways.
 */
export interface VerifiedBlobRecord {
  get(path: string, digest: Digest): Promise<BlobFileStat | undefined>;
  put(path: string, digest: Digest, stat: BlobFileStat): Promise<void>;
}

export interface VerifyBlobOptions {
  /** Without one, the blob is always read and hashed. */
  record?: VerifiedBlobRecord;
  signal?: AbortSignal;
  /** The clock the racy window is measured against (file times are wall-clock times). */
  now?: () => Date;
}

/**
 * A file changed in the same clock tick as its recorded ctime would keep that ctime (file times
 * come from a coarse clock, and some file systems keep seconds only): a file whose ctime is this
 * close to the start of its verification is not recorded, so it is hashed again next time.
 */
export const RACY_WINDOW_NS = 2_000_000_000n;

export function blobFileStat(stat: BigIntStats): BlobFileStat {
  return {
    dev: String(stat.dev),
    ino: String(stat.ino),
    size: String(stat.size),
    mtimeNs: String(stat.mtimeNs),
    ctimeNs: String(stat.ctimeNs),
  };
}

function sameFile(a: BlobFileStat, b: BlobFileStat): boolean {
  return (
    a.dev === b.dev &&
    a.ino === b.ino &&
    a.size === b.size &&
    a.mtimeNs === b.mtimeNs &&
    a.ctimeNs === b.ctimeNs
  );
}

/**
 * Checks a blob against its descriptor (size and digest), as reading it through `openVerifiedBlob`
 * does, and fails the same way. The one rule for skipping the read: the source stores the blob as a
 * regular file, the record holds the stat of that file from a verification that read and hashed
 * it, and the stat of the file opened now (through the path, never through a symbolic link) is that
 * stat, field for field, with the declared size. Otherwise the file is read and hashed; when it
 * matched, its stat did not change while it was read and its ctime is older than the racy window,
 * that stat is recorded. It is the open file's (fstat): the stat of the bytes hashed, whatever the
 * path named meanwhile.
 */
export async function verifyBlob(
  source: BlobSource,
  descriptor: Descriptor,
  options: VerifyBlobOptions = {},
): Promise<void> {
  const { record, signal } = options;
  signal?.throwIfAborted();
  // An embedded blob (`data`) is in the manifest already; other transports have no file to stat.
  if (!record || !source.openBlobFile || descriptor.data !== undefined) {
    await drain(await openVerifiedBlob(source, descriptor, 'layer'), signal);
    return;
  }
  const startNs = BigInt((options.now?.() ?? new Date()).getTime()) * 1_000_000n;
  const { path, handle, stat: opened } = await source.openBlobFile(descriptor.digest);
  let closed = false;
  try {
    const key = await realpath(path).catch(() => undefined);
    const known =
      key === undefined ? undefined : await record.get(key, descriptor.digest).catch(() => undefined);
    const before = blobFileStat(opened);
    // The file the path named when opened (the last component is never a link) is the one recorded.
    if (known && before.size === String(descriptor.size) && sameFile(known, before)) return;
    // The size check and the hash of openVerifiedBlob, over this open file.
    const single: BlobSource = {
      location: source.location,
      openBlob: async () => ({
        stream: Readable.from(readChunks(handle, opened.size + 1n), { objectMode: false }),
        size: Number(opened.size),
      }),
    };
    await drain(await openVerifiedBlob(single, descriptor, 'layer'), signal);
    const after = blobFileStat(await handle.stat({ bigint: true }));
    await handle.close();
    closed = true;
    // A ctime of 0 is a file system that keeps none: nothing there tells a changed file apart.
    const ctime = BigInt(after.ctimeNs);
    if (key !== undefined && sameFile(before, after) && ctime > 0n && ctime < startNs - RACY_WINDOW_NS)
      await record.put(key, descriptor.digest, after).catch(() => undefined);
  } finally {
    if (!closed) await handle.close().catch(() => undefined);
  }
}

/** `layer.verifyBlob` where the layer has it; otherwise the blob read through its verifying stream. */
export async function verifyLayerBlob(
  layer: Pick<Layer, 'blob'> & Partial<Pick<Layer, 'verifyBlob'>>,
  options: VerifyBlobOptions = {},
): Promise<void> {
  if (layer.verifyBlob) return layer.verifyBlob(options);
  options.signal?.throwIfAborted();
  await drain(await layer.blob(), options.signal);
}

/**
 * The file's bytes from the start, at most `limit` (one past the stored size shows a file that
 * grew). Read by hand: a FileHandle's read stream closes the handle when it ends, and the handle
 * is needed after the read, to stat the file that was read.
 */
async function* readChunks(handle: FileHandle, limit: bigint): AsyncGenerator<Buffer> {
  let position = 0;
  while (BigInt(position) < limit) {
    const length = Number(
      BigInt(BLOB_READ_SIZE) < limit - BigInt(position) ? BigInt(BLOB_READ_SIZE) : limit - BigInt(position),
    );
    const { bytesRead, buffer } = await handle.read(Buffer.allocUnsafe(length), 0, length, position);
    if (bytesRead === 0) return;
    position += bytesRead;
    yield buffer.subarray(0, bytesRead);
  }
}

async function drain(stream: Readable, signal: AbortSignal | undefined): Promise<void> {
  await pipeline(
    stream,
    new Writable({ write: (_chunk, _encoding, done) => done() }),
    ...(signal ? [{ signal }] : []),
  );
}
