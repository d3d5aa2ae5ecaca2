import type { Readable } from 'node:stream';
import tarStream from 'tar-stream';
import { RampartError } from '../errors.js';
import type { FsNodeKind } from './fs-tree.js';

/**
 * Reading layer tars safely: every entry name is normalised and checked before anyone sees it,
 * and OCI whiteout markers are classified here so the flattener and the extractor agree on them.
 */

/** Normalised relative path of a tar entry ('' is the root); throws PATH_TRAVERSAL for `..` or absolute names. */
export function safeEntryPath(name: string): string {
  if (name.includes('\0')) {
    throw new RampartError(
      'PATH_TRAVERSAL',
      `tar entry ${JSON.stringify(name)} contains a NUL byte; refusing it`,
    );
  }
  if (name.startsWith('/')) {
    throw new RampartError(
      'PATH_TRAVERSAL',
      `tar entry ${JSON.stringify(name)} is an absolute path; layer entries must be relative to the root`,
    );
  }
  const parts: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    // Rejecting every '..' (even ones that would stay inside) keeps the rule simple and auditable.
    if (part === '..') {
      throw new RampartError(
        'PATH_TRAVERSAL',
        `tar entry ${JSON.stringify(name)} contains '..'; refusing a path that may escape the root`,
      );
    }
    parts.push(part);
  }
  return parts.join('/');
}

/** Normalised relative path of a hardlink target; absolute or `..` targets are UNSAFE_LINK. */
export function safeHardlinkTarget(entryPath: string, linkname: string): string {
  try {
    const target = safeEntryPath(linkname);
    if (target === '') throw new RampartError('UNSAFE_LINK', 'empty');
    return target;
  } catch (error) {
    throw new RampartError(
      'UNSAFE_LINK',
      `hardlink ${JSON.stringify(entryPath)} points to ${JSON.stringify(linkname)}, which is not a path inside the image root`,
      { cause: error },
    );
  }
}

/** Entry kinds as the filesystem view names them. */
export type TarNodeType = FsNodeKind;

export interface TarNodeEntry {
  kind: 'node';
  /** position of the entry in the layer (0-based, counting every entry the reader yields) */
  index: number;
  /** normalised relative path, '' for the root */
  path: string;
  type: TarNodeType;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  /** symlink target as stored */
  symlinkTarget?: string;
  /** hardlink target, normalised relative path */
  hardlinkTarget?: string;
  xattrs?: Record<string, string>;
  devMajor?: number;
  devMinor?: number;
}

/** `.wh.NAME`: hide `path` from lower layers. */
export interface TarWhiteoutEntry {
  kind: 'whiteout';
  index: number;
  path: string;
}

/** `.wh..wh..opq`: hide every lower-layer child of `dir`. */
export interface TarOpaqueEntry {
  kind: 'opaque';
  index: number;
  dir: string;
}

export type LayerTarEntry = TarNodeEntry | TarWhiteoutEntry | TarOpaqueEntry;

const WHITEOUT_PREFIX = '.wh.';
const OPAQUE_MARKER = '.wh..wh..opq';

const TYPE_BY_TAR: Record<string, TarNodeType | undefined> = {
  file: 'file',
  'contiguous-file': 'file',
  directory: 'directory',
  symlink: 'symlink',
  link: 'hardlink',
  'character-device': 'char-device',
  'block-device': 'block-device',
  fifo: 'fifo',
};

/** tar-stream decodes PAX records onto the header as a string map. */
type TarHeader = Omit<tarStream.Header, 'pax'> & { pax?: Record<string, string> | null };

