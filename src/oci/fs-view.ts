import type { Readable } from 'node:stream';
import { isRampartError, RampartError } from '../errors.js';
import {
  type ContentSource,
  comparePaths,
  type FsNode,
  type FsTree,
  FsTreeBuilder,
  normaliseTreePath,
  parentPath,
} from './fs-tree.js';
import {
  type LayerTarEntry,
  readLayerEntries,
  type SkippedEntry,
  type TarNodeEntry,
  type UnsafeEntryReason,
} from './tar-safety.js';

/**
 * The filesystem view of an image, computed from the layer tars without extracting anything.
 *
 * Rules (matching the OCI layer spec and containerd's applier):
 * - Whiteouts (`.wh.NAME`) and opaque markers (`.wh..wh..opq`) hide entries of *lower* layers only,
 *   so they are applied before the layer's own entries.
 * - Symlinks are never followed while applying entries: the tree is metadata, and an entry whose
 *   parent is a symlink would be written through it by a naive extractor (a classic escape).
 *   Such entries are refused with UNSAFE_LINK. Hardlink targets are looked up lexically too.
 * - Parent directories that a layer leaves implicit are created as 0755 root:root, mtime 0.
 * - The root '/' always exists (0755 root:root, layer 0) unless a layer sets it with a './' entry.
 */

type LayerSource = () => Promise<Readable>;
type ImageLike = { layers: ReadonlyArray<{ uncompressed(): Promise<Readable> }> };

/** An entry left out of the view, with the layer it came from. */
export type SkippedLayerEntry = SkippedEntry & { layer: number };

export interface FlattenOptions {
  /**
   * Lenient mode, for catalogers: an entry that breaks the path rule, would be written through a
   * symlink, or hardlinks to nothing is reported here and left out, and the rest of its layer
   * still counts (so one `../x` entry cannot hide a layer's packages). Without it such an entry
   * fails the whole flatten, as extraction does.
   */
  onSkippedEntry?: (entry: SkippedLayerEntry) => void;
  /**
   * Sees the body of every regular-file entry as the layer streams past (before the next entry),
   * so a caller that needs file contents as well as the tree reads each layer once. It may stop
   * keeping bytes early but must not break out of `body` (that would destroy the tar stream);
   * whatever it leaves unread is drained. The entry may still be hidden by a later layer: map
   * what it keeps to the final tree with `contentSource` (layer, entry index).
   */
  onFileBody?: (layer: number, entry: TarNodeEntry, body: AsyncIterable<Buffer>) => Promise<void>;
}

export async function flattenLayers(
  layers: ReadonlyArray<LayerSource>,
  options: FlattenOptions = {},
): Promise<FsTree> {
  const tree = new FsTreeBuilder(implicitDirectory('/', 0));
  const report = options.onSkippedEntry;
  for (const [layer, open] of layers.entries()) {
    const entries: LayerTarEntry[] = [];
    const names = new Map<number, string>();
    const readOptions = report ? { onSkippedEntry: (e: SkippedEntry) => report({ ...e, layer }) } : {};
    for await (const { entry, body } of readLayerEntries(await open(), readOptions)) {
      entries.push(entry);
      if (options.onFileBody && entry.kind === 'node' && entry.type === 'file')
        await options.onFileBody(layer, entry, body);
      if (report) names.set(entry.index, entry.kind === 'opaque' ? entry.dir : entry.path);
    }
    const skip = report
      ? (entry: LayerTarEntry, reason: UnsafeEntryReason, message: string) =>
          report({ layer, index: entry.index, name: names.get(entry.index) ?? '', reason, message })
      : undefined;
    applyLayer(tree, entries, layer, skip);
  }
  return tree;
}

export async function flattenImage(image: ImageLike, options: FlattenOptions = {}): Promise<FsTree> {
  return flattenLayers(
    image.layers.map((layer) => () => layer.uncompressed()),
    options,
  );
}

