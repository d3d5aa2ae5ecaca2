import { createHash } from 'node:crypto';
import { createReadStream, constants as fsConstants, type Stats } from 'node:fs';
import { type FileHandle, lstat, open, readdir, readlink, realpath } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { RampartError, type SourcePosition } from '../errors.js';
import type { ContentStore } from './content.js';
import { APP_OWNER } from './layering.js';
import type { FileSpec, SpecLocator } from './spec.js';
import { canonicalPath, type FileTree } from './tree.js';

/** Never a build input, whatever the flags: the kernel's views of processes, devices and itself. */
export const PSEUDO_FILESYSTEMS = ['/proc', '/sys', '/dev'] as const;

export type AppFilesOptions = {
  locate: SpecLocator;
  /** Directories besides the spec's own that sources may come from (`--allow-outside-context DIR`). */
  allowOutsideContext?: readonly string[];
  /**
   * Where file bytes are spooled as they are read through the checked descriptor; the tree then
   * holds references. Without a store the bytes stay in memory.
   */
  store?: ContentStore;
  signal?: AbortSignal;
};

/** One `files:` entry as the build record lists it: a file's sha256, or a directory's tree digest. */
export type FileSourceRecord = {
  source: string;
  /** Resolved (real) path that was read. */
  path: string;
  type: 'file' | 'directory';
  /** File: sha256 of the bytes. Directory: sha256 over its sorted entries (path, type, mode, bytes' sha256 or link target). */
  sha256: string;
  files: number;
};

/**
 * Copies the spec's `files:` (a file or a directory) into the tree as the application layer.
 * A source must resolve (symlinks followed, realpath) inside the build context — the spec's
 * directory — or a directory the caller allowed; /proc, /sys and /dev never. Only regular files
 * and directories are read, each through a descriptor opened without following links whose
 * real path is checked again after the open, so a path swapped between the check and the read
 * cannot bring a host file in. Symlinks inside a directory source are copied as links, never
 * followed; ownership comes from the spec, not from the build machine.
 */
