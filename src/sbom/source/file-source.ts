import { compareText } from '../../util/compare-text.js';

/** The catalogers' view of a filesystem: a listing plus on-demand reads of the files they match. */
export type FileNodeKind = 'file' | 'directory' | 'symlink' | 'hardlink' | 'other';

export interface FileNode {
  /** Absolute, '/'-rooted, no trailing slash. */
  path: string;
  kind: FileNodeKind;
  size: number;
  mode: number;
  linkTarget?: string;
}

export interface FileContent {
  path: string;
  content: Buffer;
}

/** Positional reads of one file, for sources that have them (a directory on disk; not a tar stream). */
export interface RandomAccessFile {
  size: number;
  read(offset: number, length: number): Promise<Buffer>;
  sha256(): Promise<string>;
}

/** Positional reads; a Buffer or an open file both provide them. A read past the end returns fewer bytes. */
export type ByteReader = (offset: number, length: number) => Promise<Buffer>;

export function bufferReader(bytes: Buffer): ByteReader {
  return async (offset, length) => bytes.subarray(offset, offset + length);
}

export interface FileSource {
  nodes(): Iterable<FileNode>;
  /**
   * Optional: open one file for positional reads, so a cataloger that needs a few hundred bytes
   * of a large binary does not read all of it. The caller closes what it opens.
   */
  openRandomAccess?(path: string): Promise<RandomAccessFile & { close(): Promise<void> }>;
  /**
   * Yields the contents of the wanted regular files (any order). A file that cannot be read is
   * reported through `onError` and skipped, so one bad file never stops the catalog.
   */
  read(
    paths: ReadonlySet<string>,
    onError: (path: string, error: unknown) => void,
  ): AsyncIterable<FileContent>;
  /**
   * Optional: the SHA-1 of each wanted regular file, hashed as it streams (never held whole).
   * Without it the catalog hashes what `read` yields, one file at a time.
   */
  sha1?(
    paths: ReadonlySet<string>,
    onError: (path: string, error: unknown) => void,
  ): AsyncIterable<{ path: string; sha1: string }>;
}

/** A FileSource over in-memory files, for tests and for SBOMs of small generated trees. */
export function memoryFileSource(files: Record<string, string | Buffer>, extra: FileNode[] = []): FileSource {
  const nodes: FileNode[] = [...extra];
  for (const [path, data] of Object.entries(files)) {
    nodes.push({ path, kind: 'file', size: Buffer.byteLength(data), mode: 0o644 });
  }
  nodes.sort((a, b) => compareText(a.path, b.path));
  return {
    nodes: () => nodes,
    async *read(paths) {
      for (const path of [...paths].sort()) {
        const data = files[path];
        if (data !== undefined) yield { path, content: Buffer.isBuffer(data) ? data : Buffer.from(data) };
      }
    },
  };
}
