import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** A temp path in the same directory as `path`, so the final rename is atomic. */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${randomBytes(6).toString('hex')}`);
}

/** Streams into a temp file through optional transforms, fsyncs, then renames over `path`. */
export async function writeStreamAtomic(
  path: string,
  source: Readable,
  ...transforms: Array<NodeJS.ReadWriteStream>
): Promise<void> {
  const temp = tempPathFor(path);
  // Open before piping: a lazily opened stream could create the temp file after a failure cleaned up.
  const handle = await open(temp, 'wx').catch((error: unknown) => {
    // Nothing will read the source now; destroying it releases what it holds open.
    source.destroy();
    throw error;
  });
  try {
    const out: Writable = handle.createWriteStream();
    await (pipeline as (...streams: unknown[]) => Promise<void>)(source, ...transforms, out);
    const written = await open(temp, 'r');
    await written.sync();
    await written.close();
    await rename(temp, path);
  } catch (error) {
    await handle.close().catch(() => undefined);
    await rm(temp, { force: true });
    throw error;
  }
}

/** Writes `data` to a temp file in the same directory (created if missing), fsyncs, then renames over `path`. */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temp = tempPathFor(path);
  try {
    const handle = await open(temp, 'wx');
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}
