import type { Readable } from 'node:stream';
import tarStream from 'tar-stream';
import { isRampartError, RampartError } from '../errors.js';
import { checkEntryPath, safeEntryPath, type UnsafePathReason } from '../util/entry-path.js';
import type { FsNodeKind } from './fs-tree.js';

/**
 * Reading layer tars safely: every entry name goes through the one path rule
 * (src/util/entry-path.ts, which explains it) before anyone sees it, and OCI whiteout markers are
 * classified here so the flattener, the extractor and the SBOM agree on them.
 */
export {
  checkEntryPath,
  type EntryPathCheck,
  safeEntryPath,
  type UnsafePathReason,
} from '../util/entry-path.js';

/** Normalised relative path of a hardlink target; absolute or `..` targets are UNSAFE_LINK. */
export function safeHardlinkTarget(entryPath: string, linkname: string): string {
  try {
    const target = safeEntryPath(linkname);
    if (target === '') {
      throw new RampartError('UNSAFE_LINK', 'empty', { details: { path: entryPath, target: linkname } });
    }
    return target;
  } catch (error) {
    throw new RampartError(
      'UNSAFE_LINK',
      `hardlink ${JSON.stringify(entryPath)} points to ${JSON.stringify(linkname)}, which is not a path inside the image root`,
      { cause: error, details: { path: entryPath, target: linkname } },
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

/** Why one entry of a layer was left out instead of failing the whole layer. */
export type UnsafeEntryReason =
  | UnsafePathReason
  | 'unsafe-link'
  | 'bad-whiteout'
  | 'through-symlink'
  | 'bad-hardlink';

/** An entry a lenient reader (the SBOM) skipped: where it was and why. */
export interface SkippedEntry {
  /** position in the layer, counting every entry the reader yields */
  index: number;
  /** the name as stored in the tar */
  name: string;
  reason: UnsafeEntryReason;
  message: string;
}

export interface ReadLayerOptions {
  /**
   * When given, an entry whose name (or hardlink/whiteout target) breaks the path rule is reported
   * here and skipped, and reading goes on; without it the whole read fails (PATH_TRAVERSAL,
   * UNSAFE_LINK), which is what the extractor and the builder want.
   */
  onSkippedEntry?: (entry: SkippedEntry) => void;
}

/**
 * Streams a layer tar and yields every meaningful entry in tar order. `body` is the content of a
 * regular file; whatever the consumer leaves unread is drained before the next entry. Breaking
 * out of the loop stops reading and destroys the source stream. Skipped entries keep their index,
 * so two reads of one layer agree on positions.
 */
export async function* readLayerEntries(
  tar: Readable,
  options: ReadLayerOptions = {},
): AsyncGenerator<{ entry: LayerTarEntry; body: AsyncIterable<Buffer> }> {
  const extract = tarStream.extract();
  tar.once('error', (error) => extract.destroy(error));
  tar.pipe(extract);
  let index = 0;
  try {
    for await (const tarEntry of extract) {
      const header = tarEntry.header as TarHeader;
      let entry: LayerTarEntry | undefined;
      try {
        entry = classifyTarHeader(header, index);
      } catch (error) {
        const skip = options.onSkippedEntry;
        if (
          !skip ||
          !isRampartError(error) ||
          (error.code !== 'PATH_TRAVERSAL' && error.code !== 'UNSAFE_LINK')
        )
          throw error;
        const checked = checkEntryPath(header.name);
        skip({
          index,
          name: header.name,
          reason: !checked.ok
            ? checked.reason
            : error.code === 'UNSAFE_LINK'
              ? 'unsafe-link'
              : 'bad-whiteout',
          message: error.message,
        });
      }
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
