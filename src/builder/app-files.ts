import type { Stats } from 'node:fs';
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { RampartError } from '../errors.js';
import { APP_OWNER } from './layering.js';
import type { FileSpec, SpecLocator } from './spec.js';
import { canonicalPath, type FileTree } from './tree.js';

/**
 * Copies the spec's `files:` (a file or a directory, relative to the spec file) into the tree
 * as the application layer. Symlinks are copied as links, never followed, so nothing outside
 * the source directory gets in; ownership comes from the spec, not from the build machine.
 */
export async function addAppFiles(
  tree: FileTree,
  files: readonly FileSpec[],
  baseDir: string,
  locate: SpecLocator,
): Promise<number> {
  let count = 0;
  for (const [i, f] of files.entries()) {
    const source = resolve(baseDir, f.source);
    let stat: Stats;
    try {
      stat = await lstat(source);
    } catch {
      throw new RampartError(
        'SPEC_INVALID',
        `${locate(['files', i, 'source'])}: files[${i}].source ${source} does not exist; create it or fix the path`,
      );
    }
    // Canonical like package paths: `/bin/x` goes to usr/bin/x, not through the /bin symlink.
    const destination = canonicalPath(f.destination, stat.isDirectory() ? 'directory' : 'file');
    const walk = async (abs: string, rel: string, st: Stats) => {
      const base = { uid: f.uid, gid: f.gid, owner: APP_OWNER };
      if (st.isDirectory()) {
        if (rel !== '') tree.put(rel, { ...base, type: 'directory', mode: f.mode ?? 0o755 });
        const names = (await readdir(abs)).sort();
        for (const name of names) {
          const child = join(abs, name);
          await walk(child, rel === '' ? name : `${rel}/${name}`, await lstat(child));
        }
      } else if (st.isSymbolicLink()) {
        tree.put(rel, { ...base, type: 'symlink', mode: 0o777, target: await readlink(abs) });
        count++;
      } else if (st.isFile()) {
        // Keep the executable bit, drop group/other write and any special bits.
        const mode = f.mode ?? (st.mode & 0o111 ? 0o755 : 0o644);
        tree.put(rel, { ...base, type: 'file', mode, content: await readFile(abs) });
        count++;
      } else {
        throw new RampartError(
          'SPEC_INVALID',
          `${locate(['files', i, 'source'])}: ${abs} is not a file or directory`,
        );
      }
    };
    if (stat.isDirectory() && destination !== '') {
      tree.put(destination, {
        uid: f.uid,
        gid: f.gid,
        owner: APP_OWNER,
        type: 'directory',
        mode: f.mode ?? 0o755,
      });
    }
    await walk(source, destination, stat);
  }
  return count;
}