/**
 * Streams the layers again and yields the content of the final version of each wanted regular
 * file. Symlinks in a wanted path are followed inside the root (so `/etc/os-release` works when it
 * links to `../usr/lib/os-release`); hardlinks yield their target's content. Content is yielded
 * under the wanted path (normalised). Paths that are missing or not regular files are skipped.
 * Only layers holding wanted content are read, and only wanted files are buffered.
 *
 * Trust: the layer's diff_id was verified when the tree was flattened (a full read). This second
 * read stops as soon as the wanted entries are found, so it does not re-verify; a file changed on
 * disk between the two reads is caught only if the entries moved. Callers that read remote layers
 * twice must cache the verified blob locally first.
 */
export async function* readFiles(
  image: ImageLike,
  tree: FsTree,
  wanted: ReadonlySet<string>,
): AsyncIterable<{ path: string; content: Buffer }> {
  const pathsBySource = new Map<string, string[]>();
  const entriesByLayer = new Map<number, Set<number>>();
  for (const wantedPath of [...wanted].map(normaliseTreePath).sort(comparePaths)) {
    const resolved = tree.resolve(wantedPath);
    const node = resolved === undefined ? undefined : tree.get(resolved);
    if (!node || (node.kind !== 'file' && node.kind !== 'hardlink')) continue;
    const source = tree.contentSource(node.path);
    if (!source) continue;
    const key = sourceKey(source);
    const paths = pathsBySource.get(key) ?? [];
    if (!paths.includes(wantedPath)) paths.push(wantedPath);
    pathsBySource.set(key, paths);
    const layerEntries = entriesByLayer.get(source.layer) ?? new Set<number>();
    layerEntries.add(source.entry);
    entriesByLayer.set(source.layer, layerEntries);
  }

  for (const layer of [...entriesByLayer.keys()].sort((a, b) => a - b)) {
    const layerRef = image.layers[layer];
    const remaining = entriesByLayer.get(layer) as Set<number>;
    if (!layerRef) {
      throw new RampartError('MALFORMED_ARCHIVE', `image has no layer ${layer}; was the tree built from it?`);
    }
    // Skipped entries keep their index, so the entries the tree points at are found again.
    const lenient = { onSkippedEntry: () => undefined };
    for await (const { entry, body } of readLayerEntries(await layerRef.uncompressed(), lenient)) {
      if (!remaining.has(entry.index)) continue;
      const chunks: Buffer[] = [];
      for await (const chunk of body) chunks.push(chunk);
      const content = Buffer.concat(chunks);
      for (const path of pathsBySource.get(sourceKey({ layer, entry: entry.index })) ?? []) {
        yield { path, content };
      }
      remaining.delete(entry.index);
      if (remaining.size === 0) break;
    }
    if (remaining.size > 0) {
      throw new RampartError(
        'MALFORMED_ARCHIVE',
        `layer ${layer} changed between reads: entries ${[...remaining].join(', ')} were not found again`,
      );
    }
  }
}

function sourceKey(source: ContentSource): string {
  return `${source.layer}:${source.entry}`;
}

type SkipEntry = (entry: LayerTarEntry, reason: UnsafeEntryReason, message: string) => void;

/** Runs `apply`; with `skip`, an unsafe entry (UNSAFE_LINK, a broken hardlink) is reported and left out. */
function applyOrSkip(entry: LayerTarEntry, skip: SkipEntry | undefined, apply: () => void): void {
  if (!skip) {
    apply();
    return;
  }
  try {
    apply();
  } catch (error) {
    if (!isRampartError(error)) throw error;
    if (error.code === 'UNSAFE_LINK') skip(entry, 'through-symlink', error.message);
    else if (error.code === 'MALFORMED_ARCHIVE' && entry.kind === 'node' && entry.type === 'hardlink')
      skip(entry, 'bad-hardlink', error.message);
    else throw error;
  }
}

