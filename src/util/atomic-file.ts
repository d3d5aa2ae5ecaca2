import { type FileHandle, mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fromSystemError } from '../errors.js';
import { isRecyclable, releaseChunks } from './chunk-pool.js';
import { tempSuffix } from './staging.js';

/**
 * A temp path in the same directory as `path`, so the final rename is atomic; its name carries this
 * process's pid, so a later run can sweep it once the process is gone (staging.ts).
 */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}${tempSuffix()}`);
}

/**
 * Streams into a temp file through optional transforms, fsyncs, then renames over `path`. A
 * failure to write is a RampartError naming `path` (READ_ONLY_FILESYSTEM, NO_SPACE, ...); an
 * error of the source or a transform is thrown as it is.
 */
export async function writeStreamAtomic(
  path: string,
  source: Readable,
  ...transforms: Array<NodeJS.ReadWriteStream>
): Promise<void> {
  await (await writeStreamStaged(path, source, ...transforms)).commit();
}

/** A temp file written whole, not yet in place (`writeStreamStaged`). */
export interface StagedFile {
  /** fsyncs, closes and renames the temp file over its path; on failure it is removed. Once. */
  commit(): Promise<void>;
  /** Removes the temp file instead. */
  discard(): Promise<void>;
}

/**
 * `writeStreamAtomic` in two steps: resolves once the source has ended without error and every
 * byte is written to the temp file, with the step that makes it durable and puts it in place. A
 * caller with more to write (the next blob of a pull) starts that while the fsync runs; the rename
 * still comes only after the fsync, so `path` never names bytes a crash could lose.
 */
export async function writeStreamStaged(
  path: string,
  source: Readable,
  ...transforms: Array<NodeJS.ReadWriteStream>
): Promise<StagedFile> {
  const temp = tempPathFor(path);
  // Open before piping: a lazily opened stream could create the temp file after a failure cleaned up.
  const handle = await open(temp, 'wx').catch((error: unknown) => {
    // Nothing will read the source now; destroying it releases what it holds open.
    source.destroy();
    throw fromSystemError(error, { path, operation: 'write' });
  });
  const discard = async (): Promise<void> => {
    await handle.close().catch(() => undefined);
    await rm(temp, { force: true }).catch(() => undefined);
  };
  // pipeline() destroys the file stream with an upstream error too: remember those, so only the
  // file's own failures (ENOSPC, EIO...) are reported as failures to write `path`.
  const upstreamErrors = new Set<unknown>();
  for (const stream of [source, ...transforms]) stream.on('error', (error) => upstreamErrors.add(error));
  // A recyclable source read straight into the file: its chunks are given back once written.
  const out = batchedFileWriter(handle, transforms.length === 0 && isRecyclable(source));
  try {
    await (pipeline as (...streams: unknown[]) => Promise<void>)(source, ...transforms, out.stream).catch(
      (error: unknown) => {
        throw upstreamErrors.has(error) ? error : fromSystemError(error, { path, operation: 'write' });
      },
    );
  } catch (error) {
    await discard();
    throw error;
  }
  let committed: Promise<void> | undefined;
  const commit = async (): Promise<void> => {
    try {
      // An early writeback that failed fails the commit: the fsync after it may not see that error.
      await out.writtenBack().catch((error: unknown) => {
        throw fromSystemError(error, { path, operation: 'write' });
      });
      await handle.sync().catch((error: unknown) => {
        throw fromSystemError(error, { path, operation: 'write' });
      });
      await handle.close();
      await rename(temp, path).catch((error: unknown) => {
        throw fromSystemError(error, { path, operation: 'write' });
      });
    } catch (error) {
      await discard();
      throw error;
    }
  };
  return {
    commit: () => {
      committed ??= commit();
      return committed;
    },
    discard: async () => {
      if (committed) await committed.catch(() => undefined);
      else await discard();
    },
  };
}

/** Bytes gathered before one write: network and decompression chunks are 16-64 KiB. */
const WRITE_BATCH = 1024 * 1024;
/** A file's writeback is started (see `batchedFileWriter`) each time this many more bytes are written. */
const WRITEBACK_STEP = 8 * 1024 * 1024;
/**
 * Early writebacks running at once, process-wide: each holds one of libuv's 4 threadpool threads
 * (shared with the writes themselves and the final fsyncs) for as long as the disk takes.
 */
const MAX_WRITEBACKS = 2;
let writebacks = 0;

/**
 * A Writable onto an open file that gathers chunks and writes them with one `writev` per MiB (not
 * one write per chunk: a 200 MB blob in 64 KiB chunks costs three times the CPU). It leaves the
 * handle open; the caller syncs and closes it.
 *
 * Every `WRITEBACK_STEP` bytes it also starts an `fdatasync` of what is written so far, without
 * waiting for it: the disk writes the file while the rest arrives, and the caller's final fsync
 * has only the last few MiB left to wait for. Linux writes dirty pages back only after 30 s or
 * under memory pressure, so without this a blob's whole fsync came after its last byte (a 64 MB
 * one's 0.1-0.15 s at the end of a registry pull, bench/registry.bench.ts). Node has no
 * `sync_file_range`, which would start the writeback without waiting. `writtenBack()` waits for
 * the one still running and throws its error: a writeback error is reported to one fsync of a
 * file description only, so one seen here would not fail the caller's final fsync.
 */
function batchedFileWriter(
  handle: FileHandle,
  recycle: boolean,
): { stream: Writable; writtenBack(): Promise<void> } {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let position = 0;
  let startedAt = 0;
  let writeback: Promise<void> | undefined;
  let writebackError: { error: unknown } | undefined;
  const startWriteback = (): void => {
    if (writeback || writebacks >= MAX_WRITEBACKS || position - startedAt < WRITEBACK_STEP) return;
    startedAt = position;
    writebacks++;
    writeback = handle.datasync().then(
      () => undefined,
      (error: unknown) => {
        writebackError ??= { error };
      },
    );
    void writeback.finally(() => {
      writebacks--;
      writeback = undefined;
    });
  };
  const flush = async (): Promise<void> => {
    const written = pending;
    let buffers = pending;
    let left = pendingBytes;
    pending = [];
    pendingBytes = 0;
    while (left > 0) {
      const { bytesWritten } = await handle.writev(buffers, position);
      position += bytesWritten;
      left -= bytesWritten;
      if (left > 0) buffers = dropBytes(buffers, bytesWritten);
    }
    // In the file (the page cache) now: the chunks are not needed any more.
    if (recycle) releaseChunks(written);
  };
  const stream = new Writable({
    highWaterMark: WRITE_BATCH,
    write(chunk: Buffer, _encoding, callback) {
      pending.push(chunk);
      pendingBytes += chunk.length;
      if (pendingBytes < WRITE_BATCH) return callback();
      flush().then(() => {
        // Not after the last write (in final): the caller's fsync follows at once.
        startWriteback();
        callback();
      }, callback);
    },
    final(callback) {
      flush().then(() => callback(), callback);
    },
  });
  return {
    stream,
    async writtenBack() {
      while (writeback) await writeback;
      if (writebackError) throw writebackError.error;
    },
  };
}

/** `buffers` without their first `count` bytes (after a short write). */
function dropBytes(buffers: Buffer[], count: number): Buffer[] {
  const rest: Buffer[] = [];
  let skip = count;
  for (const buffer of buffers) {
    if (skip >= buffer.length) {
      skip -= buffer.length;
      continue;
    }
    rest.push(skip > 0 ? buffer.subarray(skip) : buffer);
    skip = 0;
  }
  return rest;
}

/**
 * Writes `data` to a temp file in the same directory (created if missing), with `mode` (less the
 * umask; default 0o666), fsyncs, then renames over `path`. A failure is a RampartError naming `path` (READ_ONLY_FILESYSTEM, NO_SPACE, ...);
 * `operation` words it ("write the SBOM").
 */
export async function writeFileAtomic(
  path: string,
  data: Uint8Array | string,
  options: { operation?: string; mode?: number } = {},
): Promise<void> {
  const temp = tempPathFor(path);
  try {
    await makeDirectory(dirname(path));
    // The mode applies from creation (`mode`, e.g. 0o600 for a secret): never readable by others, even briefly.
    const handle = await open(temp, 'wx', options.mode ?? 0o666);
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true }).catch(() => undefined);
    throw fromSystemError(error, { path, operation: options.operation ?? 'write' });
  }
}

/**
 * `mkdir -p`, one level at a time, so a failure carries the true errno: Node's recursive mkdir
 * reports EROFS (and other errors it does not expect) as the ENOENT of a follow-up stat, and
 * loops forever where mkdir answers ENOENT under an existing parent (/proc/sys). Throws the
 * system error as it is; callers translate it with `fromSystemError`.
 */
export async function makeDirectory(path: string): Promise<void> {
  try {
    await mkdir(path);
    return;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' && (await isDirectory(path))) return;
    const parent = dirname(path);
    if (code !== 'ENOENT' || parent === path) throw error;
    await makeDirectory(parent);
  }
  try {
    await mkdir(path);
  } catch (error) {
    // Made by someone else meanwhile; any other error (a second ENOENT too) is the answer.
    if ((error as NodeJS.ErrnoException).code === 'EEXIST' && (await isDirectory(path))) return;
    throw error;
  }
}

async function isDirectory(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isDirectory() ?? false;
}
