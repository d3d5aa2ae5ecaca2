import { createHash } from 'node:crypto';
import {
  closeSync,
  constants,
  type Dirent,
  fstatSync,
  lstatSync,
  openSync,
  readdirSync,
  readlinkSync,
  readSync,
} from 'node:fs';
import { join } from 'node:path';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { compareText } from '../../util/compare-text.js';
import type { FileContent, FileNode, FileSource, RandomAccessFile } from './file-source.js';

/**
 * Lists a directory tree on disk as a FileSource. Symlinks are recorded, never followed, and every
 * read is done with O_NOFOLLOW so a file swapped for a link after the walk cannot lead out of the
 * root. A *directory* swapped for a link after the walk is not caught (that needs openat2's
 * RESOLVE_BENEATH, which Node does not offer): do not catalog a tree someone is changing meanwhile.
 *
 * The filesystem calls are synchronous on purpose: a root has thousands of small lstat/readdir
 * calls, and the promise API spends 4–5× longer in per-call overhead than the calls themselves.
 * The walk yields to the event loop after every directory so a server stays responsive.
 */
export async function directoryFileSource(
  root: string,
  onError: (path: string, error: unknown) => void,
): Promise<FileSource> {
  const nodes: FileNode[] = [];
  const pending = [''];
  for (let dir = pending.pop(); dir !== undefined; dir = pending.pop()) {
    pending.push(...listDirectory(root, dir, nodes, onError).reverse());
    await yieldToEventLoop();
  }
  nodes.sort((a, b) => compareText(a.path, b.path));
  return {
    nodes: () => nodes,
    read: (paths, onReadError) => readFromDirectory(root, paths, onReadError),
    openRandomAccess: async (path) => openRandomAccess(root, path),
    sha1: (paths, onReadError) => sha1FromDirectory(root, paths, onReadError),
  };
}

const HASH_CHUNK = 1 << 20;

/** SHA-1 of each file in 1 MiB reads: a root's files are hashed in constant memory. */
async function* sha1FromDirectory(
  root: string,
  paths: ReadonlySet<string>,
  onError: (path: string, error: unknown) => void,
): AsyncIterable<{ path: string; sha1: string }> {
  const chunk = Buffer.alloc(HASH_CHUNK);
  let sinceYield = 0;
  for (const path of [...paths].sort()) {
    let sha1: string;
    try {
      const { fd } = openRegularFile(root, path);
      try {
        const hash = createHash('sha1');
        // Read to the end, not to the listed size: a file that grew is hashed as it is now.
        for (
          let n = readSync(fd, chunk, 0, HASH_CHUNK, null);
          n > 0;
          n = readSync(fd, chunk, 0, HASH_CHUNK, null)
        ) {
          hash.update(chunk.subarray(0, n));
          sinceYield += n;
        }
        sha1 = hash.digest('hex');
      } finally {
        closeSync(fd);
      }
    } catch (error) {
      onError(path, error);
      continue;
    }
    yield { path, sha1 };
    // Keep a server responsive while a large root is hashed.
    if (sinceYield > 64 * HASH_CHUNK) {
      sinceYield = 0;
      await yieldToEventLoop();
    }
  }
}

// Scanning a live system (`dir:/`): kernel and device trees hold no packages.
const VIRTUAL_TREES = new Set(['/proc', '/sys', '/dev']);
// O_NONBLOCK: a FIFO swapped in after the walk would otherwise block the open forever.
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/** Opens a file the walk listed as regular; refuses whatever has replaced it since (link, FIFO, device). */
function openRegularFile(root: string, path: string): { fd: number; size: number } {
  const fd = openSync(join(root, path), OPEN_FLAGS);
  const st = fstatSync(fd);
  if (!st.isFile()) {
    closeSync(fd);
    throw new Error('no longer a regular file (changed since the directory was listed)');
  }
  return { fd, size: st.size };
}

/** Adds one directory's entries to `out` and returns its subdirectories. */
function listDirectory(
  root: string,
  rel: string,
  out: FileNode[],
  onError: (path: string, e: unknown) => void,
): string[] {
  let entries: Dirent[];
  try {
    entries = readdirSync(join(root, rel), { withFileTypes: true });
  } catch (error) {
    onError(rel || '/', error);
    return [];
  }
  const subdirectories: string[] = [];
  for (const entry of entries) {
    const path = `${rel}/${entry.name}`;
    const full = join(root, path);
    try {
      if (entry.isDirectory()) {
        out.push({ path, kind: 'directory', size: 0, mode: 0o755 });
        if (!VIRTUAL_TREES.has(path)) subdirectories.push(path);
      } else if (entry.isSymbolicLink()) {
        out.push({ path, kind: 'symlink', size: 0, mode: 0o777, linkTarget: readlinkSync(full) });
      } else if (entry.isFile()) {
        const st = lstatSync(full);
        out.push({ path, kind: 'file', size: st.size, mode: st.mode & 0o7777 });
      } else {
        out.push({ path, kind: 'other', size: 0, mode: 0 });
      }
    } catch (error) {
      onError(path, error);
    }
  }
  return subdirectories.sort();
}

function openRandomAccess(root: string, path: string): RandomAccessFile & { close(): Promise<void> } {
  const { fd, size } = openRegularFile(root, path);
  const read = (offset: number, length: number) => {
    const buffer = Buffer.alloc(Math.max(0, Math.min(length, size - offset)));
    const bytesRead = readSync(fd, buffer, 0, buffer.length, offset);
    return buffer.subarray(0, bytesRead);
  };
  return {
    size,
    read: async (offset, length) => read(offset, length),
    async sha256() {
      const hash = createHash('sha256');
      for (let offset = 0; offset < size; offset += 1 << 20) hash.update(read(offset, 1 << 20));
      return hash.digest('hex');
    },
    close: async () => closeSync(fd),
  };
}

async function* readFromDirectory(
  root: string,
  paths: ReadonlySet<string>,
  onError: (path: string, error: unknown) => void,
): AsyncIterable<FileContent> {
  for (const path of [...paths].sort()) {
    let content: Buffer;
    try {
      const { fd, size } = openRegularFile(root, path);
      try {
        content = readWhole(fd, size);
      } finally {
        closeSync(fd);
      }
    } catch (error) {
      onError(path, error);
      continue;
    }
    yield { path, content };
  }
}

function readWhole(fd: number, size: number): Buffer {
  const buffer = Buffer.alloc(size);
  let offset = 0;
  while (offset < size) {
    const n = readSync(fd, buffer, offset, size - offset, offset);
    if (n === 0) break;
    offset += n;
  }
  return buffer.subarray(0, offset);
}