function applyLayer(
  tree: FsTreeBuilder,
  entries: readonly LayerTarEntry[],
  layer: number,
  skip?: SkipEntry,
): void {
  // Lower layers first: whiteouts and opaque markers only ever hide what earlier layers wrote.
  for (const entry of entries) {
    if (entry.kind === 'opaque') {
      const dir = absolute(entry.dir);
      if (tree.get(dir)?.kind === 'directory') tree.removeChildren(dir);
    } else if (entry.kind === 'whiteout') {
      tree.removeSubtree(absolute(entry.path));
    }
  }
  for (const entry of entries) {
    applyOrSkip(entry, skip, () => {
      if (entry.kind === 'opaque') ensureDirectory(tree, absolute(entry.dir), layer, entry.dir);
      else if (entry.kind === 'whiteout')
        ensureDirectory(tree, parentPath(absolute(entry.path)), layer, entry.path);
      else applyNode(tree, entry, layer);
    });
  }
}

function applyNode(tree: FsTreeBuilder, entry: TarNodeEntry, layer: number): void {
  const path = absolute(entry.path);
  if (path === '/' && entry.type !== 'directory') {
    throw new RampartError(
      'MALFORMED_ARCHIVE',
      `layer ${layer}: the root entry is a ${entry.type}, not a directory`,
    );
  }
  ensureDirectory(tree, parentPath(path), layer, entry.path);
  const node: FsNode = {
    path,
    kind: entry.type,
    mode: entry.mode,
    uid: entry.uid,
    gid: entry.gid,
    size: entry.size,
    mtime: entry.mtime,
    layer,
  };
  if (entry.xattrs) node.xattrs = entry.xattrs;
  if (entry.devMajor !== undefined) node.devMajor = entry.devMajor;
  if (entry.devMinor !== undefined) node.devMinor = entry.devMinor;
  if (entry.type === 'symlink') node.linkTarget = entry.symlinkTarget ?? '';
  if (entry.type === 'hardlink') {
    const targetPath = absolute(entry.hardlinkTarget ?? '');
    const target = tree.get(targetPath);
    if (!target || target.kind === 'directory' || targetPath === path) {
      throw new RampartError(
        'MALFORMED_ARCHIVE',
        `layer ${layer}: hardlink ${path} points to ${targetPath}, which is ${target ? 'a directory or itself' : 'missing'}; the layer tar is broken`,
      );
    }
    node.linkTarget = targetPath;
    node.size = target.size;
    tree.put(node, tree.contentSource(targetPath));
    return;
  }
  tree.put(node, entry.type === 'file' ? { layer, entry: entry.index } : undefined);
}

/** Makes sure `dir` exists as a real directory, creating implicit parents, never passing a symlink. */
function ensureDirectory(tree: FsTreeBuilder, dir: string, layer: number, entryName: string): void {
  if (dir === '/') return;
  let current = '';
  for (const part of dir.slice(1).split('/')) {
    current += `/${part}`;
    const node = tree.get(current);
    if (!node) {
      tree.put(implicitDirectory(current, layer));
    } else if (node.kind === 'symlink') {
      throw new RampartError(
        'UNSAFE_LINK',
        `layer ${layer}: entry ${JSON.stringify(entryName)} would be written through symlink ${current} -> ${node.linkTarget}; layers must not place entries under a symlink`,
      );
    } else if (node.kind !== 'directory') {
      throw new RampartError(
        'MALFORMED_ARCHIVE',
        `layer ${layer}: entry ${JSON.stringify(entryName)} needs ${current} to be a directory, but it is a ${node.kind}`,
      );
    }
  }
}

function implicitDirectory(path: string, layer: number): FsNode {
  return { path, kind: 'directory', mode: 0o755, uid: 0, gid: 0, size: 0, mtime: 0, layer };
}

function absolute(relative: string): string {
  return relative === '' ? '/' : `/${relative}`;
}
