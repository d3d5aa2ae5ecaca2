import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { fromSystemError, RampartError } from '../errors.js';

/** A key file is a few hundred bytes; nothing larger is read. */
export const MAX_KEY_FILE_BYTES = 64 * 1024;

/**
 * Reads a key file's text: a regular file (a FIFO or `/dev/zero` given as `--key` cannot hang or
 * exhaust the process) of at most MAX_KEY_FILE_BYTES, through the descriptor that was checked.
 */
export async function readKeyFile(path: string): Promise<string> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    // O_NONBLOCK: opening a FIFO for reading does not wait for a writer (it is refused below).
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    throw fromSystemError(error, { path, operation: 'read' });
  }
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) {
      throw new RampartError('KEY_INVALID', `${path} is not a regular file`, {
        details: { path, reason: 'format' },
      });
    }
    if (stats.size > MAX_KEY_FILE_BYTES) {
      throw new RampartError('KEY_INVALID', `${path} is ${stats.size} bytes, larger than a key file`, {
        details: { path, reason: 'format' },
      });
    }
    const buffer = Buffer.alloc(MAX_KEY_FILE_BYTES + 1);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    if (bytesRead > MAX_KEY_FILE_BYTES) {
      throw new RampartError('KEY_INVALID', `${path} grew past the size of a key file while read`, {
        details: { path, reason: 'format' },
      });
    }
    return buffer.subarray(0, bytesRead).toString('utf8');
  } finally {
    await handle.close();
  }
}