/** Classifies one decoded tar header; returns undefined for entries that carry no filesystem meaning. */
export function classifyTarHeader(header: TarHeader, index: number): LayerTarEntry | undefined {
  const path = safeEntryPath(header.name);
  const slash = path.lastIndexOf('/');
  const base = slash === -1 ? path : path.slice(slash + 1);
  const dir = slash === -1 ? '' : path.slice(0, slash);
  if (base === OPAQUE_MARKER) return { kind: 'opaque', index, dir };
  if (base.startsWith(`${WHITEOUT_PREFIX}${WHITEOUT_PREFIX}`)) return undefined; // aufs metadata (.wh..wh.plnk etc.)
  if (base.startsWith(WHITEOUT_PREFIX)) {
    const hidden = base.slice(WHITEOUT_PREFIX.length);
    const target = safeEntryPath(dir === '' ? hidden : `${dir}/${hidden}`);
    if (hidden === '' || target === '' || target === dir) {
      throw new RampartError('PATH_TRAVERSAL', `whiteout entry ${JSON.stringify(header.name)} names no file`);
    }
    return { kind: 'whiteout', index, path: target };
  }
  const type = TYPE_BY_TAR[header.type ?? 'file'];
  if (type === undefined) return undefined;
  const pax = header.pax ?? undefined;
  const entry: TarNodeEntry = {
    kind: 'node',
    index,
    path,
    type,
    mode: (header.mode ?? 0) & 0o7777,
    uid: paxNumber(pax, 'uid') ?? header.uid ?? 0,
    gid: paxNumber(pax, 'gid') ?? header.gid ?? 0,
    size: type === 'file' ? (header.size ?? 0) : 0,
    mtime: Math.floor(paxNumber(pax, 'mtime') ?? (header.mtime ? header.mtime.getTime() / 1000 : 0)),
  };
  if (type === 'symlink') entry.symlinkTarget = header.linkname ?? '';
  if (type === 'hardlink') entry.hardlinkTarget = safeHardlinkTarget(path, header.linkname ?? '');
  if (type === 'char-device' || type === 'block-device') {
    entry.devMajor = header.devmajor ?? 0;
    entry.devMinor = header.devminor ?? 0;
  }
  const xattrs = xattrsFromPax(pax);
  if (xattrs) entry.xattrs = xattrs;
  return entry;
}

function paxNumber(pax: Record<string, string> | undefined, key: string): number | undefined {
  const raw = pax?.[key];
  if (raw === undefined) return undefined;
  const value = Number(raw);
  return Number.isFinite(value) ? value : undefined;
}

const XATTR_PREFIX = 'SCHILY.xattr.';

function xattrsFromPax(pax: Record<string, string> | undefined): Record<string, string> | undefined {
  if (!pax) return undefined;
  const keys = Object.keys(pax)
    .filter((key) => key.startsWith(XATTR_PREFIX))
    .sort();
  if (keys.length === 0) return undefined;
  const xattrs: Record<string, string> = {};
  for (const key of keys) xattrs[key.slice(XATTR_PREFIX.length)] = pax[key] ?? '';
  return xattrs;
}

/**
 * Streams a layer tar and yields every meaningful entry in tar order. `body` is the content of a
 * regular file; whatever the consumer leaves unread is drained before the next entry. Breaking
 * out of the loop stops reading and destroys the source stream.
 */
export async function* readLayerEntries(
  tar: Readable,
): AsyncGenerator<{ entry: LayerTarEntry; body: AsyncIterable<Buffer> }> {
  const extract = tarStream.extract();
  tar.once('error', (error) => extract.destroy(error));
  tar.pipe(extract);
  let index = 0;
  try {
    for await (const tarEntry of extract) {
      const entry = classifyTarHeader(tarEntry.header as TarHeader, index);
      index++;
      if (entry !== undefined) yield { entry, body: tarEntry as unknown as AsyncIterable<Buffer> };
      tarEntry.resume();
    }
  } catch (error) {
    if (error instanceof RampartError) throw error;
    throw new RampartError('MALFORMED_ARCHIVE', `layer tar could not be read: ${(error as Error).message}`, {
      cause: error,
    });
  } finally {
    tar.unpipe(extract);
    tar.destroy();
    extract.destroy();
  }
}
