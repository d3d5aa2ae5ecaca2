import { createHash, type Hash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import tarStream from 'tar-stream';
import { RampartError } from '../errors.js';
import { tempPathFor } from '../util/atomic-file.js';
import type { Digest } from './digest.js';
import { comparePaths } from './fs-tree.js';
import { safeEntryPath } from './tar-safety.js';

export { safeEntryPath } from './tar-safety.js';

/**
 * Deterministic layer tars: the same entries give the same bytes, hence the same diff_id and digest.
 * - paths sorted byte-wise, missing parents added as 0755 root:root;
 * - mtime fixed to SOURCE_DATE_EPOCH (default 0), numeric owners, empty uname/gname;
 * - ustar headers, PAX records only for long/non-ASCII names, xattrs and ids above 0o777777;
 * - hardlink groups are rewritten so the first path in sort order carries the content; a hardlink
 *   whose target is not an entry of this layer is kept as is (it must name a lower layer's file);
 * - gzip level 6 (zlib's default and Go's), header mtime 0, no name, OS byte forced to 3 (Unix).
 * The diff_id is stable everywhere; the compressed digest is stable for a given zlib build.
 */

export type LayerEntry = {
  /** relative, no leading '/' */
  path: string;
  type: 'file' | 'directory' | 'symlink' | 'hardlink';
  mode: number;
  uid: number;
  gid: number;
  content?: Buffer | (() => Readable);
  /** required with a stream */
  size?: number;
  /** symlink target, or hardlink target path (relative) */
  target?: string;
  xattrs?: Record<string, string>;
};

export interface BuiltLayer {
  /** gzip blob file, named by its digest's hex */
  path: string;
  descriptor: { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip'; digest: Digest; size: number };
  diffID: Digest;
  uncompressedSize: number;
}

export const GZIP_LEVEL = 6;
const GZIP_OS_BYTE_OFFSET = 9;
const GZIP_OS_UNIX = 3;
/** Largest id that fits the 6-digit octal ustar field tar-stream writes. */
const MAX_USTAR_ID = 0o777777;
const TYPE_BITS = { file: 0o100000, directory: 0o040000, symlink: 0o120000, hardlink: 0o100000 } as const;

/** tar-stream writes PAX records given on the header. */
type PackHeader = Partial<tarStream.Header> & { name: string; pax?: Record<string, string> };

interface PlannedEntry {
  path: string;
  type: LayerEntry['type'];
  mode: number;
  uid: number;
  gid: number;
  content?: Buffer | (() => Readable);
  size: number;
  target?: string;
  xattrs?: Record<string, string>;
}

export async function buildLayer(
  entries: LayerEntry[],
  opts: { dir: string; sourceDateEpoch?: number },
): Promise<BuiltLayer> {
  const planned = planLayer(entries);
  const mtime = new Date((opts.sourceDateEpoch ?? 0) * 1000);
  const pack = tarStream.pack();
  const tarHash = new HashingCounter();
  const blobHash = new HashingCounter();
  // The final name is the blob digest, known only once written; the temp file sits beside it.
  const tempPath = tempPathFor(join(opts.dir, 'layer'));

  await mkdir(opts.dir, { recursive: true }).catch((error: unknown) => {
    throw new RampartError(
      'IO',
      `cannot create the layer output directory ${opts.dir}: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  });
  const writing = writeEntries(pack, planned, mtime).then(
    () => pack.finalize(),
    (error: unknown) => {
      pack.destroy(error as Error);
      throw error;
    },
  );
  const piping = pipeline(
    Readable.from(pack),
    tarHash,
    createGzip({ level: GZIP_LEVEL }),
    new FixGzipOsByte(),
    blobHash,
    createWriteStream(tempPath, { flags: 'wx' }),
  );
  piping.catch((error: unknown) => pack.destroy(error as Error));
  const [written, piped] = await Promise.allSettled([writing, piping]);
  if (written.status === 'rejected' || piped.status === 'rejected') {
    await rm(tempPath, { force: true });
    const error = written.status === 'rejected' ? written.reason : (piped as PromiseRejectedResult).reason;
    if (error instanceof RampartError) throw error;
    throw new RampartError('IO', `writing layer blob in ${opts.dir} failed: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const hex = blobHash.hex();
  const path = join(opts.dir, hex);
  await rename(tempPath, path);
  return {
    path,
    descriptor: {
      mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
      digest: `sha256:${hex}`,
      size: blobHash.bytes,
    },
    diffID: `sha256:${tarHash.hex()}`,
    uncompressedSize: tarHash.bytes,
  };
}

/** Validates, adds missing parents, sorts, and rewrites hardlink groups; pure. */
export function planLayer(entries: readonly LayerEntry[]): PlannedEntry[] {
  const byPath = new Map<string, PlannedEntry>();
  for (const entry of entries) {
    const path = safeEntryPath(entry.path);
    if (path === '') invalid(entry.path, 'the root cannot be a layer entry');
    if (byPath.has(path)) invalid(path, 'appears twice');
    byPath.set(path, normaliseEntry(entry, path));
  }
  for (const path of [...byPath.keys()]) {
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join('/');
      const existing = byPath.get(parent);
      if (!existing)
        byPath.set(parent, { path: parent, type: 'directory', mode: 0o755, uid: 0, gid: 0, size: 0 });
      else if (existing.type !== 'directory') invalid(path, `its parent ${parent} is a ${existing.type}`);
    }
  }
  rewriteHardlinkGroups(byPath);
  return [...byPath.values()].sort((a, b) => comparePaths(a.path, b.path));
}

function normaliseEntry(entry: LayerEntry, path: string): PlannedEntry {
  const planned: PlannedEntry = {
    path,
    type: entry.type,
    mode: entry.mode & 0o7777,
    uid: entry.uid,
    gid: entry.gid,
    size: 0,
  };
  if (!Number.isInteger(entry.uid) || entry.uid < 0 || !Number.isInteger(entry.gid) || entry.gid < 0) {
    invalid(path, 'uid and gid must be non-negative integers');
  }
  if (entry.xattrs && Object.keys(entry.xattrs).length > 0) planned.xattrs = entry.xattrs;
  switch (entry.type) {
    case 'file':
      if (Buffer.isBuffer(entry.content)) {
        if (entry.size !== undefined && entry.size !== entry.content.length) {
          throw new RampartError(
            'SIZE_MISMATCH',
            `layer entry ${path}: size ${entry.size} given but the content has ${entry.content.length} bytes`,
          );
        }
        planned.size = entry.content.length;
        planned.content = entry.content;
      } else if (entry.content) {
        if (entry.size === undefined || !Number.isInteger(entry.size) || entry.size < 0) {
          invalid(path, 'a streamed file needs its size');
        }
        planned.size = entry.size;
        planned.content = entry.content;
      }
      break;
    case 'symlink':
      if (!entry.target) invalid(path, 'a symlink needs a target');
      planned.target = entry.target;
      break;
    case 'hardlink':
      if (!entry.target) invalid(path, 'a hardlink needs a target');
      planned.target = safeEntryPath(entry.target);
      break;
    case 'directory':
      break;
    default:
      invalid(path, `unknown type ${String((entry as { type: unknown }).type)}`);
  }
  return planned;
}

/**
 * A hardlink must follow its target in the tar, but sorting may put a link first. All paths
 * sharing one file become a group; the first in sort order carries the content and metadata.
 */
function rewriteHardlinkGroups(byPath: Map<string, PlannedEntry>): void {
  const groups = new Map<string, string[]>();
  for (const entry of byPath.values()) {
    if (entry.type !== 'hardlink') continue;
    const file = ultimateFile(byPath, entry);
    if (file === undefined) continue;
    const members = groups.get(file.path) ?? [file.path];
    members.push(entry.path);
    groups.set(file.path, members);
  }
  for (const [filePath, members] of groups) {
    const file = byPath.get(filePath) as PlannedEntry;
    const [first, ...rest] = members.sort(comparePaths) as [string, ...string[]];
    byPath.set(first, { ...file, path: first });
    for (const member of rest) {
      const link: PlannedEntry = {
        path: member,
        type: 'hardlink',
        mode: file.mode,
        uid: file.uid,
        gid: file.gid,
        size: 0,
        target: first,
      };
      if (file.xattrs) link.xattrs = file.xattrs;
      byPath.set(member, link);
    }
  }
}

/** The regular file a hardlink chain ends at, or undefined when it leaves this layer (a lower layer's file). */
function ultimateFile(byPath: Map<string, PlannedEntry>, link: PlannedEntry): PlannedEntry | undefined {
  let current = link;
  for (let hops = 0; hops <= byPath.size; hops++) {
    const target = byPath.get(current.target ?? '');
    if (!target)
      return current === link
        ? undefined
        : invalid(link.path, `its hardlink chain leaves the layer at ${current.path}`);
    if (target.type === 'file') return target;
    if (target.type !== 'hardlink')
      invalid(link.path, `its hardlink target ${target.path} is a ${target.type}`);
    current = target;
  }
  return invalid(link.path, 'hardlinks form a cycle');
}

async function writeEntries(
  pack: tarStream.Pack,
  entries: readonly PlannedEntry[],
  mtime: Date,
): Promise<void> {
  for (const entry of entries) {
    const header = tarHeader(entry, mtime);
    if (entry.type !== 'file') {
      await new Promise<void>((resolve, reject) => {
        pack.entry(header, (error) => (error ? reject(error) : resolve()));
      });
    } else if (entry.content === undefined || Buffer.isBuffer(entry.content)) {
      const content = entry.content ?? Buffer.alloc(0);
      await new Promise<void>((resolve, reject) => {
        pack.entry(header, content, (error) => (error ? reject(error) : resolve()));
      });
    } else {
      await writeStreamedEntry(pack, header, entry.path, entry.content());
    }
  }
}

async function writeStreamedEntry(
  pack: tarStream.Pack,
  header: PackHeader,
  path: string,
  source: Readable,
): Promise<void> {
  let written = 0;
  let sinkError: Error | undefined;
  let sink!: ReturnType<tarStream.Pack['entry']>;
  const done = new Promise<void>((resolve, reject) => {
    sink = pack.entry(header, (error) => (error ? reject(error) : resolve()));
  });
  // On a size mismatch we destroy the sink and throw our own error; don't leave this one unhandled.
  done.catch(() => undefined);
  sink.on('error', (error: Error) => {
    sinkError = error;
  });
  try {
    for await (const chunk of source) {
      const buffer = chunk as Buffer;
      written += buffer.length;
      if (written > (header.size ?? 0)) break;
      if (!sink.write(buffer)) {
        // 'close' too: if the output side fails, the pack destroys this sink and 'drain' never comes.
        await new Promise<void>((resolve) => {
          const resume = (): void => {
            sink.off('drain', resume);
            sink.off('close', resume);
            resolve();
          };
          sink.on('drain', resume);
          sink.on('close', resume);
        });
      }
      if (sinkError) throw sinkError;
      if (sink.destroyed)
        throw new RampartError('IO', `layer entry ${path}: the layer output was closed early`);
    }
  } finally {
    source.destroy();
  }
  if (written !== header.size) {
    const error = new RampartError(
      'SIZE_MISMATCH',
      `layer entry ${path}: declared size ${header.size} but the stream gave ${written > (header.size ?? 0) ? 'more' : written} bytes`,
    );
    sink.destroy(error);
    throw error;
  }
  sink.end(undefined);
  await done;
}

function tarHeader(entry: PlannedEntry, mtime: Date): PackHeader {
  const header: PackHeader = {
    name: entry.type === 'directory' ? `${entry.path}/` : entry.path,
    // tar-stream replaces a falsy mode with its default, so pass the type bits too (it masks them off).
    mode: TYPE_BITS[entry.type] | entry.mode,
    uid: Math.min(entry.uid, MAX_USTAR_ID),
    gid: Math.min(entry.gid, MAX_USTAR_ID),
    size: entry.type === 'file' ? entry.size : 0,
    mtime,
    type: entry.type === 'hardlink' ? 'link' : entry.type,
    uname: '',
    gname: '',
  };
  if (entry.target !== undefined) header.linkname = entry.target;
  const pax: Record<string, string> = {};
  if (entry.uid > MAX_USTAR_ID) pax.uid = String(entry.uid);
  if (entry.gid > MAX_USTAR_ID) pax.gid = String(entry.gid);
  for (const key of Object.keys(entry.xattrs ?? {}).sort())
    pax[`SCHILY.xattr.${key}`] = entry.xattrs?.[key] ?? '';
  if (Object.keys(pax).length > 0) header.pax = pax;
  return header;
}

function invalid(path: string, problem: string): never {
  throw new RampartError('INVALID_LAYER_ENTRY', `layer entry ${JSON.stringify(path)}: ${problem}`, {
    details: { path },
  });
}

/** Pass-through that hashes and counts the bytes flowing by. */
class HashingCounter extends Transform {
  bytes = 0;
  private readonly hash: Hash = createHash('sha256');

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    this.hash.update(chunk);
    callback(null, chunk);
  }

  hex(): string {
    return this.hash.digest('hex');
  }
}

/** zlib writes the build's OS code into the gzip header; pin it so the bytes don't depend on the platform. */
class FixGzipOsByte extends Transform {
  private offset = 0;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.offset <= GZIP_OS_BYTE_OFFSET && this.offset + chunk.length > GZIP_OS_BYTE_OFFSET) {
      chunk = Buffer.from(chunk);
      chunk[GZIP_OS_BYTE_OFFSET - this.offset] = GZIP_OS_UNIX;
    }
    this.offset += chunk.length;
    callback(null, chunk);
  }
}
