/**
 * Checks that a destination can be written before any work starts, so a read-only, foreign or
 * mistyped destination is one line up front (READ_ONLY_FILESYSTEM, PERMISSION_DENIED, NOT_FOUND)
 * instead of a late failure after a download or an image write. Nothing is created: the check asks
 * the kernel (access(2), which also answers EROFS for a read-only mount, where root's bypass of
 * file modes does not help) about the nearest directory that exists on the way to the destination,
 * since what is missing below it would be created there.
 */
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fromSystemError } from '../errors.js';

/**
 * Throws a RampartError naming `path` when it could not be written: by default `path` is a file to
 * create or replace (its directory must be writable); with `inside`, a directory to write into (it,
 * or the nearest existing directory above it where it would be created, must be writable).
 */
export async function checkWritable(
  path: string,
  options: { inside?: boolean; operation?: string } = {},
): Promise<void> {
  const absolute = resolve(path);
  const operation = options.operation ?? 'write';
  let dir = options.inside ? absolute : dirname(absolute);
  for (;;) {
    const info = await stat(dir).catch((error: NodeJS.ErrnoException) => error);
    if (!(info instanceof Error)) {
      if (!info.isDirectory()) {
        const notDir = Object.assign(new Error(`ENOTDIR: not a directory, access '${dir}'`), {
          code: 'ENOTDIR',
          syscall: 'access',
          path: dir,
        });
        throw fromSystemError(notDir, { path, operation });
      }
      break;
    }
    if (info.code !== 'ENOENT' || dirname(dir) === dir) throw fromSystemError(info, { path, operation });
    dir = dirname(dir);
  }
  await access(dir, constants.W_OK | constants.X_OK).catch((error: unknown) => {
    throw fromSystemError(error, { path, operation });
  });
}
