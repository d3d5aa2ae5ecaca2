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
 * bigint). A write through a file descriptor changes mtime and ctime, a replacement (rename, copy)
 * changes the inode, and ctime cannot be set by a user (`utimes` that puts mtime back sets ctime
 * to now).
 *
 * What the stat does not show: a write through a shared writable mapping (`mmap` MAP_SHARED with
 * PROT_WRITE) sets the times at its first write fault on a clean page (or at msync) only; later
 * writes to a page still dirty leave the stat as it is until the kernel writes the page back
 * (tens of seconds on Linux). A process that holds such a mapping can change the bytes after
 * rampart recorded them, with the stat unchanged. So the record is used (and written) only for
 * a file that no one but the current user can write (`recordable`); the user's own processes,
 * and root, can still do it, as they can fool git's racy-clean check: the record protects
 * against a changed, corrupted or replaced file and against other users, not against the user's
 * own processes writing through a mapping they hold.
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
  /**
   * The wall clock the racy window is measured against, in ms since the epoch (file times are
   * wall-clock times); `Date.now` by default. Never a document clock (SOURCE_DATE_EPOCH or any
   * fixed time): one in the future would record files changed a moment ago.
   */
  wallClock?: () => number;
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

/**
 * Whether a file may be known by its stat: a regular file owned by the current (effective) user,
 * with no group or other write bit (a POSIX ACL that lets another user or group write sets its
 * mask, which stat shows as the group bits), and a single link. Otherwise another user may write
 * it, or hold a writable mapping of it (see `BlobFileStat`), or write it through another name: it
 * is always hashed. A process that opened the file for writing while it was writable by others keeps
 * that access after a chmod; the chmod changes ctime, so a record made before it is not used, but
 * one made after it could be: tighten the modes of a layout before rampart reads it, not while a
 * writer of another user holds it open. Where there are no user ids (Windows), never.
 */
export function recordable(stat: BigIntStats): boolean {
  const uid = process.geteuid?.();
  return (
    uid !== undefined &&
    stat.isFile() &&
    stat.uid === BigInt(uid) &&
    (stat.mode & 0o022n) === 0n &&
    stat.nlink === 1n
  );
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
 * it, the file opened now (through the path, never through a symbolic link) is `recordable` (only
 * its user can write it) and its stat is that stat, field for field, with the declared size.
 * Otherwise the file is read and hashed; when it matched, is `recordable`, its stat did not
 * change while it was read and its ctime is older than the racy window, that stat is recorded.
 * It is the open file's (fstat): the stat of the bytes hashed, whatever the path named meanwhile.
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
  const wall = (options.wallClock ?? Date.now)();
  // A clock that gives no time (NaN) records nothing: every ctime is within its window.
  const startNs = Number.isFinite(wall) ? BigInt(Math.floor(wall)) * 1_000_000n : 0n;
  const { path, handle, stat: opened } = await source.openBlobFile(descriptor.digest);
  let closed = false;
  try {
    // A file others can write is hashed every time: its record is neither read nor written.
    const key = recordable(opened) ? await realpath(path).catch(() => undefined) : undefined;
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
    const afterStat = await handle.stat({ bigint: true });
    const after = blobFileStat(afterStat);
    await handle.close();
    closed = true;
    // A ctime of 0 is a file system that keeps none: nothing there tells a changed file apart.
    const ctime = BigInt(after.ctimeNs);
    if (
      key !== undefined &&
      recordable(afterStat) &&
      sameFile(before, after) &&
      ctime > 0n &&
      ctime < startNs - RACY_WINDOW_NS
    )
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