export async function addAppFiles(
  tree: FileTree,
  files: readonly FileSpec[],
  baseDir: string,
  opts: AppFilesOptions,
): Promise<FileSourceRecord[]> {
  const records: FileSourceRecord[] = [];
  const roots = await contextRoots(baseDir, opts.allowOutsideContext ?? []);
  for (const [i, f] of files.entries()) {
    opts.signal?.throwIfAborted();
    const where = opts.locate(['files', i, 'source']);
    const source = resolve(baseDir, f.source);
    const refuse = (path: string, why: string): never => {
      throw new RampartError(
        'SOURCE_OUTSIDE_CONTEXT',
        `${where}: files[${i}].source ${f.source} ${why}; keep sources inside ${roots[0]} or pass --allow-outside-context DIR`,
        { details: { path, context: roots[0]!, position: parsePosition(where) } },
      );
    };
    if (pseudoFilesystem(source))
      refuse(source, 'is on a pseudo-filesystem (/proc, /sys, /dev are never read)');
    let real: string;
    try {
      real = await realpath(source);
    } catch {
      throw new RampartError(
        'SPEC_INVALID',
        `${where}: files[${i}].source ${source} does not exist; create it or fix the path`,
        { details: { position: parsePosition(where), key: `files.${i}.source` } },
      );
    }
    if (pseudoFilesystem(real)) refuse(real, `resolves to ${real} on a pseudo-filesystem`);
    if (!inside(real, roots)) refuse(real, `resolves to ${real}, outside the build context`);

    const checkOpened = async (handle: FileHandle, expected: string): Promise<void> => {
      const opened = await openedPath(handle);
      if (opened !== expected || pseudoFilesystem(opened) || !inside(opened, roots)) {
        refuse(opened, `changed while it was read (now ${opened})`);
      }
    };
    const notRegular = (path: string): never => {
      throw new RampartError(
        'SPEC_INVALID',
        `${where}: ${path} is not a regular file or directory; only those can be copied into an image`,
        { details: { position: parsePosition(where), key: `files.${i}.source` } },
      );
    };
    const digestLines: string[] = [];
    let count = 0;
    const base = { uid: f.uid, gid: f.gid, owner: APP_OWNER };

    const copyFile = async (handle: FileHandle, st: Stats, rel: string, abs: string): Promise<string> => {
      // Keep the executable bit, drop group/other write and any special bits.
      const mode = f.mode ?? (st.mode & 0o111 ? 0o755 : 0o644);
      const stream = createReadStream('', { fd: handle.fd, autoClose: false, start: 0 });
      let sha256: string;
      if (opts.store) {
        const ref = await opts.store.putStream(stream);
        tree.put(rel, { ...base, type: 'file', mode, content: ref });
        sha256 = ref.sha256;
      } else {
        const chunks: Buffer[] = [];
        for await (const chunk of stream) chunks.push(chunk as Buffer);
        const content = Buffer.concat(chunks);
        tree.put(rel, { ...base, type: 'file', mode, content });
        sha256 = createHash('sha256').update(content).digest('hex');
      }
      count++;
      void abs;
      return sha256;
    };

    const allowedOutside = roots.slice(1);
    const walk = async (abs: string, rel: string, relInSource: string, handle: FileHandle): Promise<void> => {
      opts.signal?.throwIfAborted();
      const st = await handle.stat();
      if (st.isFile()) {
        // Another name of the same inode may live anywhere on the filesystem: a hard link in the
        // context is as good as a copy of a host file, and no path check can tell.
        if (st.nlink > 1 && !inside(abs, allowedOutside)) {
          refuse(
            abs,
            `${abs === real ? 'is' : `contains ${abs}, which is`} a file with ${st.nlink} hard links and could bring a file from outside the context (copy it instead)`,
          );
        }
        const sha = await copyFile(handle, st, rel, abs);
        digestLines.push(`${relInSource}\0file\0${st.mode & 0o111 ? 'x' : '-'}\0${sha}`);
        return;
      }
      if (!st.isDirectory()) notRegular(abs);
      if (rel !== '') tree.put(rel, { ...base, type: 'directory', mode: f.mode ?? 0o755 });
      digestLines.push(`${relInSource}\0directory`);
      // Entries are listed and opened through the checked descriptor, not through the path again.
      const dirPath = `/proc/self/fd/${handle.fd}`;
      const names = (await readdir(dirPath)).sort();
      for (const name of names) {
        const childAbs = join(abs, name);
        const childRel = rel === '' ? name : `${rel}/${name}`;
        const childInSource = relInSource === '' ? name : `${relInSource}/${name}`;
        // The type is known before the open, so a device node or socket is never opened; a swap
        // after this lstat is caught by O_NOFOLLOW and by the fstat and path re-checks.
        const kind = await lstatKind(join(dirPath, name));
        if (kind === 'other') notRegular(childAbs);
        const child = kind === 'symlink' ? 'symlink' : await openNoFollow(join(dirPath, name));
        if (child === 'symlink') {
          const target = await readlink(join(dirPath, name));
          tree.put(childRel, { ...base, type: 'symlink', mode: 0o777, target });
          digestLines.push(`${childInSource}\0symlink\0${target}`);
          count++;
          continue;
        }
        try {
          await checkOpened(child, childAbs);
          await walk(childAbs, childRel, childInSource, child);
        } finally {
          await child.close();
        }
      }
    };

    const topKind = await lstatKind(real);
    if (topKind === 'other') notRegular(real);
    const top = topKind === 'symlink' ? 'symlink' : await openNoFollow(real);
    if (top === 'symlink') refuse(real, 'changed while it was read');
    const handle = top as FileHandle;
    let record: FileSourceRecord;
    try {
      await checkOpened(handle, real);
      const st = await handle.stat();
      if (!st.isFile() && !st.isDirectory()) notRegular(real);
      // Canonical like package paths: `/bin/x` goes to usr/bin/x, not through the /bin symlink.
      const destination = canonicalPath(f.destination, st.isDirectory() ? 'directory' : 'file');
      if (st.isDirectory() && destination !== '') {
        tree.put(destination, { ...base, type: 'directory', mode: f.mode ?? 0o755 });
      }
      await walk(real, destination, '', handle);
      const sha256 = st.isFile()
        ? digestLines[0]!.split('\0').at(-1)!
        : createHash('sha256').update(digestLines.join('\n')).digest('hex');
      record = {
        source: f.source,
        path: real,
        type: st.isFile() ? 'file' : 'directory',
        sha256,
        files: count,
      };
    } finally {
      await handle.close();
    }
    records.push(record);
  }
  return records;
}

/** The spec's directory and the allowed ones, as real paths. */
async function contextRoots(baseDir: string, allowed: readonly string[]): Promise<string[]> {
  const roots: string[] = [];
  for (const dir of [baseDir, ...allowed]) {
    const real = await realpath(resolve(dir)).catch((error: unknown) => {
      throw new RampartError('NOT_FOUND', `build context directory ${dir} does not exist`, {
        cause: error,
        details: { path: dir },
      });
    });
    if (pseudoFilesystem(real)) {
      throw new RampartError(
        'SOURCE_OUTSIDE_CONTEXT',
        `${dir} is on a pseudo-filesystem and cannot be a build context`,
        {
          details: { path: real },
        },
      );
    }
    roots.push(real);
  }
  return roots;
}

export function inside(path: string, roots: readonly string[]): boolean {
  return roots.some((root) => {
    const rel = relative(root, path);
    return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
  });
}

export function pseudoFilesystem(path: string): boolean {
  return PSEUDO_FILESYSTEMS.some((p) => path === p || path.startsWith(`${p}/`));
}

/**
 * Opens without following a final symlink and without blocking (a FIFO would otherwise hang the
 * build); returns 'symlink' for a link.
 */
async function openNoFollow(path: string): Promise<FileHandle | 'symlink'> {
  try {
    return await open(path, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ELOOP') return 'symlink';
    throw new RampartError('IO', `cannot open ${path}: ${(error as Error).message}`, {
      cause: error,
      details: { path, syscall: 'open', errno: (error as NodeJS.ErrnoException).code ?? '' },
    });
  }
}

/** What lstat says a path is, without opening it. */
async function lstatKind(path: string): Promise<'file' | 'directory' | 'symlink' | 'other'> {
  let st: Stats;
  try {
    st = await lstat(path);
  } catch (error) {
    throw new RampartError('IO', `cannot lstat ${path}: ${(error as Error).message}`, {
      cause: error,
      details: { path, syscall: 'lstat', errno: (error as NodeJS.ErrnoException).code ?? '' },
    });
  }
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'directory';
  return 'other';
}

/**
 * The real path of an open descriptor (Linux /proc/self/fd). Without that view the path of what
 * was opened cannot be checked again, so the read is refused rather than done unchecked.
 */
async function openedPath(handle: FileHandle): Promise<string> {
  const link = `/proc/self/fd/${handle.fd}`;
  try {
    return await readlink(link);
  } catch (error) {
    throw new RampartError(
      'IO',
      `cannot read ${link} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}): the path of an opened source cannot be checked again, so files: sources are not read; mount /proc`,
      {
        cause: error,
        details: { path: link, syscall: 'readlink', errno: (error as NodeJS.ErrnoException).code ?? '' },
      },
    );
  }
}

/** `file:line:col` from a SpecLocator into the error details' position. */
function parsePosition(where: string): SourcePosition {
  const match = /^(.*):(\d+):(\d+)$/.exec(where);
  return match ? { file: match[1]!, line: Number(match[2]), column: Number(match[3]) } : { file: where };
}
